"""RePose.process end to end with a fake detector (no network), and its config."""
import math
import numpy as np
import pytest

from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.datasets.layouts import panda_like_layout
from repose_ros.core.config import RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.core.detections import Detections
from repose_ros.core.dca.reward import make_planner_value

W, H = 3840, 2160


def _gt(seed=0):
    return panda_like_layout(np.random.default_rng(seed), W, H, n_boxes=120)


@pytest.mark.parametrize("partitioner", ["rl_dca", "meanshift", "greedy", "uniform"])
def test_process_finds_the_ground_truth(partitioner):
    gt = _gt()
    zoo = ModelZoo.fake(FakeDetector(gt))
    rp = RePose(RePoseConfig(partitioner=partitioner, budget_ms=100000.0), zoo=zoo)
    dets, plan, t = rp.process(np.zeros((H, W, 3), np.uint8))
    assert {"coarse_ms", "partition_ms", "plan_ms", "detect_ms", "parallel_ms", "total_ms"} <= set(t)
    assert plan.feasible
    # The fake detector is perfect on what a block shows: nearly every ground-truth box comes
    # back in frame pixels (a few heavily occluded ones are merged by NMS, a few cut by a block edge).
    from repose_ros.core.boxes import box_iou

    best = box_iou(gt, dets.xyxy).max(axis=1)
    assert (best > 0.5).mean() > 0.95 and (best > 0.9).mean() > 0.9
    if partitioner != "uniform":
        # every coarse box lies inside the block of its cluster
        coarse = rp.last_coarse
        for b in rp.last_partition.blocks:
            for i in b.box_indices:
                x0, y0, x1, y1 = coarse.xyxy[i]
                assert b.rect.x0 <= x0 and b.rect.y0 <= y0 and x1 <= b.rect.x1 and y1 <= b.rect.y1


def test_tight_budget_without_skipping_returns_cheapest_plan():
    zoo = ModelZoo.fake(FakeDetector(_gt(1)))
    rp = RePose(RePoseConfig(budget_ms=1.0, skip_blocks=False), zoo=zoo)
    dets, plan, _ = rp.process(np.zeros((H, W, 3), np.uint8))
    assert not plan.feasible and plan.reason
    cheapest = min(rp.models, key=lambda k: rp.profiles.latency(k))
    assert {bp.model_key for bp in plan.blocks} == {cheapest}


def test_tight_budget_leaves_blocks_out_and_answers_with_coarse_boxes():
    """A budget the coarse stage already used up: every block is left out, the coarse boxes answer."""
    gt = _gt(1)
    zoo = ModelZoo.fake(FakeDetector(gt))
    rp = RePose(RePoseConfig(budget_ms=1.0), zoo=zoo)
    res = rp.run(np.zeros((H, W, 3), np.uint8))
    assert res.plan.feasible and res.plan.blocks == []
    assert sorted(res.plan.skipped) == list(range(len(res.partition.blocks))) and res.plan.skipped
    assert res.timings["detection_budget_ms"] == 0.0 and res.timings["detect_ms"] == 0.0
    assert len(res.detections) == len(res.coarse.detections) > 0


def test_profile_budget_clock_plans_from_the_predicted_coarse_stage():
    """budget_clock profile: the plan does not follow the measured coarse time; measured: it does (as deployed)."""
    from dataclasses import replace

    gt = _gt(3)
    rp = RePose(RePoseConfig(budget_ms=3000.0, coarse_on_edge=True), zoo=ModelZoo.fake(FakeDetector(gt)))
    frame = np.zeros((H, W, 3), np.uint8)
    stage = rp.coarse_stage(frame)
    predicted = rp.predicted_coarse_ms(W, H, stage.model_key, on_edge=True)
    assert predicted == pytest.approx(rp.profiles.block_latency(stage.model_key, W / 2, H / 2))
    fast, slow = replace(stage, ms=1.0), replace(stage, ms=1500.0)
    by_profile = [rp.run(frame, coarse=s, budget_clock="profile") for s in (fast, slow)]
    assert by_profile[0].timings["detection_budget_ms"] == by_profile[1].timings["detection_budget_ms"] \
        == pytest.approx(3000.0 - predicted - rp.config.budget_reserve_ms)  # the partition is not charged
    assert by_profile[0].plan.blocks  # something was planned
    assert [(bp.model_key, bp.server_id) for bp in by_profile[0].plan.blocks] == \
        [(bp.model_key, bp.server_id) for bp in by_profile[1].plan.blocks]
    measured = [rp.run(frame, coarse=s) for s in (fast, slow)]
    assert measured[0].timings["detection_budget_ms"] - measured[1].timings["detection_budget_ms"] > 1000.0
    with pytest.raises(ValueError, match="budget_clock"):
        rp.run(frame, coarse=fast, budget_clock="wall")


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(ValueError, match="unknown config keys"):
        RePoseConfig.from_dict({"budget": 3})
    with pytest.raises(ValueError):
        RePoseConfig(partitioner="kmeans")
    p = tmp_path / "c.yaml"
    p.write_text("repose:\n  budget_ms: 1234\n  num_servers: 2\n")
    c = RePoseConfig.from_yaml(str(p))
    assert (c.budget_ms, c.num_servers) == (1234, 2)


def test_planner_value_prefers_feasible_tight_clusters():
    gt = _gt(2)
    value = make_planner_value(budget_ms=3000.0, servers=4)
    one = value(gt, np.zeros(len(gt), np.int64), W, H)
    from repose_ros.core.clustering import initial_clusters

    many = value(gt, initial_clusters(gt, W, H), W, H)
    assert 0.0 <= one <= 1.0 and 0.0 <= many <= 1.0
    assert many > one  # one frame-sized block shrinks small people; clusters keep them large
    assert make_planner_value(budget_ms=0.5, servers=1)(gt, np.zeros(len(gt), np.int64), W, H) == 0.0


