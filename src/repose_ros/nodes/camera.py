"""Camera node: receive frames, run coarse detection, hand frame and coarse boxes on.

Subscribes ``image_raw`` (sensor_msgs/Image) or, with ``compressed: true``,
``image_raw/compressed`` (sensor_msgs/CompressedImage). The callback only numbers the frame
and queues it; a worker thread decodes it and runs coarse detection, so a slow detector never
blocks DDS. A frame that cannot be processed (bad encoding, short data, corrupt JPEG, too
large, queue overflow, detector error) is still handed on with a ``drop_reason``, so that the
aggregator answers every input frame exactly once.

Every frame is stamped with its arrival (ROS time, when this node received it): the frame's
latency budget counts from there.

The coarse stage runs here by default (all N blocks in one detector call). With ``coarse.on_edge``
it runs on the edge servers, as in the paper: coarse block ``i`` goes to a live edge server
(server ``i`` when all are live; the live ones in turn otherwise) as a BlockAssignment marked
``coarse`` with the coarse model and thresholds, the answers come back on ``coarse_detections``
and are merged with :func:`repose_ros.core.coarse.merge_block_detections`. The worker thread waits
for them (the executor never blocks); a block not answered within ``coarse.timeout_ms`` counts as
empty and the frame is handed on degraded, with the reason. With no live server the coarse stage
runs here.

Run alone (``camera_node``) it publishes ``coarse_frame`` (CoarseFrame) for a partitioner in
another process (and, with ``coarse.on_edge``, counts a server as live while its block topic has a
subscriber); inside ``frontend_node`` it hands frames to the partitioner in memory, so the full
frame crosses a process boundary only once (camera driver -> this process), and uses the
partitioner's live servers.
"""
from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from repose_ros.msg import BlockAssignment, BlockDetections, CoarseFrame
from sensor_msgs.msg import CompressedImage, Image

from repose_ros.detectors.backends import make_zoo_from_params
from repose_ros.core.coarse import coarse_blocks
from repose_ros.core.detections import Detections
from repose_ros.core.health import Health, Stall, Window, camera_handed_on, camera_health
from repose_ros.core.image_codec import SUPPORTED_ENCODINGS, ImageDecodeError, SizeLimit
from repose_ros.core.config import RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.ros.coarse_edge import CoarseAnswer, CoarseCollector, merge_coarse_answers
from repose_ros.ros.convert import (bgr_to_image, block_answer, detections_to_msg, image_to_bgr, rect_to_roi,
                                    sec_to_time, time_to_sec)
from repose_ros.ros.diagnostics import DIAGNOSTICS_PARAMS, DiagnosticsPublisher
from repose_ros.ros.executors import run_nodes
from repose_ros.ros.lifecycle import AUTOSTART, destroy_entities, state_label, walk_to_active
from repose_ros.ros.params import (QOS_PARAMS, WEIGHTS_SAFETY_PARAMS, Param, declare_all, message_info_supported,
                                   one_of, reliable)
from repose_ros.ros.qos import RELIABILITY_CHOICES, InputSubscription

_DEFAULTS = RePoseConfig()  # the core's defaults are the node's (config/repose.yaml states them; a test checks)

DETECTOR_PARAMS = (
    Param("num_servers", 4, "Number of edge servers (the coarse stage uses as many equal blocks)", (1, 64),
          read_only=True),
    Param("backend", "ultralytics", "Detector backend: ultralytics or fake (bright blobs)", read_only=True),
    Param("weights_names", ["yolov8s"], "Model names", read_only=True),
    Param("weights_files", ["builtin:yolov8s-person"], "Weights of each model name", read_only=True),
    Param("device", "cpu", "Inference device for the coarse stage", read_only=True),
    Param("half", False, "Reduced precision: FP16 on a CUDA device; on the CPU, bf16 for OpenVINO "
          "export folders (f32 otherwise)", read_only=True),
    Param("torch_threads", 1, "CPU threads for torch (0: torch default; 1: the default profile was measured "
          "with 1, and processes sharing a machine should not compete)", (0, 256), read_only=True),
) + WEIGHTS_SAFETY_PARAMS

QUEUE_POLICIES = ("drop_oldest", "drop_newest")

