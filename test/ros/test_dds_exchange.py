"""Two processes exchange the project's own BlockAssignment message over DDS."""
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
repose_msg = pytest.importorskip("repose_ros.msg")

PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from repose_ros.msg import BlockAssignment

    rclpy.init()
    node = rclpy.create_node("dds_test_publisher")
    pub = node.create_publisher(BlockAssignment, "repose_test/blocks",
                                QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 20.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    img = (np.arange(48 * 64 * 3) % 251).astype(np.uint8)
    for seq in range(3):
        m = BlockAssignment()
        m.header.frame_id = "camera"
        m.header.stamp.sec = 100 + seq
        m.frame_seq = seq
        m.block_id = 2
        m.num_blocks = 5
        m.roi.x_offset, m.roi.y_offset, m.roi.width, m.roi.height = 640, 320, 64, 48
        m.model = "yolov8s@640"
        m.server_id = 3
        m.budget_ms = 1500.0
        m.image.height, m.image.width, m.image.encoding = 48, 64, "bgr8"
        m.image.step = 64 * 3
        m.image.data = img.tobytes()
        pub.publish(m)
        time.sleep(0.1)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    """
)


@pytest.mark.ros
def test_block_assignment_crosses_processes(tmp_path):
    """A BlockAssignment published by another process arrives intact."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from repose_ros.msg import BlockAssignment

    script = tmp_path / "pub.py"
    script.write_text(PUBLISHER)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("dds_test_subscriber", context=context)
    received = []
    node.create_subscription(BlockAssignment, "repose_test/blocks", received.append,
                             QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 30.0
        while len(received) < 3 and time.monotonic() < deadline and proc.poll() in (None, 0):
            executor.spin_once(timeout_sec=0.1)
    finally:
        proc.wait(timeout=30)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert proc.returncode == 0
    assert [m.frame_seq for m in received] == [0, 1, 2]
    m = received[-1]
    assert (m.block_id, m.num_blocks, m.server_id, m.model) == (2, 5, 3, "yolov8s@640")
    assert (m.roi.x_offset, m.roi.y_offset, m.roi.width, m.roi.height) == (640, 320, 64, 48)
    assert m.header.stamp.sec == 102 and m.header.frame_id == "camera"
    pixels = np.frombuffer(bytes(m.image.data), np.uint8)
    assert np.array_equal(pixels, (np.arange(48 * 64 * 3) % 251).astype(np.uint8))