def _small_model_profile(recall=None):
    from repose_ros.core.profiles import Profiles

    d = {"models": [{"key": "yolov8s@256", "weights": "w", "imgsz": 256},
                    {"key": "yolov8s@640", "weights": "w", "imgsz": 640}],
         "latency_ms": {"yolov8s@256": {"default": 10.0}, "yolov8s@640": {"default": 60.0}},
         "precision": {k: [[100, 0.0], [400, 0.3], [1600, 0.6], [float("inf"), 0.9]]
                       for k in ("yolov8s@256", "yolov8s@640")}}
    if recall:
        d["recall"] = {"conf": 0.05, "bins": {"yolov8s@640": recall}}
    return Profiles.from_dict(d)


def _two_groups():
    """Two groups of 20 small people, 1500 px apart: MeanShift with a wide bandwidth makes one cluster."""
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.uniform([200, 800], [500, 1000], (20, 2)),
                         rng.uniform([2000, 800], [2300, 1000], (20, 2))])
    return np.concatenate([xy, xy + [12, 30]], axis=1)


def test_plan_frame_spends_the_budget_by_splitting_blocks():
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    frame = np.zeros((H, W, 3), np.uint8)
    kw = dict(partitioner="meanshift", bandwidth=0.9, budget_ms=5000.0, models=["yolov8s@256"], num_servers=2,
              coverage=False)
    rp = RePose(RePoseConfig(**kw), zoo=zoo, profiles=_small_model_profile())
    stage = rp.coarse_stage(frame)
    part = rp.partition(stage.detections, W, H)
    assert len(part.blocks) == 1  # one cluster over both groups
    base = rp.plan(part.blocks, stage.detections, 1000.0, frame_size=(W, H))
    new_part, plan = rp.plan_frame(part, stage.detections, W, H, 1000.0)
    assert plan.stats["spend_splits"] >= 1 and len(new_part.blocks) >= 2
    assert plan.total_value > base.total_value and plan.makespan_ms <= 1000.0
    rp0 = RePose(RePoseConfig(spend_splits=0, **kw), zoo=zoo, profiles=_small_model_profile())
    same_part, same = rp0.plan_frame(part, stage.detections, W, H, 1000.0)
    assert len(same_part.blocks) == 1 and same.total_value == pytest.approx(base.total_value)


def test_greedy_partitioner_raises_the_plan_value_of_mean_shift():
    """Greedy look-ahead on the planner's value: never below mean shift, above it where a split pays."""
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    kw = dict(bandwidth=0.9, budget_ms=5000.0, models=["yolov8s@256", "yolov8s@640"], num_servers=2,
              coverage=False)
    ms = RePose(RePoseConfig(partitioner="meanshift", **kw), zoo=zoo, profiles=_small_model_profile())
    gr = RePose(RePoseConfig(partitioner="greedy", **kw), zoo=zoo, profiles=_small_model_profile())
    coarse = ms.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
    base = ms.partition(coarse, W, H)
    assert len(base.blocks) == 1
    for budget in (70.0, 130.0, 1000.0):
        part = gr.partition(coarse, W, H, budget_ms=budget)
        v_ms = ms.plan_value(coarse, base.labels, W, H, budget)
        v_gr = gr.plan_value(coarse, part.labels, W, H, budget)
        assert v_gr >= v_ms - 1e-9
        # the value it reports is the plan's own value
        assert v_gr == pytest.approx(gr.plan(part.blocks, coarse, budget, frame_size=(W, H)).total_value)
    # with room for a 640 pass on each group, the greedy partitioner separates the groups
    part = gr.partition(coarse, W, H, budget_ms=130.0)
    assert len(part.blocks) >= 2
    assert gr.plan_value(coarse, part.labels, W, H, 130.0) > ms.plan_value(coarse, base.labels, W, H, 130.0)
    # no steps: mean shift unchanged
    g0 = RePose(RePoseConfig(partitioner="greedy", greedy_steps=0, **kw), zoo=zoo, profiles=_small_model_profile())
    assert np.array_equal(g0.partition(coarse, W, H, budget_ms=130.0).labels, base.labels)
    with pytest.raises(ValueError, match="greedy_steps"):
        RePoseConfig(partitioner="greedy", greedy_steps=-1)


class _Clock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step):
        self.t, self.step, self.reads = 0.0, step, 0

    def __call__(self):
        self.reads += 1
        self.t += self.step
        return self.t


def test_refine_by_plan_stops_at_its_deadline_with_the_best_candidate_so_far():
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    kw = dict(partitioner="greedy", bandwidth=0.9, budget_ms=5000.0, models=["yolov8s@256", "yolov8s@640"],
              num_servers=2, coverage=False)
    rp = RePose(RePoseConfig(**kw), zoo=zoo, profiles=_small_model_profile())
    coarse = rp.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
    base = rp.initial_labels(coarse, W, H)
    free = rp.refine_by_plan(coarse, base, W, H, 130.0)
    assert rp.last_search["stopped"] == "converged" and rp.last_search["steps"] >= 1
    assert len(np.unique(free)) >= 2
    full_plans = rp.last_search["plans"]
    # past the deadline before the search: the labels as given, no plan made
    rp.clock = _Clock(1.0)
    same = rp.refine_by_plan(coarse, base, W, H, 130.0, deadline=0.5)
    assert np.array_equal(same, base) and rp.last_search == {"steps": 0, "plans": 0, "stopped": "time"}
    # a deadline within the first step: it ends with the best candidate planned by then
    rp.clock = _Clock(1.0)
    cut = rp.refine_by_plan(coarse, base, W, H, 130.0, deadline=3.5)
    assert rp.last_search["stopped"] == "time" and rp.last_search["plans"] < full_plans
    assert rp.plan_value(coarse, cut, W, H, 130.0) >= rp.plan_value(coarse, base, W, H, 130.0)
    # a deadline never reached: the same search as without one
    rp.clock = _Clock(0.0)
    assert np.array_equal(rp.refine_by_plan(coarse, base, W, H, 130.0, deadline=1.0), free)
    assert rp.last_search["plans"] == full_plans


