"""Fault tests: the launched pipeline (separate processes, fake back-end) under failures.

``test_edge_faults_and_aggregator_restart`` streams frames at a steady rate through
``ros2 launch repose_ros pipeline.launch.py`` with three edge servers and

1. SIGKILLs edge detector 1 mid-stream,
2. SIGSTOPs edge detector 2 (a stalled box),
3. SIGCONTs edge detector 2 and starts edge detector 1 again (same command line),
4. SIGKILLs the aggregator and starts it again.

Every frame sent while an aggregator runs gets exactly one ``/<ns>/detections`` message;
frames that lost blocks are flagged ``degraded`` in ``frame_report`` and counted; the
partitioner stops counting a dead or stalled server as live (``FramePlan.live_servers``; the
``server_status`` heartbeat, ``server_timeout_s``) within a bounded number of frames, and counts
a server that comes back as live again at most ``server_rejoin_s`` after its next connected heartbeat
(whether a plan then uses it is the planner's choice). The measured figures are printed (``pytest -s``).

``test_queue_overload_drops_are_counted_and_answered`` overloads the camera's input queue
(in one process) with both queue policies: every dropped frame is counted and still answered.
"""
import math
import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402

from repose_ros.testing.procfs import pipeline_processes, proc_cmdline, proc_environ, proc_state  # noqa: E402
from repose_ros.datasets.synthetic import blob_grid_frame  # noqa: E402
from repose_ros.testing.stream import Stream  # noqa: E402
from repose_ros.testing.launched import stop_process_group  # noqa: E402
from repose_ros.ros.executors import close_executor  # noqa: E402

W, H = 960, 540
RATE = 4.0                # frames per second sent by the camera (5 Hz overloaded a busy 2-core CI box)
SERVERS = 3
SERVER_TIMEOUT_S = 1.0    # partitioner: a server silent for this long is not planned for
STATUS_PERIOD_S = 0.2     # edge detectors: heartbeat period
BUDGET_MS = 1000.0        # with deadline_factor 1 and the slack below: a lost block is given up after 1.3 s
DEADLINE_SLACK_MS = 300.0  # aggregator: how long after a frame's deadline its missing blocks are waited for
# A fault is noticed after at most timeout + one heartbeat period; frames planned until then may
# lose blocks. The bound adds one second for the frontend's queue and scheduling on a busy 2-core box.
RECOVERY_BOUND = math.ceil((SERVER_TIMEOUT_S + STATUS_PERIOD_S + 1.0) * RATE)
REJOIN_S = 3.0            # partitioner: a returning server is planned for at the latest this long after it is up
# A server that comes back is planned for again at most REJOIN_S after its first connected heartbeat.
REJOIN_BOUND = math.ceil((STATUS_PERIOD_S + REJOIN_S + 2.0) * RATE)
# Frames sent while a killed aggregator is replaced (process start + discovery) are not answered.
AGG_RESTART_BOUND = math.ceil(10.0 * RATE)
# How long before a fault a frame still in flight may have been sent: deadline + slack + 1 s of stall.
IN_FLIGHT_S = (BUDGET_MS + DEADLINE_SLACK_MS) / 1000.0 + 1.0
# Frames by which the partitioner's and this client's view of a restarted aggregator may differ (discovery).
DISCOVERY_SLACK = 4


def _domain_id(k: int) -> str:
    """A ROS domain of this test run only (other runs use other pids)."""
    return str(30 + (os.getpid() % 30) * 4 + k)


BLOBS = 5                 # 'people' per frame: 4-5 blocks, a load one edge server sustains on a busy 2-core box


def _frame(i):
    return blob_grid_frame(i, W, H, blobs=BLOBS)


def _params_file(repo_root, tmp_path, **overrides):
    """The package's parameters with the test's overrides (section -> {name: value})."""
    params = yaml.safe_load((repo_root / "config" / "repose.yaml").read_text())
    for section, values in overrides.items():
        params.setdefault(section, {"ros__parameters": {}})["ros__parameters"].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _restart(pid_info, log_path):
    """Start a process again with the command line and environment it had (output to ``log_path``)."""
    cmd, env = pid_info
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _table(recs):
    """One line per frame: index, phase, servers planned, answers, degraded, lost blocks, reason, latency."""
    return "\n".join(
        f"{r.index:4d} {r.label:<12} live={r.live} servers={r.servers} answers={r.answers} degraded={r.degraded} "
        f"missing={r.missing} from {sorted(r.missing_servers())} {r.drop_reason[:40]!r} "
        f"{'%.0f ms' % ((r.answered_at - r.sent) * 1000) if r.answered_at else '-'}" for r in recs)


