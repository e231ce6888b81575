"""The whole RE-POSE method in one process: ``RePose(config).process(frame)``.

Stages (each also callable on its own, which is how the ROS nodes use them):

1. :meth:`RePose.coarse_stage` - coarse detection on N equal blocks (N = number of edge servers),
   either in one call on the camera host (default) or one block per edge server
   (``coarse_on_edge``, as in the paper), timed as deployed;
2. :meth:`RePose.partition` - MeanShift clusters of the coarse boxes refined by the RL-DCA
   policy (or MeanShift only, or a uniform grid, for comparisons) -> blocks;
3. :meth:`RePose.plan` - per-block model choice under the latency budget and assignment of
   the blocks to the servers (multiple-choice knapsack, dynamic programming);
4. :meth:`RePose.detect_blocks` - every server's blocks through
   :mod:`repose_ros.core.serving` (one block per detector call, the edge node's code path),
   each server timed on its own, then :func:`repose_ros.core.fusion.fuse_blocks`.

**Budget.** ``budget_ms`` is the frame's latency from the start of the coarse stage to the fused
result: the planner gets what is left of it once the coarse stage and the partition are done,
less ``budget_reserve_ms`` (fusion, transfers). :meth:`RePose.process` reports the *measured*
parallel latency the same way: coarse stage as deployed + partition + plan + the slowest
server's measured time + fusion.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.blocks import COVERAGE_LABEL, Block, blocks_from_clusters, kernel_share, uniform_grid
from repose_ros.core.coarse import coarse_blocks, coarse_detect, merge_block_detections
from repose_ros.core.config import BUDGET_CLOCKS, RePoseConfig
from repose_ros.core.detections import Detections
from repose_ros.core.fusion import answer_oversized, area_limit_on, fuse_blocks, input_scale
from repose_ros.core.keys import make_key, parse_key
from repose_ros.core.planner import Plan, plan_blocks
from repose_ros.core.profiles import Profiles
from repose_ros.core.server_latency import LatencyAdapter
from repose_ros.core.serving import BlockJob, ServerRun, collect, run_block, run_servers, slowest_ms
from repose_ros.core.stages import CoarseStage, FrameRun, Partition
from repose_ros.detectors.zoo import ModelZoo


def check_budget_clock(budget_clock: str) -> str:
    """Return ``budget_clock`` if it is one of :data:`~repose_ros.core.config.BUDGET_CLOCKS`; ValueError otherwise."""
    if budget_clock not in BUDGET_CLOCKS:
        raise ValueError(f"budget_clock must be one of {BUDGET_CLOCKS}, got {budget_clock!r}")
    return str(budget_clock)


class RePose:
    """RE-POSE in one process; stages are public so that the ROS nodes can call them."""

    def __init__(self, config: Optional[RePoseConfig] = None, zoo: Optional[ModelZoo] = None,
                 profiles: Optional[Profiles] = None, dca=None):
        self.config = config or RePoseConfig()
        c = self.config
        self.zoo = zoo if zoo is not None else ModelZoo(c.weights, device=c.device)
        self.profiles = profiles if profiles is not None else (
            Profiles.load(c.profile) if c.profile else Profiles.default())
        self.profiles = self.profiles.with_upscale_gain(c.plan_upscale_gain)
        self.models = list(c.models) if c.models else [m.key for m in self.profiles.models]
        missing = [m for m in self.models if m not in self.profiles.latency_ms]
        if missing:
            raise ValueError(f"models {missing} have no latency profile")
        self._dca = dca
        self.clock = time.perf_counter  # what the partition's search time limit (search_share) reads
        self.last_search: Dict[str, Any] = {}  # the last partition's search: steps, plans, why it stopped
        self.last_check: Dict[str, Any] = {}  # the last partition's scale policy: its scale, and whether it was kept
        self.last_plan_reused = False  # the last plan_frame returned a plan kept in its memo (see plan_frame)
        self.latency_adapter = LatencyAdapter(self.profiles, c.latency_smoothing, c.latency_margin_sigmas) \
            if c.adapt_latency else None

    @property
    def dca(self):
        """The RL-DCA refiner (policy loaded on first use)."""
        if self._dca is None:
            from repose_ros.core.dca.policy import RLDCA

            self._dca = RLDCA(self.config.policy or None)
        return self._dca

    # stages --------------------------------------------------------------------------------
    def coarse(self, frame: np.ndarray) -> Detections:
        """Coarse detection on N equal blocks, low threshold, NMS across blocks."""
        return self.coarse_stage(frame).detections

    def coarse_key(self, frame_w: int, frame_h: int, budget_ms: Optional[float] = None,
                   on_edge: Optional[bool] = None) -> str:
        """Coarse model for a frame under ``budget_ms``: the largest affordable input size.

        Without ``coarse_sizes`` this is ``coarse_model``. Otherwise the candidates are the
        coarse model's weights at each of ``coarse_sizes`` (and its own size) that the profile
        holds; the stage's predicted time is the profile's shape-aware latency of one coarse
        block (on the edge servers: the blocks run in parallel) or of all N blocks (on the camera
        host). The largest candidate whose predicted time is at most ``coarse_budget_share`` x
        the budget wins, else the smallest. A larger coarse input finds more small people (the
        recall the partition starts from) at a higher cost.
        """
        c = self.config
        if not c.coarse_sizes:
            return c.coarse_model
        name, own = parse_key(c.coarse_model)
        keys = [make_key(name, s) for s in sorted(set(c.coarse_sizes) | {own})]
        keys = [k for k in keys if k in self.profiles.model_keys]
        if not keys:
            return c.coarse_model
        limit = c.coarse_budget_share * (c.budget_ms if budget_ms is None else float(budget_ms))
        best = keys[0]
        for k in keys:
            if self.predicted_coarse_ms(frame_w, frame_h, k, on_edge) <= limit:
                best = k
        return best

    def predicted_coarse_ms(self, frame_w: int, frame_h: int, model_key: Optional[str] = None,
                            on_edge: Optional[bool] = None) -> float:
        """Return the coarse stage's time as the profile predicts it: one block on the edge, all N on the camera."""
        c = self.config
        edge = c.coarse_on_edge if on_edge is None else bool(on_edge)
        r = coarse_blocks(frame_w, frame_h, c.num_servers)[0]
        per_block = float(self.profiles.block_latency(model_key or c.coarse_model, r.w, r.h))
        return per_block * (1 if edge else c.num_servers)

    def charged_coarse_ms(self, stage: CoarseStage, frame_w: int, frame_h: int,
                          budget_clock: str = "measured") -> float:
        """Return the coarse time a frame's detection budget is charged: measured, or predicted (``profile``).

        ``budget_clock`` as :meth:`run`: ``measured`` is ``stage.ms``; ``profile`` is
        :meth:`predicted_coarse_ms` of the coarse model that ran, where it ran.
        """
        if check_budget_clock(budget_clock) == "measured":
            return stage.ms
        return self.predicted_coarse_ms(frame_w, frame_h, stage.model_key or None, stage.on_edge)

    def coarse_stage(self, frame: np.ndarray, on_edge: Optional[bool] = None,
                     model_key: Optional[str] = None) -> CoarseStage:
        """Run the coarse stage as deployed and time it (see :class:`CoarseStage`).

        Camera host (default): :func:`coarse_detect`, all N blocks in one detector call. On the
        edge (``on_edge`` or ``config.coarse_on_edge``): block ``i`` runs on server ``i`` in its
        own call (:func:`repose_ros.core.serving.run_block`), each timed; the stage takes as long
        as the slowest block, then the merge.
        """
        c = self.config
        key = model_key or c.coarse_model
        edge = c.coarse_on_edge if on_edge is None else bool(on_edge)
        if not edge:
            det, imgsz = self.zoo.get(key)
            t0 = time.perf_counter()
            result = coarse_detect(frame, det, c.num_servers, imgsz=imgsz, conf=c.coarse_conf, iou=c.coarse_iou,
                                   artefact_span=c.coarse_artefact_span, artefact_aspect=c.coarse_artefact_aspect)
            ms = (time.perf_counter() - t0) * 1000.0
            return CoarseStage(result.detections, ms, [result.timings["detect_ms"]], False, model_key=key,
                               artefacts=result.artefacts)
        h, w = frame.shape[:2]
        rects = coarse_blocks(w, h, c.num_servers)
        runs = [run_block(self.zoo, frame, BlockJob(i, r.as_tuple(), key), c.coarse_conf, c.coarse_iou)
                for i, r in enumerate(rects)]
        failed = [r.error for r in runs if not r.ok]
        if failed:
            raise RuntimeError(f"coarse block failed: {failed[0]}")
        t0 = time.perf_counter()
        counts: Dict[str, int] = {}
        merged = merge_block_detections([r.detections for r in runs], rects, w, h, iou=c.coarse_iou,
                                        artefact_span=c.coarse_artefact_span,
                                        artefact_aspect=c.coarse_artefact_aspect, counts=counts)
        merge_ms = (time.perf_counter() - t0) * 1000.0
        block_ms = [r.ms for r in runs]
        return CoarseStage(merged, max(block_ms) + merge_ms, block_ms, True, merge_ms, key,
                           counts.get("artefacts", 0))

    def partition(self, coarse: Detections, frame_w: int, frame_h: int, budget_ms: Optional[float] = None,
                  servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                  memo: Optional[Dict[Any, Any]] = None) -> Partition:
        """Cluster the coarse boxes and turn each cluster into a block.

        ``budget_ms`` (the detection stage's budget; default: the configured budget less the
        reserve), ``servers`` and ``coarse_key`` matter only to the ``greedy`` partitioner, which
        values a clustering by the plan it allows (:meth:`refine_by_plan`), and to an ``rl_dca``
        policy that observes the budget and the number of servers.

        ``rl_dca`` with a scale policy (:mod:`repose_ros.core.dca.scale`) clusters at the bandwidth
        it picks for the frame; with ``policy_check`` that clustering is kept only when it is worth
        more to the planner than the one at the configured bandwidth: by :meth:`spent_value` (the
        plans after budget spending, ``policy_check_value: spent``) or :meth:`plan_value` (``plan``).

        With ``search_share`` > 0, ``rl_dca`` then searches on from the policy's clusters with the
        greedy partitioner's look-ahead (:meth:`refine_by_plan`) until the partition has taken that
        share of ``budget_ms`` (wall clock, :attr:`clock`); :attr:`last_search` says what it did.
        :attr:`last_check` holds the scale the policy picked and whether its clustering was kept
        (``kept``: True when kept, False when the check chose the configured bandwidth, None unchecked);
        empty when no scale policy ran.

        ``memo``: a dict for this frame's coarse boxes that :meth:`plan_frame` is then given too,
        so that what the partitioner's plans computed per block is not computed again (see :meth:`plan`).
        """
        started = self.clock()
        c = self.config
        self.last_search, self.last_check = {}, {}
        if c.partitioner == "uniform":
            rects = uniform_grid(frame_w, frame_h, c.uniform_grid[0], c.uniform_grid[1], c.uniform_overlap)
            labels = np.full(len(coarse), -1, np.int64)
            blocks = [Block(r, np.nonzero(r.contains_points(coarse.centers))[0]) for r in rects]
            return Partition(labels, blocks)
        if len(coarse) == 0:
            return Partition(np.zeros(0, np.int64), [])
        budget = self.detection_budget(0.0) if budget_ms is None else float(budget_ms)
        n_servers = c.num_servers if servers is None else len(servers)
        scale = 1.0
        choose = getattr(self.dca, "bandwidth_scale", None) if c.partitioner == "rl_dca" else None
        if choose is not None:  # a scale policy picks the bandwidth (core/dca/scale.py)
            scale = choose(coarse.xyxy, frame_w, frame_h, budget, n_servers)
            self.last_check = {"scale": float(scale), "kept": None}
        labels = self.initial_labels(coarse, frame_w, frame_h, scale)
        if c.partitioner == "rl_dca":
            memo = {} if memo is None else memo

            def value(lab: np.ndarray) -> float:
                return self.plan_value(coarse, lab, frame_w, frame_h, budget, servers, coarse_key, memo)
            if scale != 1.0 and c.policy_check:  # the scale policy proposes, the planner checks
                from repose_ros.core.dca.state import raises_value

                def spent(lab: np.ndarray) -> float:
                    return self.spent_value(coarse, lab, frame_w, frame_h, budget, servers, coarse_key, memo)
                check = spent if c.policy_check_value == "spent" else value
                base = self.initial_labels(coarse, frame_w, frame_h)
                kept = raises_value(check(labels), check(base))
                self.last_check["kept"] = bool(kept)
                if not kept:
                    labels = base
            labels = self.dca.refine(coarse.xyxy, frame_w, frame_h, labels, budget_ms=budget, servers=n_servers,
                                     value=value if c.policy_check else None)
            if c.search_share > 0:  # the policy proposes, a look-ahead search goes on while time allows
                labels = self.refine_by_plan(coarse, labels, frame_w, frame_h, budget, servers, coarse_key, memo,
                                             deadline=started + c.search_share * budget / 1000.0)
        elif c.partitioner == "greedy":
            labels = self.refine_by_plan(coarse, labels, frame_w, frame_h, budget, servers, coarse_key, memo)
        return self.blocks_of(coarse, labels, frame_w, frame_h, memo=memo)

    def initial_labels(self, coarse: Detections, frame_w: int, frame_h: int, bandwidth_scale: float = 1.0
                       ) -> np.ndarray:
        """Mean-shift clusters of the coarse boxes: the configured stretch and bandwidth (x ``bandwidth_scale``)."""
        from repose_ros.core.clustering import DEFAULT_BANDWIDTH, initial_clusters

        c = self.config
        kwargs = {} if c.y_gamma is None else {"gamma": c.y_gamma}
        if c.bandwidth is not None or bandwidth_scale != 1.0:
            kwargs["bandwidth"] = (DEFAULT_BANDWIDTH if c.bandwidth is None else c.bandwidth) * bandwidth_scale
        return initial_clusters(coarse.xyxy, frame_w, frame_h, **kwargs)

    def plan_of(self, coarse: Detections, labels: np.ndarray, frame_w: int, frame_h: int, budget_ms: float,
                servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                memo: Optional[Dict[Any, Any]] = None) -> Tuple[Partition, Plan]:
        """Turn cluster ``labels`` into blocks and plan them under ``budget_ms`` (no budget-spending).

        ``memo``: see :meth:`plan` (one dict per search over one frame's coarse boxes).
        """
        part = self.blocks_of(coarse, labels, frame_w, frame_h, memo=memo)
        return part, self.plan(part.blocks, coarse, budget_ms, servers, (frame_w, frame_h), coarse_key, memo=memo)

    def plan_value(self, coarse: Detections, labels: np.ndarray, frame_w: int, frame_h: int, budget_ms: float,
                   servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                   memo: Optional[Dict[Any, Any]] = None) -> float:
        """Return what the planner expects of a clustering: the value of its plan under ``budget_ms``.

        The value is the plan's expected number of people found (coarse boxes weighted by the
        coarse pass's recall, blocks left out worth their coarse boxes), the quantity
        :meth:`plan_frame` maximises; ``-inf`` when no plan fits.
        """
        plan = self.plan_of(coarse, labels, frame_w, frame_h, budget_ms, servers, coarse_key, memo)[1]
        return float(plan.total_value) if plan.feasible else float("-inf")

    def spent_value(self, coarse: Detections, labels: np.ndarray, frame_w: int, frame_h: int, budget_ms: float,
                    servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                    memo: Optional[Dict[Any, Any]] = None) -> float:
        """Return the value of a clustering's plan after budget spending (:meth:`plan_frame`), as it would run.

        :meth:`plan_value` values the knapsack plan alone; a coarse clustering that leaves budget
        unused is then split and grown by :meth:`plan_frame`, which this value includes. ``-inf``
        when no plan fits.
        """
        part = self.blocks_of(coarse, labels, frame_w, frame_h, memo=memo)
        plan = self.plan_frame(part, coarse, frame_w, frame_h, budget_ms, servers, coarse_key, memo)[1]
        return float(plan.total_value) if plan.feasible else float("-inf")

    def refine_by_plan(self, coarse: Detections, labels: np.ndarray, frame_w: int, frame_h: int, budget_ms: float,
                       servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                       memo: Optional[Dict[Any, Any]] = None, deadline: Optional[float] = None) -> np.ndarray:
        """Refine clusters by one-step look-ahead on the planner's value (the ``greedy`` partitioner).

        At each of at most ``greedy_steps`` steps every RL-DCA action (merge the closest pair,
        split each cluster) is tried, each result planned (:meth:`plan_value`), and the best one
        taken when it raises the value by more than one part in 10^6; otherwise the refinement
        stops. No learning: the baseline a learned policy has to beat, and a partitioner in its
        own right. It costs one plan per candidate; the candidates share all but one or two
        blocks, so each block's rect, weights and profile figures are computed once per search
        (a ``memo``, see :meth:`plan`).

        ``deadline`` (a time of :attr:`clock`, seconds): no plan is started after it; the step
        under way ends with the best candidate planned so far (an anytime search). None: no limit.
        :attr:`last_search` holds the steps taken, the plans made and why the search stopped
        (``converged``, ``steps``, ``time`` or ``trivial``).
        """
        from repose_ros.core.dca.state import ClusterState, raises_value
        from repose_ros.core.dca.actions import apply_action

        state = ClusterState(coarse.xyxy, np.asarray(labels), frame_w, frame_h)
        stats = self.last_search = {"steps": 0, "plans": 0, "stopped": "trivial"}
        if state.n_boxes < 2:
            return state.labels

        def out_of_time() -> bool:
            return deadline is not None and self.clock() >= deadline

        if out_of_time():
            stats["stopped"] = "time"
            return state.labels
        memo = {} if memo is None else memo
        best = self.plan_value(coarse, state.labels, frame_w, frame_h, budget_ms, servers, coarse_key, memo)
        stats["plans"], stats["stopped"] = 1, "steps"
        for _ in range(self.config.greedy_steps):
            step, step_value, late = None, best, False
            for action in range(1, 2 + state.k):
                if out_of_time():
                    late = True
                    break
                cand, valid = apply_action(state, action, state.k)
                if not valid:
                    continue
                v = self.plan_value(coarse, cand.labels, frame_w, frame_h, budget_ms, servers, coarse_key, memo)
                stats["plans"] += 1
                if raises_value(v, step_value):
                    step, step_value = cand, v
            if step is not None:
                state, best = step, step_value
                stats["steps"] += 1
            if late or step is None:
                stats["stopped"] = "time" if late else "converged"
                break
        return state.labels

    def blocks_of(self, coarse: Detections, labels: np.ndarray, frame_w: int, frame_h: int,
                  margin: Optional[int] = None, memo: Optional[Dict[Any, Any]] = None) -> Partition:
        """Turn cluster ``labels`` of the coarse boxes into blocks (``margin`` default: ``block_margin``).

        With ``memo`` (one dict per frame's coarse boxes) each cluster's rect, which depends only on
        its own boxes, is computed once and reused by later calls.
        """
        c = self.config
        margin = c.block_margin if margin is None else int(margin)
        rects = None if memo is None else memo.setdefault(
            ("rects", margin, c.block_margin_height, int(frame_w), int(frame_h)), {})
        blocks = blocks_from_clusters(coarse.xyxy, labels, frame_w, frame_h, margin=margin,
                                      min_size=c.block_min_size, rects=rects, margin_height=c.block_margin_height)
        return Partition(np.asarray(labels), blocks)

    def detection_budget(self, elapsed_ms: float, budget_ms: Optional[float] = None) -> float:
        """Return what the detection stage may take: the budget less the time spent so far and the reserve."""
        b = self.config.budget_ms if budget_ms is None else float(budget_ms)
        return max(0.0, b - float(elapsed_ms) - self.config.budget_reserve_ms)

    def coarse_scale(self, frame_w: int, frame_h: int, coarse_key: Optional[str] = None) -> float:
        """Scale from frame pixels to the coarse model's input (the N coarse blocks are letterboxed)."""
        key = coarse_key or self.config.coarse_model
        r = coarse_blocks(frame_w, frame_h, self.config.num_servers)[0]
        return parse_key(key)[1] / float(max(r.w, r.h))

    def box_values(self, coarse: Detections, frame_w: int, frame_h: int,
                   coarse_key: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Per coarse box: its weight (people it stands for) and its value if only the coarse pass sees it.

        Weight: ``1 / recall`` of the coarse pass at the box's size (the profile's measured recall
        curve of the coarse model at the box's area in coarse-input pixels), at most
        ``max_box_weight``; 1 without a curve or with ``recall_weighting`` off. A box detected
        where the coarse pass finds few people of its size stands for the ones it missed.
        Value when its block is left out: the coarse model's precision at that area (0 when the
        coarse model is not in the profile).
        """
        n = len(coarse)
        weights, skip = np.ones(n), np.zeros(n)
        if n == 0:
            return weights, skip
        c = self.config
        key = coarse_key or c.coarse_model
        a = coarse.areas.astype(np.float64) * self.coarse_scale(frame_w, frame_h, key) ** 2
        if c.recall_weighting and self.profiles.has_recall(key):
            rec = self.profiles.recall_of_area(key, a)
            weights = np.minimum(c.max_box_weight, 1.0 / np.maximum(rec, 1.0 / c.max_box_weight))
        if key in self.profiles.model_keys:
            skip = self.profiles.precision_of_area(key, a)
        return weights, skip

    def _block_weights(self, coarse: Detections, blocks: Sequence[Block], weights: np.ndarray,
                       frame_size: Optional[Tuple[int, int]] = None) -> List[np.ndarray]:
        """Weights of each block's boxes: each box itself, plus the share of its missed people the block covers.

        A box of weight ``w`` (:meth:`box_values`) stands for itself and ``w - 1`` people the coarse
        pass missed; with ``hidden_spread`` > 0 these are spread around the box
        (:func:`~repose_ros.core.blocks.kernel_share`) and the block is credited with the share
        inside it, so that a block that also covers the surroundings of its boxes is worth more;
        with ``hidden_whole`` only the share that fits wholly inside (``frame_size``: the frame's
        own edges cut nobody). One vectorised call serves all ``blocks``.
        """
        idx = [b.box_indices for b in blocks]
        counts = [len(i) for i in idx]
        spread = self.config.hidden_spread
        if spread <= 0 or not sum(counts):
            return [weights[i] for i in idx]
        flat = np.concatenate(idx)
        rects = np.repeat(np.array([b.rect.as_tuple() for b in blocks], np.float64).reshape(-1, 4), counts, axis=0)
        wb = weights[flat]
        wb = 1.0 + (wb - 1.0) * kernel_share(coarse.xyxy[flat], rects, spread, whole=self.config.hidden_whole,
                                             frame_size=frame_size)
        return np.split(wb, np.cumsum(counts)[:-1])

    def plan(self, blocks: Sequence[Block], coarse: Detections, budget_ms: Optional[float] = None,
             servers: Optional[Sequence[int]] = None, frame_size: Optional[Tuple[int, int]] = None,
             coarse_key: Optional[str] = None, memo: Optional[Dict[Any, Any]] = None) -> Plan:
        """Choose a model and a server per block so that every server's blocks fit ``budget_ms``.

        ``budget_ms`` here is the detection stage's own budget (see :meth:`detection_budget`).
        With ``frame_size`` (w, h) the boxes are weighted by the coarse pass's recall and blocks
        left out are worth their coarse boxes (:meth:`box_values`, for the coarse model
        ``coarse_key`` that found them); with ``skip_blocks`` a block may be left out (its coarse
        boxes answer for it) when the budget cannot cover it.

        With ``plan_max_person_height`` > 0 no block is enlarged past the point where its coarse
        boxes' median height reaches that at the model input (:meth:`enlarge_limits`).

        With ``frame_size`` and ``plan_max_input_area`` > 0 a box larger than that at its block's
        model input is valued by the coarse pass's precision at its size, as fusion then answers it
        by its coarse box (``fusion_max_input_area``, :func:`~repose_ros.core.fusion.swap_oversized`)
        rather than by what the profile says of a person that large.

        ``memo``: a dict kept by a caller that plans many partitions of one frame's ``coarse`` boxes
        (a search): the boxes' values, each block's weights and what each block needs of the profile
        are computed once (see :func:`~repose_ros.core.planner.plan_blocks`). Drop it after the search.
        """
        areas = coarse.areas if len(coarse) else np.zeros(0, np.float32)
        box_areas = [areas[b.box_indices] if len(b.box_indices) else np.zeros(0, np.float32) for b in blocks]
        srv = list(servers) if servers is not None else list(range(self.config.num_servers))
        weights = skip = capped = None
        if frame_size is not None:
            kept = {} if memo is None else memo  # one plan without a memo: nothing to keep
            name = ("box_values", tuple(frame_size), coarse_key)
            if name not in kept:
                kept[name] = self.box_values(coarse, *frame_size, coarse_key=coarse_key)
            w, v = kept[name]
            bnames = [("weights", b.rect.as_tuple(), b.box_indices.tobytes(), name) for b in blocks]
            missing = {bname: b for bname, b in zip(bnames, blocks) if bname not in kept}
            kept.update(zip(missing, self._block_weights(coarse, list(missing.values()), w, tuple(frame_size))))
            weights = [kept[bname] for bname in bnames]
            skip = [float(v[b.box_indices].sum()) for b in blocks] if self.config.skip_blocks else None
            coarse_model = coarse_key or self.config.coarse_model
            if area_limit_on(self.config.plan_max_input_area) and coarse_model in self.profiles.model_keys:
                capped = [v[b.box_indices] for b in blocks]  # the coarse pass's precision per box
        elif self.config.skip_blocks:
            skip = [0.0] * len(blocks)
        if any(b.prior is not None for b in blocks):
            weights = weights if weights is not None else [np.ones(len(a)) for a in box_areas]
            for i, b in enumerate(blocks):
                if b.prior is not None:  # people nobody has seen yet: one pseudo box
                    box_areas[i] = np.concatenate([box_areas[i], [float(b.prior[0])]]).astype(np.float32)
                    weights[i] = np.concatenate([weights[i], [float(b.prior[1])]])
                    if capped is not None:  # no coarse box answers for it
                        capped[i] = np.concatenate([capped[i], [np.nan]])
        return plan_blocks(list(blocks), box_areas, self.profiles,
                           budget_ms if budget_ms is not None else self.config.budget_ms, srv,
                           model_keys=self.models, box_weights_per_block=weights, skip_values=skip, memo=memo,
                           cap_area=self.config.plan_max_input_area, cap_values_per_block=capped,
                           enlarge_per_block=self.enlarge_limits(blocks, coarse, memo))

    def enlarge_limits(self, blocks: Sequence[Block], coarse: Detections,
                       memo: Optional[Dict[Any, Any]] = None) -> Optional[List[float]]:
        """Per block, the most it may be enlarged under ``plan_max_person_height`` (None when that is off).

        ``plan_max_person_height / median height of the block's coarse boxes``, at least 1 (a block
        is never shrunk for it); inf for a block without coarse boxes (a coverage tile). ``memo``:
        :meth:`plan`'s, for one frame's ``coarse`` boxes; each block's limit is computed once.
        """
        limit = float(self.config.plan_max_person_height)
        if not limit > 0:
            return None
        memo = {} if memo is None else memo
        heights = None
        out = []
        for b in blocks:
            name = ("enlarge_limit", limit, b.box_indices.tobytes())
            if name not in memo:
                if heights is None:
                    heights = (coarse.xyxy[:, 3] - coarse.xyxy[:, 1]).astype(np.float64)
                med = float(np.median(heights[b.box_indices])) if len(b.box_indices) else 0.0
                memo[name] = max(1.0, limit / med) if med > 0 else math.inf
            out.append(memo[name])
        return out

    def plan_frame(self, part: Partition, coarse: Detections, frame_w: int, frame_h: int, budget_ms: float,
                   servers: Optional[Sequence[int]] = None, coarse_key: Optional[str] = None,
                   memo: Optional[Dict[Any, Any]] = None) -> Tuple[Partition, Plan]:
        """Plan a frame's blocks, then spend what the budget leaves: split the largest blocks, then grow them.

        While the planned makespan leaves more than ``spend_min_slack`` of the budget unused, the
        largest block that already runs at the largest input size of the candidate models (so it
        cannot be enlarged further), or that the plan left out as worth nothing, is split in two
        (1-D 2-means of its box centres along its axis of larger variance, as RL-DCA splits) and
        the frame re-planned; the split is kept when the plan's value grows. At most
        ``spend_splits`` splits.

        Then, while budget is left, every block's margin is grown through ``spend_margins``
        (pixels around its boxes): a larger block also covers the neighbourhood of its people,
        where the coarse pass may have missed smaller ones. A larger margin is kept only when the
        plan still fits and its value does not drop (no block loses resolution for it).

        ``memo``: the dict :meth:`partition` was given for these coarse boxes (a new one if None).
        The frame's result is kept in it: called again for the same blocks under a budget no larger,
        the kept result is returned when its plan still fits that budget (every server's load within
        it), instead of planning again (:attr:`last_plan_reused`). The check of a scale policy
        (:meth:`spent_value`) plans the clustering it keeps this way, and the partitioner then plans
        it under its budget less the partition's own time: the plan made for the slightly larger
        budget is kept where it fits, which saves a plan a frame (its value is about what planning
        again gives: README, partition and planning overhead).
        """
        memo = {} if memo is None else memo
        self.last_plan_reused = False
        name = ("plan_frame", part.labels.tobytes(), tuple((b.rect.as_tuple(), b.prior) for b in part.blocks),
                None if servers is None else tuple(str(s) for s in servers), coarse_key, int(frame_w), int(frame_h))
        kept = memo.get(name)
        if kept is not None and kept[0] >= budget_ms and kept[2].feasible and kept[2].makespan_ms <= budget_ms:
            self.last_plan_reused = True
            return Partition(kept[1].labels, list(kept[1].blocks)), _copy_plan(kept[2], budget_ms=float(budget_ms))
        part, plan = self._plan_frame(part, coarse, frame_w, frame_h, budget_ms, servers, coarse_key, memo)
        memo[name] = (float(budget_ms), Partition(part.labels, list(part.blocks)), _copy_plan(plan))
        return part, plan

    def _plan_frame(self, part: Partition, coarse: Detections, frame_w: int, frame_h: int, budget_ms: float,
                    servers: Optional[Sequence[int]], coarse_key: Optional[str], memo: Dict[Any, Any]
                    ) -> Tuple[Partition, Plan]:
        """:meth:`plan_frame` without its memo of whole frames: plan, split, grow, add coverage tiles."""
        c = self.config

        def replan(blocks: Sequence[Block]) -> Plan:
            return self.plan(blocks, coarse, budget_ms, servers, (frame_w, frame_h), coarse_key, memo=memo)

        plan = replan(part.blocks)
        if len(coarse) == 0 or c.partitioner == "uniform":
            return part, plan
        from repose_ros.core.dca.actions import split_cluster

        largest = max(self.profiles.model(k).imgsz for k in self.models)
        centers = coarse.centers.astype(np.float64)
        tried: set = set()
        splits = 0
        while splits < c.spend_splits and plan.makespan_ms < (1.0 - c.spend_min_slack) * budget_ms:
            idx = [bp.block_index for bp in plan.blocks if bp.imgsz >= largest] + list(plan.skipped)
            cands = [part.blocks[i] for i in idx if part.blocks[i].label >= 0 and part.blocks[i].n_boxes >= 2
                     and part.blocks[i].label not in tried]
            if not cands:
                break
            target = max(cands, key=lambda b: b.rect.area)
            labels = split_cluster(part.labels, target.label, centers)
            if labels.max() == part.labels.max():
                tried.add(target.label)
                continue
            split = self.blocks_of(coarse, labels, frame_w, frame_h, memo=memo)
            trial = replan(split.blocks)
            if trial.total_value > plan.total_value + 1e-9:
                part, plan = split, trial
                splits += 1
            else:
                tried.add(target.label)
        margin = c.block_margin
        for m in c.spend_margins:
            if m <= margin or plan.makespan_ms >= (1.0 - c.spend_min_slack) * budget_ms:
                continue
            grown = self.blocks_of(coarse, part.labels, frame_w, frame_h, margin=m, memo=memo)
            trial = replan(grown.blocks)
            if not trial.feasible or trial.total_value < plan.total_value * (1.0 - 1e-6):
                break
            part, plan, margin = grown, trial, m
        plan.stats["spend_splits"] = splits
        plan.stats["margin"] = margin
        if c.coverage and plan.makespan_ms < (1.0 - c.spend_min_slack) * budget_ms:
            tiles = self.coverage_blocks(part.blocks, coarse, frame_w, frame_h, plan)
            if tiles:
                n = len(part.blocks)
                trial = replan(part.blocks + tiles)
                used = [tiles[bp.block_index - n] for bp in trial.blocks if bp.block_index >= n]
                if used and trial.feasible and trial.total_value >= plan.total_value * (1.0 - 1e-6):
                    if len(used) < len(tiles):  # keep only the tiles that run
                        trial = replan(part.blocks + used)
                    if trial.feasible and trial.total_value >= plan.total_value * (1.0 - 1e-6):
                        part, plan = Partition(part.labels, part.blocks + used), trial
                        plan.stats.update(spend_splits=splits, margin=margin)
        plan.stats["coverage_blocks"] = sum(1 for bp in plan.blocks if part.blocks[bp.block_index].prior)
        return part, plan

    def coverage_blocks(self, blocks: Sequence[Block], coarse: Detections, frame_w: int, frame_h: int,
                        plan: Plan) -> List[Block]:
        """Candidate blocks over regions that no planned block covers (the coarse pass saw nobody there).

        Tiles of a grid twice as fine as the coarse grid, overlapping by 15%; a tile at least half
        uncovered becomes a block whose :attr:`Block.prior` is one small person (half the median
        coarse box area, or 30 x 75 px without boxes) worth ``coverage_value`` x the uncovered
        fraction: little enough that the planner gives such blocks only budget nothing else can use.
        """
        from repose_ros.core.coarse import grid_shape

        c = self.config
        rows, cols = grid_shape(c.num_servers, frame_w, frame_h)
        tiles = uniform_grid(frame_w, frame_h, 2 * rows, 2 * cols, 0.15)
        step = 8
        mask = np.zeros((frame_h // step + 1, frame_w // step + 1), bool)
        for bp in plan.blocks:
            r = blocks[bp.block_index].rect
            mask[r.y0 // step:(r.y1 + step - 1) // step, r.x0 // step:(r.x1 + step - 1) // step] = True
        area = 0.5 * float(np.median(coarse.areas)) if len(coarse) else 30.0 * 75.0
        out = []
        for t in tiles:
            sub = mask[t.y0 // step:(t.y1 + step - 1) // step, t.x0 // step:(t.x1 + step - 1) // step]
            free = 1.0 - float(sub.mean()) if sub.size else 0.0
            if free >= 0.5:
                out.append(Block(t, label=COVERAGE_LABEL, prior=(area, c.coverage_value * free)))
        return out

    def server_jobs(self, blocks: Sequence[Block], plan: Plan) -> Dict[int, List[BlockJob]]:
        """Return the plan's blocks per server, in the order the partitioner sends them."""
        jobs: Dict[int, List[BlockJob]] = {}
        for bp in plan.blocks:
            r = blocks[bp.block_index].rect
            jobs.setdefault(bp.server_id, []).append(BlockJob(bp.block_index, r.as_tuple(), bp.model_key, bp.imgsz))
        return jobs

    def detect_blocks(self, frame: np.ndarray, blocks: Sequence[Block], plan: Plan
                      ) -> Tuple[List[Detections], Dict[int, float]]:
        """Run every server's blocks as its edge node does (one call per block), each server timed.

        Returns the detections per block (empty for a skipped block) and the measured time per
        server in ms.
        """
        runs = self._run_servers(frame, blocks, plan)
        return collect(runs, len(blocks)), {sid: r.total_ms for sid, r in runs.items()}

    def _run_servers(self, frame: np.ndarray, blocks: Sequence[Block], plan: Plan) -> Dict[int, ServerRun]:
        runs = run_servers(self.zoo, frame, self.server_jobs(blocks, plan), self.config.conf, self.config.iou)
        failed = [b.error for r in runs.values() for b in r.blocks if not b.ok]
        if failed:
            raise RuntimeError(f"a block failed on its server: {failed[0]}")
        return runs

    def _adapt_latency(self, blocks: Sequence[Block], plan: Plan, runs: Dict[int, ServerRun]) -> None:
        """With ``adapt_latency``: learn each server's measured / predicted ratios and plan with them."""
        if self.latency_adapter is None:
            return
        model = {bp.block_index: (bp.model_key, bp.imgsz) for bp in plan.blocks}
        for sid, run in runs.items():
            for b in run.blocks:
                rect = blocks[b.index].rect
                key, imgsz = model[b.index]
                self.latency_adapter.observe(str(sid), key, rect.w, rect.h, b.ms, imgsz)
        self.latency_adapter.apply(self.profiles)

    def run(self, frame: np.ndarray, budget_ms: Optional[float] = None,
            coarse: Optional[CoarseStage] = None, budget_clock: str = "measured") -> FrameRun:
        """Run the whole method on one BGR frame and measure every stage.

        ``coarse`` may hand in a coarse stage already run on this frame (with its measured time),
        so that several settings share one coarse pass. Blocks the plan leaves out are answered
        by the coarse boxes they hold.

        ``budget_clock``: ``measured`` (as deployed) gives the detection stage the budget less the
        measured coarse stage and partition; ``profile`` less the coarse stage's predicted time
        (:meth:`predicted_coarse_ms`) only, so that the plans are a function of the frame and not
        of how busy the machine was (for comparing partitioners and planners; the latencies
        reported are measured either way, and the partition's own time is not charged).
        """
        measured = check_budget_clock(budget_clock) == "measured"
        h, w = frame.shape[:2]
        stage = coarse if coarse is not None else self.coarse_stage(frame, model_key=self.coarse_key(w, h, budget_ms))
        coarse_ms = self.charged_coarse_ms(stage, w, h, budget_clock)
        t1 = time.perf_counter()
        memo: Dict[Any, Any] = {}  # one frame's coarse boxes: what partition's plans computed, plan_frame reuses
        part = self.partition(stage.detections, w, h, self.detection_budget(coarse_ms, budget_ms),
                              coarse_key=stage.model_key or None, memo=memo)
        t2 = time.perf_counter()
        partition_ms = (t2 - t1) * 1000.0
        detect_budget = self.detection_budget(coarse_ms + (partition_ms if measured else 0.0), budget_ms)
        part, plan = self.plan_frame(part, stage.detections, w, h, detect_budget, coarse_key=stage.model_key or None,
                                     memo=memo)
        t3 = time.perf_counter()
        runs = self._run_servers(frame, part.blocks, plan)
        t4 = time.perf_counter()
        self._adapt_latency(part.blocks, plan, runs)
        fused = self.fuse_runs(runs, part, plan, stage.detections, w, h)
        t5 = time.perf_counter()
        t = {"coarse_ms": stage.ms, "partition_ms": partition_ms, "plan_ms": (t3 - t2) * 1000.0,
             "detect_ms": slowest_ms(runs), "detect_serial_ms": (t4 - t3) * 1000.0, "fuse_ms": (t5 - t4) * 1000.0,
             "detection_budget_ms": detect_budget}
        t["parallel_ms"] = t["coarse_ms"] + t["partition_ms"] + t["plan_ms"] + t["detect_ms"] + t["fuse_ms"]
        t["total_ms"] = stage.serial_ms + t["partition_ms"] + t["plan_ms"] + t["detect_serial_ms"] + t["fuse_ms"]
        self.last_partition = part
        self.last_coarse = stage.detections
        return FrameRun(fused, plan, t, stage, part, runs)

    def fuse_runs(self, runs: Dict[int, ServerRun], part: Partition, plan: Plan, coarse: Detections,
                  frame_w: int, frame_h: int) -> Detections:
        """Fuse the servers' block detections into the frame's (left-out blocks answer with their coarse boxes).

        Block detections too large at their block's model input are swapped for the coarse box of
        the same object first (``fusion_max_input_area``), or dropped when no coarse box confirms them
        (``fusion_drop_unconfirmed``); how many is ``plan.stats["swapped_to_coarse"]`` and
        ``plan.stats["dropped_unconfirmed"]``. Then the coarse boxes of people too large for every
        block that holds them and that no block detection answers are added (``fusion_answer_oversized``;
        ``plan.stats["answered_by_coarse"]``). See :func:`~repose_ros.core.fusion.answer_oversized`.
        """
        per_block = collect(runs, len(part.blocks))
        rects = [b.rect.as_tuple() for b in part.blocks]
        scales: List[Optional[float]] = [None] * len(part.blocks)
        for bp in plan.blocks:
            r = part.blocks[bp.block_index].rect
            scales[bp.block_index] = input_scale(bp.imgsz, r.w, r.h)
        for b in plan.skipped:  # answered by the coarse boxes they hold, seen on the whole frame
            per_block[b] = coarse[part.blocks[b].box_indices]
            rects[b] = (0, 0, frame_w, frame_h)
            scales[b] = None
        c = self.config
        per_block, coarse_in, swapped, dropped, answered = answer_oversized(
            per_block, rects, scales, coarse, c.fusion_max_input_area, drop_unmatched=c.fusion_drop_unconfirmed,
            answer=c.fusion_answer_oversized)
        plan.stats.update(swapped_to_coarse=swapped, dropped_unconfirmed=dropped, answered_by_coarse=answered)
        if len(coarse_in):
            per_block.append(coarse_in)
            rects.append((0, 0, frame_w, frame_h))  # coarse boxes: seen on the whole frame, never cut
        if not per_block:
            return Detections.empty()
        return fuse_blocks(per_block, rects, frame_w, frame_h, method=self.config.fusion, iou=self.config.fusion_iou)

    def process(self, frame: np.ndarray, budget_ms: Optional[float] = None
                ) -> Tuple[Detections, Plan, Dict[str, float]]:
        """Run the whole method on one BGR frame; return (detections, plan, timings in ms).

        ``timings["parallel_ms"]`` is the measured parallel latency (see the module docstring);
        ``timings["total_ms"]`` the serial compute time of every stage in this process.
        """
        res = self.run(frame, budget_ms)
        return res.detections, res.plan, res.timings


def _copy_plan(plan: Plan, **changes: Any) -> Plan:
    """Return a copy of ``plan`` whose lists and dicts are its own (a caller may add to ``stats``)."""
    return dataclasses.replace(plan, blocks=list(plan.blocks), server_load_ms=dict(plan.server_load_ms),
                               stats=dict(plan.stats), skipped=list(plan.skipped), **changes)