def test_rl_dca_searches_on_from_the_policy_within_its_share_of_the_budget():
    """search_share: the greedy look-ahead from rl_dca's clusters, bounded by the clock, charged to the partition."""
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    kw = dict(bandwidth=0.9, budget_ms=5000.0, models=["yolov8s@256", "yolov8s@640"], num_servers=2, coverage=False)
    rl = RePose(RePoseConfig(partitioner="rl_dca", **kw), zoo=zoo, profiles=_small_model_profile())
    coarse = rl.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
    policy = rl.partition(coarse, W, H, budget_ms=130.0)
    assert rl.last_search == {}  # no search by default
    searched = RePose(RePoseConfig(partitioner="rl_dca", search_share=0.05, **kw), zoo=zoo,
                      profiles=_small_model_profile(), dca=rl.dca)
    searched.clock = _Clock(0.0)  # time stands still: the search runs to the end
    part = searched.partition(coarse, W, H, budget_ms=130.0)
    expect = rl.refine_by_plan(coarse, policy.labels, W, H, 130.0)
    assert np.array_equal(part.labels, expect) and searched.last_search["steps"] >= 1
    assert searched.plan_value(coarse, part.labels, W, H, 130.0) > rl.plan_value(coarse, policy.labels, W, H, 130.0)
    # 5 % of 130 ms is 6.5 ms: a clock that moves 10 ms per read leaves no time for the search
    searched.clock = _Clock(0.010)
    late = searched.partition(coarse, W, H, budget_ms=130.0)
    assert np.array_equal(late.labels, policy.labels) and searched.last_search["stopped"] == "time"
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="search_share"):
            RePoseConfig(search_share=bad)


def test_plan_value_reward_is_the_planners_share_of_people_found():
    from repose_ros.core.dca.reward import make_plan_value

    gt = _two_groups()
    rp = RePose(RePoseConfig(partitioner="meanshift", bandwidth=0.9, models=["yolov8s@256", "yolov8s@640"],
                             coverage=False), zoo=ModelZoo.fake(FakeDetector(gt)), profiles=_small_model_profile())
    value = make_plan_value(rp)
    one = np.zeros(len(gt), np.int64)
    two = (gt[:, 0] > 1000).astype(np.int64)
    for budget, servers in ((130.0, 2), (1000.0, 4)):
        v1, v2 = value(gt, one, W, H, budget, servers), value(gt, two, W, H, budget, servers)
        assert 0.0 <= v1 <= 1.0 and 0.0 <= v2 <= 1.0
        det = rp.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
        expect = rp.plan_value(det, two, W, H, budget, list(range(servers))) / len(gt)
        assert v2 == pytest.approx(expect, rel=1e-6)
    assert value(gt, two, W, H, 130.0, 2) > value(gt, one, W, H, 130.0, 2)  # two tight blocks pay at 640
    assert value(gt, two, W, H, 1000.0, 4) >= value(gt, two, W, H, 130.0, 2)
    assert value(np.zeros((0, 4)), np.zeros(0), W, H) == 0.0


def test_people_found_counts_annotated_people_inside_planned_blocks():
    from repose_ros.core.detections import Detections
    from repose_ros.core.dca.reward import make_plan_value, people_found

    gt = _two_groups()
    rp = RePose(RePoseConfig(partitioner="meanshift", models=["yolov8s@640"], coverage=False),
                zoo=ModelZoo.fake(), profiles=_small_model_profile())
    coarse = Detections(gt[:20].astype(np.float32), np.ones(20, np.float32), np.zeros(20, np.int32))
    labels = np.zeros(20, np.int64)  # the coarse pass found the first group only
    part = rp.blocks_of(coarse, labels, W, H)
    plan = rp.plan(part.blocks, coarse, 1000.0, [0], (W, H))
    first = people_found(rp, coarse, part.blocks, plan, gt[:20], W, H)
    assert 0.0 < first <= 1.0
    both = people_found(rp, coarse, part.blocks, plan, gt, W, H)
    assert both == pytest.approx(first * 20 / 40)  # the second group lies outside every block
    # a missed person inside the block counts; the block's model precision at its size
    r = part.blocks[0].rect
    extra = np.array([[r.x0 + 5, r.y0 + 5, r.x0 + 17, r.y0 + 35]], np.float64)
    with_extra = people_found(rp, coarse, part.blocks, plan, np.concatenate([gt[:20], extra]), W, H)
    assert with_extra * 21 > first * 20
    assert people_found(rp, coarse, part.blocks, plan, np.zeros((0, 4)), W, H) == 0.0
    # the reward hook uses it when a layout brings its people
    value = make_plan_value(rp)
    assert value(coarse.xyxy, labels, W, H, 1000.0, 1, gt=gt) == pytest.approx(both)


def test_box_values_weight_by_coarse_recall_and_value_left_out_blocks():
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    rp = RePose(RePoseConfig(partitioner="meanshift", models=["yolov8s@256"], max_box_weight=4.0), zoo=zoo,
                profiles=_small_model_profile(recall=[[20, 0.1], [200, 0.5], [float("inf"), 1.0]]))
    dets = rp.coarse(np.zeros((H, W, 3), np.uint8))
    w, skip = rp.box_values(dets, W, H)
    # a 12x30 box in a 1920x1080 coarse block at 640: area 360 / 9 = 40 -> recall 0.5 -> weight 2
    assert rp.coarse_scale(W, H) == pytest.approx(640 / 1920)
    np.testing.assert_allclose(w, 2.0)
    np.testing.assert_allclose(skip, 0.0)  # 40 px^2 at the coarse input: precision 0
    off = RePose(RePoseConfig(partitioner="meanshift", recall_weighting=False), zoo=zoo,
                 profiles=_small_model_profile(recall=[[20, 0.1], [float("inf"), 1.0]]))
    np.testing.assert_allclose(off.box_values(dets, W, H)[0], 1.0)