def _touches(rec, failed):
    """Whether a frame counted one of the ``failed`` servers as live, was planned on it, or lost blocks of it."""
    return bool(set(rec.live or ()) & failed or set(rec.servers or ()) & failed or rec.missing_servers() & failed)


def _recovery(recs, bad, until=float("inf")):
    """Frames from the first one after an event until the last ``bad`` one (0 if none is bad).

    Frames answered after ``until`` (the next fault: they were still in flight) are not judged.
    """
    last = max((i for i, r in enumerate(recs) if bad(r) and (r.answered_at or 0) <= until), default=-1)
    return last + 1


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
def test_edge_faults_and_aggregator_restart(tmp_path, repo_root, monkeypatch):
    """SIGKILL / SIGSTOP edge detectors and restart the aggregator while frames stream in."""
    monkeypatch.setenv("ROS_DOMAIN_ID", _domain_id(0))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    params = _params_file(repo_root, tmp_path, **{
        "/**": {"backend": "fake", "status_period_s": STATUS_PERIOD_S},
        # A deeper input history and queue: on a shared 2-core CI machine other processes can stall the
        # frontend for a moment, and frames DDS overwrites before the camera sees them cannot be answered.
        "/**/camera": {"qos.depth": 20, "queue.size": 8},
        "/**/aggregator": {"deadline_slack_ms": DEADLINE_SLACK_MS},
        # Frames no aggregator answered are given up 2 s after their deadline (deadline 1 s + slack 0.3 s).
        "/**/partitioner": {"server_timeout_s": SERVER_TIMEOUT_S, "server_rejoin_s": REJOIN_S,
                            "budget_ms": BUDGET_MS, "deadline_factor": 1.0,
                            "publish_debug_image": False, "unanswered_after_s": 2.0},
    })
    ns, input_topic = "faults", "/faults_in"
    log_path = tmp_path / "launch.log"
    log = open(log_path, "w")
    launch = subprocess.Popen(["ros2", "launch", "repose_ros", "pipeline.launch.py", f"namespace:={ns}",
                               f"input_topic:={input_topic}", f"num_servers:={SERVERS}", "backend:=fake",
                               f"params_file:={params}", "log_level:=warn"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stream = Stream(ns, input_topic)
    extra = []  # processes this test started itself
    stopped = []

    def tail():
        log.flush()
        unanswered = [r for r in stream.records() if not r.answers or r.degraded is None]
        return (f"{len(unanswered)} frames without answer or report: "
                + ", ".join(f"#{r.index} {r.label} answers={r.answers} report={r.degraded is not None}"
                            for r in unanswered[:20])
                + f"\nclient lateness {stream.max_lateness:.2f} s\n" + log_path.read_text()[-4000:])

    events = {}  # what happened when (monotonic seconds)

    def note_status():
        """Remember when the restarted edge detector 1 first reported (its heartbeat reaches us)."""
        st = stream.status.get(1)
        if "restart_1" in events and "status_1" not in events and st and st[1] > events["restart_1"]:
            events["status_1"] = st[1]

    partitioner_status = {}  # the frontend's partitioner on /diagnostics: key -> value

    def on_diagnostics(msg):
        for st in msg.status:
            if st.name.startswith("partitioner") and st.hardware_id.startswith(f"/{ns}/"):
                partitioner_status.update({kv.key: kv.value for kv in st.values})

    try:
        stream.start()
        stream.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
        stream.wait_ready(SERVERS, timeout=120.0, alive=lambda: launch.poll() is None)
        procs = pipeline_processes(launch.pid)
        assert {"frontend", "aggregator", *(f"edge_detector_{i}" for i in range(SERVERS))} <= set(procs), procs
        saved = {role: (proc_cmdline(pid), proc_environ(pid)) for role, pid in procs.items()}

        t_ready = time.monotonic()
        stream.send_for(3.0, RATE, _frame, "baseline")

        os.kill(procs["edge_detector_1"], signal.SIGKILL)
        events["kill_1"] = time.monotonic()
        stream.send_for(4.0, RATE, _frame, "kill_1")

        os.kill(procs["edge_detector_2"], signal.SIGSTOP)
        stopped.append(procs["edge_detector_2"])
        events["stop_2"] = time.monotonic()
        stream.send_for(4.0, RATE, _frame, "stop_2")

        os.kill(procs["edge_detector_2"], signal.SIGCONT)
        stopped.remove(procs["edge_detector_2"])
        events["cont_2"] = events["restart_1"] = time.monotonic()
        extra.append(_restart(saved["edge_detector_1"], tmp_path / "edge_detector_1.log"))
        stream.send_for(8.0, RATE, _frame, "back", on_tick=note_status)
        assert stream.drain(15.0), "frames unanswered before the aggregator restart\n" + tail()

        os.kill(procs["aggregator"], signal.SIGKILL)
        events["kill_agg"] = time.monotonic()
        extra.append(_restart(saved["aggregator"], tmp_path / "aggregator.log"))
        stream.send_for(8.0, RATE, _frame, "agg_restart")
        stream.drain(10.0)
        # The partitioner gives a frame up 2 s after its deadline (+ its 1 s check, + 1 s of diagnostics).
        stream.spin_for(max(0.0, 1.0 + 2.0 + 2.5 - (time.monotonic() - stream.records()[-1].sent)))
        accounted = dict(partitioner_status)
        t_total = time.monotonic() - t_ready
        alive = {role: proc_state(pid) for role, pid in procs.items()}
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stream.close()
        for p in extra:
            stop_process_group(p, timeout=10.0)
        stop_process_group(launch, timeout=15.0)
        log.close()
        if shutil.which("fastdds"):  # the SIGKILLed processes left Fast DDS shared-memory segments behind
            subprocess.run(["fastdds", "shm", "clean"], capture_output=True, timeout=60)

    text = log_path.read_text()[-3000:]
    for role in ("edge_detector_1", "aggregator"):
        text += f"\n--- restarted {role}:\n" + (tmp_path / f"{role}.log").read_text()[-1500:]
    table = _table(stream.records())
    (tmp_path / "frames.txt").write_text(table + "\n")
    diag = f"\nclient: at most {stream.max_lateness * 1000:.0f} ms behind its sending schedule\n{table}\n{text}"
    by = {label: stream.records(label) for label in ("baseline", "kill_1", "stop_2", "back", "agg_restart")}
    first_agg = [r for label in ("baseline", "kill_1", "stop_2", "back") for r in by[label]]

    # 1. Every frame sent while the first aggregator lived: exactly one answer and one report.
    assert all(r.answers == 1 for r in first_agg), diag
    assert all(r.degraded is not None for r in first_agg), diag
    # Degraded frames are flagged with the blocks they lost, and counted by the aggregator.
    degraded = [r for r in first_agg if r.degraded]
    assert all(r.missing > 0 or r.drop_reason for r in degraded), diag
    assert first_agg[-1].frames_degraded == len(degraded), diag
    # Baseline: every server is used; nothing degraded except frames still in flight at the kill.
    # A frame still in flight at the kill was sent at most its deadline (+ slack) before it, plus the
    # allowance for a stalled frontend on a busy machine (a fixed count of 3 failed once: a ~1 s stall).
    in_flight = [r for r in by["baseline"] if r.answered_at > events["kill_1"]]
    assert not any(r.degraded for r in by["baseline"] if r not in in_flight), diag
    assert all(events["kill_1"] - r.sent <= IN_FLIGHT_S for r in in_flight), diag
    # Every server is live in the baseline (on a loaded machine one may miss its timeout for a frame
    # or two while the frontend stalls: such a frame is planned on fewer servers, not lost).
    assert set().union(*((r.live or ()) for r in by["baseline"])) == set(range(SERVERS)), diag
    assert sum(r.live == tuple(range(SERVERS)) for r in by["baseline"]) >= len(by["baseline"]) // 2, diag

    # 2. SIGKILL of server 1: not live, not planned for, nothing lost after at most RECOVERY_BOUND frames.
    kill_recovery = _recovery(by["kill_1"], lambda r: _touches(r, {1}), events["stop_2"])
    assert kill_recovery <= RECOVERY_BOUND and kill_recovery < len(by["kill_1"]), diag
    # 3. SIGSTOP of server 2: the same for a stalled (not dead) process.
    stop_recovery = _recovery(by["stop_2"], lambda r: _touches(r, {1, 2}), events["cont_2"])
    assert stop_recovery <= RECOVERY_BOUND and stop_recovery < len(by["stop_2"]), diag
    # 4. Both come back and count as live again at most server_rejoin_s after their next connected heartbeat:
    #    server 2 (SIGCONT) and the restarted server 1 (the process start itself depends on the machine).
    #    Whether a plan uses them is the planner's choice (these small frames need few blocks), but
    #    a live server is planned for at some point, and it answers.
    back = by["back"]
    rejoin_2 = next((i + 1 for i, r in enumerate(back) if 2 in (r.live or ())), None)
    assert rejoin_2 is not None and rejoin_2 <= REJOIN_BOUND, diag
    assert "status_1" in events, "the restarted edge detector 1 never reported\n" + diag
    after_status = [r for r in back if r.sent >= events["status_1"]]
    rejoin_1 = next((i + 1 for i, r in enumerate(after_status) if 1 in (r.live or ())), None)
    assert rejoin_1 is not None and rejoin_1 <= REJOIN_BOUND, diag
    assert set().union(*((r.servers or ()) for r in back + by["agg_restart"])) & {1, 2}, diag
    back_degraded = sum(1 for r in back if r.degraded)
    # Returning servers do answer. Before block_publishers and the subscription floor, a restarted server
    # was planned for while the partitioner's block publisher still reached only its dead predecessor's
    # subscription, and up to 6 frames lost its blocks on a busy 2-core machine; a few may still lose
    # a cold process's first blocks.
    assert sum(1 for r in back if r.missing_servers() & {1, 2}) <= 4, diag

    # 5. Aggregator killed and restarted: every frame after a bounded gap is answered exactly once.
    agg = by["agg_restart"]
    assert all(r.answers <= 1 for r in agg), diag
    agg_gap = _recovery(agg, lambda r: r.answers != 1)
    assert agg_gap <= AGG_RESTART_BOUND and len(agg) - agg_gap >= 10, diag
    first_answer = next(r for r in agg if r.answers)
    # ... and the frames nobody answered are accounted for: the partitioner counts them, and every frame it
    # planned is answered, unanswered or (by now) none still awaited. Its count and this client's differ by
    # discovery, both ways: the restarted aggregator's first answers can reach the frontend before its
    # detections publisher has matched this client (seen: 10 counted, 18 missing here), and its first frame
    # reports can be published before they match the partitioner (seen: 10 counted, 8 missing here).
    unanswered = sum(1 for r in stream.frames.values() if not r.answers)
    counted = int(accounted.get("frames unanswered", -1))
    answered_here = len(stream.frames) - unanswered
    assert 1 <= counted <= unanswered + DISCOVERY_SLACK, f"{accounted}\n{diag}"
    assert int(accounted.get("frames answered", -1)) >= answered_here - DISCOVERY_SLACK, f"{accounted}\n{diag}"
    assert (int(accounted["frames answered"]) + counted + int(accounted.get("frames awaiting an answer", -1))
            == int(accounted.get("frames planned", -1))), f"{accounted}\n{diag}"
    assert int(accounted.get("frames awaiting an answer", -1)) == 0, f"{accounted}\n{diag}"
    assert alive["frontend"] not in ("", "Z") and alive["edge_detector_0"] not in ("", "Z"), diag

    sent = len(stream.frames)
    answered = sum(1 for r in stream.frames.values() if r.answers)
    print(f"\n[faults] {sent} frames sent at {RATE:g} Hz over {t_total:.0f} s ({SERVERS} edge servers, "
          f"server_timeout_s {SERVER_TIMEOUT_S:g}, heartbeat {STATUS_PERIOD_S:g} s); {answered} answered, "
          f"none twice; the {sent - answered} unanswered were sent while the aggregator was down/restarting, and the "
          f"partitioner counted {accounted.get('frames unanswered')} frames unanswered")
    print(f"[faults] degraded (flagged in frame_report, counted by the aggregator): {len(degraded)} of "
          f"{len(first_agg)} frames before the aggregator restart ({len(in_flight)} in flight at the SIGKILL, "
          f"{sum(r.degraded for r in by['kill_1'])} after it, {sum(r.degraded for r in by['stop_2'])} after the "
          f"SIGSTOP, {back_degraded} after SIGCONT/restart); frames that lost blocks of the failed server: "
          f"{sum(1 in r.missing_servers() for r in by['baseline'] + by['kill_1'])} (SIGKILL), "
          f"{sum(2 in r.missing_servers() for r in by['kill_1'] + by['stop_2'])} (SIGSTOP)")
    print(f"[faults] recovery (frames until the failed server is neither live, planned for nor missing in a frame): "
          f"SIGKILL {kill_recovery}, SIGSTOP {stop_recovery} (bound {RECOVERY_BOUND})")
    print(f"[faults] live again: server 2 after SIGCONT in {rejoin_2} frames; restarted server 1 reported "
          f"{events['status_1'] - events['restart_1']:.1f} s after its start and was live "
          f"{rejoin_1} frames after that (bound {REJOIN_BOUND})")
    print(f"[faults] aggregator SIGKILL + restart: {agg_gap} frames until every frame is answered again "
          f"(bound {AGG_RESTART_BOUND}), first answer for a frame sent "
          f"{first_answer.sent - events['kill_agg']:.1f} s after the kill; "
          f"{sum(1 for r in agg if r.degraded)} of {len(agg)} frames degraded")


@pytest.mark.ros
@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_queue_overload_drops_are_counted_and_answered(policy):
    """A burst faster than the coarse stage: drops follow the policy, are counted, and every frame is answered."""
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from repose_ros.msg import FrameReport
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from repose_ros.nodes.aggregator import AggregatorNode
    from repose_ros.nodes.camera import CameraNode
    from repose_ros.nodes.edge_detector import EdgeDetectorNode
    from repose_ros.nodes.partitioner import PartitionerNode
    from repose_ros.ros.convert import bgr_to_image
    from repose_ros.ros.params import reliable

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(_domain_id(1)))
    shared = [Parameter("num_servers", value=2), Parameter("backend", value="fake")]
    part = PartitionerNode(standalone=False, context=ctx, namespace="q", parameter_overrides=[
        *shared, Parameter("partitioner", value="meanshift"), Parameter("publish_debug_image", value=False)])
    cam = CameraNode(sink=part.on_coarse, context=ctx, namespace="q", parameter_overrides=[
        *shared, Parameter("queue.size", value=2), Parameter("queue.policy", value=policy),
        Parameter("qos.depth", value=50)])
    edges = [EdgeDetectorNode(context=ctx, namespace="q", parameter_overrides=[
        *shared, Parameter("server_id", value=i), Parameter("status_period_s", value=0.1)]) for i in range(2)]
    agg = AggregatorNode(context=ctx, namespace="q")
    client = rclpy.create_node("q_client", context=ctx)
    answers, reports = [], {}
    client.create_subscription(Detection2DArray, "/q/detections", answers.append, reliable(50))
    client.create_subscription(FrameReport, "/q/frame_report", lambda m: reports.__setitem__(m.header.stamp.sec, m),
                               reliable(50))
    pub = client.create_publisher(Image, "/q/image_raw", reliable(50))
    nodes = [part, cam, *edges, agg, client]
    ex = MultiThreadedExecutor(num_threads=4, context=ctx)
    for n in nodes:
        ex.add_node(n)

    def spin_until(cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        return cond()

    coarse = cam.repose.coarse

    def slow_coarse(frame):
        time.sleep(0.2)  # a coarse detector slower than the camera
        return coarse(frame)

    n_frames = 12
    try:
        assert spin_until(lambda: len(part.live_servers()) == 2 and pub.get_subscription_count() > 0, 30.0)
        cam.repose.coarse = slow_coarse
        frame = blob_grid_frame(0, 640, 360)
        for i in range(n_frames):
            msg = bgr_to_image(frame)
            msg.header.stamp.sec = 100 + i
            pub.publish(msg)
        assert spin_until(lambda: len(reports) >= n_frames, 30.0), sorted(reports)
        spin_until(lambda: False, 0.5)
    finally:
        close_executor(ex)
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)

    stamps = sorted(m.header.stamp.sec for m in answers)
    assert stamps == list(range(100, 100 + n_frames)), stamps  # every frame answered exactly once
    dropped = sorted(s for s, r in reports.items() if r.drop_reason.startswith("queue_full"))
    assert cam.counts["received"] == n_frames
    assert len(dropped) == cam.counts["queue_full"] >= n_frames - 2 - 6, (dropped, dict(cam.counts))
    assert all(reports[s].degraded and reports[s].num_detections == 0 for s in dropped)
    assert cam.counts["processed"] + cam.counts["queue_full"] == n_frames
    if policy == "drop_oldest":
        assert 100 + n_frames - 1 not in dropped  # the latest frame is kept
    else:
        # The first frame is always kept; whether the last one finds the queue full depends on how
        # the burst is spread in time on a loaded machine, so only the first is asserted.
        assert 100 not in dropped
    print(f"\n[queue] {policy}: {n_frames} frames in a burst, queue.size 2, coarse stage 200 ms/frame: "
          f"{len(dropped)} dropped (counted: {cam.counts['queue_full']}), {n_frames} answered")