CAMERA_PARAMS = DETECTOR_PARAMS + QOS_PARAMS + (
    Param("compressed", False, "Subscribe to image_raw/compressed (CompressedImage) instead of image_raw",
          read_only=True),
    Param("max_width", 7680, "Frames wider than this are refused (counted, answered degraded)", (16, 65536)),
    Param("max_height", 4320, "Frames taller than this are refused", (16, 65536)),
    Param("image.ambiguous_as", "", "Encoding to read type-only raw frames (8UC3, 16UC1, ...) as, e.g. bgr8 or "
          "mono16; \"\": refuse them (ambiguous_encoding)"),
    Param("coarse.model", _DEFAULTS.coarse_model, "Model key of the coarse detector", read_only=True),
    Param("coarse.sizes", list(_DEFAULTS.coarse_sizes) or [0], "Candidate coarse input sizes (same weights as "
          "coarse.model); per frame the largest whose predicted coarse stage fits coarse.budget_share of the "
          "partitioner's budget_ms (coarse.model's size is one), else the smallest (frontend only); [0]: "
          "coarse.model alone", read_only=True),
    Param("coarse.budget_share", _DEFAULTS.coarse_budget_share, "Share of the frame budget the coarse stage may "
          "take when choosing among coarse.sizes", (0.01, 1.0)),
    Param("coarse.conf", _DEFAULTS.coarse_conf, "Low confidence threshold of the coarse stage (recall first)",
          (0.0, 1.0)),
    Param("coarse.iou", _DEFAULTS.coarse_iou, "NMS IoU threshold inside and across coarse blocks", (0.05, 0.95)),
    Param("coarse.artefact_span", _DEFAULTS.coarse_artefact_span, "A coarse box spanning this share of its tile's "
          "height while at least coarse.artefact_aspect times as wide as tall (or of its height and width) is a "
          "detector artefact and dropped (counted); 0: keep every box", (0.0, 1.0)),
    Param("coarse.artefact_aspect", _DEFAULTS.coarse_artefact_aspect, "Width over height at or above which a "
          "tile-high coarse box is an artefact", (0.05, 100.0)),
    Param("coarse.on_edge", False, "Run the N coarse blocks on the N edge servers (as in the paper) instead of "
          "in this node", read_only=True),
    Param("coarse.timeout_ms", 1500.0, "coarse.on_edge: a coarse block not answered this long after it was sent "
          "counts as empty, and the frame is degraded", (1.0, 600000.0)),
    Param("queue.size", 2, "Frames waiting for coarse detection at most", (1, 100)),
    Param("queue.policy", "drop_oldest", "When the queue is full: drop_oldest (keep latest) or drop_newest"),
    AUTOSTART,
) + DIAGNOSTICS_PARAMS


@dataclass
class CoarseItem:
    """A frame after the coarse stage (or the reason it has none)."""

    header: object
    frame_seq: int
    frame: Optional[np.ndarray]
    coarse: Detections
    coarse_ms: float
    drop_reason: str = ""
    session_id: int = 0
    arrival: float = 0.0       # ROS time (s) when the camera node received the frame; 0: unknown
    degraded_reason: str = ""  # processed, but degraded (e.g. a coarse block on the edge not answered)
    coarse_model: str = ""     # model key of the coarse stage that ran ("": the configured coarse.model)


