"""``repose profile``: measure the latency-precision profile of detector models on this machine.

For every model key (``"<name>@<imgsz>"``) the command measures

* **latency**: the median wall time of R calls of ``detect_crops`` with one square block
  (letterboxed to exactly ``imgsz x imgsz``), batch size 1, after a warm-up; this is the time an
  edge server spends on one block (pre-processing, forward pass, NMS);
* **precision versus object area** on annotated data (MOT format): frames are rescaled by a
  set of factors ``r`` and cut into ``imgsz x imgsz`` model inputs around people (a frame smaller
  than the input is padded with the letterbox grey), so that the same people appear at many
  sizes in model-input pixels. Detections are matched to the ground truth at IoU 0.5 (and 0.5:0.95)
  COCO-style per log-spaced area bin (bin ``i`` covers ``(bound[i-1], bound[i]]`` model-input
  pixels^2; ground truth outside the bin, cut by the input border, heavily occluded or of the
  MOT ignore classes, and detections matched to them, are ignored). The profile stores one
  number per bin (``--metric``, AP50 by default), made non-decreasing in area; the raw
  numbers per bin are kept in ``meta``.

The output is a YAML file in the format of :mod:`repose_ros.core.profiles`. The annotated data
are read where they lie (never copied). Without data the command still measures latency and
takes precision from ``--precision-from`` or from a generic prior that ``meta`` flags as not
measured. ``--backend fake`` (with ``--data synthetic``) exercises everything without torch.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_MODELS = "yolov8s@320,yolov8s@480,yolov8s@640,yolov8s@960,yolov8s@1280"
DEFAULT_BINS = (16, 64, 256, 1024, 4096, 16384, 65536, math.inf)
DEFAULT_SCALES = (0.08, 0.14, 0.25, 0.45, 0.8, 1.4)
QUICK_SCALES = (0.2, 0.8)
MOT_IGNORE_CLASSES = (2, 7, 8, 12)
LETTERBOX_GREY = 114
PRIOR_PRECISION = ((16, 0.02), (64, 0.15), (256, 0.45), (1024, 0.7), (4096, 0.82), (16384, 0.88),
                   (math.inf, 0.9))
IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


# --------------------------------------------------------------------------- data


@dataclass
class SequenceData:
    """One MOT sequence: image paths per frame and its ground-truth table."""

    name: str
    images: Dict[int, Path]
    rows: np.ndarray  # (N, 9+) gt.txt rows


@dataclass
class FrameSample:
    """One annotated frame: image (BGR) and boxes in frame pixels."""

    name: str
    image: np.ndarray
    gt: np.ndarray                    # (G, 4) xyxy pedestrians to evaluate
    ignore: np.ndarray                # (I, 4) xyxy ignore regions
    extra: Dict[str, Any] = field(default_factory=dict)


def find_mot_sequences(root: Path) -> List[Path]:
    """Return sequence folders (holding ``gt/gt.txt`` and ``img1``) under ``root`` (or ``root/train``)."""
    found = []
    for base in (root, root / "train", root / "test"):
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if (d / "gt" / "gt.txt").is_file() and (d / "img1").is_dir():
                found.append(d)
    return found


def load_mot_sequence(seq_dir: Path) -> SequenceData:
    """Read a MOT sequence's ground truth table and list its images (``img1/NNNNNN.jpg``)."""
    rows = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2, dtype=np.float64)
    if rows.size and rows.shape[1] < 8:
        raise ValueError(f"{seq_dir}/gt/gt.txt: expected at least 8 columns, got {rows.shape[1]}")
    images = {}
    for p in sorted((seq_dir / "img1").iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem.isdigit():
            images[int(p.stem)] = p
    return SequenceData(seq_dir.name, images, rows)


def mot_frame_boxes(rows: np.ndarray, frame: int, min_visibility: float) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(gt, ignore)`` xyxy boxes of ``frame``.

    Ground truth: ``conf == 1`` and ``class == 1`` with visibility (column 9, when present) at
    least ``min_visibility``; ignore regions: classes 2, 7, 8, 12 and the pedestrians below the
    visibility threshold.
    """
    r = rows[rows[:, 0] == frame] if rows.size else rows.reshape(0, 9)
    xyxy = np.zeros((0, 4))
    if len(r):
        xyxy = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
    ped = (r[:, 6] == 1) & (r[:, 7] == 1) if len(r) else np.zeros(0, bool)
    vis = r[:, 8] if (len(r) and r.shape[1] > 8) else np.ones(len(r))
    gt = ped & (vis >= min_visibility)
    ign = np.isin(r[:, 7], MOT_IGNORE_CLASSES) | (ped & ~gt) if len(r) else np.zeros(0, bool)
    return xyxy[gt].astype(np.float32), xyxy[ign].astype(np.float32)


def load_mot_samples(root: Path, max_frames: int, min_visibility: float) -> List[FrameSample]:
    """Pick up to ``max_frames`` annotated frames, spread round-robin over the sequences."""
    import cv2
    seqs = [load_mot_sequence(d) for d in find_mot_sequences(root)]
    queues = []
    for s in seqs:
        annotated = set()
        if s.rows.size:
            ped = (s.rows[:, 6] == 1) & (s.rows[:, 7] == 1)
            annotated = set(np.unique(s.rows[ped, 0]).astype(int).tolist())
        frames = [f for f in sorted(s.images) if f in annotated]
        # consecutive frames are nearly identical: take every other one first
        queues.append((s, frames[::2] + frames[1::2]))
    out: List[FrameSample] = []
    depth = 0
    while len(out) < max_frames and any(depth < len(q) for _, q in queues):
        for s, q in queues:
            if depth < len(q) and len(out) < max_frames:
                f = q[depth]
                img = cv2.imread(str(s.images[f]), cv2.IMREAD_COLOR)
                if img is None:
                    continue
                gt, ign = mot_frame_boxes(s.rows, f, min_visibility)
                out.append(FrameSample(f"{s.name}/{f:06d}", img, gt, ign))
        depth += 1
    return out


def synthetic_samples(n_frames: int, seed: int, frame_w: int = 1920,
                      frame_h: int = 1080) -> List[FrameSample]:
    """Generate frames (grey background, PANDA-like person layouts) for the fake back-end."""
    from repose_ros.core.layouts import panda_like_layout
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


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    aa = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    ab = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = aa[:, None] + ab[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


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

    def add(self, det_xyxy: np.ndarray, det_scores: np.ndarray, gt: np.ndarray, ignore: np.ndarray) -> None:
        """Add one model input's detections and boxes (all in model-input pixels)."""
        det_xyxy = np.asarray(det_xyxy, np.float64).reshape(-1, 4)
        det_scores = np.asarray(det_scores, np.float64).reshape(-1)
        boxes = np.concatenate([np.asarray(gt, np.float64).reshape(-1, 4),
                                np.asarray(ignore, np.float64).reshape(-1, 4)])
        base_ignore = np.arange(len(boxes)) >= len(gt)
        ious = _iou_matrix(det_xyxy, boxes)
        gt_area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        det_area = np.prod(np.clip(det_xyxy[:, 2:] - det_xyxy[:, :2], 0, None), axis=1)
        for b, (lo, hi) in enumerate(zip(self.lows, self.bounds)):
            gt_ign = base_ignore | (gt_area <= lo) | (gt_area > hi)
            self.n_gt[b] += int((~gt_ign).sum())
            det_out = (det_area <= lo) | (det_area > hi)
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


def monotone_bins(values: Sequence[Optional[float]], weights: Sequence[int], min_count: int) -> List[float]:
    """Turn raw per-bin values into a non-decreasing step profile.

    Bins with fewer than ``min_count`` ground-truth boxes are not trusted: below the first
    trusted bin they get 0.0 when the bin is one of the two smallest (objects of a few pixels), else
    the first trusted value; above the last trusted bin they get the last trusted value. Trusted
    values are made non-decreasing by weighted pool-adjacent-violators (isotonic regression).
    """
    n = len(values)
    trusted = [i for i in range(n) if values[i] is not None and weights[i] >= min_count]
    if not trusted:
        raise ValueError("no area bin has enough ground truth to measure precision")
    blocks: List[List[float]] = []        # [value, weight, count]
    for i in trusted:
        blocks.append([float(values[i]), float(weights[i]), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    fitted: List[float] = []
    for v, _w, c in blocks:
        fitted.extend([v] * int(c))
    out = [0.0] * n
    for i, v in zip(trusted, fitted):
        out[i] = v
    first, last = trusted[0], trusted[-1]
    for i in range(n):
        if i < first:
            out[i] = 0.0 if i < 2 else out[first]
        elif i > last:
            out[i] = out[last]
        elif i not in trusted:                         # gap between trusted bins: previous value
            out[i] = out[i - 1]
    return [round(float(v), 4) for v in out]


# --------------------------------------------------------------------------- machine info


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("torch", "ultralytics", "numpy", "cv2"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__version__", None):
            out[mod] = str(m.__version__)
    return out


def device_description(device: str) -> str:
    """Describe the compute device (GPU name for CUDA, CPU model otherwise)."""
    if device.startswith("cuda"):
        try:
            import torch
            return f"{device} ({torch.cuda.get_device_name(int(device.split(':')[1]))})"
        except Exception:  # noqa: BLE001 - description only
            return device
    return f"cpu ({cpu_model()})"


# --------------------------------------------------------------------------- measurement


def _parse_list(text: str, cast=float) -> List[Any]:
    return [cast(x) for x in str(text).replace(" ", "").split(",") if x]


def _parse_bins(text: str) -> List[float]:
    items = [x for x in str(text).replace(" ", "").split(",") if x]
    out = [math.inf if x.lower() in ("inf", ".inf") else float(x) for x in items]
    if not out or any(b <= 0 for b in out) or any(b2 <= b1 for b1, b2 in zip(out, out[1:])):
        raise ValueError(f"--bins must be positive and strictly increasing, got {text!r}")
    if not math.isinf(out[-1]):
        out.append(math.inf)
    return out


def _default_data() -> Optional[str]:
    roots = []
    env = os.environ.get("REPOSE_SHARED_DATA")
    if env:
        roots.append(Path(env) / "mot17_mini")
    root = os.environ.get("REPOSE_ROOT")
    here = Path(root) if root else Path(__file__).resolve().parents[3]
    roots.append(here.parent / "shared" / "data" / "mot17_mini")
    for r in roots:
        if r.is_dir() and find_mot_sequences(r):
            return f"mot17:{r}"
    return None


def _command_line(argv: Optional[Sequence[str]]) -> str:
    """Return the command line for meta, with the (long) --note text left out."""
    import shlex
    items = list(argv if argv is not None else sys.argv[1:])
    out = []
    skip = False
    for item in items:
        if skip:
            skip = False
            continue
        if item == "--note":
            skip = True
            continue
        if item.startswith("--note="):
            continue
        out.append(item)
    return shlex.join(["repose", "profile", *out])


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``repose profile``."""
    p = argparse.ArgumentParser(prog="repose profile", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model keys <name>@<imgsz>")
    p.add_argument("--weights", action="append", default=[], metavar="NAME=SPEC",
                   help="weights of a model name (file path or builtin:yolov8s-person); repeatable. "
                        "Default: yolov8s=builtin:yolov8s-person")
    p.add_argument("--class-map", default="auto",
                   help="auto, identity, person or all (see detector.build_class_map)")
    p.add_argument("--backend", choices=("ultralytics", "fake"), default="ultralytics")
    p.add_argument("--device", default="cpu", help="cpu or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    p.add_argument("--server-id", default="default",
                   help="latency_ms entry to write (e.g. an edge server id)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per model (median); default 9, quick 3")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls per model; default 2, quick 1")
    p.add_argument("--data", default="auto",
                   help="annotated data: mot17:PATH (MOT folders with gt/gt.txt and img1/), synthetic "
                        "(generated layouts, fake back-end only), none, or auto (../shared/data/mot17_mini)")
    p.add_argument("--max-frames", type=int, default=None, help="annotated frames used; default 10, quick 2")
    p.add_argument("--scales", default=None, help="frame rescale factors for the precision inputs; default "
                   + ",".join(str(s) for s in DEFAULT_SCALES))
    p.add_argument("--bins", default=",".join(str(b) for b in DEFAULT_BINS),
                   help="area bin upper bounds in model-input pixels^2 (last: inf)")
    p.add_argument("--metric", choices=("ap50", "ap50_95", "recall50"), default="ap50",
                   help="per-bin number written as the profile's precision")
    p.add_argument("--min-gt", type=int, default=None,
                   help="ground-truth boxes a bin needs to be trusted; default 10, quick 2")
    p.add_argument("--min-visibility", type=float, default=0.3,
                   help="MOT pedestrians less visible than this are ignore regions")
    p.add_argument("--conf", type=float, default=0.01, help="detection threshold for the precision runs")
    p.add_argument("--precision-from", default=None,
                   help="profile YAML to take precision from when there is no data")
    p.add_argument("--update", default=None,
                   help="existing profile to update (other servers' latencies are kept)")
    p.add_argument("--note", default="", help="free text added to meta.notes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-only", action="store_true",
                   help="measure latency only (on a few data frames if any); precision is kept from "
                        "--update/--precision-from or set to the generic prior")
    p.add_argument("--skip-latency", action="store_true",
                   help="keep the latencies of --update FILE and measure precision only")
    p.add_argument("--no-pool", action="store_true",
                   help="one precision curve per model key; by default the keys sharing a weights file "
                        "share the curve measured on all their inputs (the same network, less noise)")
    p.add_argument("--quick", action="store_true", help="few repeats and frames (tests, smoke runs)")
    p.add_argument("--out", default="profile.yaml", help="output YAML file")
    p.add_argument("--plot", default=None, help="also draw latency and precision curves into this PNG")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _build_zoo(args: argparse.Namespace, names: Sequence[str]):
    from repose_ros.core.detector import BUILTIN_PERSON, FakeDetector, ModelZoo
    if args.backend == "fake":
        fake = FakeDetector(min_input_px=10.0, dropout=0.05, jitter=0.03, latency_ms_at_640=4.0,
                            latency_base_ms=0.5, seed=args.seed)
        return ModelZoo.fake(fake, names), fake
    weights = {n: BUILTIN_PERSON for n in names if n == "yolov8s"}
    for item in args.weights:
        if "=" not in item:
            raise SystemExit(f"--weights expects NAME=SPEC, got {item!r}")
        name, spec = item.split("=", 1)
        weights[name.strip()] = spec.strip()
    missing = [n for n in names if n not in weights]
    if missing:
        raise SystemExit(f"no weights for model names {missing}: give --weights NAME=/path/to/file.pt")
    return ModelZoo(weights, device=args.device, class_map=args.class_map, torch_threads=args.threads), None


def _latency_frame(samples: List[FrameSample], rng: np.random.Generator) -> np.ndarray:
    if samples:
        return samples[int(rng.integers(len(samples)))].image
    img = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    return img


def measure_latency(zoo, keys: Sequence[str], samples: List[FrameSample], repeats: int, warmup: int,
                    rng: np.random.Generator, bar) -> Dict[str, Dict[str, Any]]:
    """Return per key: median/p90/min ms of ``detect_crops`` with one square block, batch 1."""
    out = {}
    for key in keys:
        det, imgsz = zoo.get(key)
        det.load()
        times = []
        for i in range(warmup + repeats):
            frame = _latency_frame(samples, rng)
            fh, fw = frame.shape[:2]
            side = int(min(fw, fh, max(32, imgsz * rng.uniform(0.6, 1.6))))
            x0, y0 = int(rng.integers(0, fw - side + 1)), int(rng.integers(0, fh - side + 1))
            t0 = time.perf_counter()
            det.detect_crops(frame, [(x0, y0, x0 + side, y0 + side)], imgsz=imgsz, conf=0.25, iou=0.7)
            ms = (time.perf_counter() - t0) * 1000.0
            if i >= warmup:
                times.append(ms)
            bar.update(1)
        arr = np.array(times)
        out[key] = {"median_ms": round(float(np.median(arr)), 2),
                    "p90_ms": round(float(np.percentile(arr, 90)), 2),
                    "min_ms": round(float(arr.min()), 2), "n": int(len(arr))}
    return out


def measure_precision(zoo, keys: Sequence[str], samples: List[FrameSample], scales: Sequence[float],
                      bounds: Sequence[float], conf: float, rng: np.random.Generator, bar,
                      fake=None) -> Dict[str, "AreaBinEvaluator"]:
    """Return per key the :class:`AreaBinEvaluator` filled over all samples x scales."""
    from repose_ros.core.detections import Detections
    out = {}
    for key in keys:
        det, imgsz = zoo.get(key)
        ev = AreaBinEvaluator(bounds)
        key_rng = np.random.default_rng(rng.integers(1 << 31))
        for sample in samples:
            inputs = [make_model_input(sample, imgsz, s, key_rng) for s in scales]
            if fake is not None:
                results = []
                for mi in inputs:
                    fake.set_ground_truth(Detections(mi.gt, np.full(len(mi.gt), 0.9, np.float32),
                                                     np.zeros(len(mi.gt), np.int32)))
                    results.append(det.detect(mi.image, imgsz=imgsz, conf=conf, iou=0.7))
            else:
                results = det.detect_batch([mi.image for mi in inputs], imgsz=imgsz, conf=conf, iou=0.7)
            for mi, dets in zip(inputs, results):
                ev.add(dets.xyxy, dets.scores, mi.gt, mi.ignore)
            bar.update(len(inputs))
        out[key] = ev
    return out


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass


def plot_profile(profiles, latency_detail: Dict[str, Dict[str, Any]], path: str,
                 raw: Optional[Dict[str, List[Dict[str, Any]]]] = None) -> Path:
    """Draw latency versus imgsz and precision versus model-input area into a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    by_name: Dict[str, List[Tuple[int, float]]] = {}
    for m in profiles.models:
        by_name.setdefault(m.name, []).append((m.imgsz, profiles.latency(m.key)))
    for name, pts in by_name.items():
        pts.sort()
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    ax1.set_xlabel("model input size (px)")
    ax1.set_ylabel("latency per block (ms, median)")
    ax1.set_title("latency")
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    for m in profiles.models:
        bins = profiles.precision[m.key]
        finite = [b for b, _ in bins if math.isfinite(b)]
        top = finite[-1] * 4 if finite else 1e5
        edges = [bins[0][0] / 4 if math.isfinite(bins[0][0]) else 1.0]
        edges += [b if math.isfinite(b) else top for b, _ in bins]
        ax2.stairs([p for _, p in bins], edges, label=m.key)
        if raw and m.key in raw:
            pts = [(r["area_max"] if math.isfinite(r["area_max"]) else top, r.get("ap50"))
                   for r in raw[m.key]]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax2.plot([p[0] for p in pts], [p[1] for p in pts], ".", alpha=0.5)
    ax2.set_xscale("log")
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("object area in model-input pixels^2 (bin upper bound)")
    ax2.set_ylabel("precision (profile)")
    ax2.set_title("precision vs area (steps: profile; dots: raw AP50)")
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main_profile(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose profile`` with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    from repose_ros.core.detector import parse_model_key
    from repose_ros.core.profiles import ModelSpec, Profiles

    keys = _parse_list(args.models, str)
    if not keys:
        raise SystemExit("--models is empty")
    try:
        parsed = [parse_model_key(k) for k in keys]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    names = sorted({n for n, _ in parsed})
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 9)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    max_frames = args.max_frames if args.max_frames is not None else (2 if args.quick else 10)
    scales = _parse_list(args.scales) if args.scales else list(QUICK_SCALES if args.quick else DEFAULT_SCALES)
    if repeats < 1 or warmup < 0 or max_frames < 0 or not scales or any(s <= 0 for s in scales):
        raise SystemExit("--repeats must be >= 1, --warmup and --max-frames >= 0, --scales positive")
    min_gt = args.min_gt if args.min_gt is not None else (2 if args.quick else 10)
    bounds = _parse_bins(args.bins)
    rng = np.random.default_rng(args.seed)

    # annotated data
    data = _default_data() if args.data == "auto" else args.data
    samples: List[FrameSample] = []
    data_desc = "none"
    if data and data != "none" and max_frames > 0:
        if data == "synthetic":
            if args.backend != "fake":
                raise SystemExit("--data synthetic only makes sense with --backend fake (a real "
                                 "network finds no people in generated layouts); "
                                 "use --data mot17:PATH or none")
            samples = synthetic_samples(min(max_frames, 3) if args.latency_only else max_frames, args.seed)
            data_desc = f"synthetic PANDA-like layouts ({len(samples)} frames, seed {args.seed})"
        elif data.startswith("mot17:"):
            root = Path(data.split(":", 1)[1]).expanduser()
            if not find_mot_sequences(root):
                raise SystemExit(f"no MOT sequences (gt/gt.txt + img1/) under {root}")
            samples = load_mot_samples(root, min(max_frames, 3) if args.latency_only else max_frames,
                                       args.min_visibility)
            data_desc = f"MOT format at {root} ({len(samples)} frames: {', '.join(s.name for s in samples)})"
        else:
            raise SystemExit(f"--data must be mot17:PATH, synthetic, none or auto, got {data!r}")
    elif args.data == "auto":
        print("repose profile: no annotated data found (../shared/data/mot17_mini); measuring latency only",
              file=sys.stderr)

    prev_profile = Profiles.load(args.update) if args.update and Path(args.update).is_file() else None
    if args.skip_latency:
        if prev_profile is None or any(k not in prev_profile.latency_ms for k in keys):
            raise SystemExit("--skip-latency needs --update FILE holding latencies of every model")
        if args.latency_only:
            raise SystemExit("--skip-latency and --latency-only exclude each other")
    zoo, fake = _build_zoo(args, names)
    precision_samples = [] if args.latency_only else samples
    total = (0 if args.skip_latency else len(keys) * (repeats + warmup)) \
        + len(keys) * len(precision_samples) * len(scales)
    if args.no_progress:
        bar: Any = _NoBar()
    else:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="profile", unit="call", file=sys.stderr)
    t_start = time.perf_counter()
    try:
        if prev_profile is not None and args.skip_latency:
            lat = prev_profile.meta.get("latency", {}).get("per_model", {})
        else:
            bar.set_description("latency")
            lat = measure_latency(zoo, keys, samples, repeats, warmup, rng, bar)
        raw: Dict[str, List[Dict[str, Any]]] = {}
        pooled_raw: Dict[str, List[Dict[str, Any]]] = {}
        curve: Dict[str, List[Dict[str, Any]]] = {}
        if precision_samples:
            bar.set_description("precision")
            evals = measure_precision(zoo, keys, precision_samples, scales, bounds, args.conf, rng, bar, fake)
            raw = {k: ev.summary() for k, ev in evals.items()}
            curve = dict(raw)
            if not args.no_pool:
                groups: Dict[str, List[str]] = {}
                for k in keys:
                    groups.setdefault(zoo.resolve(k)[0], []).append(k)
                for spec, members in groups.items():
                    pooled_raw[spec] = AreaBinEvaluator.pooled([evals[k] for k in members]).summary()
                    for k in members:
                        curve[k] = pooled_raw[spec]
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start

    # precision table
    precision: Dict[str, List[List[float]]] = {}
    precision_source = "measured"
    if raw:
        for key in keys:
            vals = [r[args.metric] for r in curve[key]]
            counts = [r["n_gt"] for r in curve[key]]
            try:
                fitted = monotone_bins(vals, counts, min_gt)
            except ValueError as exc:
                print(f"repose profile: {key}: {exc} (use more --max-frames or --scales, or a lower "
                      "--min-gt); writing the generic prior for it", file=sys.stderr)
                precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                precision_source = "measured, except the generic prior (NOT measured) for " + key
                continue
            precision[key] = [[b, v] for b, v in zip(bounds, fitted)]
    earlier: Optional[Dict[str, Any]] = None
    if not raw:
        src = args.precision_from or args.update
        prev = Profiles.load(src) if src and Path(src).is_file() else None
        copied, prior = [], []
        for key in keys:
            if prev is not None and key in prev.precision:
                precision[key] = [[b, p] for b, p in prev.precision[key]]
                copied.append(key)
            else:
                precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                prior.append(key)
        parts = []
        if copied:
            parts.append(f"kept from {src} (profile dated {prev.meta.get('date')}), not measured in this "
                         f"run, for {', '.join(copied)}")
            earlier = {k: prev.meta.get(k) for k in ("date", "host", "command", "duration_s", "notes")}
            if isinstance(prev.meta.get("precision"), dict):
                earlier.update(prev.meta["precision"])
        if prior:
            parts.append(f"generic prior, NOT measured (no annotated data), for {', '.join(prior)}")
        precision_source = "; ".join(parts)

    # latency table (optionally merged into an existing profile)
    prev_lat: Dict[str, Dict[str, float]] = prev_profile.latency_ms if prev_profile is not None else {}
    latency_ms = {}
    for key in keys:
        entry = dict(prev_lat.get(key, {}))
        if not args.skip_latency:
            entry[str(args.server_id)] = lat[key]["median_ms"]
            entry.setdefault("default", lat[key]["median_ms"])
        latency_ms[key] = entry

    any_det = zoo.detector(keys[0])
    threads = getattr(any_det, "torch_threads", None)
    device = "fake" if args.backend == "fake" else any_det.device
    weights = {}
    for n, size in parsed:
        spec, _ = zoo.resolve(f"{n}@{size}")
        weights[f"{n}@{size}"] = spec
    meta = {
        "source": "measured by 'repose profile'",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "host": socket.gethostname(),
        "backend": args.backend,
        "device": device_description(device) if args.backend != "fake" else "fake detector (no network)",
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "versions": _versions(),
        "command": _command_line(argv),
        "duration_s": round(elapsed, 1),
        "latency": ({**prev_profile.meta.get("latency", {}),
                     "source": f"kept from {args.update} (profile dated {prev_profile.meta.get('date')})"}
                    if args.skip_latency else {
            "definition": "median wall time of detect_crops() with one square block letterboxed to "
                          "imgsz x imgsz, batch 1, after warm-up (pre-processing + forward + NMS)",
            "server_id": str(args.server_id), "repeats": repeats, "warmup": warmup, "torch_threads": threads,
            "images": ("square crops of random size of the data frames" if samples
                       else "square crops of a random-noise 1920x1080 image"),
            "per_model": lat,
        }),
        "precision": {
            "source": precision_source,
            "data": data_desc if raw else "none in this run",
            "metric": args.metric,
            "definition": "per area bin (model-input px^2; bin i covers (bound[i-1], bound[i]]): COCO-style "
                          "AP at IoU 0.5 (ap50), mean over IoU 0.5:0.95 (ap50_95), and recall/precision at "
                          "IoU 0.5 for score >= 0.25; ground truth outside the bin, cut by the input "
                          "border, less visible than min_visibility or of MOT ignore classes 2,7,8,12 is "
                          "ignored. The profile holds the metric made non-decreasing in area (isotonic), "
                          "bins with fewer than min_gt boxes filled from neighbours; when pooled, the "
                          "model keys of one weights file share the curve measured on all their inputs "
                          "(raw_pooled_by_weights; per-key numbers in raw).",
            "scales": [float(s) for s in scales] if raw else [],
            "conf": args.conf, "min_gt": min_gt, "min_visibility": args.min_visibility,
            "pooled": (not args.no_pool) and bool(raw),
            "raw": raw,
            "raw_pooled_by_weights": pooled_raw,
        },
        "notes": args.note,
    }
    if not raw:
        for k in ("scales", "conf", "min_gt", "min_visibility", "raw", "raw_pooled_by_weights", "pooled"):
            meta["precision"].pop(k, None)
    if earlier is not None:
        meta["precision"]["earlier_measurement"] = earlier
    models = [ModelSpec(k, weights[k], size) for k, (_n, size) in zip(keys, parsed)]
    prof = Profiles(models, latency_ms, precision, meta)
    path = prof.save(args.out)
    print(f"repose profile: wrote {path} ({len(keys)} models, {elapsed:.0f} s)", file=sys.stderr)
    for key in keys:
        print(f"  {key:>16}: {lat[key]['median_ms']:9.1f} ms   precision "
              + " ".join(f"{p:.2f}" for _, p in prof.precision[key]), file=sys.stderr)
    if args.plot:
        plot_profile(prof, lat, args.plot, raw or None)
        print(f"repose profile: plot in {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_profile())