def test_plan_frame_grows_margins_only_while_the_budget_allows():
    """Flat precision: a larger margin costs latency but loses nothing, so it is taken while it fits."""
    from repose_ros.core.profiles import Profiles

    prof = Profiles.from_dict({"models": [{"key": "yolov8s@640", "weights": "w", "imgsz": 640}],
                               "latency_ms": {"yolov8s@640": {"default": 100.0}},
                               "precision": {"yolov8s@640": [[1, 0.0], [float("inf"), 0.9]]}})
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    # The coarse model is not in the profile, so a block left out is worth nothing and every block runs.
    rp = RePose(RePoseConfig(partitioner="meanshift", num_servers=2, spend_splits=0, coarse_model="yolov8s@320",
                             coverage=False), zoo=zoo, profiles=prof)
    coarse = rp.coarse(np.zeros((H, W, 3), np.uint8))
    part = rp.partition(coarse, W, H)
    wide_part, wide = rp.plan_frame(part, coarse, W, H, 10000.0)
    assert wide.stats["margin"] == 256 and wide_part.blocks[0].rect.area > part.blocks[0].rect.area
    tight_budget = rp.plan(part.blocks, coarse, 10000.0, frame_size=(W, H)).makespan_ms / 0.9 + 1.0
    tight_part, tight = rp.plan_frame(part, coarse, W, H, tight_budget)
    assert tight.stats["margin"] < 256 and tight.makespan_ms <= tight_budget
    assert tight.total_value == pytest.approx(wide.total_value)


def test_hidden_spread_credits_blocks_for_the_surroundings_of_their_boxes():
    """Recall weight 2: each box stands for one missed person; spread > 0 pays a block for covering around it."""
    from repose_ros.core.profiles import Profiles

    prof = Profiles.from_dict({"models": [{"key": "yolov8s@640", "weights": "w", "imgsz": 640}],
                               "latency_ms": {"yolov8s@640": {"default": 100.0}},
                               "precision": {"yolov8s@640": [[1, 0.0], [float("inf"), 0.9]]},
                               "recall": {"conf": 0.05, "bins": {"yolov8s@640": [[float("inf"), 0.5]]}}})
    zoo = ModelZoo.fake(FakeDetector(_two_groups()))
    frame = np.zeros((H, W, 3), np.uint8)

    def value(spread, margin):
        rp = RePose(RePoseConfig(partitioner="meanshift", num_servers=2, coarse_model="yolov8s@640",
                                 hidden_spread=spread), zoo=zoo, profiles=prof)
        coarse = rp.coarse(frame)
        blocks = rp.blocks_of(coarse, rp.partition(coarse, W, H).labels, W, H, margin=margin).blocks
        return rp.plan(blocks, coarse, 100000.0, frame_size=(W, H)).total_value

    n = len(_two_groups())
    assert value(0.0, 8) == pytest.approx(value(0.0, 256)) == pytest.approx(2 * 0.9 * n)
    tight, wide = value(1.0, 8), value(1.0, 256)
    assert 0.9 * n < tight < wide <= 2 * 0.9 * n + 1e-9
    assert wide == pytest.approx(2 * 0.9 * n, rel=0.01)  # 256 px is over 8 sigma of a 30 px tall box
    with pytest.raises(ValueError, match="hidden_spread"):
        RePoseConfig(hidden_spread=-1.0)


def test_coverage_blocks_take_only_what_is_left():
    """Budget left after the people's blocks goes to tiles over empty regions; they never cost a block resolution."""
    from repose_ros.core.blocks import COVERAGE_LABEL

    from repose_ros.core.profiles import Profiles

    prof = Profiles.from_dict({"models": [{"key": "yolov8s@640", "weights": "w", "imgsz": 640}],
                               "latency_ms": {"yolov8s@640": {"default": 100.0}},
                               "precision": {"yolov8s@640": [[20, 0.0], [float("inf"), 0.9]]}})
    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    kw = dict(partitioner="meanshift", num_servers=2, spend_splits=0, spend_margins=(), coarse_model="yolov8s@320")
    rp = RePose(RePoseConfig(coverage=True, **kw), zoo=zoo, profiles=prof)
    coarse = rp.coarse(np.zeros((H, W, 3), np.uint8))
    part = rp.partition(coarse, W, H)
    base = rp.plan(part.blocks, coarse, 10000.0, frame_size=(W, H))
    covered_part, covered = rp.plan_frame(part, coarse, W, H, 10000.0)
    tiles = [b for b in covered_part.blocks if b.label == COVERAGE_LABEL]
    assert tiles and covered.stats["coverage_blocks"] == len(tiles)
    assert all(b.prior is not None and b.n_boxes == 0 for b in tiles)
    # the people's blocks keep their models; the tiles only add (a little) value
    assert [bp.model_key for bp in covered.blocks if bp.block_index < len(part.blocks)] == \
        [bp.model_key for bp in base.blocks]
    assert base.total_value < covered.total_value < base.total_value + 0.01 * len(tiles) + 1e-9
    # no budget left: no tiles
    tight = rp.plan_frame(part, coarse, W, H, base.makespan_ms + 1.0)[1]
    assert tight.stats["coverage_blocks"] == 0
    off = RePose(RePoseConfig(coverage=False, **kw), zoo=zoo, profiles=prof).plan_frame(part, coarse, W, H, 10000.0)
    assert len(off[0].blocks) == len(part.blocks)


def test_coarse_key_takes_the_largest_coarse_size_the_budget_affords():
    """With coarse_sizes the coarse stage runs at the largest size whose predicted time fits its share."""
    from repose_ros.core.coarse import coarse_blocks

    gt = _gt()
    zoo = ModelZoo.fake(FakeDetector(gt))
    cfg = RePoseConfig(partitioner="meanshift", coarse_sizes=(960, 1280), coarse_budget_share=0.3,
                       coarse_on_edge=True, budget_ms=100000.0)
    rp = RePose(cfg, zoo=zoo)
    r = coarse_blocks(W, H, cfg.num_servers)[0]
    cost = {s: rp.profiles.block_latency(f"yolov8s@{s}", r.w, r.h) for s in (640, 960, 1280)}
    assert cost[640] < cost[960] < cost[1280]
    # each budget gets the largest size whose one coarse block (on the edge, in parallel) fits 30 % of it
    for size in (640, 960, 1280):
        budget = cost[size] / 0.3 * 1.01
        assert rp.coarse_key(W, H, budget) == f"yolov8s@{size}"
    assert rp.coarse_key(W, H, 1.0) == "yolov8s@640"                        # nothing fits: the smallest
    # on the camera host the N blocks run one after another: the same budget affords less
    assert rp.coarse_key(W, H, cost[1280] / 0.3 * 1.01, on_edge=False) != "yolov8s@1280"
    # without coarse_sizes the coarse model is fixed
    assert RePose(RePoseConfig(coarse_sizes=()), zoo=zoo).coarse_key(W, H, 1e9) == "yolov8s@640"
    # the default: 960 on the edge once 40 % of the budget affords one 960 block, else the coarse model
    default = RePose(RePoseConfig(coarse_on_edge=True), zoo=zoo)
    assert default.coarse_key(W, H, cost[960] / 0.4 * 1.01) == "yolov8s@960"
    assert default.coarse_key(W, H, cost[960] / 0.4 * 0.99) == "yolov8s@640"
    # run() uses it and the plan weighs the boxes with that model's recall
    res = rp.run(np.zeros((H, W, 3), np.uint8), cost[960] / 0.3 * 1.01)
    assert res.coarse.model_key == "yolov8s@960" and len(res.coarse.detections) > 0
    with pytest.raises(ValueError, match="coarse_budget_share"):
        RePoseConfig(coarse_budget_share=0.0)


