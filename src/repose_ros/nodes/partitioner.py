"""Partitioner node: RL-DCA partitioning and planning; sends each block to its edge server.

Input: CoarseItems from the camera node (in memory inside ``frontend_node``, or the
``coarse_frame`` topic when run alone). For every frame it publishes one ``plan`` (FramePlan,
what the aggregator waits for) and one BlockAssignment per block sent on
``blocks/server_<id>``. Only live edge servers are planned for: a server is live while its
``server_status`` says active with its block subscription and its answer publisher connected
(``block_publishers``, ``answer_subscribers``) and is younger than ``server_timeout_s``, and its
block topic has a subscriber; a server that dies or stalls drops out of the plans once its
heartbeat is older than the timeout. One that comes back with the subscription it had
(``ServerStatus.subscribed``) is planned for again from its next such heartbeat on; one with a new
subscription (restarted) once the block publisher has matched it, or after ``server_rejoin_s``
(:meth:`PartitionerNode._connected`).

**Budget.** ``budget_ms`` is the whole frame's, from its arrival at the camera node to its fused
detections. Each frame is planned with :meth:`RePose.detection_budget` of the time already spent
on it (now - arrival: queue, decoding, coarse stage, partition), which also keeps
``budget_reserve_ms`` for fusion and transfers. Blocks the plan leaves out (the budget cannot
cover them) are listed in ``FramePlan.skipped_blocks`` and not sent; the aggregator answers them
with their coarse boxes. The deadline is ``arrival + budget_ms * deadline_factor``.

**Latency figures.** The servers report their measured / predicted ratio per model; they replace
the profile's figures for them (see :mod:`repose_ros.core.server_latency`). Each
BlockAssignment carries the uncorrected prediction (``base_latency_ms``) the ratio is taken
against. The annotated ``debug_image`` (blocks, models, final detections) is drawn when the
frame's detections come back.

**Unanswered frames.** Every planned frame is remembered until its ``frame_report`` comes back
(:class:`repose_ros.core.answers.AnswerLedger`); one still without a report
``unanswered_after_s`` after its deadline (planned while no aggregator ran) is logged and counted
on ``/diagnostics`` (``frames unanswered``), so that every frame is accounted for somewhere. A frame
planned while nothing subscribes ``plan`` is also warned about at once (``plan_no_subscriber``).
"""
from __future__ import annotations

import collections
import copy
import math
import threading
import time
from typing import Dict

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from repose_ros.msg import BlockAssignment, BlockInfo, CoarseFrame, FramePlan, FrameReport, ServerStatus
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray
from visualization_msgs.msg import ImageMarker

from repose_ros.core.answers import AnswerLedger
from repose_ros.core.detections import Detections
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.core.health import Health, Window, partition_counts, partitioner_health, server_state
from repose_ros.core.config import CHECK_VALUES, PARTITIONERS, RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.core.visualize import annotate
from repose_ros.ros.convert import (BLOCK_TRANSPORTS, bgr_to_image, detections_to_msg, encode_block, image_to_bgr,
                                    msg_to_detections, rect_to_roi, sec_to_time, time_to_sec)
from repose_ros.ros.diagnostics import DIAGNOSTICS_PARAMS, DiagnosticsPublisher
from repose_ros.ros.executors import run_nodes
from repose_ros.ros.lifecycle import AUTOSTART, destroy_entities, state_label, walk_to_active
from repose_ros.ros.overlays import frame_overlays
from repose_ros.ros.params import Param, declare_all, one_of, reliable
from repose_ros.core.server_latency import ratios_with_margin, server_latencies_from_ratios
from repose_ros.nodes.camera import CoarseItem

_DEFAULTS = RePoseConfig()  # the core's defaults are the node's (config/repose.yaml states them; a test checks)

