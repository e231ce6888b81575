"""Aggregator node: fuse block detections into one Detection2DArray per input frame.

Subscribes ``plan`` (FramePlan) and ``block_detections`` (BlockDetections); publishes
``detections`` (vision_msgs/Detection2DArray, header = the input image's header),
``frame_report`` (FrameReport: degraded flag, missing blocks, measured coarse / detection /
end-to-end latency against the frame's budget) and ``label_info`` (vision_msgs/LabelInfo,
transient local). The logic lives in core.aggregation.FrameAssembler.

Blocks the plan left out (``FramePlan.skipped_blocks``) are answered at once by the coarse boxes
they hold; they are not waited for and do not make the frame degraded. Answers to coarse blocks
(``BlockDetections.coarse``) belong to the camera node and are ignored here.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from repose_ros.msg import BlockDetections, FramePlan, FrameReport
from vision_msgs.msg import Detection2DArray, LabelInfo

from repose_ros.core.aggregation import FrameAssembler
from repose_ros.core.boxes import MERGE_METHODS
from repose_ros.core.config import RePoseConfig
from repose_ros.core.detections import Detections
from repose_ros.core.fusion import DEFAULT_MAX_INPUT_AREA, input_scale
from repose_ros.core.health import Health, Stall, Window, aggregator_health
from repose_ros.core.tracking import TRACKERS, Tracker, TrackerConfig
from repose_ros.ros.convert import (block_answer, detections_to_msg, label_info, msg_to_detections, roi_to_rect,
                                    time_to_sec)
from repose_ros.ros.diagnostics import DIAGNOSTICS_PARAMS, DiagnosticsPublisher
from repose_ros.ros.executors import run_nodes
from repose_ros.ros.lifecycle import AUTOSTART, destroy_entities, state_label, walk_to_active
from repose_ros.ros.params import Param, declare_all, latched, one_of, reliable

PARAMS = (
    Param("fusion.method", "nms", "How duplicates across overlapping blocks are merged: nms, nmm or wbf"),
    Param("fusion.iou", 0.5, "Overlap above which two boxes of one class are duplicates", (0.05, 0.95)),
    Param("fusion.max_input_area", DEFAULT_MAX_INPUT_AREA, "A block detection larger than this at its block's "
          "model input (px^2) is answered by the coarse box of the same object (IoU >= 0.5); 0: off",
          (0.0, 1.0e9)),
    Param("fusion.drop_unconfirmed", RePoseConfig.fusion_drop_unconfirmed, "Drop such an oversized block "
          "detection when no coarse box confirms it (the coarse pass sees most people of that size; "
          "unconfirmed ones were nearly all false positives)"),
    Param("fusion.answer_oversized", RePoseConfig.fusion_answer_oversized, "Publish the coarse box of a person "
          "too large at the input of every block that holds it when no block detection answers for it"),
    Param("deadline_slack_ms", 500.0, "Extra wait after a frame's deadline before it is published degraded",
          (0.0, 60000.0)),
    Param("max_pending_frames", 32, "Frames waiting for blocks at most; older ones are published degraded",
          (1, 10000)),
    Param("class_names", ["person"], "Class names by class id, published as LabelInfo", read_only=True),
    Param("score_threshold", 0.25, "Confidence threshold of the edge detectors (reported in LabelInfo)",
          (0.0, 1.0)),
    Param("poll_period_ms", 10.0, "Least time between two deadline checks (the check runs at the earliest "
          "deadline of the frames waiting for blocks, not periodically)", (1.0, 1000.0), read_only=True),
    Param("tracking.enabled", True, "Give every detection the id of its track (Detection2D.id) with ByteTrack or "
          "BoT-SORT on the fused detections, frame after frame in stamp order", read_only=True),
    Param("tracking.method", "bytetrack", "Tracker: bytetrack or botsort (without re-identification)",
          read_only=True),
    Param("tracking.track_buffer", 30, "Frames a lost track is kept: an id survives this many frames without "
          "its person (occlusion, a degraded frame)", (1, 100000), read_only=True),
    Param("tracking.new_track_thresh", 0.25, "A detection this confident that continues no track starts one",
          (0.0, 1.0), read_only=True),
    Param("qos.depth", 100, "History depth of the detections and frame_report publishers: a reliable reader "
          "that falls this many messages behind (a busy robot process) loses the oldest", (1, 10000),
          read_only=True),
    AUTOSTART,
) + DIAGNOSTICS_PARAMS


@dataclass
class _FrameContext:
    """What the aggregator keeps of a frame's plan until the frame is published."""

    header: object
    budget_ms: float
    arrival: float = 0.0     # ROS time (s) of the frame's arrival at the camera node; 0: unknown
    published: float = 0.0   # ROS time (s) of the plan's publication; 0: unknown
    coarse_ms: float = 0.0
    num_sent: int = 0
    num_skipped: int = 0