def test_people_found_discounts_people_cut_by_a_block_edge():
    from repose_ros.core.blocks import Block, Rect
    from repose_ros.core.detections import Detections
    from repose_ros.core.planner import BlockPlan, Plan
    from repose_ros.core.dca.reward import people_found

    rp = RePose(RePoseConfig(partitioner="meanshift", models=["yolov8s@640"], coverage=False),
                zoo=ModelZoo.fake(), profiles=_small_model_profile())
    blocks = [Block(Rect(0, 0, 640, 640))]
    plan = Plan([BlockPlan(0, "yolov8s@640", 0, 60.0, 0.5, 0, 640)], {0: 60.0}, 60.0, 0.0, True)
    none = Detections.empty()
    whole = np.array([[300.0, 300.0, 340.0, 400.0]])
    cut = np.array([[600.0, 300.0, 680.0, 400.0]])  # centre at x 640: outside
    cut_in = np.array([[580.0, 300.0, 660.0, 400.0]])  # 3/4 inside: counts half
    full = people_found(rp, none, blocks, plan, whole, 4000, 3000)
    assert full > 0
    assert people_found(rp, none, blocks, plan, cut, 4000, 3000) == 0.0
    assert people_found(rp, none, blocks, plan, cut_in, 4000, 3000) == pytest.approx(0.5 * full)


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_a_search_memo_changes_no_block_and_no_plan(spread):
    """What refine_by_plan and plan_frame reuse across candidates gives the plans computed afresh."""
    from repose_ros.core.dca.actions import apply_action
    from repose_ros.core.dca.state import ClusterState

    gt = _gt(5)
    zoo = ModelZoo.fake(FakeDetector(gt))
    rp = RePose(RePoseConfig(partitioner="meanshift", hidden_spread=spread, coverage=False), zoo=zoo)
    coarse = rp.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
    labels = rp.partition(coarse, W, H).labels.copy()
    labels[:3] = -1  # noise boxes get blocks of their own
    state = ClusterState(coarse.xyxy, labels, W, H)
    memo = {}
    seen = 0
    for budget in (300.0, 1500.0):
        for action in range(0, 2 + state.k):
            cand, valid = apply_action(state, action, state.k) if action else (state, True)
            if not valid:
                continue
            for margin in (None, 96):
                fresh = rp.blocks_of(coarse, cand.labels, W, H, margin=margin)
                kept = rp.blocks_of(coarse, cand.labels, W, H, margin=margin, memo=memo)
                assert [(b.rect, b.label, b.box_indices.tolist()) for b in fresh.blocks] == \
                    [(b.rect, b.label, b.box_indices.tolist()) for b in kept.blocks]
            a = rp.plan(fresh.blocks, coarse, budget, frame_size=(W, H))
            b = rp.plan(kept.blocks, coarse, budget, frame_size=(W, H), memo=memo)
            assert [(p.block_index, p.model_key, p.server_id, p.imgsz) for p in a.blocks] == \
                [(p.block_index, p.model_key, p.server_id, p.imgsz) for p in b.blocks]
            assert (a.total_value, a.makespan_ms, a.skipped) == (b.total_value, b.makespan_ms, b.skipped)
            assert rp.plan_value(coarse, cand.labels, W, H, budget, memo=memo) == \
                rp.plan_value(coarse, cand.labels, W, H, budget)
            seen += 1
    assert seen >= 6 and len(memo) > 10
    with pytest.raises(ValueError, match="one entry per box"):
        rp.blocks_of(coarse, labels[:-1], W, H, memo=memo)


@pytest.mark.parametrize("policy", ["", "builtin:scale"])
def test_plan_frame_reuses_what_the_partitioners_plans_computed(policy, monkeypatch):
    """With one memo per frame, plan_frame does not recompute the blocks the policy check planned."""
    import repose_ros.core.planner as planner

    computed = [0]
    real = planner._block_rows

    def counting(profiles, wh, *args, **kwargs):
        computed[0] += len(wh)
        return real(profiles, wh, *args, **kwargs)

    monkeypatch.setattr(planner, "_block_rows", counting)
    rp = RePose(RePoseConfig(partitioner="rl_dca", policy=policy, policy_check=True, coverage=False),
                zoo=ModelZoo.fake())
    rng = np.random.default_rng(3)
    for _ in range(3):
        xyxy = panda_like_layout(rng, W, H, n_boxes=120)
        coarse = Detections(xyxy, np.full(len(xyxy), 0.5, np.float32), np.zeros(len(xyxy), np.int32))
        results, counts = [], []

        def fields(part, plan):
            decisions = [(p.block_index, p.model_key, p.server_id, p.imgsz) for p in plan.blocks]
            return [b.rect for b in part.blocks], decisions, plan.total_value
        for memo in (None, {}):
            computed[0] = 0
            chosen = rp.partition(coarse, W, H, 1500.0, memo=memo)
            before = computed[0]
            part, plan = rp.plan_frame(chosen, coarse, W, H, 1490.0, memo=memo)
            counts.append(computed[0] - before)
            results.append(fields(part, plan))
        if rp.last_plan_reused:  # the check's plan of these clusters under 1500 ms, which fits 1490 ms
            assert policy and results[1] == fields(*rp.plan_frame(chosen, coarse, W, H, 1500.0))
        else:  # planned again: the memo changes nothing but the work
            assert results[0] == results[1]
        assert counts[0] >= len(part.blocks) > 0
        assert counts[1] < counts[0]  # the partition's plan of the chosen blocks is not computed again