PARAMS = (
    Param("num_servers", 4, "Number of edge servers (ids 0 .. num_servers-1)", (1, 64), read_only=True),
    Param("partitioner", _DEFAULTS.partitioner, "rl_dca, meanshift (no policy), greedy (look-ahead on the plan's "
          "value; costs a plan per candidate) or uniform (grid, for comparison); "
          "may be switched at run time"),
    Param("policy", _DEFAULTS.policy, "RL-DCA policy: scale:F: mean shift at F x the bandwidth on every frame "
          "(no file; scale:0.45 by default); builtin:scale: the shipped learned scale choice; builtin:ppo or "
          "empty: the shipped keep / merge / split one; a file: .zip (keep / merge / split) or .npz (scale choice)",
          read_only=True),
    Param("policy_check", _DEFAULTS.policy_check, "rl_dca: keep a policy's choice only when it raises the "
          "planner's value of the clusters: a scale policy's bandwidth against the configured one (two plans), "
          "or each keep / merge / split action (one plan per step; the first that does not ends the refinement)",
          read_only=True),
    Param("policy_check_value", _DEFAULTS.policy_check_value, "rl_dca: what the check of a scale policy compares: "
          "spent (the two clusterings' plans after budget spending, as they would run) or plan (the knapsack "
          "plans before it)", read_only=True),
    Param("search_share", _DEFAULTS.search_share, "rl_dca: after the policy, search on from its clusters with the "
          "greedy partitioner's look-ahead until the partition has taken this share of the detection budget "
          "(wall clock; the best candidate so far is kept); 0: the policy alone", (0.0, 0.5), read_only=True),
    Param("profile", "", "Latency/precision profile YAML; empty: config/profiles/default.yaml", read_only=True),
    Param("models", [""], "Model keys the planner may choose; [''] = every model of the profile",
          read_only=True),
    Param("budget_ms", _DEFAULTS.budget_ms, "Latency budget of a whole frame (ms): from its arrival at the camera "
          "node to its fused detections; the detection stage gets what is left when the frame is planned",
          (1.0, 600000.0)),
    Param("budget_reserve_ms", _DEFAULTS.budget_reserve_ms, "Part of budget_ms kept for fusion and transfers "
          "(not given to the detection stage)", (0.0, 600000.0)),
    Param("deadline_factor", 2.0, "The aggregator waits for a frame's blocks until its arrival + "
          "budget_ms * deadline_factor", (1.0, 100.0)),
    Param("block_margin", _DEFAULTS.block_margin, "Pixels added around each cluster's boxes", (0, 1024)),
    Param("block_margin_height", _DEFAULTS.block_margin_height, "Each block's margin is at least this times the "
          "median height of its cluster's boxes (0: block_margin alone)", (0.0, 10.0)),
    Param("block_min_size", _DEFAULTS.block_min_size, "Smallest block side in pixels", (8, 4096)),
    Param("hidden_spread", _DEFAULTS.hidden_spread, "Where the planner puts the people the coarse pass missed: "
          "spread around the boxes that stand for them (Gaussian, sigma = this x the box height), so that a block "
          "covering its boxes' surroundings is worth more; 0: at the boxes (README: measured)",
          (0.0, 100.0), read_only=True),
    Param("hidden_whole", _DEFAULTS.hidden_whole, "Count those missed people only where a person as large as their "
          "box fits wholly in the block (one cut by a block's edge is rarely found)", read_only=True),
    Param("plan_max_input_area", _DEFAULTS.plan_max_input_area, "The planner values a person larger than this at "
          "its block's model input (px^2) by the coarse pass's precision, as the aggregator answers such a detection "
          "by its coarse box (fusion.max_input_area: keep the two equal); 0: by the profile's precision",
          (0.0, 1.0e9), read_only=True),
    Param("plan_max_person_height", _DEFAULTS.plan_max_person_height, "Enlarge no block past the point where its "
          "coarse boxes' median height reaches this at the model input (px; a larger model input runs the block at "
          "that limit); 0: off (README: measured)", (0.0, 1.0e5), read_only=True),
    Param("plan_upscale_gain", _DEFAULTS.plan_upscale_gain, "The planner values a person in a block enlarged to its "
          "model's input by its native size plus the gain the profile measured for that enlargement (upscale_gain); "
          "false (default), or a profile without that section: by its area at the input (README: measured)",
          read_only=True),
    Param("latency_margin_sigmas", _DEFAULTS.latency_margin_sigmas, "Plan each server with its measured / "
          "predicted latency ratio plus this many standard deviations of that ratio's block-to-block spread "
          "(ServerStatus.latency_ratio_spread): headroom against a noisy server; 0 plans with the mean ratio",
          (0.0, 10.0)),
    Param("server_timeout_s", 5.0, "A server without status for this long is considered gone", (0.1, 3600.0)),
    Param("server_rejoin_s", 3.0, "A server that went down and comes back with a new block subscription (a "
          "restarted process) is planned for again once its block topic has more subscriptions than while it "
          "was down (its new subscription is matched here; a dead process's counts until its DDS lease ends), "
          "or at the latest this long after it came back; one that resumes with its subscription at once",
          (0.0, 3600.0)),
    Param("unanswered_after_s", 5.0, "A planned frame whose frame_report has not come back this long after its "
          "deadline is counted as unanswered (no aggregator took its plan) and logged", (0.0, 3600.0),
          read_only=True),
    Param("require_live_servers", True, "Plan only over servers that reported active; if none, answer with "
          "the coarse boxes"),
    Param("blocks.transport", "raw", "How a block's pixels travel to its edge server: raw (bgr8 Image), jpeg "
          "(blocks.jpeg_quality) or png (lossless); see the README for measured costs"),
    Param("blocks.jpeg_quality", 90, "JPEG quality of blocks.transport jpeg", (1, 100)),
    Param("publish_debug_image", True, "Publish the annotated debug_image"),
    Param("publish_image_markers", True, "Publish image_markers (visualization_msgs/ImageMarker: blocks and final "
          "detections in camera-image pixels, for Foxglove's Image panel over the camera topic)"),
    Param("debug_image.max_width", 1280, "Debug image is downscaled to at most this width", (64, 16384)),
    AUTOSTART,
) + DIAGNOSTICS_PARAMS