class CameraNode(LifecycleNode):
    """Queue frames, decode, coarse-detect, hand on; count every drop (a lifecycle node).

    Configure builds the coarse detector and the publishers; activate starts the worker (which
    loads and warms up the coarse model) and subscribes the input; deactivate unsubscribes, lets
    the worker finish the frame it holds and hands the frames still queued on as dropped
    (``inactive``), so every frame the node took is answered.
    """

    def __init__(self, repose: Optional[RePose] = None, sink: Optional[Callable[[CoarseItem], None]] = None,
                 live_servers: Optional[Callable[[], Sequence[int]]] = None,
                 budget_ms: Optional[Callable[[], float]] = None, profiles=None, **kwargs):
        """Make the node; ``profiles``: a ProfileSet, or a callable returning one (or None) at configure."""
        super().__init__("camera", **kwargs)
        # What destroy_node needs, first: a constructor that fails (bad parameter) is cleaned up too.
        self._worker = None
        self._cv = threading.Condition()
        self._stop = False
        self._queue = collections.deque()
        self.counts = collections.Counter()
        self.collector = CoarseCollector()
        self.input = None
        self.p = declare_all(self, CAMERA_PARAMS, self._on_params)
        one_of("queue.policy", self.p["queue.policy"], QUEUE_POLICIES)
        one_of("qos.reliability", self.p["qos.reliability"], RELIABILITY_CHOICES)
        one_of("image.ambiguous_as", self.p["image.ambiguous_as"], ("",) + SUPPORTED_ENCODINGS)
        self.limit = SizeLimit(self.p["max_width"], self.p["max_height"])
        self._given_repose, self._profiles = repose, profiles
        self.repose = None
        # The frame budget is the partitioner's: known in the frontend; a camera alone keeps coarse.model.
        self._budget_ms = budget_ms
        self._pub = None
        self.sink = sink if sink is not None else self._publish_item
        self.seq = 0
        # Frame numbers start at 0 in every run; the session id tells runs apart downstream.
        self.session_id = new_session_id()
        self._last_stamp = None
        self._pub_seq = {}
        self._live_servers = live_servers
        self._pub_coarse_blocks = {}
        self._coarse_answers = None
        self._health_window, self._stall = Window(), Stall()
        self.diagnostics = DiagnosticsPublisher(self, [("input", self.health)], self.p["diagnostics.period_s"])
        if self.p["autostart"]:
            walk_to_active(self)

    def health(self) -> Health:
        """Frames in, processed, dropped per reason, queue and input QoS (for /diagnostics)."""
        counts = dict(self.counts)
        queued = len(self._queue)
        return camera_health(counts, self._health_window.delta(counts), state_label(self), queued,
                             self.input.current if self.input is not None else "",
                             self._stall.seconds(camera_handed_on(counts), queued > 0))

    # lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Build the coarse detector (models load on activate) and the publishers."""
        sizes = tuple(int(v) for v in self.p["coarse.sizes"] if int(v) > 0)
        profiles = self._profiles() if callable(self._profiles) else self._profiles
        try:
            self.repose = self._given_repose or build_repose(
                self.p, profiles=profiles, coarse_model=self.p["coarse.model"], coarse_conf=self.p["coarse.conf"],
                coarse_iou=self.p["coarse.iou"], coarse_sizes=sizes, coarse_budget_share=self.p["coarse.budget_share"],
                coarse_artefact_span=self.p["coarse.artefact_span"],
                coarse_artefact_aspect=self.p["coarse.artefact_aspect"])
        except Exception as exc:  # noqa: BLE001 - reported as a failed transition
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        if sizes and self._budget_ms is None:
            self.get_logger().info("coarse.sizes needs the partitioner's budget (frontend_node); running alone "
                                   f"the camera uses coarse.model {self.p['coarse.model']}")
        if self.sink == self._publish_item:
            self._pub = self.create_lifecycle_publisher(CoarseFrame, "coarse_frame", reliable(4))
        if self.p["coarse.on_edge"]:
            self._pub_coarse_blocks = {
                s: self.create_lifecycle_publisher(BlockAssignment, f"blocks/server_{s}", reliable(20))
                for s in range(self.p["num_servers"])}
            # Its own callback group: answers are taken while the image callback runs.
            self._coarse_answers = self.create_subscription(
                BlockDetections, "coarse_detections", self.on_coarse_answer, reliable(50),
                callback_group=MutuallyExclusiveCallbackGroup())
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker (it warms the coarse model up) and subscribe the input."""
        result = super().on_activate(state)
        with self._cv:
            self._stop = False
        self._worker = threading.Thread(target=self._work, name="coarse", daemon=True)
        self._worker.start()
        # With the message info (Jazzy and later) frames that DDS dropped are counted; Humble's
        # executor passes the message alone, so there the callback takes the message only.
        on_image = self._on_image_with_info if message_info_supported() else self.on_image
        msg_type, topic = (CompressedImage, "image_raw/compressed") if self.p["compressed"] else (Image, "image_raw")
        self.input = InputSubscription(self, msg_type, topic, on_image, self.p["qos.depth"],
                                       self.p["qos.reliability"], self.p["qos.check_period_s"],
                                       on_lost=self.count_dds_lost)
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe the input, stop the worker, hand the queued frames on as dropped."""
        self._stop_taking_frames()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop publishers, the coarse-answer subscription and the detector."""
        destroy_entities(self, [self._coarse_answers, self._pub, *self._pub_coarse_blocks.values()])
        self._pub, self._pub_coarse_blocks, self._coarse_answers = None, {}, None
        self.repose = None
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking frames and stop the worker."""
        self._stop_taking_frames()
        return super().on_shutdown(state)

    def _stop_taking_frames(self) -> None:
        """Unsubscribe the input, then stop the worker (queued frames are handed on as dropped)."""
        if self.input is not None:
            self.input.destroy()
            self.input = None
        self._stop_worker()

    def _stop_worker(self) -> None:
        """Stop the worker after its current frame; frames still queued are handed on as dropped."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None
        with self._cv:
            left, self._queue = list(self._queue), collections.deque()
        for msg, seq, arrival in left:
            self.counts["inactive"] += 1
            self._emit(CoarseItem(msg.header, seq, None, Detections.empty(), 0.0,
                                  "inactive: the camera node was deactivated before processing the frame",
                                  arrival=arrival))

    def _on_params(self, changed: dict) -> None:
        """Apply parameter changes made at run time (values already type- and range-checked)."""
        if "queue.policy" in changed:
            one_of("queue.policy", changed["queue.policy"], QUEUE_POLICIES)
        if "image.ambiguous_as" in changed:
            one_of("image.ambiguous_as", changed["image.ambiguous_as"], ("",) + SUPPORTED_ENCODINGS)
        if "max_width" in changed or "max_height" in changed:
            self.limit = SizeLimit(changed.get("max_width", self.p["max_width"]),
                                   changed.get("max_height", self.p["max_height"]))
        if self.repose is not None:  # not configured yet: configure reads the parameters
            for name, attr in (("coarse.conf", "coarse_conf"), ("coarse.iou", "coarse_iou"),
                               ("coarse.budget_share", "coarse_budget_share"),
                               ("coarse.artefact_span", "coarse_artefact_span"),
                               ("coarse.artefact_aspect", "coarse_artefact_aspect")):
                if name in changed:
                    setattr(self.repose.config, attr, float(changed[name]))

    def _on_image_with_info(self, msg, info) -> None:
        self.count_lost(info)
        self.on_image(msg)

    def count_dds_lost(self, lost: int) -> None:
        """Count frames DDS reports lost on the input (best effort: never seen, so never answered)."""
        if lost > 0:
            self.counts["lost_dds"] += lost
            self.get_logger().warning(f"DDS reports {lost} input frame(s) lost ({self.counts['lost_dds']} so far; "
                                      f"input {self.input.current}): they cannot be answered",
                                      throttle_duration_sec=1.0)

    def count_lost(self, info) -> int:
        """Count frames that DDS dropped before this node saw them (gaps in the publisher's sequence).

        Such frames cannot be answered (their header is unknown): when the node falls behind by
        more than ``qos.depth`` frames, the oldest are overwritten in the subscription's history.
        They are counted as ``lost_before_queue`` and logged; raise ``qos.depth`` if it happens.
        """
        try:
            seq = info.get("publication_sequence_number")
            gid = info.get("publisher_gid")
            key = bytes(gid["data"]) if gid else b""
        except (AttributeError, KeyError, TypeError):
            return 0
        if not seq:  # not reported by this RMW
            return 0
        last = self._pub_seq.pop(key, None)
        self._pub_seq[key] = seq
        while len(self._pub_seq) > 64:  # publishers come and go: remember the recent ones
            self._pub_seq.pop(next(iter(self._pub_seq)))
        lost = seq - last - 1 if last is not None and seq > last + 1 else 0
        if lost:
            self.counts["lost_before_queue"] += lost
            self.get_logger().warning(f"{lost} frame(s) lost before the input queue "
                                      f"({self.counts['lost_before_queue']} so far): the node fell behind by "
                                      f"more than qos.depth={self.p['qos.depth']}")
        return lost

    def now(self) -> float:
        """ROS time in seconds (a frame's arrival, as the partitioner and aggregator read it)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def on_image(self, msg) -> None:
        """Give the frame its sequence number and arrival time and queue it (fast; the worker does the rest)."""
        arrival = self.now()
        seq = self.seq
        self.seq += 1
        self.counts["received"] += 1
        stamp = time_to_sec(msg.header.stamp)
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.counts["stamp_backwards"] += 1
            self.get_logger().warning(f"frame {seq}: stamp went backwards ({stamp:.3f} < {self._last_stamp:.3f})")
        self._last_stamp = stamp
        dropped = None
        with self._cv:
            if len(self._queue) >= self.p["queue.size"]:
                dropped = self._queue.popleft() if self.p["queue.policy"] == "drop_oldest" else (msg, seq, arrival)
            if dropped is None or self.p["queue.policy"] == "drop_oldest":
                self._queue.append((msg, seq, arrival))
            self._cv.notify()
        if dropped is not None:
            self.counts["queue_full"] += 1
            self._emit(CoarseItem(dropped[0].header, dropped[1], None, Detections.empty(), 0.0,
                                  "queue_full: frame dropped before coarse detection", arrival=dropped[2]))

    def _work(self) -> None:
        self.warm_up()
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait(0.5)
                if self._stop:
                    return
                msg, seq, arrival = self._queue.popleft()
            self._emit(self.process(msg, seq, arrival))

    def warm_up(self) -> None:
        """Load the coarse model and run it once on a small blank block (worker thread, before any frame).

        Otherwise the first frame pays for loading the weights, and its budget is gone before its
        blocks are planned. Skipped when the coarse stage runs on the edge servers; a failure is
        logged, and the first frame then tries again (and is answered either way).
        """
        if self.p["coarse.on_edge"]:
            return
        try:
            blank = np.zeros((64, 64, 3), np.uint8)
            self.repose.zoo.detect_crops(self.p["coarse.model"], blank, [(0, 0, 64, 64)],
                                         conf=float(self.p["coarse.conf"]), iou=float(self.p["coarse.iou"]))
            self.counts["warm_up"] += 1
        except Exception as exc:  # noqa: BLE001 - the node keeps running; frames are still answered
            self.get_logger().warning(f"coarse model warm-up failed: {exc}")

    def process(self, msg, seq: int, arrival: float = 0.0) -> CoarseItem:
        """Decode one frame and run the coarse stage (here or on the edge); never raises."""
        try:
            frame = image_to_bgr(msg, self.limit, self.p["image.ambiguous_as"])
        except ImageDecodeError as exc:
            self.counts[exc.reason] += 1
            self.get_logger().warning(f"frame {seq} refused: {exc}")
            return CoarseItem(msg.header, seq, None, Detections.empty(), 0.0, str(exc), arrival=arrival)
        except Exception as exc:  # noqa: BLE001 - a malformed frame never kills the node
            self.counts["decode_error"] += 1
            self.get_logger().error(f"frame {seq} refused: {exc}")
            return CoarseItem(msg.header, seq, None, Detections.empty(), 0.0, f"decode_error: {exc}", arrival=arrival)
        degraded = ""
        try:
            servers = self.coarse_servers() if self.p["coarse.on_edge"] else []
            key = self.coarse_key(frame.shape[1], frame.shape[0], on_edge=bool(servers))
            if servers:
                coarse, coarse_ms, degraded = self._coarse_on_edge(msg.header, seq, frame, servers, key)
            else:
                if self.p["coarse.on_edge"]:
                    self.counts["coarse_here_no_live_server"] += 1
                stage = self.repose.coarse_stage(frame, on_edge=False, model_key=key)
                coarse, coarse_ms = stage.detections, stage.ms
                if stage.artefacts:
                    self.counts["coarse_artefacts"] += stage.artefacts
        except Exception as exc:  # noqa: BLE001
            self.counts["coarse_error"] += 1
            self.get_logger().error(f"frame {seq}: coarse detection failed: {exc}")
            return CoarseItem(msg.header, seq, None, Detections.empty(), 0.0, f"coarse_error: {exc}", arrival=arrival)
        self.counts["processed"] += 1
        return CoarseItem(msg.header, seq, frame, coarse, coarse_ms, arrival=arrival, degraded_reason=degraded,
                          coarse_model=key)

    def coarse_key(self, frame_w: int, frame_h: int, on_edge: bool) -> str:
        """Coarse model of a frame: ``coarse.model``, or with ``coarse.sizes`` the largest the budget affords."""
        if self._budget_ms is None:
            return self.p["coarse.model"]
        return self.repose.coarse_key(frame_w, frame_h, float(self._budget_ms()), on_edge=on_edge)

    # coarse stage on the edge servers ---------------------------------------------------------
    def coarse_servers(self) -> List[int]:
        """Edge servers the coarse blocks may go to: the partitioner's live ones, or those subscribed to their topic."""
        if self._live_servers is not None:
            return [int(s) for s in self._live_servers() if s in self._pub_coarse_blocks]
        return [s for s, pub in self._pub_coarse_blocks.items() if pub.get_subscription_count() > 0]

    def _coarse_on_edge(self, header, seq: int, frame: np.ndarray, servers: Sequence[int], model_key: str
                        ) -> Tuple[Detections, float, str]:
        """Send the N coarse blocks to the edge servers, wait for the answers, merge them.

        Returns (merged detections, measured ms from sending to the merge, degraded reason or "").
        """
        h, w = frame.shape[:2]
        rects = coarse_blocks(w, h, self.p["num_servers"])
        key = (self.session_id, seq)
        timeout_s = self.p["coarse.timeout_ms"] / 1000.0
        self.collector.open(key, len(rects))
        t0 = time.perf_counter()
        deadline = sec_to_time(self.now() + timeout_s)
        sent_to = [int(servers[i % len(servers)]) for i in range(len(rects))]
        try:
            for i, (r, sid) in enumerate(zip(rects, sent_to)):
                msg = BlockAssignment(header=header, frame_seq=seq, session_id=self.session_id, block_id=i,
                                      num_blocks=len(rects), roi=rect_to_roi(r.as_tuple()),
                                      model=model_key, server_id=sid, coarse=True,
                                      conf=float(self.p["coarse.conf"]), iou=float(self.p["coarse.iou"]),
                                      deadline=deadline, image=bgr_to_image(frame[r.y0:r.y1, r.x0:r.x1], header))
                self._pub_coarse_blocks[sid].publish(msg)
        except Exception:
            self.collector.wait(key, 0.0)  # forget the frame
            raise
        answers = self.collector.wait(key, timeout_s - (time.perf_counter() - t0))
        counts: dict = {}
        merged, missing = merge_coarse_answers(answers, rects, sent_to, w, h, self.p["coarse.iou"],
                                               self.p["coarse.artefact_span"], self.p["coarse.artefact_aspect"],
                                               counts)
        if counts.get("artefacts"):
            self.counts["coarse_artefacts"] += counts["artefacts"]
        ms = (time.perf_counter() - t0) * 1000.0
        reason = ""
        if missing:
            self.counts["coarse_block_missing"] += len(missing)
            reason = (f"coarse_missing: coarse block(s) {', '.join(missing)} not answered within "
                      f"{self.p['coarse.timeout_ms']:.0f} ms; counted empty")
            self.get_logger().warning(f"frame {seq}: {reason}", throttle_duration_sec=1.0)
        return merged, ms, reason

    def on_coarse_answer(self, msg: BlockDetections) -> None:
        """Take an edge server's answer to a coarse block (executor thread) to the waiting worker."""
        if not msg.coarse or msg.session_id != self.session_id:
            return
        dets, error = block_answer(msg)
        if not self.collector.add((msg.session_id, msg.frame_seq), int(msg.block_id),
                                  CoarseAnswer(dets, error, int(msg.server_id))):
            self.counts["coarse_answer_late"] += 1

    def _emit(self, item: CoarseItem) -> None:
        item.session_id = self.session_id
        try:
            self.sink(item)
        except Exception as exc:  # noqa: BLE001
            self.counts["sink_error"] += 1
            self.get_logger().error(f"frame {item.frame_seq}: hand-over failed: {exc}")

    def _publish_item(self, item: CoarseItem) -> None:
        msg = CoarseFrame(header=item.header, frame_seq=item.frame_seq, session_id=item.session_id,
                          coarse_ms=float(item.coarse_ms), drop_reason=item.drop_reason,
                          degraded_reason=item.degraded_reason, coarse_model=item.coarse_model)
        if item.arrival > 0:
            msg.arrival = sec_to_time(item.arrival)
        if item.frame is not None:
            msg.image = bgr_to_image(item.frame, item.header)
        msg.coarse = detections_to_msg(item.coarse, item.header)
        self._pub.publish(msg)

    def destroy_node(self):
        """Stop the worker thread."""
        self._stop_worker()
        self.collector.close()
        return super().destroy_node()


def new_session_id() -> int:
    """Return a random non-zero 63-bit number naming one run of the camera node."""
    return secrets.randbits(63) | 1


def build_repose(p: dict, profiles=None, **overrides) -> RePose:
    """Build the core pipeline object from node parameters (detector part; ``profiles``: default profile)."""
    cfg = RePoseConfig(num_servers=int(p["num_servers"]), device=p["device"],
                       weights=dict(zip(p["weights_names"], p["weights_files"])), **overrides)
    zoo = make_zoo_from_params(p)
    return RePose(cfg, zoo=zoo, profiles=profiles)


def main(args=None) -> int:
    """Run the camera node alone (publishes coarse_frame for a separate partitioner)."""
    return run_nodes(lambda: [CameraNode()], args)
