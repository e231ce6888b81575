"""Annotated frames and AP by object area: what ``repose profile`` measures precision with.

Frames (:class:`FrameSample`) come from MOT sequences, VisDrone-DET or a generator; each is
shown to a model as one letterboxed input at a scale (:func:`make_model_input`), and
:class:`AreaBinEvaluator` accumulates COCO-style AP50:95 and recall per bin of object area at
the model input. Used by :mod:`repose_ros.cli.profile` and :mod:`repose_ros.profiling.upscale`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_iou

LETTERBOX_GREY = 114
IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


# --------------------------------------------------------------------------- data


@dataclass
class FrameSample:
    """One annotated frame: image (BGR) and boxes in frame pixels."""

    name: str
    image: np.ndarray
    gt: np.ndarray                    # (G, 4) xyxy pedestrians to evaluate
    ignore: np.ndarray                # (I, 4) xyxy ignore regions
    extra: Dict[str, Any] = field(default_factory=dict)


def load_mot_samples(root: Path, max_frames: int, min_visibility: float) -> List[FrameSample]:
    """Pick up to ``max_frames`` annotated frames, spread round-robin over the sequences.

    Sequences come from :func:`repose_ros.datasets.mot.find_mot_sequences`; consecutive frames are
    nearly identical, so every other annotated frame of a sequence is taken first.
    """
    import cv2

    from repose_ros.datasets.compose import take_round_robin
    from repose_ros.datasets.mot import find_mot_sequences

    queues = []
    for s in find_mot_sequences(root):
        annotated = set()
        if s.rows.size:
            ped = (s.rows[:, 6] == 1) & (s.rows[:, 7] == 1)
            annotated = set(np.unique(s.rows[ped, 0]).astype(int).tolist())
        order = sorted((i for i, f in enumerate(s.frame_ids) if f in annotated), key=lambda i: s.frame_ids[i])
        queues.append([(s, i) for i in order[::2] + order[1::2]])
    out: List[FrameSample] = []
    for s, i in take_round_robin(queues, max_frames):
        img = cv2.imread(str(s.images[i]), cv2.IMREAD_COLOR)
        if img is None:
            continue
        gt, ign = s.boxes(s.frame_ids[i], min_visibility)
        out.append(FrameSample(f"{s.name}/{s.frame_ids[i]:06d}", img, gt, ign))
    return out


def load_visdrone_samples(root: Path, max_frames: int) -> List[FrameSample]:
    """Read up to ``max_frames`` VisDrone-DET frames (persons; ignore regions) with the shared reader.

    :func:`repose_ros.datasets.visdrone.visdrone_frames` (the reader ``repose eval`` uses), frames at
    native resolution in its deterministic scene-round-robin order.
    """
    from repose_ros.datasets.visdrone import visdrone_frames
    out = []
    for f in visdrone_frames(root, max_frames):
        out.append(FrameSample(f"visdrone/{f.name}", f.load(), f.gt.astype(np.float32).reshape(-1, 4),
                               f.ignore.astype(np.float32).reshape(-1, 4)))
    return out


def synthetic_samples(n_frames: int, seed: int, frame_w: int = 1920,
                      frame_h: int = 1080) -> List[FrameSample]:
    """Generate frames (grey background, PANDA-like person layouts) for the fake back-end."""
    from repose_ros.datasets.layouts import panda_like_layout
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_frames):
        boxes = panda_like_layout(rng, frame_w, frame_h, n_boxes=int(rng.integers(20, 80)))
        img = np.full((frame_h, frame_w, 3), 90, np.uint8)
        out.append(FrameSample(f"synthetic/{i:03d}", img, boxes.astype(np.float32),
                               np.zeros((0, 4), np.float32)))
    return out


# --------------------------------------------------------------------------- model inputs


@dataclass
class ModelInput:
    """An ``imgsz x imgsz`` model input cut from a rescaled frame, with its boxes."""

    image: np.ndarray
    scale: float                       # model-input pixels per frame pixel
    gt: np.ndarray                     # (G, 4) input-pixel boxes to evaluate
    ignore: np.ndarray                 # (I, 4) input-pixel ignore regions (incl. cut boxes)


def _visible_fraction(xyxy: np.ndarray, region: Tuple[float, float, float, float]
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to ``region`` (x0, y0, x1, y1); return the clipped boxes and the kept area fraction."""
    x0, y0, x1, y1 = region
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], x0, x1)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], y0, y1)
    area = np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None), axis=1)
    inside = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1)
    return clipped, np.divide(inside, area, out=np.zeros_like(area), where=area > 0)