class PartitionerNode(LifecycleNode):
    """Thin adapter around RePose.partition / RePose.plan (a lifecycle node).

    Configure loads the profile (and, for rl_dca, the policy), makes the (lifecycle) publishers and
    subscribes ``server_status`` and ``detections``; activate enables the publishers and, when run
    alone, subscribes ``coarse_frame``. A frame handed over while the node is not active cannot be
    planned or answered: it is counted (``inactive``) and logged.
    """

    def __init__(self, standalone: bool = True, **kwargs):
        super().__init__("partitioner", **kwargs)
        self.standalone = standalone
        self.p = declare_all(self, PARAMS, self._on_params)
        one_of("partitioner", self.p["partitioner"], PARTITIONERS)
        one_of("blocks.transport", self.p["blocks.transport"], BLOCK_TRANSPORTS)
        one_of("policy_check_value", self.p["policy_check_value"], CHECK_VALUES)
        self.repose = None
        self.base_profiles = None
        self._profiled: Dict[str, Dict[str, float]] = {}
        self._measured: Dict[str, Dict[str, float]] = {}
        self._ratios: Dict[str, Dict[str, float]] = {}
        self.pub_plan = self.pub_debug = self.pub_markers = None
        self.pub_blocks = {}
        self._entities, self._coarse_sub = [], None
        self.last_seen: Dict[int, float] = {}
        self._floor: Dict[int, int] = {}  # servers that went down: fewest block subscriptions seen since
        self._since: Dict[int, float] = {}  # when such a server came back (monotonic)
        self._subscribed: Dict[int, tuple] = {}  # ServerStatus.subscribed of each server's last up status
        self.counts = collections.Counter()
        self._recent = collections.OrderedDict()
        self._lock = threading.Lock()
        self.answers = AnswerLedger(grace_s=self.p["unanswered_after_s"])
        self._answers_lock = threading.Lock()
        self._health_window = Window()
        self.diagnostics = DiagnosticsPublisher(self, [("planning", self.health)], self.p["diagnostics.period_s"])
        if self.p["autostart"]:
            walk_to_active(self)

    def health(self) -> Health:
        """Frames planned, live servers and their measured speed (for /diagnostics)."""
        self.check_answers()
        counts = dict(self.counts)
        with self._answers_lock:
            counts.update({f"answers.{k}": v for k, v in self.answers.counts.items()})
            counts["answers.pending"] = self.answers.pending
        with self._lock:
            ratios = {k: dict(v) for k, v in self._ratios.items()}
            measured = {k: dict(v) for k, v in self._measured.items()}
        return partitioner_health(counts, self._health_window.delta(counts), state_label(self),
                                  int(self.p["num_servers"]), self.live_servers(), ratios, measured)

    # lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the profile and policy, create publishers and the status / detections subscriptions."""
        models = [m for m in self.p["models"] if m]
        cfg = RePoseConfig(num_servers=self.p["num_servers"], partitioner=self.p["partitioner"],
                           policy=self.p["policy"], profile=self.p["profile"], models=models,
                           budget_ms=self.p["budget_ms"], budget_reserve_ms=self.p["budget_reserve_ms"],
                           block_margin=self.p["block_margin"], block_min_size=self.p["block_min_size"],
                           block_margin_height=self.p["block_margin_height"],
                           hidden_spread=self.p["hidden_spread"], hidden_whole=self.p["hidden_whole"],
                           policy_check=self.p["policy_check"],
                           policy_check_value=self.p["policy_check_value"], search_share=self.p["search_share"],
                           plan_max_input_area=self.p["plan_max_input_area"],
                           plan_upscale_gain=self.p["plan_upscale_gain"],
                           plan_max_person_height=self.p["plan_max_person_height"])
        try:
            repose = RePose(cfg, zoo=ModelZoo.fake())
            if cfg.partitioner == "rl_dca":
                repose.dca.load()  # load the policy now: a missing or broken policy file fails the transition
        except Exception as exc:  # noqa: BLE001 - reported as a failed transition
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.repose = repose
        # The profile as measured (never corrected): BlockAssignment.base_latency_ms comes from it.
        self.base_profiles = copy.deepcopy(self.repose.profiles)
        self._profiled = {k: dict(v) for k, v in self.base_profiles.latency_ms.items()}
        self.pub_plan = self.create_lifecycle_publisher(FramePlan, "plan", reliable(50))
        self.pub_blocks = {s: self.create_lifecycle_publisher(BlockAssignment, f"blocks/server_{s}", reliable(20))
                           for s in range(self.p["num_servers"])}
        self.pub_debug = self.create_lifecycle_publisher(Image, "debug_image", reliable(2))
        self.pub_markers = self.create_lifecycle_publisher(ImageMarker, "image_markers", reliable(10))
        self._entities = [self.create_subscription(ServerStatus, "server_status", self.on_status, reliable(20)),
                          self.create_subscription(Detection2DArray, "detections", self.on_detections,
                                                   reliable(10)),
                          self.create_subscription(FrameReport, "frame_report", self.on_frame_report, reliable(100)),
                          self.create_timer(1.0, self.check_answers)]
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers; run alone, subscribe coarse_frame."""
        result = super().on_activate(state)
        if self.standalone:
            self._coarse_sub = self.create_subscription(CoarseFrame, "coarse_frame", self.on_coarse_frame,
                                                        reliable(4))
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking frames."""
        destroy_entities(self, [self._coarse_sub])
        self._coarse_sub = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop publishers, subscriptions and the loaded profile / policy."""
        destroy_entities(self, [*self._entities, self.pub_plan, self.pub_debug, self.pub_markers,
                                *self.pub_blocks.values()])
        self._entities, self.pub_plan, self.pub_debug, self.pub_markers, self.pub_blocks = [], None, None, None, {}
        self.repose = self.base_profiles = None
        with self._lock:
            self.last_seen.clear()
            self._floor.clear()
            self._since.clear()
            self._subscribed.clear()
            self._recent.clear()
        return super().on_cleanup(state)

    @property
    def active(self) -> bool:
        """Whether frames are planned and published (the node is in the active state)."""
        return self.pub_plan is not None and self.pub_plan.is_activated

    # inputs ------------------------------------------------------------------------------
    def on_status(self, msg: ServerStatus) -> None:
        """Track liveness and the measured speed (ratios, latencies) of the edge servers."""
        if msg.server_id not in self.pub_blocks:
            self.counts["unknown_server_status"] += 1
            return
        measured = {k: float(ms) for k, ms in zip(msg.models, msg.latency_ms)
                    if k in self._profiled and math.isfinite(ms) and 0.0 < ms < 1e7}
        ratios = {k: float(r) for k, r in zip(msg.models, msg.latency_ratio)
                  if k in self._profiled and math.isfinite(r) and 0.0 < r < 1e6}
        spreads = {k: float(v) for k, v in zip(msg.models, msg.latency_ratio_spread) if k in ratios}
        ratios = ratios_with_margin(ratios, spreads, float(self.p["latency_margin_sigmas"]))
        sid = str(msg.server_id)
        with self._lock:
            up = server_state(msg.state, msg.block_publishers, msg.answer_subscribers) == "active"
            self._note_liveness(msg.server_id, up,
                                (int(msg.subscribed.sec), int(msg.subscribed.nanosec)))
            if measured or ratios:
                self._measured[sid], self._ratios[sid] = measured, ratios
                for key, ms in server_latencies_from_ratios(self._profiled, self._ratios, self._measured,
                                                            sid).items():
                    self.repose.profiles.latency_ms[key][sid] = ms

    def _block_subscriptions(self, server: int) -> int:
        """Count the subscriptions the block publisher of ``server`` is matched with (a dead process's too)."""
        return int(self.pub_blocks[server].get_subscription_count())

    def _mark_down(self, now: float) -> None:
        """Give servers whose heartbeat timed out a subscription floor; lower the floors (caller holds the lock).

        The floor is the fewest block-topic subscriptions seen since the server went down: its own
        dead or stalled subscription while DDS still counts it. A server that comes back is connected
        on this side once the count rises above its floor.
        """
        for s, t in self.last_seen.items():
            if now - t > self.p["server_timeout_s"] and s not in self._floor:
                self._floor[s] = self._block_subscriptions(s)
        for s in self._floor:
            if s not in self._since:  # still down: a dead subscription may have expired meanwhile
                self._floor[s] = min(self._floor[s], self._block_subscriptions(s))

    def _note_liveness(self, server: int, up: bool, subscribed: tuple = (0, 0)) -> None:
        """Record a status (caller holds the lock): ``up`` is active with a connected block subscription.

        A server that goes down (its heartbeat times out, or it reports not up) gets a subscription
        floor (:meth:`_mark_down`); when it is up again its return starts (``_since``). A server's
        first appearance has no floor: no predecessor's subscription to mistake for its own, and
        neither has a server that returns with the block subscription it had (``subscribed``, the
        stamp of its creation: a stalled process that resumed).
        """
        now = time.monotonic()
        self._mark_down(now)
        if not up:
            if self.last_seen.pop(server, None) is not None:
                self._floor.setdefault(server, self._block_subscriptions(server))
                self._since.pop(server, None)
            return
        same = subscribed != (0, 0) and self._subscribed.get(server) == subscribed
        if subscribed != (0, 0):
            self._subscribed[server] = subscribed
        if server in self._floor and server not in self._since:
            if same:
                del self._floor[server]
            else:
                self._since[server] = now
        self.last_seen[server] = now

    def _connected(self, server: int, now: float) -> bool:
        """Whether the block publisher reaches ``server`` (caller holds the lock); clears a return once it does.

        A returning server counts once its block topic has more subscriptions than its floor (its new
        subscription is matched here), or at the latest server_rejoin_s after it came back (a stalled
        process that resumes keeps its subscription, and a dead one's may expire at the same moment).
        """
        count = self._block_subscriptions(server)
        if count == 0:
            return False
        if server not in self._floor:
            return True
        since = self._since.get(server)
        if since is None:
            return False
        if count > self._floor[server] or now - since >= self.p["server_rejoin_s"]:
            del self._floor[server], self._since[server]
            return True
        return False

    def live_servers(self) -> list:
        """Servers that reported active and connected within server_timeout_s, whose block topic reaches them.

        All servers if liveness is not required.
        """
        if not self.p["require_live_servers"] or not self.pub_blocks:
            return list(self.pub_blocks)
        now = time.monotonic()
        with self._lock:
            self._mark_down(now)
            return sorted(s for s, t in list(self.last_seen.items())
                          if now - t <= self.p["server_timeout_s"] and self._connected(s, now))

    def on_coarse_frame(self, msg: CoarseFrame) -> None:
        """Standalone mode: a CoarseFrame from a camera node in another process."""
        frame = None
        reason = msg.drop_reason
        if not reason:
            try:
                frame = image_to_bgr(msg.image)
            except Exception as exc:  # noqa: BLE001
                reason = f"decode_error: {exc}"
        try:
            coarse = msg_to_detections(msg.coarse)
        except (ValueError, OverflowError) as exc:
            self.counts["malformed_coarse"] += 1
            coarse, frame, reason = Detections.empty(), None, reason or f"malformed_coarse: {exc}"
        self.on_coarse(CoarseItem(msg.header, msg.frame_seq, frame, coarse, msg.coarse_ms, reason,
                                  session_id=msg.session_id, arrival=time_to_sec(msg.arrival),
                                  degraded_reason=msg.degraded_reason, coarse_model=msg.coarse_model))

    def _on_params(self, changed: dict) -> None:
        """Apply parameter changes made at run time (values already type- and range-checked)."""
        method = one_of("partitioner", changed["partitioner"], PARTITIONERS) if "partitioner" in changed else None
        if "blocks.transport" in changed:
            one_of("blocks.transport", changed["blocks.transport"], BLOCK_TRANSPORTS)
        if self.repose is None:  # not configured: configure reads the parameters
            return
        cfg = self.repose.config
        if method is not None:
            if method == "rl_dca":
                try:  # load the policy now: a missing or broken policy file refuses the change
                    self.repose.dca.load()
                except OSError as exc:
                    raise ValueError(f"partitioner rl_dca: cannot load its policy: {exc}") from None
            cfg.partitioner = method
        for name in ("budget_ms", "budget_reserve_ms", "block_margin", "block_margin_height", "block_min_size"):
            if name in changed:
                setattr(cfg, name, changed[name])
        debug = changed.get("publish_debug_image", self.p["publish_debug_image"])
        markers = changed.get("publish_image_markers", self.p["publish_image_markers"])
        if not (debug or markers):
            with self._lock:
                self._recent.clear()

    # work --------------------------------------------------------------------------------
    def now(self) -> float:
        """ROS time in seconds (the clock the camera stamps a frame's arrival with)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def on_coarse(self, item: CoarseItem) -> None:
        """Partition, plan and send one frame; always publishes exactly one FramePlan (when active)."""
        if not self.active:
            self.counts["inactive"] += 1
            self.get_logger().warning(f"frame {item.frame_seq} not planned: the partitioner is not active "
                                      f"({self.counts['inactive']} so far)", throttle_duration_sec=1.0)
            return
        budget_ms = float(self.p["budget_ms"])
        arrival = item.arrival if item.arrival > 0 else self.now()
        plan_msg = FramePlan(header=item.header, frame_seq=item.frame_seq, session_id=item.session_id,
                             budget_ms=budget_ms, coarse_ms=float(item.coarse_ms), feasible=True)
        if item.arrival > 0:
            plan_msg.arrival = sec_to_time(item.arrival)
        plan_msg.coarse = detections_to_msg(item.coarse, item.header)
        assignments = []
        reasons = [item.degraded_reason] if item.degraded_reason else []
        if item.frame is not None:
            h, w = item.frame.shape[:2]
            plan_msg.image_width, plan_msg.image_height = w, h
            servers = self.live_servers()
            plan_msg.live_servers = [int(s) for s in servers]
            if not servers:
                self.counts["no_live_server"] += 1
                reasons.append("no_live_server: answered with coarse detections")
            elif len(item.coarse):
                try:
                    assignments = self._plan(item, plan_msg, servers, arrival, budget_ms)
                except Exception as exc:  # noqa: BLE001 - answer with the coarse boxes instead
                    self.counts["plan_error"] += 1
                    self.get_logger().error(f"frame {item.frame_seq}: planning failed: {exc}")
                    reasons.append(f"plan_error: {exc}")
                    plan_msg.blocks, plan_msg.skipped_blocks, assignments = [], [], []
        else:
            reasons = [item.drop_reason or "no_frame"]
        plan_msg.drop_reason = "; ".join(reasons)
        plan_msg.num_blocks = len(plan_msg.blocks)
        plan_msg.deadline = sec_to_time(arrival + budget_ms * self.p["deadline_factor"] / 1000.0)
        plan_msg.published = sec_to_time(self.now())
        if self.pub_plan.get_subscription_count() == 0:  # no aggregator: this frame will go unanswered
            self.counts["plan_no_subscriber"] += 1
            self.get_logger().warning(f"frame {item.frame_seq}: nothing subscribes {self.pub_plan.topic_name}, so no "
                                      "aggregator will answer it (is the aggregator running and active?); "
                                      f"{self.counts['plan_no_subscriber']} frame(s) so far",
                                      throttle_duration_sec=1.0)
        self.pub_plan.publish(plan_msg)
        with self._answers_lock:
            crowded = self.answers.planned((item.session_id, item.frame_seq), time_to_sec(plan_msg.deadline))
        if crowded:
            self.get_logger().error(f"{len(crowded)} frame(s) given up as unanswered to bound memory: "
                                    f"{self.answers.max_pending} planned frames wait for an answer",
                                    throttle_duration_sec=1.0)
        for a in assignments:
            a.deadline = plan_msg.deadline
            self.pub_blocks[a.server_id].publish(a)
        self.counts["frames"] += 1
        self.counts["blocks_skipped"] += len(plan_msg.skipped_blocks)
        if (self.p["publish_debug_image"] or self.p["publish_image_markers"]) and item.frame is not None:
            self._remember(item, plan_msg)

    def _plan(self, item: CoarseItem, plan_msg: FramePlan, servers: list, arrival: float,
              budget_ms: float) -> list:
        h, w = item.frame.shape[:2]
        t0 = time.perf_counter()
        # on_status updates the latency profile from another thread; the greedy partitioner plans too
        with self._lock:
            elapsed_ms = (self.now() - arrival) * 1000.0
            memo: dict = {}  # this frame's coarse boxes: what the partition planned, plan_frame reuses
            part = self.repose.partition(item.coarse, w, h, self.repose.detection_budget(elapsed_ms, budget_ms),
                                         servers, coarse_key=item.coarse_model or None, memo=memo)
            t1 = time.perf_counter()
            self.counts.update(partition_counts(self.repose.last_check, self.repose.last_search))
            elapsed_ms += (t1 - t0) * 1000.0
            detect_budget = self.repose.detection_budget(elapsed_ms, budget_ms)
            part, plan = self.repose.plan_frame(part, item.coarse, w, h, detect_budget, servers,
                                                coarse_key=item.coarse_model or None, memo=memo)
            if self.repose.last_plan_reused:  # the check's plan of these blocks fits what the partition left
                self.counts["plan.reused"] += 1
        t2 = time.perf_counter()
        plan_msg.partition_ms = (t1 - t0) * 1000.0
        plan_msg.plan_ms = (t2 - t1) * 1000.0
        plan_msg.detection_budget_ms = float(detect_budget)
        plan_msg.feasible = bool(plan.feasible)
        out = []
        for bid, bp in enumerate(plan.blocks):
            block = part.blocks[bp.block_index]
            rect = block.rect
            roi = rect_to_roi((rect.x0, rect.y0, rect.x1, rect.y1))
            sid = int(bp.server_id)
            plan_msg.blocks.append(BlockInfo(block_id=bid, roi=roi, model=bp.model_key, imgsz=int(bp.imgsz),
                                             server_id=sid, expected_latency_ms=float(bp.expected_latency_ms),
                                             expected_precision=float(bp.expected_precision),
                                             num_coarse_boxes=int(bp.n_boxes),
                                             coarse_box_indices=[int(i) for i in block.box_indices]))
            base_ms = self.base_profiles.block_latency(bp.model_key, rect.w, rect.h, str(sid), int(bp.imgsz))
            crop = item.frame[rect.y0:rect.y1, rect.x0:rect.x1]
            image, compressed = encode_block(crop, item.header, self.p["blocks.transport"],
                                             self.p["blocks.jpeg_quality"])
            out.append(BlockAssignment(header=item.header, frame_seq=item.frame_seq, session_id=item.session_id,
                                       block_id=bid, num_blocks=len(plan.blocks), roi=roi, model=bp.model_key,
                                       imgsz=int(bp.imgsz), server_id=sid, budget_ms=budget_ms,
                                       expected_latency_ms=float(bp.expected_latency_ms),
                                       base_latency_ms=float(base_ms), image=image, image_compressed=compressed))
        for j, index in enumerate(plan.skipped):
            block = part.blocks[index]
            rect = block.rect
            plan_msg.skipped_blocks.append(BlockInfo(
                block_id=len(plan.blocks) + j, roi=rect_to_roi((rect.x0, rect.y0, rect.x1, rect.y1)),
                num_coarse_boxes=int(len(block.box_indices)),
                coarse_box_indices=[int(i) for i in block.box_indices]))
        return out

    # answers -----------------------------------------------------------------------------
    def on_frame_report(self, msg: FrameReport) -> None:
        """Note a frame's answer (the aggregator's report of it)."""
        with self._answers_lock:
            outcome = self.answers.answered((msg.session_id, msg.frame_seq))
        if outcome == "late":
            self.get_logger().warning(f"frame {msg.frame_seq} was answered after all, later than unanswered_after_s "
                                      "after its deadline", throttle_duration_sec=1.0)

    def check_answers(self) -> None:
        """Count and log the planned frames whose answer has not come in time."""
        with self._answers_lock:
            lost = self.answers.overdue(self.now())
            total = self.answers.counts["unanswered"]
        if lost:
            seqs = ", ".join(str(seq) for _, seq in lost[:10]) + (", ..." if len(lost) > 10 else "")
            self.get_logger().error(f"{len(lost)} planned frame(s) got no answer within unanswered_after_s of their "
                                    f"deadline (is the aggregator running?): frames {seqs}; {total} so far")

    # debug image -------------------------------------------------------------------------
    def _remember(self, item: CoarseItem, plan_msg: FramePlan) -> None:
        key = (item.header.stamp.sec, item.header.stamp.nanosec, item.header.frame_id)
        with self._lock:
            self._recent[key] = (item.frame if self.p["publish_debug_image"] else None, plan_msg)
            while len(self._recent) > 8:
                self._recent.popitem(last=False)

    def on_detections(self, msg: Detection2DArray) -> None:
        """Draw blocks, models and the final detections on the frame they belong to (debug image, markers)."""
        if not (self.p["publish_debug_image"] or self.p["publish_image_markers"]):
            return
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)
        with self._lock:
            entry = self._recent.pop(key, None)
        if entry is None:
            return
        frame, plan_msg = entry
        try:
            dets = msg_to_detections(msg)
        except (ValueError, OverflowError) as exc:
            self.get_logger().warning(f"no debug image for frame {plan_msg.frame_seq}: {exc}")
            return
        blocks = [((b.roi.x_offset, b.roi.y_offset, b.roi.x_offset + b.roi.width, b.roi.y_offset + b.roi.height),
                   b.model or "coarse (left out)", b.server_id) for b in [*plan_msg.blocks, *plan_msg.skipped_blocks]]
        if self.p["publish_image_markers"]:
            marked = [(r, int(sid)) for r, _, sid in blocks[:len(plan_msg.blocks)]]
            marked += [(r, -1) for r, _, _ in blocks[len(plan_msg.blocks):]]
            for marker in frame_overlays(msg.header, marked, dets.xyxy):
                self.pub_markers.publish(marker)
        if frame is None or not self.p["publish_debug_image"]:
            return
        img = annotate(frame, blocks, dets, f"frame {plan_msg.frame_seq}: {len(dets)} detections, "
                       f"{len(plan_msg.blocks)} blocks sent, {len(plan_msg.skipped_blocks)} left out",
                       self.p["debug_image.max_width"])
        self.pub_debug.publish(bgr_to_image(img, msg.header))


def main(args=None) -> int:
    """Run the partitioner alone (subscribes coarse_frame)."""
    return run_nodes(lambda: [PartitionerNode(standalone=True)], args)