@pytest.mark.parametrize("check", [False, True])
def test_rl_dca_policy_check_hands_the_planners_value_to_the_policy(check):
    class Recorder:
        def refine(self, xyxy, w, h, labels, budget_ms=None, servers=None, value=None):
            self.value = value
            return labels

    gt = _two_groups()
    zoo = ModelZoo.fake(FakeDetector(gt))
    kw = dict(bandwidth=0.9, budget_ms=5000.0, models=["yolov8s@256", "yolov8s@640"], num_servers=2,
              coverage=False)
    dca = Recorder()
    rp = RePose(RePoseConfig(partitioner="rl_dca", policy_check=check, **kw), zoo=zoo,
                profiles=_small_model_profile(), dca=dca)
    coarse = rp.coarse_stage(np.zeros((H, W, 3), np.uint8)).detections
    rp.partition(coarse, W, H, budget_ms=130.0)
    if not check:
        assert dca.value is None
        return
    one, two = np.zeros(len(coarse), np.int64), (coarse.centers[:, 0] > W / 2).astype(np.int64)
    for labels in (one, two):
        assert dca.value(labels) == rp.plan_value(coarse, labels, W, H, 130.0)
    assert dca.value(two) > dca.value(one)


@pytest.mark.parametrize("area,drop,swapped,dropped",
                         [(65536.0, True, 1, 1), (65536.0, False, 1, 0), (0.0, True, 0, 0)])
def test_fuse_runs_answers_a_person_too_large_at_the_blocks_input_by_the_coarse_box(area, drop, swapped, dropped):
    from repose_ros.core.blocks import Block, Rect
    from repose_ros.core.planner import BlockPlan, Plan
    from repose_ros.core.serving import BlockRun, ServerRun
    from repose_ros.core.stages import Partition

    rp = RePose(RePoseConfig(fusion_max_input_area=area, fusion_drop_unconfirmed=drop), zoo=ModelZoo.fake())
    coarse = Detections(np.array([[100, 100, 300, 600], [700, 100, 720, 150]], np.float32),
                        np.array([0.4, 0.3], np.float32), np.zeros(2, np.int32))
    # a 640 x 640 block enlarged to 1920: the 200 x 500 person becomes 600 x 1500 px at the model input
    part = Partition(np.zeros(2, np.int64), [Block(Rect(0, 0, 640, 640), np.array([0, 1]), 0)])
    plan = Plan([BlockPlan(0, "yolov8s@1920", 0, 100.0, 0.5, 2, imgsz=1920)], {0: 100.0}, 100.0, 1.0, True)
    # the third is as large at the input and where the coarse pass saw nobody: unconfirmed
    found = Detections(np.array([[95, 90, 310, 640], [700, 101, 721, 151], [400, 20, 600, 620]], np.float32),
                       np.array([0.9, 0.8, 0.2], np.float32), np.zeros(3, np.int32))
    runs = {0: ServerRun(0, [BlockRun(0, found, 10.0)])}
    fused = rp.fuse_runs(runs, part, plan, coarse, 3840, 2160)
    assert plan.stats["swapped_to_coarse"] == swapped and plan.stats["dropped_unconfirmed"] == dropped
    assert len(fused) == 3 - dropped
    fused = fused[fused.scores > 0.25]
    big = fused.xyxy[np.argmax(fused.xyxy[:, 3] - fused.xyxy[:, 1])]
    np.testing.assert_allclose(big, coarse.xyxy[0] if swapped else found.xyxy[0])


@pytest.mark.parametrize("answer", [True, False])
def test_fuse_runs_publishes_the_coarse_box_of_a_large_person_no_block_answered(answer):
    """fusion_answer_oversized: a block that saw only a fragment of a person too large at its input."""
    from repose_ros.core.blocks import Block, Rect
    from repose_ros.core.planner import BlockPlan, Plan
    from repose_ros.core.serving import BlockRun, ServerRun
    from repose_ros.core.stages import Partition

    rp = RePose(RePoseConfig(fusion_answer_oversized=answer), zoo=ModelZoo.fake())
    coarse = Detections(np.array([[100, 100, 300, 600], [700, 100, 720, 150]], np.float32),
                        np.array([0.7, 0.3], np.float32), np.zeros(2, np.int32))
    part = Partition(np.zeros(2, np.int64), [Block(Rect(0, 0, 640, 640), np.array([0, 1]), 0)])
    plan = Plan([BlockPlan(0, "yolov8s@1920", 0, 100.0, 0.5, 2, imgsz=1920)], {0: 100.0}, 100.0, 1.0, True)
    # at 3x the tall person's head and shoulders (IoU 0.3 with its coarse box) and the small person
    found = Detections(np.array([[110, 95, 290, 250], [700, 101, 721, 151]], np.float32),
                       np.array([0.6, 0.8], np.float32), np.zeros(2, np.int32))
    fused = rp.fuse_runs({0: ServerRun(0, [BlockRun(0, found, 10.0)])}, part, plan, coarse, 3840, 2160)
    assert plan.stats["dropped_unconfirmed"] == 1 and plan.stats["swapped_to_coarse"] == 0
    assert plan.stats["answered_by_coarse"] == int(answer)
    tall = [b.tolist() for b in fused.xyxy if b[3] - b[1] > 300]
    assert tall == ([[100, 100, 300, 600]] if answer else [])  # the person, or nobody
    assert any(abs(b[0] - 700) < 2 for b in fused.xyxy)  # the small person's block detection, either way


