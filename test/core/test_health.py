"""Node health from counters (core.health): levels by the last window, totals reported."""
from repose_ros.core.health import (ERROR, OK, WARN, Window, aggregator_health, camera_health, edge_health,
                                    partition_counts, partitioner_health)


def test_window_counts_since_the_previous_report():
    w = Window()
    assert w.delta({"a": 3}) == {"a": 3}
    assert w.delta({"a": 5, "b": 1}) == {"a": 2, "b": 1}
    assert w.delta({"a": 5, "b": 1}) == {"a": 0, "b": 0}


def test_camera_warns_on_drops_in_the_window_only():
    counts = {"received": 10, "processed": 8, "queue_full": 2, "warm_up": 1}
    h = camera_health(counts, {"received": 10, "queue_full": 2}, "active", 1, "best_effort")
    assert h.level == WARN and "2 dropped" in h.message
    assert ("dropped.queue_full", "2") in h.values and ("input reliability", "best_effort") in h.values
    h = camera_health(counts, {"received": 4, "processed": 4}, "active", 0)
    assert h.level == OK and ("dropped.queue_full", "2") in h.values  # totals stay visible
    assert camera_health({}, {}, "inactive", 0).level == WARN
    # dropped coarse artefacts are boxes, not frames: shown, never a drop or a warning
    h = camera_health(dict(counts, coarse_artefacts=7), {"received": 4, "processed": 4, "coarse_artefacts": 3},
                      "active", 0)
    assert h.level == OK and ("coarse artefacts dropped", "7") in h.values
    assert not any(k == "dropped.coarse_artefacts" for k, _ in h.values)


def test_camera_lists_unanswered_coarse_blocks_apart_from_frame_drops():
    from repose_ros.core.health import camera_handed_on

    # 5 frames in, all processed; 3 of their coarse blocks on the edge unanswered, 1 answer late
    counts = {"received": 5, "processed": 5, "coarse_block_missing": 3, "coarse_answer_late": 1}
    assert camera_handed_on(counts) == 5  # blocks are no frames: each frame is counted once
    h = camera_health(counts, {"received": 2, "processed": 2, "coarse_block_missing": 1}, "active", 0)
    assert h.level == WARN and "0 dropped" in h.message and "1 coarse block(s) unanswered" in h.message
    assert ("coarse blocks unanswered (counted empty)", "3") in h.values
    assert ("coarse answers after the timeout", "1") in h.values
    assert not any(k.startswith("dropped.") for k, _ in h.values)
    h = camera_health(counts, {"received": 2, "processed": 2, "coarse_answer_late": 1}, "active", 0)
    assert h.level == OK  # a late answer alone: the frame had been answered without it
    # no live edge server: the frame's coarse stage runs on the camera, processed all the same
    counts = {"received": 3, "processed": 3, "coarse_here_no_live_server": 2}
    assert camera_handed_on(counts) == 3
    h = camera_health(counts, {"received": 1, "processed": 1, "coarse_here_no_live_server": 1}, "active", 0)
    assert h.level == WARN and "1 frame(s) coarse on the camera" in h.message
    assert ("frames coarse on the camera (no live server)", "2") in h.values
    assert not any(k.startswith("dropped.") for k, _ in h.values)


def test_partitioner_error_without_live_server_warn_with_fewer():
    assert partitioner_health({"frames": 3}, {"frames": 3}, "active", 2, [], {}, {}).level == ERROR
    h = partitioner_health({"frames": 3}, {"frames": 3}, "active", 2, [1], {"1": {"m@640": 1.25}},
                           {"1": {"m@640": 310.0}})
    assert h.level == WARN and ("live servers", "1") in h.values
    assert ("server 1 m@640 measured/predicted", "1.25") in h.values
    assert ("server 1 m@640 latency ms", "310.0") in h.values
    assert partitioner_health({}, {}, "active", 2, [0, 1], {}, {}).level == OK
    assert partitioner_health({}, {}, "inactive", 2, [0, 1], {}, {}).level == WARN


