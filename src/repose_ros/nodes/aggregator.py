"""Aggregator node: fuse block detections into one Detection2DArray per input frame.

Subscribes ``plan`` (FramePlan) and ``block_detections`` (BlockDetections); publishes
``detections`` (vision_msgs/Detection2DArray, header = the input image's header),
``frame_report`` (FrameReport: degraded flag, missing blocks, latency) and ``label_info``
(vision_msgs/LabelInfo, transient local). The logic lives in core.aggregation.FrameAssembler.
"""
from __future__ import annotations

import rclpy
from rclpy.node import Node
from repose_ros.msg import BlockDetections, FramePlan, FrameReport
from vision_msgs.msg import Detection2DArray, LabelInfo

from ..core.aggregation import FrameAssembler
from ..core.boxes import MERGE_METHODS
from ..core.detections import Detections
from ..ros.convert import detections_to_msg, label_info, msg_to_detections, roi_to_rect, time_to_sec
from ..ros.params import Param, declare_all, latched, one_of, reliable, spin_node

PARAMS = (
    Param("fusion.method", "nms", "How duplicates across overlapping blocks are merged: nms, nmm or wbf"),
    Param("fusion.iou", 0.5, "Overlap above which two boxes of one class are duplicates", (0.05, 0.95)),
    Param("deadline_slack_ms", 200.0, "Extra wait after a frame's deadline before it is published degraded",
          (0.0, 60000.0)),
    Param("max_pending_frames", 32, "Frames waiting for blocks at most; older ones are published degraded",
          (1, 10000)),
    Param("class_names", ["person"], "Class names by class id, published as LabelInfo", read_only=True),
    Param("score_threshold", 0.25, "Confidence threshold of the edge detectors (reported in LabelInfo)",
          (0.0, 1.0)),
    Param("poll_period_ms", 10.0, "How often deadlines are checked", (1.0, 1000.0), read_only=True),
    Param("qos.depth", 100, "History depth of the detections and frame_report publishers: a reliable reader "
          "that falls this many messages behind (a busy robot process) loses the oldest", (1, 10000),
          read_only=True),
)


