"""Every subscription callback of every node works when called as Humble's executor calls it.

Humble's ``Executor._execute_subscription`` calls ``sub.callback(msg)`` with the message alone, for
any callback (Jazzy and later look at the callback's signature and may pass the message info too).
Each node is built as on Humble (no ``Subscription.CallbackType``), brought to active where it is a
lifecycle node, and each of its subscriptions is driven with a default-constructed message, the
least informative input there is: the callback must take it without raising.
"""
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import LifecycleNode  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

import repose_ros.nodes.camera as camera_mod  # noqa: E402
from repose_ros.nodes.aggregator import AggregatorNode  # noqa: E402
from repose_ros.nodes.camera import CameraNode  # noqa: E402
from repose_ros.nodes.edge_detector import EdgeDetectorNode  # noqa: E402
from repose_ros.nodes.partitioner import PartitionerNode  # noqa: E402

FAKE = [Parameter("backend", value="fake"), Parameter("num_servers", value=2)]

NODES = {
    "camera": (lambda ctx: CameraNode(context=ctx, parameter_overrides=FAKE),
               {"image_raw"}),
    "camera_coarse_on_edge": (lambda ctx: CameraNode(context=ctx, parameter_overrides=[
        *FAKE, Parameter("coarse.on_edge", value=True)]), {"image_raw", "coarse_detections"}),
    "camera_compressed": (lambda ctx: CameraNode(context=ctx, parameter_overrides=[
        *FAKE, Parameter("compressed", value=True)]), {"image_raw/compressed"}),
    "partitioner": (lambda ctx: PartitionerNode(standalone=True, context=ctx, parameter_overrides=[
        Parameter("num_servers", value=2), Parameter("partitioner", value="meanshift")]),
        {"server_status", "detections", "coarse_frame"}),
    "aggregator": (lambda ctx: AggregatorNode(context=ctx), {"plan", "block_detections"}),
    "edge_detector": (lambda ctx: EdgeDetectorNode(context=ctx, parameter_overrides=[
        Parameter("backend", value="fake"), Parameter("autostart", value=False),
        Parameter("warmup_models", value=[""])]), {"blocks/server_0"}),
}


@pytest.mark.ros
@pytest.mark.parametrize("name", list(NODES))
def test_each_subscription_takes_the_message_alone(monkeypatch, name):
    monkeypatch.setattr(camera_mod, "message_info_supported", lambda: False)  # as on Humble
    build, topics = NODES[name]
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = None
    try:
        node = build(ctx)
        if isinstance(node, LifecycleNode):
            node.trigger_configure()
            node.trigger_activate()
        subs = list(node.subscriptions)
        driven = set()
        for sub in subs:
            if sub.topic_name.startswith("/parameter_events") or sub.topic_name.endswith("/transition_event"):
                continue
            sub.callback(sub.msg_type())          # Humble: await_or_execute(sub.callback, msg)
            driven.add(sub.topic_name.lstrip("/"))
        assert driven >= topics, f"subscriptions driven: {sorted(driven)}"
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)
