"""Camera, partitioner and aggregator are lifecycle nodes: autostart, or driven by a lifecycle manager."""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from repose_ros.msg import BlockInfo, FramePlan  # noqa: E402
from repose_ros.nodes.aggregator import AggregatorNode  # noqa: E402
from repose_ros.nodes.camera import CameraNode  # noqa: E402
from repose_ros.nodes.frontend import build_frontend  # noqa: E402
from repose_ros.nodes.partitioner import PartitionerNode  # noqa: E402
from repose_ros.ros.convert import bgr_to_image  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402

MANUAL = Parameter("autostart", value=False)


@pytest.fixture
def ctx():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


def _topics(node):
    return {s.topic_name for s in node.subscriptions} | {p.topic_name for p in node.publishers}


def _state(node):
    return node._state_machine.current_state[1]  # (id, label); the get_state service answers the same


@pytest.mark.ros
def test_without_autostart_nodes_wait_unconfigured(ctx):
    agg = AggregatorNode(context=ctx, namespace="lc", parameter_overrides=[MANUAL])
    part = PartitionerNode(standalone=True, context=ctx, namespace="lc", parameter_overrides=[
        MANUAL, Parameter("partitioner", value="meanshift")])
    cam = CameraNode(context=ctx, namespace="lc", parameter_overrides=[MANUAL, Parameter("backend", value="fake")])
    try:
        for node in (agg, part, cam):
            assert _state(node) == "unconfigured"
        assert "/lc/plan" not in _topics(agg) and "/lc/detections" not in _topics(agg)
        assert part.repose is None and cam.repose is None and cam.input is None
        assert "/lc/image_raw" not in _topics(cam)
        for node in (agg, part, cam):
            node.trigger_configure()
            assert _state(node) == "inactive"
        assert "/lc/detections" in _topics(agg) and "/lc/plan" not in _topics(agg)  # inputs come with activate
        assert part.repose is not None and not part.active
        for node in (agg, part, cam):
            node.trigger_activate()
            assert _state(node) == "active"
        assert {"/lc/plan", "/lc/block_detections"} <= _topics(agg)
        assert "/lc/coarse_frame" in _topics(part) and part.active
        assert "/lc/image_raw" in _topics(cam) and cam.input is not None
    finally:
        for node in (agg, part, cam):
            node.destroy_node()


@pytest.mark.ros
def test_frontend_without_autostart_configures_later(ctx, monkeypatch):
    """frontend_node's camera takes the partitioner's profile once both are configured by a manager."""
    monkeypatch.setattr(rclpy, "init", lambda *a, **k: None)
    import repose_ros.nodes.frontend as frontend

    real_part, real_cam = frontend.PartitionerNode, frontend.CameraNode
    monkeypatch.setattr(frontend, "PartitionerNode", lambda **kw: real_part(
        context=ctx, parameter_overrides=[MANUAL, Parameter("partitioner", value="meanshift")], **kw))
    monkeypatch.setattr(frontend, "CameraNode", lambda **kw: real_cam(
        context=ctx, parameter_overrides=[MANUAL, Parameter("backend", value="fake")], **kw))
    part, cam = build_frontend()
    try:
        part.trigger_configure()
        cam.trigger_configure()
        assert cam.repose.profiles is part.repose.profiles
    finally:
        cam.destroy_node()
        part.destroy_node()


@pytest.mark.ros
def test_aggregator_deactivate_answers_pending_frames(ctx):
    agg = AggregatorNode(context=ctx, namespace="lc2",
                         parameter_overrides=[Parameter("deadline_slack_ms", value=60000.0)])
    tester = rclpy.create_node("lc_tester", context=ctx)
    out = []
    tester.create_subscription(Detection2DArray, "/lc2/detections", out.append, reliable(10))
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(agg)
    ex.add_node(tester)
    try:
        block = BlockInfo(block_id=0)
        block.roi.width = block.roi.height = 16
        plan = FramePlan(frame_seq=3, session_id=9, num_blocks=1, budget_ms=1000.0, blocks=[block])
        plan.header.stamp.sec = 77
        plan.deadline.sec = 2 ** 31 - 1  # far away (2038): only the deactivation publishes it
        agg.on_plan(plan)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert out == []
        agg.trigger_deactivate()
        end = time.monotonic() + 5.0
        while not out and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert [m.header.stamp.sec for m in out] == [77]
        assert agg.degraded == 1 and agg.malformed == 0
    finally:
        ex.shutdown()
        agg.destroy_node()
        tester.destroy_node()


@pytest.mark.ros
def test_camera_deactivate_hands_queued_frames_on(ctx):
    """Frames taken before a deactivation are all answered: the held one processed, the queued ones dropped."""
    items = []
    cam = CameraNode(sink=items.append, context=ctx, parameter_overrides=[
        Parameter("backend", value="fake"), Parameter("queue.size", value=8)])
    release = threading.Event()
    real_process = cam.process

    def slow_process(msg, seq, arrival=0.0):
        release.wait(10)
        return real_process(msg, seq, arrival)

    cam.process = slow_process
    try:
        end = time.monotonic() + 10
        while cam.counts["warm_up"] == 0 and time.monotonic() < end:
            time.sleep(0.02)
        for i in range(3):
            cam.on_image(bgr_to_image(np.full((32, 32, 3), 10 * i, np.uint8)))
        time.sleep(0.2)  # the worker holds frame 0
        threading.Timer(0.3, release.set).start()
        cam.trigger_deactivate()
        assert sorted(i.frame_seq for i in items) == [0, 1, 2]
        by_seq = {i.frame_seq: i for i in items}
        assert not by_seq[0].drop_reason
        assert all(by_seq[s].drop_reason.startswith("inactive") for s in (1, 2))
        assert cam.counts["inactive"] == 2
        cam.trigger_activate()  # and it runs again
        cam.process = real_process
        cam.on_image(bgr_to_image(np.full((32, 32, 3), 99, np.uint8)))
        end = time.monotonic() + 10
        while len(items) < 4 and time.monotonic() < end:
            time.sleep(0.02)
        assert items[-1].frame_seq == 3 and not items[-1].drop_reason
    finally:
        release.set()
        cam.destroy_node()


@pytest.mark.ros
def test_rl_dca_with_a_missing_policy_fails_configure_and_is_refused_at_run_time(ctx, tmp_path):
    missing = str(tmp_path / "nowhere.zip")
    part = PartitionerNode(standalone=True, context=ctx, namespace="lcp", parameter_overrides=[
        MANUAL, Parameter("partitioner", value="rl_dca"), Parameter("policy", value=missing)])
    try:
        part.trigger_configure()
        assert _state(part) == "unconfigured" and part.repose is None
    finally:
        part.destroy_node()
    part = PartitionerNode(standalone=True, context=ctx, namespace="lcp", parameter_overrides=[
        MANUAL, Parameter("partitioner", value="meanshift"), Parameter("policy", value=missing)])
    try:
        part.trigger_configure()
        assert _state(part) == "inactive"
        result = part.set_parameters([Parameter("partitioner", value="rl_dca")])[0]
        assert not result.successful and "policy" in result.reason
        assert part.repose.config.partitioner == "meanshift"
    finally:
        part.destroy_node()
    part = PartitionerNode(standalone=True, context=ctx, namespace="lcp", parameter_overrides=[
        MANUAL, Parameter("partitioner", value="rl_dca"), Parameter("policy", value="builtin:scale")])
    try:
        part.trigger_configure()
        assert _state(part) == "inactive" and part.repose.dca.scale_policy is not None
    finally:
        part.destroy_node()
