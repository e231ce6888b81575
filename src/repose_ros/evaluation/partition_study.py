"""How partitions of the same coarse boxes compare end to end, and whether the planner's value can tell.

For every frame and budget the coarse stage runs once; each *candidate* clustering of its boxes
(MeanShift, the greedy search, the RL-DCA policy, MeanShift at other bandwidths, one cluster,
k-means) is turned into blocks, planned as deployed (:meth:`RePose.plan_frame`, budget-spending
included) under one detection budget shared by all candidates (the budget less the coarse
stage's time and the reserve: the candidates' own search time is left out, so that only the
partition differs), run on the detector and fused. The coarse time charged is the measured one
(``budget_clock="measured"``, as deployed) or the profile's prediction (``"profile"``, as
``repose eval --budget-clock profile``), with which the rows, and a scale policy trained on them, do
not depend on how busy the machine was. Recorded per (frame, budget, candidate): the
plan's value (what the planner expects to find), the frame's AP50:95, the number of blocks, and
the frame's scale features (:func:`repose_ros.core.dca.scale.scale_features` of its coarse boxes
and detection budget), so that the rows of candidates ``bandwidth:F`` can train RL-DCA's scale
choice (``repose train-dca --scale-study``).

:func:`summarise` then reports per budget

* each candidate's dataset mAP50:95 (COCO over all frames) and mean block count;
* **value-order agreement**: over every pair of candidates on the same frame whose APs and values
  differ, the share in which the higher plan value goes with the higher AP (0.5: the value says
  nothing about which partition is better; 1: it ranks them as the detector does). A learned
  partitioner trained on that value, and the greedy search, can only be as good as this;
* the mAP of two per-frame selection rules: the candidate of largest plan value (what a perfect
  search on the value over these candidates would pick) and of largest frame AP (an optimistic
  ceiling: choosing the best of several noisy per-frame scores overstates what any rule attains).

Plain Python on top of :mod:`repose_ros.evaluation.methods`' runner; no rclpy.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from repose_ros.core.dca.scale import scale_features
from repose_ros.core.detections import Detections
from repose_ros.core.pipeline import check_budget_clock
from repose_ros.evaluation.metrics import DetectionEvaluator

#: Default candidates: ``name`` or ``name:argument`` (see :func:`parse_candidate`).
DEFAULT_CANDIDATES = ("meanshift", "greedy", "rl_dca", "bandwidth:0.6", "bandwidth:1.6", "one")


@dataclass(frozen=True)
class Candidate:
    """One way to cluster a frame's coarse boxes: ``kind`` with its ``arg`` (bandwidth factor, k)."""

    kind: str
    arg: float = 0.0

    @property
    def name(self) -> str:
        """Label in tables and JSON (``meanshift``, ``bandwidth:0.6``, ``kmeans:12``)."""
        return self.kind if self.kind in ("meanshift", "greedy", "rl_dca", "one") else f"{self.kind}:{self.arg:g}"


def parse_candidate(text: str) -> Candidate:
    """Parse a candidate: ``meanshift``, ``greedy``, ``rl_dca``, ``one``, ``bandwidth:F``, ``kmeans:K``.

    ``bandwidth:F``: mean shift at F times the configured bandwidth; ``kmeans:K``: k-means, K clusters.

    Raises:
        ValueError: on an unknown kind or a bad argument.
    """
    kind, _, arg = text.strip().partition(":")
    if kind in ("meanshift", "greedy", "rl_dca", "one"):
        if arg:
            raise ValueError(f"candidate {kind!r} takes no argument")
        return Candidate(kind)
    if kind == "bandwidth":
        f = float(arg)
        if not 0.05 <= f <= 20.0:
            raise ValueError("bandwidth factor must be in [0.05, 20]")
        return Candidate(kind, f)
    if kind == "kmeans":
        k = int(arg)
        if k < 1:
            raise ValueError("kmeans needs k >= 1")
        return Candidate(kind, float(k))
    raise ValueError(f"unknown candidate {text!r} (meanshift, greedy, rl_dca, one, bandwidth:F, kmeans:K)")


