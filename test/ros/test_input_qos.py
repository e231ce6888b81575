"""qos.reliability auto: the camera's input matches reliable and best-effort publishers, and adapts."""
import time

import numpy as np
import pytest

from repose_ros.ros.qos import RELIABILITY_CHOICES, choose_reliability, reliability_name

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from repose_ros.nodes.camera import CameraNode  # noqa: E402
from repose_ros.ros.convert import bgr_to_image  # noqa: E402
from repose_ros.ros.params import qos_from  # noqa: E402


def test_choose_reliability():
    assert choose_reliability([], "reliable") == "reliable"
    assert choose_reliability([], "best_effort") == "best_effort"  # nobody known: keep what we have
    assert choose_reliability(["reliable", "reliable"], "best_effort") == "reliable"
    assert choose_reliability(["reliable", "best_effort"]) == "best_effort"
    assert reliability_name(ReliabilityPolicy.BEST_EFFORT) == "best_effort"
    assert reliability_name(ReliabilityPolicy.RELIABLE.value) == "reliable"
    assert RELIABILITY_CHOICES == ("auto", "reliable", "best_effort")


class _Rig:
    """A camera node (fake detector, items collected in memory) and a publisher node, one context."""

    def __init__(self, reliability="auto", check_period_s=0.2):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.items = []
        self.cam = CameraNode(sink=self.items.append, context=self.ctx, namespace="qos_test", parameter_overrides=[
            Parameter("backend", value="fake"), Parameter("num_servers", value=1),
            Parameter("qos.reliability", value=reliability), Parameter("qos.check_period_s", value=check_period_s)])
        self.pubnode = rclpy.create_node("fake_camera_driver", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.cam)
        self.ex.add_node(self.pubnode)

    def spin(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=0.02)

    def publisher(self, reliability):
        return self.pubnode.create_publisher(Image, "/qos_test/image_raw", qos_from(5, reliability))

    def send(self, pub, n, spin_each=0.3):
        for i in range(n):
            pub.publish(bgr_to_image(np.full((48, 64, 3), 20 + i, np.uint8)))
            self.spin(spin_each)

    def close(self):
        self.ex.shutdown()
        self.cam.destroy_node()
        self.pubnode.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def _matched(pub, rig, timeout=5.0):
    end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rig.spin(0.05)
    return pub.get_subscription_count()


def _switch_and_receive(rig, pub, want, total):
    """Wait until the camera's input switched to ``want`` and matched ``pub``; 2 frames then arrive."""
    end = time.monotonic() + 10
    while rig.cam.input.current != want and time.monotonic() < end:
        rig.spin(0.05)
    assert rig.cam.input.current == want
    assert _matched(pub, rig) == 1
    rig.send(pub, 2)
    rig.spin(1.0)
    assert len(rig.items) == total


@pytest.mark.ros
def test_auto_matches_a_best_effort_camera_that_starts_first():
    rig = _Rig()
    try:
        rig.cam.input.destroy()  # start again with the publisher already there, as at a real start-up
        pub = rig.publisher("best_effort")
        from repose_ros.ros.qos import InputSubscription

        rig.cam.input = InputSubscription(rig.cam, Image, "image_raw", rig.cam.on_image, 10, "auto", 0.2)
        assert rig.cam.input.current == "best_effort"
        assert _matched(pub, rig) == 1
        rig.send(pub, 3)
        rig.spin(1.0)
        assert len(rig.items) == 3
    finally:
        rig.close()


@pytest.mark.ros
def test_auto_adapts_when_a_best_effort_publisher_appears_and_back():
    rig = _Rig()
    try:
        assert rig.cam.input.current == "reliable"  # nobody publishes yet
        pub = rig.publisher("best_effort")
        _switch_and_receive(rig, pub, "best_effort", 2)
        assert rig.cam.input.switches == 1
        # The best-effort driver goes away and a reliable one comes: back to reliable (no silent loss).
        rig.pubnode.destroy_publisher(pub)
        _switch_and_receive(rig, rig.publisher("reliable"), "reliable", 4)
    finally:
        rig.close()


@pytest.mark.ros
def test_explicit_reliable_does_not_match_a_best_effort_camera():
    """What auto avoids: an explicit reliable reader never gets a best-effort camera's frames."""
    rig = _Rig(reliability="reliable")
    try:
        pub = rig.publisher("best_effort")
        rig.spin(1.5)
        assert pub.get_subscription_count() == 0
        rig.send(pub, 2, spin_each=0.2)
        assert rig.items == [] and rig.cam.input.current == "reliable"
    finally:
        rig.close()


@pytest.mark.ros
def test_bad_reliability_is_refused():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        with pytest.raises(ValueError, match="qos.reliability"):
            CameraNode(sink=lambda item: None, context=ctx, parameter_overrides=[
                Parameter("backend", value="fake"), Parameter("qos.reliability", value="sometimes")])
    finally:
        rclpy.try_shutdown(context=ctx)
