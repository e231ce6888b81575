"""AP by object-area bin: COCO-style matching and 101-point AP, with detections that may be ignored.

:mod:`repose_ros.evaluation.metrics` scores whole frames with pycocotools (the standard mAP
figures of ``repose eval``). This engine serves what pycocotools cannot express: arbitrary area
bins in *model-input* pixels, ground truth outside a bin or cut by a border as ignore regions,
and detections flagged to count only when they match (``det_ignore``: outside a bin, or outside
the evaluated core of an upscaling crop). ``repose profile`` measures its precision and recall
curves with it (:class:`AreaBinEvaluator`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from repose_ros.core.boxes import box_iou

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))
"""IoU thresholds 0.5, 0.55, ..., 0.95 of AP50:95."""


def match_detections(scores: np.ndarray, ious: np.ndarray, gt_ignore: np.ndarray, det_out: np.ndarray,
                     thr: float) -> np.ndarray:
    """COCO-style greedy matching; return per detection 1 (TP), 0 (FP) or -1 (ignored).

    Detections are taken by decreasing score; each matches the free evaluated ground truth of
    highest IoU ``>= thr``, else (ignored) any ignore box with IoU ``>= thr`` (ignore boxes may
    absorb several detections); an unmatched detection is a FP unless ``det_out`` (its area lies
    outside the bin), in which case it is ignored.
    """
    n_det = len(scores)
    status = np.where(det_out, -1, 0).astype(np.int8)
    if n_det == 0 or ious.shape[1] == 0:
        return status
    matched = np.zeros(ious.shape[1], dtype=bool)
    hits = ious >= thr
    for d in np.argsort(-scores, kind="stable"):
        if not hits[d].any():
            continue
        real = hits[d] & ~gt_ignore & ~matched
        if real.any():
            g = int(np.argmax(np.where(real, ious[d], -1.0)))
            matched[g] = True
            status[d] = 1
        elif (hits[d] & gt_ignore).any():
            status[d] = -1
    return status


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """COCO 101-point interpolated AP of scored detections (``tp`` flags) against ``n_gt`` objects."""
    if n_gt <= 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp, cfp = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")
    return float(np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0).mean())


class AreaBinEvaluator:
    """Accumulate matches per area bin and IoU threshold; report AP50, AP50:95, recall, precision."""

    def __init__(self, bounds: Sequence[float], report_conf: float = 0.25):
        self.bounds = [float(b) for b in bounds]
        self.lows = [0.0] + self.bounds[:-1]
        self.report_conf = float(report_conf)
        nb, nt = len(self.bounds), len(IOU_THRESHOLDS)
        self.n_gt = np.zeros(nb, dtype=np.int64)
        self.scores: List[List[List[np.ndarray]]] = [[[] for _ in range(nt)] for _ in range(nb)]
        self.tps: List[List[List[np.ndarray]]] = [[[] for _ in range(nt)] for _ in range(nb)]

    def add(self, det_xyxy: np.ndarray, det_scores: np.ndarray, gt: np.ndarray, ignore: np.ndarray,
            det_ignore: Optional[np.ndarray] = None) -> None:
        """Add one model input's detections and boxes (all in the same pixels, model input by default).

        ``det_ignore`` flags detections that count only when they match evaluated ground truth
        (an unmatched one is neither a hit nor a false positive), like detections outside the bin.
        """
        det_xyxy = np.asarray(det_xyxy, np.float64).reshape(-1, 4)
        det_scores = np.asarray(det_scores, np.float64).reshape(-1)
        extra_out = (np.zeros(len(det_scores), bool) if det_ignore is None
                     else np.asarray(det_ignore, bool).reshape(-1))
        if len(extra_out) != len(det_scores):
            raise ValueError(f"det_ignore has {len(extra_out)} flags for {len(det_scores)} detections")
        boxes = np.concatenate([np.asarray(gt, np.float64).reshape(-1, 4),
                                np.asarray(ignore, np.float64).reshape(-1, 4)])
        base_ignore = np.arange(len(boxes)) >= len(gt)
        ious = box_iou(det_xyxy, boxes)
        gt_area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        det_area = np.prod(np.clip(det_xyxy[:, 2:] - det_xyxy[:, :2], 0, None), axis=1)
        for b, (lo, hi) in enumerate(zip(self.lows, self.bounds)):
            gt_ign = base_ignore | (gt_area <= lo) | (gt_area > hi)
            self.n_gt[b] += int((~gt_ign).sum())
            det_out = (det_area <= lo) | (det_area > hi) | extra_out
            for t, thr in enumerate(IOU_THRESHOLDS):
                status = match_detections(det_scores, ious, gt_ign, det_out, float(thr))
                kept = status >= 0
                self.scores[b][t].append(det_scores[kept])
                self.tps[b][t].append(status[kept] == 1)

    @classmethod
    def pooled(cls, evaluators: Sequence["AreaBinEvaluator"]) -> "AreaBinEvaluator":
        """Return one evaluator holding the matches of all ``evaluators`` (same bins)."""
        out = cls(evaluators[0].bounds, evaluators[0].report_conf)
        for ev in evaluators:
            if ev.bounds != out.bounds:
                raise ValueError("cannot pool evaluators with different area bins")
            out.n_gt += ev.n_gt
            for b in range(len(out.bounds)):
                for t in range(len(IOU_THRESHOLDS)):
                    out.scores[b][t].extend(ev.scores[b][t])
                    out.tps[b][t].extend(ev.tps[b][t])
        return out

    def recall_at(self, conf: float) -> List[Optional[float]]:
        """Per bin: fraction of the evaluated ground truth matched at IoU 0.5 by a detection of score >= ``conf``.

        Matching is greedy by decreasing score, so the matches of the detections above ``conf`` are
        those a run at threshold ``conf`` would make. None where the bin has no ground truth.
        """
        out: List[Optional[float]] = []
        for b in range(len(self.bounds)):
            n = int(self.n_gt[b])
            if n == 0:
                out.append(None)
                continue
            s = np.concatenate(self.scores[b][0]) if self.scores[b][0] else np.zeros(0)
            tp = np.concatenate(self.tps[b][0]) if self.tps[b][0] else np.zeros(0, bool)
            out.append(round(int((tp & (s >= conf)).sum()) / n, 4))
        return out

    def summary(self) -> List[Dict[str, Any]]:
        """Per bin: ``area_max``, ``n_gt``, ``ap50``, ``ap50_95``, ``recall50`` and ``precision50``.

        Recall and precision are at IoU 0.5 for detections with score >= ``report_conf``; values
        are None where the bin has no ground truth.
        """
        out = []
        for b, bound in enumerate(self.bounds):
            n = int(self.n_gt[b])
            aps = []
            for t in range(len(IOU_THRESHOLDS)):
                s = np.concatenate(self.scores[b][t]) if self.scores[b][t] else np.zeros(0)
                tp = np.concatenate(self.tps[b][t]) if self.tps[b][t] else np.zeros(0, bool)
                aps.append(average_precision(s, tp, n))
            s50 = np.concatenate(self.scores[b][0]) if self.scores[b][0] else np.zeros(0)
            tp50 = np.concatenate(self.tps[b][0]) if self.tps[b][0] else np.zeros(0, bool)
            conf = s50 >= self.report_conf
            n_tp = int(tp50[conf].sum())
            n_det = int(conf.sum())
            out.append({
                "area_max": bound,
                "n_gt": n,
                "ap50": None if n == 0 else round(aps[0], 4),
                "ap50_95": None if n == 0 else round(float(np.mean(aps)), 4),
                "recall50": None if n == 0 else round(n_tp / n, 4),
                "precision50": None if n_det == 0 else round(n_tp / n_det, 4),
            })
        return out