def _kmeans(xyxy: np.ndarray, w: int, h: int, k: int) -> np.ndarray:
    """k-means (k-means++, 4 starts, seed 0) of the normalised box centres; k capped at the distinct centres."""
    from sklearn.cluster import KMeans

    c = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / (2.0 * w), (xyxy[:, 1] + xyxy[:, 3]) / (2.0 * h)], axis=1)
    k = max(1, min(int(k), len(np.unique(c, axis=0))))
    if k == 1:
        return np.zeros(len(c), np.int64)
    return KMeans(k, n_init=4, random_state=0).fit_predict(c).astype(np.int64)


def candidate_partition(cand: Candidate, runner: Any, coarse: Detections, w: int, h: int, budget_ms: float,
                        coarse_key: Optional[str]) -> Any:
    """Return the blocks of ``coarse`` clustered by ``cand``.

    The named partitioners cluster through their own :meth:`RePose.partition`; the others are
    turned into blocks by the MeanShift RePose.
    """
    if cand.kind in ("meanshift", "greedy", "rl_dca"):
        return runner.repose(cand.kind).partition(coarse, w, h, budget_ms, coarse_key=coarse_key)
    repose = runner.repose("meanshift")
    if cand.kind == "one":
        labels = np.zeros(len(coarse), np.int64)
    elif cand.kind == "kmeans":
        labels = _kmeans(coarse.xyxy, w, h, int(cand.arg))
    else:  # bandwidth
        labels = repose.initial_labels(coarse, w, h, bandwidth_scale=cand.arg)
    return repose.blocks_of(coarse, labels, w, h)


@dataclass
class StudyRow:
    """One candidate on one frame at one budget."""

    frame: int
    budget_ms: float
    candidate: str
    clusters: int
    blocks: int
    value: float
    feasible: bool
    ap: Optional[float]
    detections: Detections = field(repr=False, default_factory=Detections.empty)
    features: Optional[List[float]] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready figures (no detections)."""
        out = {"frame": self.frame, "budget_ms": self.budget_ms, "candidate": self.candidate,
               "clusters": self.clusters, "blocks": self.blocks, "value": self.value, "feasible": self.feasible,
               "ap50_95": self.ap}
        if self.features is not None:
            out["features"] = [float(v) for v in self.features]
        return out


def run_candidate(repose: Any, image: np.ndarray, coarse: Detections, part: Any, budget_ms: float,
                  coarse_key: Optional[str]) -> tuple:
    """Plan a partition's blocks as deployed and run them; return ``(fused detections, plan, final partition)``."""
    h, w = image.shape[:2]
    part, plan = repose.plan_frame(part, coarse, w, h, budget_ms, coarse_key=coarse_key)
    runs = repose._run_servers(image, part.blocks, plan)
    return repose.fuse_runs(runs, part, plan, coarse, w, h), plan, part


def run_study(dataset: Any, runner: Any, budgets: Sequence[float], candidates: Sequence[Candidate],
              progress: Optional[Callable[[int], None]] = None, budget_clock: str = "measured") -> List[StudyRow]:
    """Run every candidate on every frame at every budget (see the module docstring); return the rows.

    ``runner``: a :class:`repose_ros.evaluation.methods.MethodRunner`; its RePose instance of each
    named partitioner clusters, the MeanShift one plans and runs every candidate (blocks run
    without :meth:`RePose.run`, so the profile is never adapted between candidates). Frames
    without coarse boxes are skipped (every candidate is empty). ``budget_clock``: which coarse time
    the detection budget is charged (module docstring; ``measured`` or ``profile``).
    """
    check_budget_clock(budget_clock)
    repose = runner.repose("meanshift")
    rows: List[StudyRow] = []
    for fi, frame in enumerate(dataset.frames):
        image = frame.load()
        h, w = image.shape[:2]
        runner.begin_frame(frame)
        for budget in budgets:
            key = repose.coarse_key(w, h, budget)
            stage = runner._coarse(image, key)
            coarse = stage.detections
            if len(coarse) == 0:
                continue
            ck = stage.model_key or None
            detect_budget = repose.detection_budget(repose.charged_coarse_ms(stage, w, h, budget_clock), budget)
            feats = scale_features(coarse.xyxy, w, h, detect_budget, repose.config.num_servers).tolist()
            for cand in candidates:
                part = candidate_partition(cand, runner, coarse, w, h, detect_budget, ck)
                labels = part.labels
                fused, plan, part = run_candidate(repose, image, coarse, part, detect_budget, ck)
                ev = DetectionEvaluator()
                ev.add_detections(frame.gt, fused, frame.ignore, frame.width or w, frame.height or h)
                rows.append(StudyRow(fi, float(budget), cand.name, int(labels.max()) + 1 if len(labels) else 0,
                                     len(part.blocks), float(plan.total_value), bool(plan.feasible),
                                     ev.summary().get("map50_95"), fused, feats))
        if progress is not None:
            progress(fi)
    return rows