class AggregatorNode(Node):
    """Thin adapter around FrameAssembler."""

    def __init__(self, **kwargs):
        super().__init__("aggregator", **kwargs)
        self.p = declare_all(self, PARAMS, self._on_params)
        one_of("fusion.method", self.p["fusion.method"], MERGE_METHODS)
        self.assembler = FrameAssembler(self.p["fusion.method"], self.p["fusion.iou"],
                                        max_pending=self.p["max_pending_frames"])
        self.slack = self.p["deadline_slack_ms"] / 1000.0
        self.pub_det = self.create_publisher(Detection2DArray, "detections", reliable(self.p["qos.depth"]))
        self.pub_report = self.create_publisher(FrameReport, "frame_report", reliable(self.p["qos.depth"]))
        self.pub_labels = self.create_publisher(LabelInfo, "label_info", latched())
        self._publish_labels(self.p["score_threshold"])
        self.create_subscription(FramePlan, "plan", self.on_plan, reliable(50))
        self.create_subscription(BlockDetections, "block_detections", self.on_block, reliable(200))
        self.create_timer(self.p["poll_period_ms"] / 1000.0, self.on_timer)
        self.published = 0
        self.degraded = 0
        self.malformed = 0
        self._sessions = {}

    def _publish_labels(self, threshold: float) -> None:
        self.pub_labels.publish(label_info(dict(enumerate(self.p["class_names"])), threshold))

    def _on_params(self, changed: dict) -> None:
        """Apply parameter changes made at run time (values already type- and range-checked)."""
        if "fusion.method" in changed:
            self.assembler.fusion_method = one_of("fusion.method", changed["fusion.method"], MERGE_METHODS)
        if "fusion.iou" in changed:
            self.assembler.fusion_iou = float(changed["fusion.iou"])
        if "deadline_slack_ms" in changed:
            self.slack = changed["deadline_slack_ms"] / 1000.0  # frames planned from now on
        if "max_pending_frames" in changed:
            self.assembler.max_pending = int(changed["max_pending_frames"])
        if "score_threshold" in changed:
            self._publish_labels(changed["score_threshold"])

    def on_plan(self, msg: FramePlan) -> None:
        """Register a frame plan; frames without blocks are published at once.

        A malformed plan (block count and list disagree, non-finite or inverted coarse boxes) is
        still answered: with the coarse boxes if they are usable, and flagged degraded.
        """
        context = (msg.header, msg.budget_ms)
        reason = msg.drop_reason
        try:
            coarse = msg_to_detections(msg.coarse)
        except (ValueError, OverflowError) as exc:
            coarse, reason = Detections.empty(), reason or f"malformed_plan: coarse detections: {exc}"
            self._malformed(f"plan for frame {msg.frame_seq}: {exc}")
        try:
            rects = [roi_to_rect(b.roi) for b in msg.blocks]
            deadline = time_to_sec(msg.deadline) + self.slack
            outcomes = self.assembler.add_plan(msg.frame_seq, msg.num_blocks, deadline, coarse, rects, reason,
                                               context=context, session=msg.session_id)
        except ValueError as exc:
            self._malformed(f"plan for frame {msg.frame_seq}: {exc}")
            outcomes = self.assembler.add_plan(msg.frame_seq, 0, 0.0, coarse, [], f"malformed_plan: {exc}",
                                               context=context, session=msg.session_id)
        self._note_session(msg.session_id, msg.frame_seq)
        self._publish(outcomes)

    def _note_session(self, session_id: int, frame_seq: int) -> None:
        """Log when frames of a new camera run (a restarted camera/frontend) start to arrive."""
        if session_id in self._sessions:
            return
        self._sessions[session_id] = None
        while len(self._sessions) > 16:
            self._sessions.pop(next(iter(self._sessions)))
        if len(self._sessions) > 1:
            self.get_logger().warning(f"frames of a new camera session {session_id:#x} (from frame {frame_seq}): "
                                      "the camera node was restarted")

    def on_block(self, msg: BlockDetections) -> None:
        """Register one block's detections (or its failure; malformed detections count as a failure)."""
        dets, error = None, msg.error
        if msg.ok:
            try:
                dets = msg_to_detections(msg.detections)
            except (ValueError, OverflowError) as exc:
                error = f"malformed detections: {exc}"
                self._malformed(f"frame {msg.frame_seq} block {msg.block_id} from server {msg.server_id}: {exc}")
        if dets is None:
            self.get_logger().warning(f"frame {msg.frame_seq} block {msg.block_id} failed on server "
                                      f"{msg.server_id}: {error}", throttle_duration_sec=1.0)
        self._publish(self.assembler.add_result(msg.frame_seq, msg.block_id, dets, error, session=msg.session_id))

    def _malformed(self, what: str) -> None:
        self.malformed += 1
        self.get_logger().error(f"malformed input ({self.malformed} so far): {what}")

    def on_timer(self) -> None:
        """Publish frames whose deadline has passed."""
        self._publish(self.assembler.poll(self.get_clock().now().nanoseconds * 1e-9))

    def _publish(self, outcomes) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        for o in outcomes:
            header, budget_ms = o.context
            self.pub_det.publish(detections_to_msg(o.detections, header))
            self.published += 1
            self.degraded += int(o.degraded)
            stamp = time_to_sec(header.stamp)
            report = FrameReport(header=header, frame_seq=o.frame_seq, session_id=o.session,
                                 blocks_expected=o.blocks_expected,
                                 blocks_received=o.blocks_received, degraded=o.degraded,
                                 missing_block_ids=[int(b) for b in o.missing_block_ids],
                                 drop_reason=o.drop_reason, num_detections=len(o.detections),
                                 latency_ms=float((now - stamp) * 1000.0) if stamp > 0 else 0.0,
                                 budget_ms=float(budget_ms), frames_published=self.published,
                                 frames_degraded=self.degraded)
            self.pub_report.publish(report)
            if o.degraded:
                self.get_logger().warning(
                    f"frame {o.frame_seq} degraded: {o.blocks_received}/{o.blocks_expected} blocks"
                    + (f", {o.drop_reason}" if o.drop_reason else ""))

    def destroy_node(self):
        """Publish what is still pending before going away."""
        try:
            self._publish(self.assembler.flush())
        except Exception:  # noqa: BLE001 - shutdown must not raise
            pass
        return super().destroy_node()


def main(args=None) -> None:
    """Run the aggregator node."""
    rclpy.init(args=args)
    spin_node(AggregatorNode())