@pytest.mark.parametrize("cap", [65536.0, 0.0])
def test_plan_values_a_person_too_large_at_the_blocks_input_by_the_coarse_precision(cap):
    """plan_max_input_area: the planner values what fusion delivers for an oversized person (its coarse box)."""
    from repose_ros.core.blocks import Block, Rect

    rp = RePose(RePoseConfig(plan_max_input_area=cap, models=["yolov8s@1920", "yolov8s@640"], hidden_spread=0.0),
                zoo=ModelZoo.fake())
    coarse = Detections(np.array([[100, 100, 300, 600], [400, 100, 420, 150]], np.float32),
                        np.array([0.4, 0.3], np.float32), np.zeros(2, np.int32))
    block = Block(Rect(0, 0, 640, 640), np.array([0, 1]), 0)
    weights, coarse_prec = rp.box_values(coarse, W, H)
    plan = rp.plan([block], coarse, 100000.0, frame_size=(W, H))
    (bp,) = plan.blocks
    scale = bp.imgsz / 640.0
    at_input = coarse.areas.astype(np.float64) * scale ** 2
    assert at_input[0] > 65536.0 > at_input[1]  # at 1920 or 640 the tall person is over the cap, the small one not
    profile = rp.profiles.precision_at(bp.model_key, coarse.areas, scale)
    expected = profile.copy()
    if cap:
        expected[0] = coarse_prec[0]
    assert coarse_prec[0] != pytest.approx(profile[0], abs=1e-3)  # the two valuations differ for this person
    assert bp.expected_precision == pytest.approx(float((expected * weights).sum() / weights.sum()))
    assert plan.total_value == pytest.approx(float((expected * weights).sum()))
    # the same through a memo, and a coverage tile's pseudo box (no coarse box behind it) keeps the profile's value
    memo = {}
    assert rp.plan([block], coarse, 100000.0, frame_size=(W, H), memo=memo).total_value == \
        pytest.approx(plan.total_value)
    tile = Block(Rect(0, 0, 640, 640), np.zeros(0, np.int64), -1, prior=(200.0 * 500.0, 1.0))
    only = rp.plan([tile], coarse, 100000.0, frame_size=(W, H), memo=memo).blocks[0]
    tile_scale = only.imgsz / 640.0
    assert only.expected_precision == pytest.approx(
        float(rp.profiles.precision_at(only.model_key, [1e5], tile_scale)[0]))


def test_plan_upscale_gain_off_values_enlarged_people_by_their_area_at_the_input():
    """plan_upscale_gain: on, a small block's people count with native precision + the measured gain; off, as before."""
    from repose_ros.core.blocks import Block, Rect

    coarse = Detections(np.array([[100, 100, 130, 170], [200, 100, 212, 130]], np.float32),
                        np.array([0.4, 0.3], np.float32), np.zeros(2, np.int32))
    block = Block(Rect(90, 90, 390, 390), np.array([0, 1]), 0)   # 300 px: enlarged to every input above 300
    plans = {}
    for on in (True, False):
        rp = RePose(RePoseConfig(plan_upscale_gain=on, models=["yolov8s@960"], hidden_spread=0.0), zoo=ModelZoo.fake())
        assert rp.profiles.apply_upscale_gain == on and rp.profiles.upscale_gain   # the shipped profile has it
        (bp,) = rp.plan([block], coarse, 100000.0, frame_size=(W, H)).blocks
        scale = bp.imgsz / 300.0
        assert scale > 1.0
        weights, _ = rp.box_values(coarse, W, H)
        p = rp.profiles.precision_at(bp.model_key, coarse.areas, scale)
        if not on:
            np.testing.assert_allclose(p, rp.profiles.precision_of_area(bp.model_key, coarse.areas * scale ** 2))
        assert bp.expected_precision == pytest.approx(float((p * weights).sum() / weights.sum()))
        plans[on] = bp.expected_precision
    assert plans[True] != pytest.approx(plans[False])


def test_block_margin_height_reaches_the_partition_and_its_memo():
    """block_margin_height: RePose's blocks grow by half their people's height; a memo does not mix the settings."""
    coarse = Detections(np.array([[1000, 1000, 1060, 1200], [1100, 1000, 1160, 1200]], np.float32),
                        np.array([0.5, 0.5], np.float32), np.zeros(2, np.int32))
    labels = np.zeros(2, np.int64)
    memo: dict = {}
    plain = RePose(RePoseConfig(partitioner="meanshift"), zoo=ModelZoo.fake())
    grown = RePose(RePoseConfig(partitioner="meanshift", block_margin_height=0.5), zoo=ModelZoo.fake())
    a = plain.blocks_of(coarse, labels, W, H, memo=memo).blocks[0].rect
    b = grown.blocks_of(coarse, labels, W, H, memo=memo).blocks[0].rect
    assert (a.x0, a.y0) == (968, 968) and (b.x0, b.y0, b.x1, b.y1) == (900, 900, 1260, 1300)
    with pytest.raises(ValueError, match="block_margin_height"):
        RePoseConfig(block_margin_height=-1.0)


def test_hidden_whole_values_a_margin_that_holds_whole_people():
    """hidden_whole: a box's missed people count by the share of them that fits wholly in the block."""
    from repose_ros.core.blocks import Rect, kernel_share

    coarse = Detections(np.array([[1000, 1000, 1060, 1200], [1100, 1000, 1160, 1200]], np.float32),
                        np.array([0.1, 0.1], np.float32), np.zeros(2, np.int32))   # low scores: weight > 1
    labels = np.zeros(2, np.int64)
    values = {}
    for whole in (False, True):
        rp = RePose(RePoseConfig(partitioner="meanshift", hidden_whole=whole), zoo=ModelZoo.fake())
        weights, _ = rp.box_values(coarse, W, H)
        assert weights.min() > 1.0
        for margin in (32, 128):
            part = rp.blocks_of(coarse, labels, W, H, margin=margin)
            got = rp._block_weights(coarse, part.blocks, weights, (W, H))[0]
            r = part.blocks[0].rect
            rects = [Rect(r.x0 + 30, r.y0 + 100, r.x1 - 30, r.y1 - 100) if whole else r] * 2   # 60 x 200 boxes
            share = np.array([kernel_share(coarse.xyxy[i:i + 1], rects[i], 1.0)[0] for i in range(2)])
            np.testing.assert_allclose(got, 1.0 + (weights - 1.0) * share)
            values[whole, margin] = got.sum()
    assert values[True, 32] < values[False, 32] and values[True, 128] < values[False, 128]
    assert values[True, 128] > values[True, 32]                       # a wider margin holds more of them whole


