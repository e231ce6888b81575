"""Edge detector node: one per edge server; detects on the blocks assigned to its server_id.

A lifecycle node: publishers and the subscription are made on configure, the models are loaded
(and warmed up) on activate and released on deactivate. With ``autostart`` (default) it walks
itself to active. Subscribes ``blocks/server_<server_id>`` (BlockAssignment); publishes
``block_detections`` (BlockDetections, boxes in full-frame pixels, the source image's header),
``coarse_detections`` (the answers to coarse blocks, ``BlockAssignment.coarse``) and
``server_status`` (ServerStatus: lifecycle state, measured latency and measured / predicted
ratio per model, with that ratio's block-to-block spread).

Every block runs through :func:`repose_ros.core.serving.run_block`, the code path of the
in-process evaluation, at the input size the plan chose (``BlockAssignment.imgsz``) and with the
thresholds the block carries (the coarse stage's low conf for a coarse block).
"""
from __future__ import annotations

import math
import time
from typing import Dict, Optional

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from repose_ros.msg import BlockAssignment, BlockDetections, ServerStatus

from repose_ros.detectors.backends import make_zoo_from_params
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.core.health import Health, Window, edge_health
from repose_ros.core.image_codec import ImageDecodeError
from repose_ros.core.server_latency import RatioStats
from repose_ros.core.serving import BlockJob, run_block
from repose_ros.ros.convert import decode_block, detections_to_msg
from repose_ros.ros.diagnostics import DIAGNOSTICS_PARAMS, DiagnosticsPublisher
from repose_ros.ros.executors import run_nodes
from repose_ros.ros.lifecycle import AUTOSTART, destroy_entities, state_label
from repose_ros.ros.params import WEIGHTS_SAFETY_PARAMS, Param, declare_all, reliable

PARAMS = (
    Param("server_id", 0, "Edge server id: this node handles blocks whose server_id matches", (0, 1023),
          read_only=True),
    Param("backend", "ultralytics", "Detector backend: ultralytics, or fake (bright blobs; tests and smoke runs)",
          read_only=True),
    Param("weights_names", ["yolov8s"], "Model names known to this server", read_only=True),
    Param("weights_files", ["builtin:yolov8s-person"],
          "Weights of each name in weights_names (file paths, or builtin:yolov8s-person)", read_only=True),
    Param("warmup_models", ["yolov8s@640"], "Model keys run once on activate so the first block is not slow",
          read_only=True),
    Param("device", "cpu", "Inference device: cpu or cuda:N", read_only=True),
    Param("half", False, "Reduced precision: FP16 on a CUDA device; on the CPU, bf16 for OpenVINO "
          "export folders (f32 otherwise)", read_only=True),
    Param("torch_threads", 1, "CPU threads for torch (0: torch default; 1 when servers share a machine)",
          (0, 256), read_only=True),
    Param("conf", 0.25, "Confidence threshold (a block that carries its own, e.g. a coarse block, uses that)",
          (0.0, 1.0)),
    Param("iou", 0.5, "NMS IoU threshold inside a block (a block's own, when it carries one, wins)", (0.05, 0.95)),
    Param("status_period_s", 0.5, "Period of server_status messages", (0.05, 60.0), read_only=True),
    Param("latency_smoothing", 0.3, "Weight of the newest measurement in the averages of latency and of "
          "measured / predicted ratio", (0.01, 1.0)),
    AUTOSTART,
    Param("skip_expired_blocks", True, "Answer a block whose deadline has passed (e.g. queued during a stall) "
          "with ok=false instead of running the detector on it"),
    Param("expiry_margin_ms", 0.0, "A block counts as expired this long after its deadline (clock skew "
          "between hosts; the aggregator waits deadline_slack_ms beyond the deadline)", (-60000.0, 60000.0)),
) + WEIGHTS_SAFETY_PARAMS + DIAGNOSTICS_PARAMS


