"""EdgeDetectorNode alone: which blocks it runs, and which weights it may load.

* Weights are loaded only from configured locations. A ``.pt`` file is a pickle, and unpickling
  runs code: the model key of a BlockAssignment selects among the names in ``weights_names``; it
  is never taken as a path. ``weights_files`` and the safety parameters are read-only, so they
  cannot be changed over the ROS graph after start-up.
* Blocks taken from the queue after their deadline (a server resumed after a stall) are answered
  ``ok=false`` without running the detector, so the server catches up at once.
"""
import os
import pickle
import pathlib

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402

from repose_ros.ros.convert import bgr_to_image, sec_to_time  # noqa: E402


class _Trap:
    """Unpickling this creates the file named in ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture()
def edge(tmp_path):
    """An activated edge detector (ultralytics back-end, nothing loaded yet) in its own context."""
    from repose_ros.nodes.edge_detector import EdgeDetectorNode

    good = tmp_path / "models" / "good.pt"
    good.parent.mkdir()
    good.write_bytes(b"not loaded in this test")
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=30 + (os.getpid() % 30) * 4 + 2)
    node = EdgeDetectorNode(context=ctx, namespace="wsafe", parameter_overrides=[
        Parameter("backend", value="ultralytics"), Parameter("weights_names", value=["yolov8s"]),
        Parameter("weights_files", value=[str(good)]), Parameter("weights_dirs", value=[str(good.parent)]),
        Parameter("warmup_models", value=[""]), Parameter("autostart", value=False)])
    node.get_logger().set_level(rclpy.logging.LoggingSeverity.FATAL)
    node.trigger_configure()
    node.trigger_activate()
    published = []
    node._pub.publish = published.append  # capture the answers without a subscriber
    yield node, published
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def test_block_naming_a_file_is_refused_without_loading_it(edge, tmp_path):
    """Keys that are paths (absolute, relative, traversing) are answered ok=False; the file is never opened."""
    from repose_ros.msg import BlockAssignment
    from repose_ros.ros.convert import bgr_to_image

    node, published = edge
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Trap(marker)))
    keys = [f"{evil}@64", f"{tmp_path}/models/../evil.pt@64", "../evil.pt@64", "evil.pt@64"]
    for i, key in enumerate(keys):
        msg = BlockAssignment(frame_seq=i, block_id=0, num_blocks=1, model=key, server_id=0)
        msg.roi.width, msg.roi.height = 16, 16
        msg.image = bgr_to_image(np.zeros((16, 16, 3), np.uint8))
        node.on_block(msg)
    assert [m.ok for m in published] == [False] * len(keys)
    assert all("unknown model" in m.error for m in published), [m.error for m in published]
    assert node._zoo.loaded_detectors() == {} and not marker.exists()
    pickle.loads(evil.read_bytes())  # the trap is real: unpickling it does create the marker
    assert marker.exists()


def test_weights_parameters_cannot_be_changed_at_run_time(edge, tmp_path):
    """weights_files, weights_dirs and weights_sha256 are read-only: set_parameters is refused."""
    node, _ = edge
    for name, value in (("weights_files", [str(tmp_path / "evil.pt")]), ("weights_dirs", [str(tmp_path)]),
                        ("weights_sha256", [""])):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, name
    assert node.get_parameter("weights_files").value[0].endswith("good.pt")


def _block(seq, deadline=None, model="yolov8s@640", size=32):
    from repose_ros.msg import BlockAssignment

    img = np.zeros((size, size, 3), np.uint8)
    img[8:20, 8:14] = 255  # one bright blob for the fake back-end
    msg = BlockAssignment(frame_seq=seq, session_id=7, block_id=0, num_blocks=1, model=model, server_id=0)
    msg.roi.width = msg.roi.height = size
    msg.image = bgr_to_image(img)
    if deadline is not None:
        msg.deadline = sec_to_time(deadline)
    return msg


@pytest.fixture()
def fake_edge():
    """An activated edge detector with the fake back-end; yields (node, published answers, ROS now())."""
    from repose_ros.nodes.edge_detector import EdgeDetectorNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=30 + (os.getpid() % 30) * 4 + 2)
    node = EdgeDetectorNode(context=ctx, namespace="expiry", parameter_overrides=[
        Parameter("backend", value="fake"), Parameter("warmup_models", value=[""]),
        Parameter("autostart", value=False), Parameter("expiry_margin_ms", value=200.0)])
    node.get_logger().set_level(rclpy.logging.LoggingSeverity.FATAL)
    node.trigger_configure()
    node.trigger_activate()
    published = []
    node._pub.publish = published.append
    yield node, published, lambda: node.get_clock().now().nanoseconds * 1e-9
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def test_expired_blocks_are_answered_without_running_the_detector(fake_edge):
    """Past deadline + margin: ok=false 'expired', detector not called; due or no deadline: run."""
    node, published, now = fake_edge
    calls = node._zoo._fake.calls
    node.on_block(_block(1, deadline=now() + 5.0))       # due
    node.on_block(_block(2))                              # no deadline: always run
    node.on_block(_block(3, deadline=now() - 0.1))       # 100 ms late, within the 200 ms margin
    n_calls = len(calls)
    node.on_block(_block(4, deadline=now() - 2.0))       # 2 s late: a stalled server's backlog
    assert [m.frame_seq for m in published] == [1, 2, 3, 4]
    assert [m.ok for m in published] == [True, True, True, False]
    assert all(m.session_id == 7 for m in published)
    assert published[-1].error.startswith("expired") and len(calls) == n_calls == 3
    assert len(published[0].detections.detections) == 1
    assert (node.done, node.expired, node.failed) == (3, 1, 0)
    # The smoothed slack went from about +5 s towards the late blocks' negative values.
    assert node.slack_ms is not None and node.slack_ms < 5000.0
    statuses = []
    node._status_pub.publish = statuses.append
    node.publish_status()
    assert statuses[0].blocks_expired == 1 and statuses[0].deadline_slack_ms == pytest.approx(node.slack_ms)


def test_expired_blocks_are_run_when_skipping_is_off(fake_edge):
    """skip_expired_blocks false: a late block is still run (the parameter can be changed at run time)."""
    node, published, now = fake_edge
    assert node.set_parameters([Parameter("skip_expired_blocks", value=False)])[0].successful
    node.on_block(_block(5, deadline=now() - 10.0))
    assert published[-1].ok and node.expired == 0


def test_status_reports_whether_the_block_subscription_is_connected(fake_edge):
    """block_publishers: 0 until a block publisher is matched (a restarted server's first heartbeats), then 1;
    answer_subscribers likewise for the block_detections publisher (the aggregator's subscription)."""
    import time

    from repose_ros.core.health import server_state
    from repose_ros.msg import BlockAssignment, BlockDetections
    from repose_ros.ros.params import reliable

    node, _, _ = fake_edge
    statuses = []
    node._status_pub.publish = statuses.append
    node.publish_status()
    assert statuses[-1].state == "active" and statuses[-1].block_publishers == 0
    assert statuses[-1].answer_subscribers == 0
    assert statuses[-1].subscribed.sec > 0  # when its block subscription was made (on configure)
    pub = node.create_publisher(BlockAssignment, "blocks/server_0", reliable(20))
    executor = rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    sub = None
    try:
        deadline = time.monotonic() + 10.0
        while node.block_publishers() < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        node.publish_status()
        assert statuses[-1].block_publishers == 1 and statuses[-1].answer_subscribers == 0
        assert server_state(statuses[-1].state, statuses[-1].block_publishers,
                            statuses[-1].answer_subscribers) == "connecting"  # its answers would be lost
        sub = node.create_subscription(BlockDetections, "block_detections", lambda m: None, reliable(20))
        deadline = time.monotonic() + 10.0
        while node.answer_subscribers() < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        node.publish_status()
        assert statuses[-1].answer_subscribers == 1
        assert server_state(statuses[-1].state, statuses[-1].block_publishers,
                            statuses[-1].answer_subscribers) == "active"
    finally:
        executor.remove_node(node)
        node.destroy_publisher(pub)
        if sub is not None:
            node.destroy_subscription(sub)
    node.trigger_deactivate()
    node.trigger_cleanup()  # no subscription, no publisher: not known
    assert node.block_publishers() == -1 and node.answer_subscribers() == -1
