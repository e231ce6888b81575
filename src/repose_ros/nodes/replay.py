"""Replay node: publish the frames of a rosbag2, a video or a folder of images.

    ros2 run repose_ros replay_node --ros-args -p source:=my_bag -p rate:=2.0

Publishes on ``image_raw`` (sensor_msgs/Image) or, for bags of CompressedImage, on
``image_raw/compressed``. ``rate`` 0 keeps the bag's recorded timing. With ``restamp`` the
header stamp is set to the publication time (so latency figures downstream are meaningful);
without it the stored bytes are republished unchanged. The node exits after the last frame
unless ``loop`` is set.
"""
from __future__ import annotations

import time
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image

from repose_ros.ros.convert import bgr_to_image
from repose_ros.ros.executors import shut_down
from repose_ros.ros.params import Param, declare_all, qos_from

PARAMS = (
    Param("source", "", "rosbag2 folder, video file, or folder of images", read_only=True),
    Param("bag_topic", "", "Image topic inside the bag (empty: the first image topic)", read_only=True),
    Param("rate", 1.0, "Frames per second; 0 = the recorded timing of a bag", (0.0, 1000.0), read_only=True),
    Param("loop", False, "Start again after the last frame", read_only=True),
    Param("restamp", True, "Set the header stamp to the publication time", read_only=True),
    Param("frame_id", "camera", "frame_id of frames from videos and images", read_only=True),
    Param("wait_for_subscribers", 1, "Wait until this many subscribers before the first frame", (0, 100),
          read_only=True),
    Param("start_delay_s", 0.0, "Extra wait before the first frame", (0.0, 3600.0), read_only=True),
    Param("qos.depth", 4, "Publisher history depth", (1, 1000), read_only=True),
    Param("qos.reliability", "reliable", "reliable or best_effort", read_only=True),
)


class ReplayNode(Node):
    """Publish frames from a source at a fixed or recorded rate."""

    def __init__(self, **kwargs):
        super().__init__("replay", **kwargs)
        self.p = declare_all(self, PARAMS)
        src = Path(self.p["source"])
        if not self.p["source"] or not src.exists():
            raise FileNotFoundError(f"replay: source '{self.p['source']}' does not exist")
        self.is_bag = src.is_dir() and (src / "metadata.yaml").exists()
        qos = qos_from(self.p["qos.depth"], self.p["qos.reliability"])
        self.compressed = False
        if self.is_bag:
            from repose_ros.datasets.bags import COMPRESSED_TYPE, read_bag

            first = next(read_bag(str(src), self.p["bag_topic"] or None))
            self.compressed = first[1] == COMPRESSED_TYPE
        self.pub = self.create_publisher(CompressedImage if self.compressed else Image,
                                         "image_raw/compressed" if self.compressed else "image_raw", qos)
        self.sent = 0

    def _items(self):
        """Yield (recorded time ns or None, message or serialized bytes)."""
        if self.is_bag:
            from repose_ros.datasets.bags import read_bag

            msg_cls = CompressedImage if self.compressed else Image
            for _, _, t, raw in read_bag(self.p["source"], self.p["bag_topic"] or None):
                yield t, (deserialize_message(raw, msg_cls) if self.p["restamp"] else raw)
        else:
            from repose_ros.datasets.frames import iter_frames

            for _, _, frame in iter_frames([self.p["source"]]):
                msg = bgr_to_image(frame)
                msg.header.frame_id = self.p["frame_id"]
                yield None, msg

    def run(self) -> None:
        """Publish every frame at the configured pace, then return (or loop)."""
        deadline = time.monotonic() + 60.0
        while self.pub.get_subscription_count() < self.p["wait_for_subscribers"] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(self.p["start_delay_s"])
        rate = self.p["rate"]
        while self.context.ok():
            start_wall = start_rec = None
            for i, (t_rec, msg) in enumerate(self._items()):
                now = time.monotonic()
                if start_wall is None:
                    start_wall, start_rec = now, t_rec
                if rate > 0:
                    target = start_wall + i / rate
                elif t_rec is not None:
                    target = start_wall + (t_rec - start_rec) * 1e-9
                else:
                    target = now
                time.sleep(max(0.0, target - time.monotonic()))
                if not isinstance(msg, bytes):
                    msg.header.stamp = self.get_clock().now().to_msg()
                self.pub.publish(msg)
                self.sent += 1
            self.get_logger().info(f"replay: {self.sent} frames published")
            if not self.p["loop"]:
                return


def main(args=None) -> int:
    """Run the replay node until the source is exhausted (or forever with loop)."""
    rclpy.init(args=args)
    nodes = []
    try:
        nodes.append(ReplayNode())
        nodes[0].run()
        time.sleep(1.0)  # let reliable readers fetch the last frame
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        shut_down(None, nodes, rclpy.try_shutdown)
    return 0
