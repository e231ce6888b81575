"""Paired comparison of two methods run on the same frames: mAP50:95 difference with a bootstrap interval.

A few frames of a few hundred people give a data-set mAP whose frame-to-frame spread is larger than
the differences between partitioners (on 4 PANDA-like collages, the per-frame mAP50:95 of two
RE-POSE variants differed by -0.02 to +0.04 at one budget). A difference is only worth a decision when
it holds over the frames, so ``repose eval`` resamples the frames with replacement and recomputes both
methods' data-set mAP50:95 on each resample (the same frames for both: a paired bootstrap). The
interval is the percentile interval of the difference; ``share_better`` is the share of resamples in
which the method is ahead.

The per-frame matches come from pycocotools' own image evaluation (:meth:`DetectionEvaluator.frame_matches`),
so a resample's mAP is what COCO would report on those frames: :func:`map50_95` repeats COCO's
accumulation (101 recall points, precision made monotone, detections of all frames ranked by score).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
#: Coverage of the bootstrap intervals `repose eval` reports.
INTERVAL_LEVEL = 0.95


@dataclass
class FrameMatches:
    """One frame's detections as COCO matched them (area range "all", the evaluator's max_dets).

    ``scores`` (D,) in COCO's order (highest first); ``matched`` and ``ignored`` (T, D) per IoU
    threshold: matched to a ground-truth box, or not counted (matched to an ignore region, or
    unmatched outside the area range); ``n_gt`` the ground-truth boxes that count.
    """

    scores: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    n_gt: int


def _ap_per_threshold(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, n_gt: int) -> np.ndarray:
    """Return the AP at each IoU threshold (T,) of pooled detections, as COCOeval.accumulate computes it."""
    order = np.argsort(-scores, kind="mergesort")
    tps = (matched & ~ignored)[:, order]
    fps = (~matched & ~ignored)[:, order]
    tp = np.cumsum(tps, axis=1, dtype=np.float64)
    fp = np.cumsum(fps, axis=1, dtype=np.float64)
    n_det = tp.shape[1]
    out = np.zeros(tp.shape[0], dtype=np.float64)
    if n_det == 0:
        return out
    recall = tp / n_gt
    precision = tp / (tp + fp + np.spacing(1))
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # best precision at >= this recall
    for t in range(tp.shape[0]):
        idx = np.searchsorted(recall[t], RECALL_POINTS, side="left")
        ok = idx < n_det
        q = np.zeros(len(RECALL_POINTS))
        q[ok] = envelope[t, idx[ok]]
        out[t] = q.mean()
    return out


def map50_95(frames: Sequence[FrameMatches]) -> Optional[float]:
    """Return the mAP50:95 of these frames pooled (None without ground truth), as COCO would."""
    n_gt = int(sum(f.n_gt for f in frames))
    if n_gt == 0:
        return None
    scores = np.concatenate([f.scores for f in frames])
    matched = np.concatenate([f.matched for f in frames], axis=1)
    ignored = np.concatenate([f.ignored for f in frames], axis=1)
    return float(_ap_per_threshold(scores, matched, ignored, n_gt).mean())


def paired_bootstrap(method: Sequence[FrameMatches], reference: Sequence[FrameMatches], resamples: int = 1000,
                     seed: int = 0, level: float = INTERVAL_LEVEL) -> Dict[str, Any]:
    """Compare ``method`` with ``reference`` frame by frame (same frames, same order).

    Returns ``diff`` (mAP50:95 of method minus reference on all frames), ``low`` / ``high`` (the
    ``level`` percentile interval of that difference over ``resamples`` bootstrap resamples of the
    frames), ``share_better`` (share of resamples with a positive difference), ``frames``,
    ``resamples`` and ``level``. Resamples without ground truth are skipped.
    """
    if len(method) != len(reference):
        raise ValueError(f"paired comparison needs the same frames: {len(method)} vs {len(reference)}")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    a, b = map50_95(method), map50_95(reference)
    out: Dict[str, Any] = {"diff": None if a is None or b is None else a - b, "low": None, "high": None,
                           "share_better": None, "frames": len(method), "resamples": 0, "level": level}
    if out["diff"] is None or resamples <= 0 or not method:
        return out
    rng = np.random.default_rng(seed)
    diffs: List[float] = []
    for _ in range(int(resamples)):
        pick = rng.integers(0, len(method), len(method))
        ra, rb = map50_95([method[i] for i in pick]), map50_95([reference[i] for i in pick])
        if ra is not None and rb is not None:
            diffs.append(ra - rb)
    if diffs:
        d = np.asarray(diffs)
        tail = (1.0 - level) / 2.0 * 100.0
        out.update(low=float(np.percentile(d, tail)), high=float(np.percentile(d, 100.0 - tail)),
                   share_better=float(np.mean(d > 0.0)), resamples=len(diffs))
    return out


def compare_to_reference(matches: Mapping[str, Sequence[FrameMatches]], entries: Mapping[str, Mapping[str, Any]],
                         reference: str, resamples: int = 1000, seed: int = 0,
                         level: float = INTERVAL_LEVEL) -> Dict[str, Dict[str, Any]]:
    """Pair every method key with the ``reference`` family's key at the same budget.

    ``matches`` and ``entries`` are keyed by method key (``family@budget`` and the like); an entry
    has ``family`` and ``budget_ms``. Methods without a budget (full_frame, uniform, sahi) are paired
    with no one. Returns ``{key: paired_bootstrap(...) + {"vs": reference key}}``.
    """
    ref_by_budget = {e.get("budget_ms"): k for k, e in entries.items()
                     if e.get("family") == reference and e.get("budget_ms") is not None and k in matches}
    out: Dict[str, Dict[str, Any]] = {}
    for key, e in entries.items():
        ref = ref_by_budget.get(e.get("budget_ms"))
        if ref is None or key == ref or key not in matches or e.get("budget_ms") is None:
            continue
        res = paired_bootstrap(matches[key], matches[ref], resamples, seed, level)
        res["vs"] = ref
        out[key] = res
    return out


def format_paired(paired: Mapping[str, Mapping[str, Any]]) -> str:
    """Return a Markdown table of :func:`compare_to_reference`'s result (empty string when empty)."""
    if not paired:
        return ""
    first = next(iter(paired.values()))
    pct = f"{first.get('level', INTERVAL_LEVEL) * 100:g}%"
    lines = [f"| method | vs | diff mAP50:95 | {pct} interval | resamples ahead |", "|---|---|---|---|---|"]
    for key, p in paired.items():
        diff = "-" if p.get("diff") is None else f"{p['diff']:+.3f}"
        if p.get("low") is None:
            interval, ahead = "-", "-"
        else:
            interval = f"[{p['low']:+.3f}, {p['high']:+.3f}]"
            ahead = f"{p['share_better'] * 100:.0f}% of {p['resamples']}"
        lines.append(f"| {key} | {p.get('vs', '-')} | {diff} | {interval} | {ahead} |")
    return "\n".join(lines)