def skipped_block_detections(coarse: Detections, block) -> Detections:
    """Return the coarse boxes a left-out block holds (``coarse_box_indices``; invalid ones ignored)."""
    idx = np.asarray([i for i in block.coarse_box_indices if i < len(coarse)], dtype=np.int64)
    return coarse[idx] if len(idx) else Detections.empty()


class AggregatorNode(LifecycleNode):
    """Thin adapter around FrameAssembler (a lifecycle node).

    Configure makes the (lifecycle) publishers; activate subscribes ``plan`` and
    ``block_detections`` and publishes LabelInfo; deactivate publishes the frames still pending
    (degraded) and unsubscribes, so an inactive aggregator takes no frame it could not answer.
    """

    def __init__(self, **kwargs):
        super().__init__("aggregator", **kwargs)
        self.p = declare_all(self, PARAMS, self._on_params)
        one_of("fusion.method", self.p["fusion.method"], MERGE_METHODS)
        self.assembler = FrameAssembler(self.p["fusion.method"], self.p["fusion.iou"],
                                        max_pending=self.p["max_pending_frames"],
                                        max_input_area=self.p["fusion.max_input_area"],
                                        drop_unconfirmed=self.p["fusion.drop_unconfirmed"],
                                        answer_oversized=self.p["fusion.answer_oversized"])
        self.slack = self.p["deadline_slack_ms"] / 1000.0
        self.pub_det = self.pub_report = self.pub_labels = None
        self._inputs = []  # subscriptions and the deadline timer, while active
        self._deadline_timer = None
        self.published = 0
        self.degraded = 0
        self.malformed = 0
        self._sessions = {}
        self._sent = {}  # (session, frame_seq) -> blocks sent, for frames waiting for blocks
        self._health_window, self._stall = Window(), Stall()
        self.tracker, self._track_session = None, None
        if self.p["tracking.enabled"]:
            self.tracker = Tracker(TrackerConfig(
                method=one_of("tracking.method", self.p["tracking.method"], TRACKERS),
                track_buffer=int(self.p["tracking.track_buffer"]),
                new_track_thresh=float(self.p["tracking.new_track_thresh"])))
        self._window_frames = collections.deque(maxlen=10000)  # (e2e_ms, budget_ms, drop reason) since the report
        self.diagnostics = DiagnosticsPublisher(self, [("fusion", self.health)], self.p["diagnostics.period_s"])
        if self.p["autostart"]:
            walk_to_active(self)

    def health(self) -> Health:
        """Frames answered, degraded and why, pending, latency against the budget (for /diagnostics)."""
        frames = [self._window_frames.popleft() for _ in range(len(self._window_frames))]
        window = self._health_window.delta({"published": self.published, "degraded": self.degraded})
        pending = self.assembler.pending
        return aggregator_health(self.published, self.degraded, window, state_label(self), pending,
                                 self.malformed, self.assembler.stats.late_results, [f[2] for f in frames],
                                 [f[0] for f in frames if f[0] > 0], [f[1] for f in frames if f[0] > 0],
                                 self._stall.seconds(self.published, pending > 0),
                                 swapped=self.assembler.stats.swapped_to_coarse,
                                 dropped=self.assembler.stats.dropped_unconfirmed,
                                 answered=self.assembler.stats.answered_by_coarse)

    # lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the publishers (lifecycle publishers: they publish while the node is active)."""
        self.pub_det = self.create_lifecycle_publisher(Detection2DArray, "detections", reliable(self.p["qos.depth"]))
        self.pub_report = self.create_lifecycle_publisher(FrameReport, "frame_report", reliable(self.p["qos.depth"]))
        self.pub_labels = self.create_lifecycle_publisher(LabelInfo, "label_info", latched())
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers, publish LabelInfo, subscribe the inputs, start the deadline timer."""
        result = super().on_activate(state)
        self._publish_labels(self.p["score_threshold"])
        self._inputs = [
            self.create_subscription(FramePlan, "plan", self.on_plan, reliable(50)),
            self.create_subscription(BlockDetections, "block_detections", self.on_block, reliable(200)),
        ]
        # The deadline timer sleeps while no frame waits and wakes at the earliest deadline: a
        # periodic check every poll_period_ms took CPU from edge detectors sharing the machine.
        self._deadline_timer = self.create_timer(self.p["poll_period_ms"] / 1000.0, self.on_timer)
        self._deadline_timer.cancel()
        self._inputs.append(self._deadline_timer)
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, then publish every frame still waiting for blocks (degraded)."""
        self._stop_taking_frames()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers."""
        destroy_entities(self, (self.pub_det, self.pub_report, self.pub_labels))
        self.pub_det = self.pub_report = self.pub_labels = None
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Publish what is pending (when active) and drop every entity."""
        self._stop_taking_frames()
        return super().on_shutdown(state)

    def _stop_taking_frames(self) -> None:
        """Unsubscribe the inputs, stop the deadline timer, publish what is pending."""
        destroy_entities(self, self._inputs)
        self._inputs = []
        self._flush()

    def _flush(self) -> None:
        try:
            if self.pub_det is not None and self.pub_det.is_activated:
                self._publish(self.assembler.flush())
        except Exception as exc:  # noqa: BLE001 - a transition or shutdown must not raise
            self.get_logger().error(f"could not publish the pending frames: {exc}")

    def _publish_labels(self, threshold: float) -> None:
        self.pub_labels.publish(label_info(dict(enumerate(self.p["class_names"])), threshold))

    def _on_params(self, changed: dict) -> None:
        """Apply parameter changes made at run time (values already type- and range-checked)."""
        if "fusion.method" in changed:
            self.assembler.fusion_method = one_of("fusion.method", changed["fusion.method"], MERGE_METHODS)
        if "fusion.iou" in changed:
            self.assembler.fusion_iou = float(changed["fusion.iou"])
        if "fusion.max_input_area" in changed:
            self.assembler.max_input_area = float(changed["fusion.max_input_area"])
        if "fusion.drop_unconfirmed" in changed:
            self.assembler.drop_unconfirmed = bool(changed["fusion.drop_unconfirmed"])
        if "fusion.answer_oversized" in changed:
            self.assembler.answer_oversized = bool(changed["fusion.answer_oversized"])
        if "deadline_slack_ms" in changed:
            self.slack = changed["deadline_slack_ms"] / 1000.0  # frames planned from now on
        if "max_pending_frames" in changed:
            self.assembler.max_pending = int(changed["max_pending_frames"])
        if "score_threshold" in changed:
            self._publish_labels(changed["score_threshold"])

    def on_plan(self, msg: FramePlan) -> None:
        """Register a frame plan; frames without blocks are published at once.

        Blocks the plan left out are registered with their coarse boxes right away. A malformed
        plan (block count and list disagree, non-finite or inverted coarse boxes) is still
        answered: with the coarse boxes if they are usable, and flagged degraded.
        """
        context = _FrameContext(msg.header, msg.budget_ms, time_to_sec(msg.arrival), time_to_sec(msg.published),
                                msg.coarse_ms, int(msg.num_blocks), len(msg.skipped_blocks))
        reason = msg.drop_reason
        try:
            coarse = msg_to_detections(msg.coarse)
        except (ValueError, OverflowError) as exc:
            coarse, reason = Detections.empty(), reason or f"malformed_plan: coarse detections: {exc}"
            self._malformed(f"plan for frame {msg.frame_seq}: {exc}")
        try:
            if len(msg.blocks) != msg.num_blocks:
                raise ValueError(f"{msg.num_blocks} blocks but {len(msg.blocks)} block entries")
            rects = [roi_to_rect(b.roi) for b in msg.blocks]
            scales = [input_scale(b.imgsz, r[2] - r[0], r[3] - r[1]) for b, r in zip(msg.blocks, rects)]
            size = (int(msg.image_width), int(msg.image_height))
            frame_size = size if size[0] > 0 and size[1] > 0 else None
            # left-out blocks are answered by coarse boxes, which saw the whole frame: never fragments
            whole = (0, 0, size[0], size[1]) if frame_size else None
            rects += [whole or roi_to_rect(b.roi) for b in msg.skipped_blocks]
            scales += [None] * len(msg.skipped_blocks)
            deadline = time_to_sec(msg.deadline) + self.slack
            self._sent[(msg.session_id, msg.frame_seq)] = context.num_sent
            while len(self._sent) > 2 * self.assembler.max_pending + 64:  # duplicate plans are never released
                self._sent.pop(next(iter(self._sent)))
            outcomes = self.assembler.add_plan(msg.frame_seq, len(rects), deadline, coarse, rects, reason,
                                               context=context, session=msg.session_id, frame_size=frame_size,
                                               block_scales=scales)
            for j, block in enumerate(msg.skipped_blocks):
                outcomes += self.assembler.add_result(msg.frame_seq, msg.num_blocks + j,
                                                      skipped_block_detections(coarse, block),
                                                      session=msg.session_id)
        except ValueError as exc:
            self._malformed(f"plan for frame {msg.frame_seq}: {exc}")
            self._sent.pop((msg.session_id, msg.frame_seq), None)
            context.num_sent = context.num_skipped = 0
            outcomes = self.assembler.add_plan(msg.frame_seq, 0, 0.0, coarse, [], f"malformed_plan: {exc}",
                                               context=context, session=msg.session_id)
        self._note_session(msg.session_id, msg.frame_seq)
        self._publish(outcomes)
        self._arm_deadline_timer()

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
        if msg.coarse:  # a coarse block's answer: the camera node's, not a block of a plan
            return
        if msg.block_id >= self._sent.get((msg.session_id, msg.frame_seq), 1 << 32):
            # Ids from num_blocks on name left-out blocks, answered by their coarse boxes already.
            self.assembler.stats.unknown_results += 1
            return
        dets, error = block_answer(msg)
        if error.startswith("malformed"):
            self._malformed(f"frame {msg.frame_seq} block {msg.block_id} from server {msg.server_id}: {error}")
        if dets is None:
            self.get_logger().warning(f"frame {msg.frame_seq} block {msg.block_id} failed on server "
                                      f"{msg.server_id}: {error}", throttle_duration_sec=1.0)
        released = self.assembler.add_result(msg.frame_seq, msg.block_id, dets, error, session=msg.session_id)
        self._publish(released)
        if released:
            self._arm_deadline_timer()

    def _malformed(self, what: str) -> None:
        self.malformed += 1
        self.get_logger().error(f"malformed input ({self.malformed} so far): {what}")

    def on_timer(self) -> None:
        """Publish frames whose deadline has passed, then sleep until the next deadline."""
        self._publish(self.assembler.poll(self.get_clock().now().nanoseconds * 1e-9))
        self._arm_deadline_timer()

    def _arm_deadline_timer(self) -> None:
        """Wake ``on_timer`` at the earliest pending deadline (at least poll_period_ms from now); sleep without one."""
        timer = self._deadline_timer
        if timer is None or timer not in self._inputs:
            return
        deadline = self.assembler.next_deadline()
        if deadline is None:
            timer.cancel()
            return
        wait_s = max(deadline - self.get_clock().now().nanoseconds * 1e-9, self.p["poll_period_ms"] / 1000.0)
        timer.timer_period_ns = int(wait_s * 1e9)
        timer.reset()  # next call: now + the new period

    def _publish(self, outcomes) -> None:
        for o in outcomes:
            now = self.get_clock().now().nanoseconds * 1e-9
            ctx = o.context
            header = ctx.header
            self._sent.pop((o.session, o.frame_seq), None)
            self.pub_det.publish(detections_to_msg(o.detections, header, self._track(o, header)))
            self.published += 1
            self.degraded += int(o.degraded)
            stamp = time_to_sec(header.stamp)
            e2e_ms = (now - ctx.arrival) * 1000.0 if ctx.arrival > 0 else 0.0
            report = FrameReport(header=header, frame_seq=o.frame_seq, session_id=o.session,
                                 blocks_expected=ctx.num_sent,
                                 blocks_received=max(0, o.blocks_received - ctx.num_skipped),
                                 blocks_skipped=ctx.num_skipped, degraded=o.degraded,
                                 missing_block_ids=[int(b) for b in o.missing_block_ids],
                                 drop_reason=o.drop_reason, num_detections=len(o.detections),
                                 latency_ms=float((now - stamp) * 1000.0) if stamp > 0 else 0.0,
                                 budget_ms=float(ctx.budget_ms), coarse_ms=float(ctx.coarse_ms),
                                 detect_ms=float((now - ctx.published) * 1000.0)
                                 if ctx.num_sent and ctx.published > 0 else 0.0,
                                 e2e_ms=float(e2e_ms),
                                 within_budget=bool(ctx.arrival > 0 and e2e_ms <= ctx.budget_ms),
                                 frames_published=self.published, frames_degraded=self.degraded)
            self.pub_report.publish(report)
            self._window_frames.append((float(e2e_ms), float(ctx.budget_ms), o.drop_reason if o.degraded else ""))
            if o.degraded:
                self.get_logger().warning(
                    f"frame {o.frame_seq} degraded: {report.blocks_received}/{report.blocks_expected} blocks"
                    + (f", {o.drop_reason}" if o.drop_reason else ""))

    def _track(self, outcome, header):
        """Track ids of a frame's detections (None: tracking off, or a frame older than the last one tracked)."""
        if self.tracker is None:
            return None
        key = (int(header.stamp.sec), int(header.stamp.nanosec))
        if outcome.session != self._track_session:
            # A restarted camera: keep the tracks if its stamps go on (same camera), else start afresh.
            if self.tracker.last_key is not None and key <= self.tracker.last_key:
                self.tracker.reset()
            self._track_session = outcome.session
        try:
            ids = self.tracker.update(outcome.detections, key)
        except Exception as exc:  # noqa: BLE001 - the frame is still published, without ids
            self.get_logger().error(f"tracking failed on frame {outcome.frame_seq}: {exc}", throttle_duration_sec=1.0)
            return None
        if ids is None:
            self.get_logger().warning(f"frame {outcome.frame_seq} published without track ids: older than the last "
                                      f"frame tracked ({self.tracker.out_of_order} so far)", throttle_duration_sec=1.0)
        return ids

    def destroy_node(self):
        """Publish what is still pending before going away."""
        self._flush()
        return super().destroy_node()


def main(args=None) -> int:
    """Run the aggregator node."""
    return run_nodes(lambda: [AggregatorNode()], args)
