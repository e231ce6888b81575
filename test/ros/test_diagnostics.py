"""Every node publishes its health on /diagnostics (diagnostic_msgs/DiagnosticArray)."""
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from repose_ros.nodes.aggregator import AggregatorNode  # noqa: E402
from repose_ros.nodes.camera import CameraNode  # noqa: E402
from repose_ros.nodes.edge_detector import EdgeDetectorNode  # noqa: E402
from repose_ros.nodes.partitioner import PartitionerNode  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402

PERIOD = Parameter("diagnostics.period_s", value=0.2)


@pytest.mark.ros
def test_nodes_publish_diagnostics():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    nodes = [
        AggregatorNode(context=ctx, namespace="dg", parameter_overrides=[PERIOD]),
        EdgeDetectorNode(context=ctx, namespace="dg", parameter_overrides=[
            PERIOD, Parameter("backend", value="fake"), Parameter("warmup_models", value=[""])]),
        PartitionerNode(standalone=True, context=ctx, namespace="dg", parameter_overrides=[
            PERIOD, Parameter("partitioner", value="meanshift"), Parameter("num_servers", value=1)]),
        CameraNode(sink=lambda item: None, context=ctx, namespace="dg", parameter_overrides=[
            PERIOD, Parameter("backend", value="fake"), Parameter("num_servers", value=1)]),
    ]
    got = {}
    listener = rclpy.create_node("dg_listener", context=ctx)
    listener.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: got.update({s.name: s for s in m.status}), reliable(50))
    ex = SingleThreadedExecutor(context=ctx)
    for n in [*nodes, listener]:
        ex.add_node(n)
    # A task that fails is reported as ERROR and does not stop the timer.
    nodes[0].diagnostics.tasks.append(("broken", lambda: 1 / 0))
    try:
        want = {"aggregator: fusion", "aggregator: broken", "edge_detector: detector", "partitioner: planning",
                "camera: input"}

        def edge_active():
            status = got.get("edge_detector: detector")
            return status is not None and {kv.key: kv.value for kv in status.values}["state"] == "active"

        end = time.monotonic() + 15
        while not (want <= set(got) and edge_active()) and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert want <= set(got), sorted(got)
        broken = got["aggregator: broken"]
        assert broken.level == DiagnosticStatus.ERROR and "ZeroDivisionError" in broken.message
        fusion = {kv.key: kv.value for kv in got["aggregator: fusion"].values}
        assert fusion["state"] == "active" and "frames answered" in fusion
        assert got["aggregator: fusion"].hardware_id == "/dg/aggregator"
        edge = {kv.key: kv.value for kv in got["edge_detector: detector"].values}
        assert edge["state"] == "active" and edge["server id"] == "0" and edge["block publishers"] == "1"
        cam = {kv.key: kv.value for kv in got["camera: input"].values}
        assert cam["input reliability"] == "reliable" and cam["frames received"] == "0"
        count = nodes[0].diagnostics.published
        end = time.monotonic() + 2
        while nodes[0].diagnostics.published < count + 2 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert nodes[0].diagnostics.published >= count + 2
    finally:
        ex.shutdown()
        for n in [*nodes, listener]:
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)