def test_partitioner_reports_frames_nobody_answered():
    counts = {"frames": 9, "answers.planned": 9, "answers.answered": 6, "answers.unanswered": 2,
              "answers.pending": 1, "answers.late": 1}
    h = partitioner_health(counts, {"frames": 4, "answers.unanswered": 2}, "active", 2, [0, 1], {}, {})
    assert h.level == ERROR and "2 planned frame(s) got no answer" in h.message
    vals = dict(h.values)
    assert vals["frames unanswered"] == "2" and vals["frames answered"] == "6"
    assert vals["frames awaiting an answer"] == "1" and vals["answers after unanswered_after_s"] == "1"
    # the total stays visible, the level follows the window
    h = partitioner_health(counts, {"frames": 4, "answers.unanswered": 0}, "active", 2, [0, 1], {}, {})
    assert h.level == OK and dict(h.values)["frames unanswered"] == "2"


def test_partitioner_warns_of_plans_nobody_subscribed():
    counts = {"frames": 5, "plan_no_subscriber": 3}
    h = partitioner_health(counts, {"frames": 2, "plan_no_subscriber": 2}, "active", 2, [0, 1], {}, {})
    assert h.level == WARN and "2 plan(s) published with no subscriber" in h.message
    assert dict(h.values)["plan_no_subscriber"] == "3"
    h = partitioner_health(counts, {"frames": 2}, "active", 2, [0, 1], {}, {})
    assert h.level == OK and dict(h.values)["plan_no_subscriber"] == "3"
    # it never lowers an error
    assert partitioner_health(counts, {"plan_no_subscriber": 1}, "active", 2, [], {}, {}).level == ERROR


def test_aggregator_levels_reasons_and_latency():
    h = aggregator_health(10, 1, {"published": 4, "degraded": 1}, "active", 2, 0, 3,
                          ["", "missing_blocks: 1 of 3", "queue_full: dropped"], [100.0, 300.0, 200.0],
                          [250.0, 250.0, 250.0])
    assert h.level == WARN and "1 degraded, 1 over budget" in h.message
    vals = dict(h.values)
    assert vals["degraded because"] == "missing_blocks, queue_full"
    assert vals["latency p50 ms"] == "200.0" and vals["budget slack min ms"] == "-50.0"
    assert vals["frames pending"] == "2" and vals["late block results"] == "3"
    assert vals["detections swapped for coarse boxes"] == "0"
    assert vals["oversized detections dropped unconfirmed"] == "0"
    assert vals["large people answered by their coarse boxes"] == "0"
    swapped = aggregator_health(10, 0, {"published": 2, "degraded": 0}, "active", 0, 0, 0, [], [10.0], [50.0],
                                swapped=7, dropped=3, answered=2)
    assert swapped.level == OK and dict(swapped.values)["detections swapped for coarse boxes"] == "7"
    assert dict(swapped.values)["oversized detections dropped unconfirmed"] == "3"
    assert dict(swapped.values)["large people answered by their coarse boxes"] == "2"
    assert aggregator_health(10, 1, {"published": 2, "degraded": 0}, "active", 0, 0, 0, [], [10.0], [50.0]).level == OK


def test_edge_warns_on_failed_or_expired_blocks():
    h = edge_health(1, "active", 10, 1, 0, {"done": 5, "failed": 1}, {"yolov8s@640": 250.0}, 120.0)
    assert h.level == WARN and ("yolov8s@640 latency ms", "250.0") in h.values
    assert ("deadline slack ms", "120.0") in h.values
    assert edge_health(1, "active", 10, 1, 0, {"done": 5}, {}, None).level == OK
    assert edge_health(1, "inactive", 0, 0, 0, {}, {}, None).level == WARN
    # active with no matched block publisher: connecting (what the partitioner sees), WARN
    h = edge_health(2, "active", 0, 0, 0, {}, {}, None, block_publishers=0)
    assert h.level == WARN and "connecting" in h.message and dict(h.values)["state"] == "connecting"
    assert dict(h.values)["block publishers"] == "0"
    h = edge_health(2, "active", 3, 0, 0, {"done": 3}, {}, None, block_publishers=1)
    assert h.level == OK and dict(h.values)["state"] == "active" and dict(h.values)["block publishers"] == "1"
    assert "block publishers" not in dict(edge_health(2, "active", 3, 0, 0, {}, {}, None).values)


