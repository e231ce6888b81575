"""The aggregator writes track ids into Detection2D.id; ids survive a degraded frame."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("lap")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from repose_ros.core.detections import Detections  # noqa: E402
from repose_ros.msg import FramePlan  # noqa: E402
from repose_ros.nodes.aggregator import AggregatorNode  # noqa: E402
from repose_ros.ros.convert import detections_to_msg  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402


def _plan(seq, t, people=True, reason=""):
    """A plan without blocks: the aggregator answers it at once with its coarse boxes."""
    plan = FramePlan(frame_seq=seq, session_id=5, num_blocks=0, budget_ms=1000.0, drop_reason=reason)
    plan.header.stamp.sec = 100 + seq
    if people:
        boxes = np.array([[50 + 6 * t, 100, 90 + 6 * t, 200], [400 - 5 * t, 300, 440 - 5 * t, 420]], np.float32)
        plan.coarse = detections_to_msg(Detections(boxes, np.array([0.9, 0.8]), np.zeros(2)), plan.header)
    return plan


@pytest.mark.ros
@pytest.mark.parametrize("enabled", [True, False])
def test_ids_survive_a_degraded_frame(enabled):
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    agg = AggregatorNode(context=ctx, namespace="trk", parameter_overrides=[
        Parameter("tracking.enabled", value=enabled)])
    tester = rclpy.create_node("trk_tester", context=ctx)
    out = []
    tester.create_subscription(Detection2DArray, "/trk/detections", out.append, reliable(20))
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(agg)
    ex.add_node(tester)
    try:
        end = time.monotonic() + 5
        while tester.count_publishers("/trk/detections") == 0 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        plans = [_plan(0, 0), _plan(1, 1), _plan(2, 2, people=False, reason="queue_full: dropped"),
                 _plan(3, 3), _plan(4, 4)]
        for p in plans:
            agg.on_plan(p)
        end = time.monotonic() + 5
        while len(out) < len(plans) and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert [m.header.stamp.sec for m in out] == [100, 101, 102, 103, 104]
        ids = [[d.id for d in m.detections] for m in out]
        if not enabled:
            assert all(i == "" for frame in ids for i in frame)
            return
        assert ids[2] == [] and agg.degraded == 1
        assert ids[0] == ids[1] == ids[3] == ids[4] and len(set(ids[0])) == 2 and "" not in ids[0]
        # A frame older than the last one tracked is published without ids, not fed to the tracker.
        late = _plan(5, 1)
        late.header.stamp.sec = 101  # captured before frame 4
        agg.on_plan(late)
        end = time.monotonic() + 5
        while len(out) < 6 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert [d.id for d in out[5].detections] == ["", ""] and agg.tracker.out_of_order == 1
    finally:
        ex.shutdown()
        agg.destroy_node()
        tester.destroy_node()
        rclpy.try_shutdown(context=ctx)
