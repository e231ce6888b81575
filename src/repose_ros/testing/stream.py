"""An open-loop client of the launched pipeline.

:class:`Stream` publishes frames at a steady camera rate (the next frame does not wait for the
previous answer) and records, for every frame, what came back: detections (exactly once is the
contract), the plan, the report and the servers' status. The soak benchmark and the fault tests
share it; they send :func:`repose_ros.datasets.synthetic.blob_grid_frame` frames.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from repose_ros.core.health import server_state


@dataclass
class FrameRecord:
    """What is known of one sent frame."""

    index: int
    label: str
    sent: float
    answers: int = 0
    answered_at: Optional[float] = None
    planned_at: Optional[float] = None   # when this client received the frame's plan
    degraded: Optional[bool] = None
    missing: int = 0
    drop_reason: str = ""
    frames_degraded: int = 0
    servers: Optional[tuple] = None
    live: Optional[tuple] = None
    block_servers: Optional[tuple] = None
    missing_ids: tuple = ()

    def missing_servers(self) -> set:
        """Servers whose blocks of this frame were missing (needs the plan and the report)."""
        if not self.block_servers:
            return set()
        return {self.block_servers[b] for b in self.missing_ids if 0 <= b < len(self.block_servers)}


@dataclass
class Stream:
    """A client node: publishes frames at a steady rate and records every answer per frame.

    Frames are keyed by their header stamp (the client's clock), so answers from any
    aggregator instance are matched to the frame they belong to; ``answers`` counts the
    Detection2DArray messages of a frame (exactly one is the contract).
    """

    namespace: str
    input_topic: str
    frames: Dict[tuple, FrameRecord] = field(default_factory=dict)
    status: Dict[int, tuple] = field(default_factory=dict)
    unknown_answers: int = 0
    max_lateness: float = 0.0

    def start(self) -> None:
        """Create the context, the node, the publisher and the subscriptions."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from repose_ros.msg import FramePlan, FrameReport, ServerStatus
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from repose_ros.ros.params import reliable

        ns = "/" + self.namespace.strip("/")
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(f"{self.namespace.strip('/')}_stream_client", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.node.create_subscription(Detection2DArray, f"{ns}/detections", self._on_det, reliable(100))
        self.node.create_subscription(FrameReport, f"{ns}/frame_report", self._on_report, reliable(100))
        self.node.create_subscription(FramePlan, f"{ns}/plan", self._on_plan, reliable(100))
        self.node.create_subscription(ServerStatus, f"{ns}/server_status", self._on_status, reliable(50))
        self.pub = self.node.create_publisher(Image, self.input_topic, reliable(10))
        self._sent = 0

    def close(self) -> None:
        """Destroy the node and its context."""
        import rclpy

        if getattr(self, "node", None) is not None:
            self.node.destroy_node()
            rclpy.try_shutdown(context=self.ctx)
            self.node = None

    # callbacks ---------------------------------------------------------------------------------
    @staticmethod
    def _key(header) -> tuple:
        return (header.stamp.sec, header.stamp.nanosec)

    def _on_det(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is None:
            self.unknown_answers += 1
            return
        rec.answers += 1
        if rec.answered_at is None:
            rec.answered_at = time.monotonic()

    def _on_report(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is not None:
            rec.degraded, rec.missing, rec.drop_reason = bool(msg.degraded), len(msg.missing_block_ids), \
                msg.drop_reason
            rec.missing_ids = tuple(int(b) for b in msg.missing_block_ids)
            rec.frames_degraded = int(msg.frames_degraded)

    def _on_plan(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is not None:
            rec.planned_at = time.monotonic()
            rec.servers = tuple(sorted({int(b.server_id) for b in msg.blocks}))
            rec.live = tuple(int(s) for s in msg.live_servers)
            rec.block_servers = tuple(int(b.server_id) for b in sorted(msg.blocks, key=lambda b: b.block_id))

    def _on_status(self, msg) -> None:
        state = server_state(msg.state, msg.block_publishers, msg.answer_subscribers)
        self.status[int(msg.server_id)] = (state, time.monotonic())

    # driving -------------------------------------------------------------------------------------
    def spin_for(self, seconds: float) -> None:
        """Process incoming messages for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def wait_ready(self, servers: int, timeout: float = 90.0, alive: Callable[[], bool] = lambda: True) -> float:
        """Wait until the pipeline is ready for this client; return the seconds waited.

        Ready: ``servers`` edge servers report active, the input is subscribed, the outputs have
        publishers (answers published before that would not reach this client), and something
        besides this client subscribes ``plan`` (the aggregator is active: a frame planned before
        its subscription exists is never answered, only counted unanswered by the partitioner).
        """
        t0 = time.monotonic()
        ns = "/" + self.namespace.strip("/")
        outputs = (f"{ns}/detections", f"{ns}/frame_report", f"{ns}/plan")
        while True:
            self.ex.spin_once(timeout_sec=0.1)
            active = sum(1 for s, _ in self.status.values() if s == "active")
            if (active >= servers and self.pub.get_subscription_count() > 0
                    and all(self.node.count_publishers(t) > 0 for t in outputs)
                    and self.node.count_subscribers(f"{ns}/plan") >= 2):  # this client's own and the aggregator's
                break
            if not alive():
                raise RuntimeError("the pipeline exited while starting")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"pipeline not ready after {timeout:.0f} s (server status {self.status})")
        self.spin_for(1.0)  # let the remaining endpoints match
        return time.monotonic() - t0

    def send(self, frame: np.ndarray, label: str = "") -> tuple:
        """Publish one frame now; return its key."""
        from repose_ros.ros.convert import bgr_to_image

        msg = bgr_to_image(frame)
        msg.header.frame_id = "stream_camera"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        key = self._key(msg.header)
        self.frames[key] = FrameRecord(self._sent, label, time.monotonic())
        self._sent += 1
        self.pub.publish(msg)
        return key

    def send_for(self, seconds: float, rate: float, frame_fn: Callable[[int], np.ndarray], label: str = "",
                 on_tick: Optional[Callable[[], None]] = None) -> List[tuple]:
        """Publish frames at ``rate`` Hz for ``seconds`` (spinning in between); return their keys."""
        keys = []
        t0 = time.monotonic()
        n = max(1, int(round(seconds * rate)))
        frames = [frame_fn(i) for i in range(min(n, 8))]  # a few distinct frames, reused
        for i in range(n):
            due = t0 + i / rate
            while time.monotonic() < due:
                self.ex.spin_once(timeout_sec=min(0.02, max(0.0, due - time.monotonic())))
            self.max_lateness = max(self.max_lateness, time.monotonic() - due)
            keys.append(self.send(frames[i % len(frames)], label))
            if on_tick is not None:
                on_tick()
        return keys

    def drain(self, timeout: float, keys: Optional[List[tuple]] = None) -> bool:
        """Spin until every frame (or every frame of ``keys``) has an answer and a report."""
        keys = list(self.frames) if keys is None else keys
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(self.frames[k].answers and self.frames[k].degraded is not None for k in keys):
                self.spin_for(0.3)  # a duplicate would arrive about now
                return True
            self.ex.spin_once(timeout_sec=0.05)
        return False

    def records(self, label: Optional[str] = None) -> List[FrameRecord]:
        """Frame records in send order (only those with ``label`` if given)."""
        recs = sorted(self.frames.values(), key=lambda r: r.index)
        return [r for r in recs if label is None or r.label == label]