def test_stall_counts_time_while_work_waits_and_nothing_comes_out():
    from repose_ros.core.health import Stall

    now = [0.0]
    s = Stall(limit_s=5.0, clock=lambda: now[0])
    assert s.seconds(3, waiting=True) == 0.0      # output moved (first sight)
    now[0] = 4.0
    assert s.seconds(3, waiting=True) == 4.0
    now[0] = 6.0
    assert s.seconds(3, waiting=False) == 0.0     # nothing waits: not stuck
    now[0] = 7.0
    assert s.seconds(3, waiting=True) == 1.0
    now[0] = 8.0
    assert s.seconds(4, waiting=True) == 0.0      # output moved again


def test_a_stalled_stage_is_an_error():
    h = aggregator_health(10, 0, {"published": 0}, "active", 3, 0, 0, [], [], [], stalled_s=6.0)
    assert h.level == ERROR and h.message.startswith("stalled: 3 frame(s) pending") and ("stalled s", "6.0") in h.values
    assert aggregator_health(10, 0, {"published": 0}, "active", 3, 0, 0, [], [], [], stalled_s=2.0).level == OK
    h = camera_health({"received": 5, "processed": 2}, {"received": 1}, "active", 3, stalled_s=9.0)
    assert h.level == ERROR and "3 frame(s) queued" in h.message


def test_server_state_is_connecting_until_the_block_subscription_is_matched():
    from repose_ros.core.health import server_state

    assert server_state("active", 0) == "connecting"
    assert server_state("active", 1) == server_state("active", -1) == "active"  # -1: not reported
    assert server_state("inactive", 0) == "inactive"
    # ... and until its answer publisher is matched with the aggregator's subscription
    assert server_state("active", 1, 0) == server_state("active", 0, 1) == "connecting"
    assert server_state("active", 1, 1) == server_state("active", 1, -1) == "active"
    assert server_state("inactive", 1, 0) == "inactive"


def test_edge_health_says_which_side_is_not_connected():
    from repose_ros.core.health import WARN, edge_health

    args = (3, "active", 0, 0, 0, {}, {}, None)
    assert edge_health(*args, 1, 1).message.startswith("server 3 active")
    h = edge_health(*args, 0, 1)
    assert h.level == WARN and "block publisher" in h.message
    h = edge_health(*args, 1, 0)
    assert h.level == WARN and "aggregator" in h.message


def test_partition_counts_and_their_report():
    assert partition_counts({}, {}) == {}
    assert partition_counts({"scale": 1.0, "kept": None}, {}) == {}  # the policy picked the configured bandwidth
    assert partition_counts({"scale": 0.6, "kept": None}, {}) == {"policy.scaled": 1}  # unchecked
    assert partition_counts({"scale": 0.6, "kept": True}, {}) == {"policy.scaled": 1, "policy.kept": 1}
    assert partition_counts({"scale": 0.6, "kept": False}, {}) == {"policy.scaled": 1, "policy.reverted": 1}
    got = partition_counts({}, {"steps": 2, "plans": 9, "stopped": "time"})
    assert got == {"search.runs": 1, "search.steps": 2, "search.plans": 9, "search.cut_by_time": 1}
    assert "search.cut_by_time" not in partition_counts({}, {"steps": 1, "plans": 4, "stopped": "converged"})
    import collections
    counts = collections.Counter()
    for check in ({"scale": 0.6, "kept": True}, {"scale": 0.6, "kept": False}, {"scale": 0.6, "kept": True}):
        counts.update(partition_counts(check, {"steps": 1, "plans": 5, "stopped": "converged"}))
    counts["plan.reused"] += 2  # the partitioner node counts the plans its check made and it reused
    vals = dict(partitioner_health(counts, {}, "active", 2, [0, 1], {}, {}).values)
    assert vals["policy scale kept by the check"] == "2" and vals["check chose the configured bandwidth"] == "1"
    assert vals["plans reused from the check"] == "2"
    assert vals["searches after the policy"] == "3" and vals["search steps"] == "3" and vals["search plans"] == "15"
    assert vals["searches cut by the time limit"] == "0"
    # nothing of it without a scale policy or a search
    vals = dict(partitioner_health({"frames": 3}, {}, "active", 2, [0, 1], {}, {}).values)
    assert not any(k.startswith(("policy", "search")) for k in vals)