def test_plan_max_input_area_must_not_be_negative():
    with pytest.raises(ValueError, match="plan_max_input_area"):
        RePoseConfig(plan_max_input_area=-1.0)


def _plan_fields(part, plan):
    return [b.rect.as_tuple() for b in part.blocks], part.labels.tolist(), {
        k: v for k, v in plan.to_dict().items() if k != "budget_ms"}


def test_plan_frame_returns_the_plan_its_memo_holds_while_that_plan_fits():
    """The checked scale policy plans the clusters it keeps; the partitioner's plan of them then costs nothing."""
    rng = np.random.default_rng(11)
    rp = RePose(RePoseConfig(partitioner="rl_dca", num_servers=4, policy_check=True), zoo=ModelZoo.fake())
    reused = 0
    for _ in range(6):
        b = panda_like_layout(rng, W, H, n_boxes=200)
        det = Detections(b, np.full(len(b), 0.5, np.float32), np.zeros(len(b), np.int64))
        memo: dict = {}
        part = rp.partition(det, W, H, 1500.0, memo=memo)
        assert rp.last_check["kept"] is not None  # the check planned both clusterings under 1500 ms
        # the same budget: the check's own plan, equal to planning again without the memo
        got = rp.plan_frame(part, det, W, H, 1500.0, memo=memo)
        assert rp.last_plan_reused
        fresh = rp.plan_frame(part, det, W, H, 1500.0)
        assert not rp.last_plan_reused
        ref = _plan_fields(*got)
        assert ref == _plan_fields(*fresh)
        got[1].stats["added_by_a_caller"] = 1  # the memo keeps its own copy
        again = rp.plan_frame(part, det, W, H, 1500.0, memo=memo)[1]
        assert rp.last_plan_reused and "added_by_a_caller" not in again.stats
        # a budget a few ms smaller (the partition's time): kept when the plan still fits it
        smaller = 1500.0 - 6.0
        p2, plan2 = rp.plan_frame(part, det, W, H, smaller, memo=memo)
        fits = got[1].feasible and got[1].makespan_ms <= smaller
        assert rp.last_plan_reused is fits
        assert plan2.budget_ms == smaller and (not plan2.feasible or plan2.makespan_ms <= smaller)
        if fits:
            reused += 1
            assert _plan_fields(p2, plan2) == ref
        # a budget the kept plan exceeds, or a larger one: planned again
        for budget in (0.5 * got[1].makespan_ms, 3000.0):
            _, plan3 = rp.plan_frame(part, det, W, H, budget, memo=memo)
            assert not rp.last_plan_reused and plan3.budget_ms == budget
            assert _plan_fields(part, plan3)[2] == _plan_fields(*rp.plan_frame(part, det, W, H, budget))[2]
    assert reused >= 1


def test_plan_max_person_height_limits_the_enlargement_of_a_block_of_tall_people():
    """plan_max_person_height: a block whose people are already tall is not enlarged past that height."""
    from repose_ros.core.blocks import Block, Rect

    coarse = Detections(np.array([[10, 10, 60, 150], [100, 20, 150, 160], [300, 300, 312, 330],
                                  [330, 300, 342, 330]], np.float32), np.full(4, 0.5, np.float32),
                        np.zeros(4, np.int32))
    tall = Block(Rect(0, 0, 200, 180), np.array([0, 1]), 0)  # people 140 px tall
    small = Block(Rect(280, 280, 380, 350), np.array([2, 3]), 1)  # people 30 px tall
    tile = Block(Rect(500, 500, 700, 700), np.zeros(0, np.int64), -1)
    plans = {}
    for limit in (0.0, 160.0):
        rp = RePose(RePoseConfig(plan_max_person_height=limit, models=["yolov8s@1280"]), zoo=ModelZoo.fake())
        assert rp.enlarge_limits([tall, small, tile], coarse) == \
            (None if not limit else [pytest.approx(160.0 / 140.0), pytest.approx(160.0 / 30.0), math.inf])
        plans[limit] = {bp.block_index: bp.imgsz for bp in rp.plan([tall, small], coarse, 1e6).blocks}
    cap = rp.profiles.upscale_cap
    assert plans[0.0][0] == min(1280, math.ceil(200 * cap / 32) * 32)  # the profile's cap alone
    assert plans[160.0][0] == math.ceil(200 * 160.0 / 140.0 / 32) * 32  # 229 -> 256: the tall people to ~180 px
    assert plans[160.0][1] == plans[0.0][1]  # the small people's block: the profile's cap is the smaller limit


@pytest.mark.parametrize("value", [-1.0, math.inf, math.nan])
def test_plan_max_person_height_must_be_a_finite_number_not_below_zero(value):
    with pytest.raises(ValueError, match="plan_max_person_height"):
        RePoseConfig(plan_max_person_height=value)


@pytest.mark.parametrize("on_edge", [False, True])
def test_coarse_stage_drops_tile_artefacts_as_configured(on_edge):
    """Both coarse paths (one call here, one call per tile on the edge) drop and count tile artefacts."""
    person = [400.0, 300.0, 440.0, 400.0]
    artefact = [2000.0, 0.0, 3800.0, 1080.0]         # full height of the top-right 1920 x 1080 tile, wider than tall
    zoo = ModelZoo.fake(FakeDetector(np.array([person, artefact]), min_visibility=0.05))
    frame = np.zeros((H, W, 3), np.uint8)
    rp = RePose(RePoseConfig(num_servers=4, coarse_on_edge=on_edge), zoo=zoo)
    stage = rp.coarse_stage(frame)
    assert stage.artefacts == 1 and stage.detections.xyxy.tolist() == [person]
    off = RePose(RePoseConfig(num_servers=4, coarse_on_edge=on_edge, coarse_artefact_span=0.0), zoo=zoo)
    stage = off.coarse_stage(frame)
    assert stage.artefacts == 0 and len(stage.detections) == 2
    with pytest.raises(ValueError, match="coarse_artefact"):
        RePoseConfig(coarse_artefact_span=1.5)
    with pytest.raises(ValueError, match="coarse_artefact"):
        RePoseConfig(coarse_artefact_aspect=0.0)