def order_agreement(rows: Sequence[StudyRow]) -> tuple:
    """Return ``(agreeing, pairs)`` over same-frame, same-budget candidate pairs whose AP and value differ."""
    groups: Dict[tuple, List[StudyRow]] = {}
    for r in rows:
        groups.setdefault((r.frame, r.budget_ms), []).append(r)
    agree = pairs = 0
    for group in groups.values():
        for a, b in itertools.combinations(group, 2):
            if a.ap is None or b.ap is None or abs(a.ap - b.ap) < 1e-4 or abs(a.value - b.value) < 1e-6:
                continue
            if not (np.isfinite(a.value) and np.isfinite(b.value)):
                continue
            pairs += 1
            agree += int((a.value > b.value) == (a.ap > b.ap))
    return agree, pairs


def selection_map(rows: Sequence[StudyRow], frames: Sequence[Any], choose: Callable[[List[StudyRow]], StudyRow]
                  ) -> Optional[float]:
    """Dataset mAP50:95 when each frame is answered by ``choose(its rows)`` (frames without rows: no detections)."""
    groups: Dict[int, List[StudyRow]] = {}
    for r in rows:
        groups.setdefault(r.frame, []).append(r)
    ev = DetectionEvaluator()
    for fi, frame in enumerate(frames):
        dets = choose(groups[fi]).detections if fi in groups else Detections.empty()
        ev.add_detections(frame.gt, dets, frame.ignore, frame.width, frame.height)
    return ev.summary().get("map50_95")


def summarise(rows: Sequence[StudyRow], frames: Sequence[Any]) -> Dict[str, Any]:
    """Per budget: candidates' mAP and blocks, value-order agreement, selection-rule mAPs (module docstring)."""
    out: Dict[str, Any] = {}
    for budget in sorted({r.budget_ms for r in rows}):
        at = [r for r in rows if r.budget_ms == budget]
        names = list(dict.fromkeys(r.candidate for r in at))
        per = {}
        for name in names:
            mine = [r for r in at if r.candidate == name]
            per[name] = {"map50_95": selection_map(mine, frames, lambda g: g[0]),
                         "mean_blocks": float(np.mean([r.blocks for r in mine])),
                         "mean_clusters": float(np.mean([r.clusters for r in mine]))}
        agree, pairs = order_agreement(at)
        out[f"{budget:g}"] = {
            "candidates": per,
            "value_order_agreement": agree / pairs if pairs else None, "pairs": pairs,
            "max_value_map50_95": selection_map(at, frames, lambda g: max(g, key=lambda r: r.value)),
            "max_frame_ap_map50_95": selection_map(at, frames, lambda g: max(g, key=lambda r: r.ap or 0.0)),
        }
    return out


def format_summary(summary: Dict[str, Any]) -> str:
    """Markdown table per budget (candidates as rows) and the agreement / selection lines."""
    lines = []
    for budget, s in summary.items():
        lines += [f"budget {budget} ms:", "| candidate | mAP50:95 | blocks | clusters |", "|---|---|---|---|"]
        for name, c in s["candidates"].items():
            m = c["map50_95"]
            lines.append(f"| {name} | {'-' if m is None else f'{m:.4f}'} | {c['mean_blocks']:.1f} | "
                         f"{c['mean_clusters']:.1f} |")
        agree = s["value_order_agreement"]
        lines.append(f"plan value orders the frame APs of {'-' if agree is None else f'{agree:.2f}'} of "
                     f"{s['pairs']} candidate pairs; largest value per frame: mAP50:95 "
                     f"{s['max_value_map50_95']:.4f}; largest frame AP (optimistic ceiling): "
                     f"{s['max_frame_ap_map50_95']:.4f}")
        lines.append("")
    return "\n".join(lines)
