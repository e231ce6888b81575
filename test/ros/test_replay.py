"""The replay node republishes a bag written by `repose bag` frame for frame."""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("rosbags")

from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from repose_ros.datasets.bags import write_bag  # noqa: E402
from repose_ros.nodes.replay import ReplayNode  # noqa: E402
from repose_ros.ros.convert import image_to_bgr  # noqa: E402
from repose_ros.ros.params import reliable  # noqa: E402


@pytest.mark.ros
@pytest.mark.parametrize("restamp", [True, False])
def test_replay_publishes_every_frame(tmp_path, restamp):
    frames = [np.full((16, 20, 3), v, np.uint8) for v in (10, 20, 30)]
    write_bag(str(tmp_path / "bag"), frames)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    got = []
    sub_node = rclpy.create_node("sub", context=ctx)
    sub_node.create_subscription(Image, "/r/image_raw", got.append, reliable(10))
    node = ReplayNode(context=ctx, namespace="r", parameter_overrides=[
        Parameter("source", value=str(tmp_path / "bag")), Parameter("rate", value=50.0),
        Parameter("restamp", value=restamp)])
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(sub_node)
    th = threading.Thread(target=node.run)
    th.start()
    end = time.monotonic() + 20
    while len(got) < 3 and time.monotonic() < end:
        ex.spin_once(timeout_sec=0.05)
    th.join(10)
    node.destroy_node()
    sub_node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    assert [int(image_to_bgr(m)[0, 0, 0]) for m in got] == [10, 20, 30]
    recorded = got[0].header.stamp.sec == 1_700_000_000
    assert recorded != restamp