def make_model_input(sample: FrameSample, imgsz: int, scale: float, rng: np.random.Generator,
                     min_inside: float = 0.5) -> ModelInput:
    """Rescale ``sample`` by ``scale`` and cut an ``imgsz`` square around a random person.

    The window covers ``imgsz / scale`` frame pixels per side; where it exceeds the frame the
    input is padded with the letterbox grey. Boxes less than ``min_inside`` inside the window
    become ignore regions. Resizing uses bilinear interpolation, as ultralytics' letterbox does.
    """
    import cv2
    fh, fw = sample.image.shape[:2]
    side = imgsz / scale
    if len(sample.gt):
        cx, cy = sample.gt[int(rng.integers(len(sample.gt)))].reshape(2, 2).mean(axis=0)
    else:
        cx, cy = rng.uniform(0, fw), rng.uniform(0, fh)

    def start(c: float, length: int) -> float:
        if side >= length:                       # window larger than the frame: centre the frame
            return (length - side) / 2.0
        return float(math.floor(np.clip(c - side / 2.0, 0, length - side)))

    wx0, wy0 = start(cx, fw), start(cy, fh)
    fx0, fy0 = int(max(0, math.floor(wx0))), int(max(0, math.floor(wy0)))
    fx1, fy1 = int(min(fw, math.ceil(wx0 + side))), int(min(fh, math.ceil(wy0 + side)))
    canvas = np.full((imgsz, imgsz, 3), LETTERBOX_GREY, np.uint8)
    ox, oy = max(0, int(round((fx0 - wx0) * scale))), max(0, int(round((fy0 - wy0) * scale)))
    tw = max(1, min(imgsz - ox, int(round((fx1 - fx0) * scale))))
    th = max(1, min(imgsz - oy, int(round((fy1 - fy0) * scale))))
    region = sample.image[fy0:fy1, fx0:fx1]
    interp = cv2.INTER_LINEAR
    canvas[oy:oy + th, ox:ox + tw] = cv2.resize(region, (tw, th), interpolation=interp)
    sx, sy = tw / max(fx1 - fx0, 1), th / max(fy1 - fy0, 1)

    def to_input(b: np.ndarray) -> np.ndarray:
        b = b.astype(np.float64).reshape(-1, 4)
        return np.stack([(b[:, 0] - fx0) * sx + ox, (b[:, 1] - fy0) * sy + oy,
                         (b[:, 2] - fx0) * sx + ox, (b[:, 3] - fy0) * sy + oy], axis=1)

    visible = (float(ox), float(oy), float(ox + tw), float(oy + th))   # the frame's part of the input
    gt_in, frac = _visible_fraction(to_input(sample.gt), visible)
    ign_in, ifrac = _visible_fraction(to_input(sample.ignore), visible)
    keep = frac >= min_inside
    cut = (frac > 0) & ~keep
    ignore = np.concatenate([gt_in[cut], ign_in[ifrac > 0]]).astype(np.float32)
    return ModelInput(canvas, float(math.sqrt(sx * sy)), gt_in[keep].astype(np.float32),
                      ignore.reshape(-1, 4))


# --------------------------------------------------------------------------- evaluation


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