class EdgeDetectorNode(LifecycleNode):
    """Lifecycle adapter around ModelZoo."""

    def __init__(self, zoo: Optional[ModelZoo] = None, **kwargs):
        super().__init__("edge_detector", **kwargs)
        self.p = declare_all(self, PARAMS)
        self.server_id = int(self.p["server_id"])
        self._zoo = zoo
        self.latency: Dict[str, float] = {}
        # smoothed measured / BlockAssignment.base_latency_ms per model, and its spread
        self.ratios = RatioStats(self.p["latency_smoothing"])
        self.coarse_done = 0
        self.done = 0
        self.failed = 0
        self.expired = 0
        self.slack_ms: Optional[float] = None  # smoothed time left to the deadline when a block is taken
        self.dropped_wrong_server = 0
        self._active = False
        self._pub = self._coarse_pub = self._status_pub = self._sub = self._timer = None
        self._subscribed = None  # builtin_interfaces/Time of the block subscription's creation
        self._health_window = Window()
        self.diagnostics = DiagnosticsPublisher(self, [("detector", self.health)], self.p["diagnostics.period_s"])
        if self.p["autostart"]:
            self._autostart = self.create_timer(0.0, self._walk_to_active)

    def _walk_to_active(self) -> None:
        self._autostart.cancel()  # one-shot (destroying a timer inside its own callback upsets the executor)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def health(self) -> Health:
        """State, blocks run / failed / expired, measured latency per model (for /diagnostics)."""
        window = self._health_window.delta({"done": self.done, "failed": self.failed, "expired": self.expired})
        return edge_health(self.server_id, state_label(self), self.done, self.failed, self.expired, window,
                           dict(self.latency), self.slack_ms, self.block_publishers(), self.answer_subscribers())

    # lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create publishers and the block subscription."""
        names, files = list(self.p["weights_names"]), list(self.p["weights_files"])
        if len(names) != len(files):
            self.get_logger().error("weights_names and weights_files must have the same length")
            return TransitionCallbackReturn.FAILURE
        if self._zoo is None:
            try:
                self._zoo = make_zoo_from_params(self.p)
            except ValueError as exc:
                self.get_logger().error(str(exc))
                return TransitionCallbackReturn.FAILURE
        self._pub = self.create_publisher(BlockDetections, "block_detections", reliable(50))
        self._coarse_pub = self.create_publisher(BlockDetections, "coarse_detections", reliable(50))
        self._status_pub = self.create_publisher(ServerStatus, "server_status", reliable(5))
        self._sub = self.create_subscription(BlockAssignment, f"blocks/server_{self.server_id}",
                                             self.on_block, reliable(20))
        self._subscribed = self.get_clock().now().to_msg()
        self._timer = self.create_timer(self.p["status_period_s"], self.publish_status)
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm up the models, then accept blocks."""
        try:
            for key in self.p["warmup_models"]:
                if key in self._zoo:
                    imgsz = self._zoo.resolve(key)[1]
                    blank = np.zeros((imgsz, imgsz, 3), np.uint8)
                    job = BlockJob(0, (0, 0, imgsz, imgsz), key)
                    runs = [run_block(self._zoo, blank, job, self.p["conf"], self.p["iou"]) for _ in range(2)]
                    if not runs[-1].ok:
                        raise RuntimeError(runs[-1].error)
                    # The second call is reported (the first one's one-off costs would make this server
                    # look slower than it is, and a server the planner avoids never measures again). A
                    # square block at the key's size is what the profile's figure predicts; the ratio
                    # stays unknown here (the profile lives with the partitioner).
                    self._record(key, runs[-1].ms)
        except Exception as exc:  # noqa: BLE001 - a model that cannot load fails the transition
            self.get_logger().error(f"cannot load models: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._active = True
        self.get_logger().info(f"edge server {self.server_id} active")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop accepting blocks and release the models."""
        self._active = False
        if self.p["backend"] != "fake" and self._zoo is not None:
            self._zoo = None  # models freed; rebuilt lazily on the next configure/activate
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop publishers and subscriptions."""
        destroy_entities(self, (self._sub, self._pub, self._coarse_pub, self._status_pub, self._timer))
        self._pub = self._coarse_pub = self._status_pub = self._sub = self._timer = None
        return super().on_cleanup(state)

    # work --------------------------------------------------------------------------------
    def on_block(self, msg: BlockAssignment) -> None:
        """Detect on one block (serving.run_block) and publish its detections in frame pixels."""
        t_arrival = time.perf_counter()
        if not self._active:
            return
        if msg.server_id != self.server_id:
            self.dropped_wrong_server += 1
            self.get_logger().warning(f"block for server {msg.server_id} received by server {self.server_id}; "
                                      f"dropped ({self.dropped_wrong_server} so far)")
            return
        coarse = bool(msg.coarse)
        pub = self._coarse_pub if coarse else self._pub
        out = BlockDetections(header=msg.header, frame_seq=msg.frame_seq, session_id=msg.session_id,
                              block_id=msg.block_id, server_id=self.server_id, model=msg.model, ok=True,
                              coarse=coarse)
        out.detections.header = msg.header
        late_ms = self._late_ms(msg)
        if late_ms is not None:
            # Its frame has been published without it: running it would only delay the next blocks.
            self.expired += 1
            out.ok = False
            out.error = f"expired: taken from the queue {late_ms:.0f} ms after the deadline; not run"
            if self.expired == 1 or self.expired % 100 == 0:
                self.get_logger().warning(f"frame {msg.frame_seq} block {msg.block_id}: {out.error} "
                                          f"({self.expired} expired blocks so far)")
            out.total_ms = (time.perf_counter() - t_arrival) * 1000.0
            pub.publish(out)
            return
        try:
            crop = decode_block(msg)
            if (crop.shape[1], crop.shape[0]) != (msg.roi.width, msg.roi.height):
                raise ImageDecodeError("bad_block", f"image {crop.shape[1]}x{crop.shape[0]} != roi "
                                                    f"{msg.roi.width}x{msg.roi.height}")
            job = self._job(msg, crop)
            run = run_block(self._zoo, crop, job, _threshold(msg.conf, self.p["conf"]),
                            _threshold(msg.iou, self.p["iou"]))
            out.inference_ms = run.ms
            if run.ok:
                if coarse:
                    self.coarse_done += 1
                else:
                    self._record(msg.model, run.ms, msg.base_latency_ms)
                out.detections = detections_to_msg(run.detections.shift(msg.roi.x_offset, msg.roi.y_offset),
                                                   msg.header)
            else:
                out.ok, out.error = False, run.error
        except Exception as exc:  # noqa: BLE001 - every block gets an answer, even a failed one
            out.ok, out.error = False, f"{type(exc).__name__}: {exc}"
        if out.ok:
            self.done += 1
        else:
            self.failed += 1
            self.get_logger().error(f"frame {msg.frame_seq} block {msg.block_id}: {out.error}")
        out.total_ms = (time.perf_counter() - t_arrival) * 1000.0
        pub.publish(out)

    def _job(self, msg: BlockAssignment, crop: np.ndarray) -> BlockJob:
        """Make the serving job of a block: model key checked (never a path), imgsz at most the key's."""
        key_imgsz = self._zoo.resolve(msg.model)[1]  # KeyError "unknown model ..." for a key not configured
        imgsz = int(msg.imgsz)
        if imgsz > key_imgsz:
            raise ValueError(f"imgsz {imgsz} is above the input size of model key {msg.model!r}")
        return BlockJob(int(msg.block_id), (0, 0, crop.shape[1], crop.shape[0]), msg.model, imgsz)

    def _late_ms(self, msg: BlockAssignment) -> Optional[float]:
        """Milliseconds past the block's deadline (plus margin), or None when it is still due or has none.

        Also updates the smoothed deadline slack reported in ServerStatus.
        """
        deadline_ns = msg.deadline.sec * 1_000_000_000 + msg.deadline.nanosec
        if deadline_ns <= 0:
            return None
        slack_ms = (deadline_ns - self.get_clock().now().nanoseconds) / 1e6
        a = self.p["latency_smoothing"]
        self.slack_ms = slack_ms if self.slack_ms is None else (1 - a) * self.slack_ms + a * slack_ms
        if not self.p["skip_expired_blocks"]:
            return None
        late_ms = -slack_ms - self.p["expiry_margin_ms"]
        return late_ms if late_ms > 0 else None

    def _record(self, key: str, ms: float, base_ms: float = 0.0) -> None:
        """Smooth the measured latency of ``key`` and, with a prediction ``base_ms``, its measured / predicted ratio."""
        a = self.p["latency_smoothing"]
        self.latency[key] = ms if key not in self.latency else (1 - a) * self.latency[key] + a * ms
        if math.isfinite(base_ms) and base_ms > 0:
            self.ratios.smoothing = a  # the parameter may have changed
            self.ratios.add(key, ms / base_ms)

    def block_publishers(self) -> int:
        """Count the publishers the block subscription is matched with; -1 without a subscription.

        Humble's rclpy has no Subscription.get_publisher_count: there it is the publishers the graph
        knows on the block topic.
        """
        if self._sub is None:
            return -1
        matched = getattr(self._sub, "get_publisher_count", None)
        return int(matched()) if matched is not None else int(self.count_publishers(self._sub.topic_name))

    def answer_subscribers(self) -> int:
        """Count the subscriptions the block_detections publisher is matched with; -1 without a publisher."""
        return -1 if self._pub is None else int(self._pub.get_subscription_count())

    def publish_status(self) -> None:
        """Publish liveness, state and measured latencies."""
        if self._status_pub is None:
            return
        models = list(self.latency)
        msg = ServerStatus(server_id=self.server_id, state="active" if self._active else "inactive",
                           models=models, latency_ms=[float(self.latency[k]) for k in models],
                           latency_ratio=[float(self.ratios.mean.get(k, 0.0)) for k in models],
                           latency_ratio_spread=[self.ratios.spread(k) for k in models],
                           blocks_done=self.done, blocks_failed=self.failed, blocks_expired=self.expired,
                           deadline_slack_ms=float(self.slack_ms or 0.0), block_publishers=self.block_publishers(),
                           answer_subscribers=self.answer_subscribers())
        if self._subscribed is not None:
            msg.subscribed = self._subscribed
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)


def _threshold(carried: float, own: float) -> float:
    """Return the threshold a block carries (in (0, 1]), else (0, out of range, NaN) the server's own."""
    return float(carried) if 0.0 < carried <= 1.0 else float(own)


def main(args=None) -> int:
    """Run one edge detector node."""
    return run_nodes(lambda: [EdgeDetectorNode()], args)
