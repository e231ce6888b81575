"""Upscaling study of ``repose profile --upscale-study``: whether enlarging a small block helps.

The planner letterboxes a block to the model input, which enlarges a block smaller than the
input (up to ~6x for small blocks). This study measures, for the *same source objects*, the
detection quality when native-resolution crops are enlarged by factors ``f`` (default 1, 1.5, 2,
3, 4):

* per frame and input size ``imgsz``, a few **anchors** (centres of random people small enough to
  fit the smallest crop);
* per factor, the crop of side ``imgsz / f`` source pixels centred on the anchor (shifted to stay
  inside the frame), resized by ``f`` (bilinear, as ultralytics' letterbox) into an ``imgsz`` square
  (a crop larger than the frame is padded with the letterbox grey);
* evaluated objects: the people lying entirely inside every crop of the anchor (the *core*, the
  intersection of the crops, which is the crop of the largest factor): the same objects at every
  factor. Other people and ignore regions are ignore regions; a detection whose centre is outside
  the core is ignored unless it matches a core object, so larger crops are not charged with false
  positives from the extra area they show.

Boxes are compared in source pixels and binned by **source-object area** (native px^2). Per
factor the study reports AP50:95, AP50 and recall (IoU 0.5, score >= the recall threshold) per
bin, for small objects (area <= ``small_area``, 32x32 by default) and for all.

**Gain table** (:func:`derive_upscale_gain`): per bin, the pooled AP50:95 at each factor less at
factor 1, the profile's ``upscale_gain`` section. With ``plan_upscale_gain`` (off by default) the
planner values a person in an enlarged block by its native size plus that gain instead of by its
area at the input (:meth:`repose_ros.core.profiles.Profiles.precision_at`).

**Cap rule** (:func:`derive_upscale_cap`): walking up the factors from 1, the cap is the last factor
reached while every step improves the AP50:95 of small objects (pooled over the input sizes and
data sets) by at least ``min_gain`` (0.01) over the next smaller factor; the walk stops at the
first step that does not. The cap is 1 when the first step already fails; a cap equal to the
largest factor means "at least that" (larger factors were not measured).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.evaluation.area_bins import AreaBinEvaluator
from repose_ros.profiling.samples import LETTERBOX_GREY, FrameSample
SOURCE_BINS = (64.0, 256.0, 1024.0, 4096.0, math.inf)
"""Source-object area bins (native px^2): sides < 8, 8-16, 16-32, 32-64, > 64 px."""


@dataclass
class UpscaleInput:
    """One enlarged crop: the ``imgsz`` square, its factor and the mapping back to source pixels."""

    image: np.ndarray
    factor: float
    window: Tuple[int, int, int, int]      # source crop (x0, y0, x1, y1)
    sx: float                              # input pixels per source pixel (x)
    sy: float

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """Map input-pixel boxes to source-frame pixels."""
        b = np.asarray(xyxy, np.float64).reshape(-1, 4).copy()
        b[:, [0, 2]] = b[:, [0, 2]] / self.sx + self.window[0]
        b[:, [1, 3]] = b[:, [1, 3]] / self.sy + self.window[1]
        return b

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Map source-frame boxes to input pixels."""
        b = np.asarray(xyxy, np.float64).reshape(-1, 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] - self.window[0]) * self.sx
        b[:, [1, 3]] = (b[:, [1, 3]] - self.window[1]) * self.sy
        return b


def crop_window(cx: float, cy: float, side: float, frame_w: int, frame_h: int) -> Tuple[int, int, int, int]:
    """Square window of ``side`` source pixels centred on ``(cx, cy)``, shifted inside the frame.

    Where the frame is smaller than ``side`` the window covers that whole dimension.
    """
    def span(c: float, length: int) -> Tuple[int, int]:
        s = int(round(side))
        if s >= length:
            return 0, int(length)
        start = int(min(max(round(c - s / 2.0), 0), length - s))
        return start, start + s

    x0, x1 = span(cx, frame_w)
    y0, y1 = span(cy, frame_h)
    return x0, y0, x1, y1


def make_upscale_input(image: np.ndarray, imgsz: int, factor: float,
                       window: Tuple[int, int, int, int]) -> UpscaleInput:
    """Resize the source ``window`` of ``image`` by ``factor`` into an ``imgsz`` square (grey padding)."""
    import cv2
    x0, y0, x1, y1 = window
    region = image[y0:y1, x0:x1]
    tw = max(1, min(int(imgsz), int(round((x1 - x0) * factor))))
    th = max(1, min(int(imgsz), int(round((y1 - y0) * factor))))
    canvas = np.full((int(imgsz), int(imgsz), 3), LETTERBOX_GREY, np.uint8)
    if (tw, th) == (x1 - x0, y1 - y0):
        canvas[:th, :tw] = region
    else:
        canvas[:th, :tw] = cv2.resize(region, (tw, th), interpolation=cv2.INTER_LINEAR)
    return UpscaleInput(canvas, float(factor), (x0, y0, x1, y1), tw / float(x1 - x0), th / float(y1 - y0))


def _inside(boxes: np.ndarray, region: Tuple[float, float, float, float], tol: float = 0.5) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = region
    return (b[:, 0] >= x0 - tol) & (b[:, 1] >= y0 - tol) & (b[:, 2] <= x1 + tol) & (b[:, 3] <= y1 + tol)


def anchor_plan(sample: FrameSample, imgsz: int, factors: Sequence[float], n_anchors: int,
                rng: np.random.Generator) -> List[Dict[str, Any]]:
    """Pick up to ``n_anchors`` people (fitting the smallest crop) and their crops per factor.

    Returns per anchor ``{"windows": [per factor], "core": (x0, y0, x1, y1), "core_gt": bool mask}``;
    anchors whose core holds no whole person are dropped.
    """
    fh, fw = sample.image.shape[:2]
    gt = np.asarray(sample.gt, np.float64).reshape(-1, 4)
    if len(gt) == 0 or n_anchors <= 0:
        return []
    core_side = imgsz / float(max(factors))
    wh = gt[:, 2:] - gt[:, :2]
    fits = np.flatnonzero((wh[:, 0] <= core_side) & (wh[:, 1] <= core_side) & (wh.min(axis=1) > 0))
    if len(fits) == 0:
        return []
    chosen = rng.choice(fits, size=min(int(n_anchors), len(fits)), replace=False)
    plans = []
    for g in chosen:
        cx, cy = (gt[g, :2] + gt[g, 2:]) / 2.0
        windows = [crop_window(cx, cy, imgsz / float(f), fw, fh) for f in factors]
        core = (max(w[0] for w in windows), max(w[1] for w in windows),
                min(w[2] for w in windows), min(w[3] for w in windows))
        mask = _inside(gt, core)
        if mask.any():
            plans.append({"windows": windows, "core": core, "core_gt": mask})
    return plans


class _Cell:
    """Evaluators of one (input size, factor, data set): by bin, small/large, all."""

    def __init__(self, small_area: float):
        self.bins = AreaBinEvaluator(SOURCE_BINS)
        self.small = AreaBinEvaluator([float(small_area), math.inf])
        self.all = AreaBinEvaluator([math.inf])

    def add(self, *args: Any, **kw: Any) -> None:
        for ev in (self.bins, self.small, self.all):
            ev.add(*args, **kw)

    @staticmethod
    def pooled(cells: Sequence["_Cell"], small_area: float) -> "_Cell":
        out = _Cell(small_area)
        out.bins = AreaBinEvaluator.pooled([c.bins for c in cells])
        out.small = AreaBinEvaluator.pooled([c.small for c in cells])
        out.all = AreaBinEvaluator.pooled([c.all for c in cells])
        return out

    def report(self, recall_conf: float) -> Dict[str, Any]:
        def row(ev: AreaBinEvaluator, b: int) -> Dict[str, Any]:
            s = ev.summary()[b]
            return {"n_gt": s["n_gt"], "ap50_95": s["ap50_95"], "ap50": s["ap50"],
                    "recall": ev.recall_at(recall_conf)[b]}
        bins = []
        for b, bound in enumerate(SOURCE_BINS):
            bins.append({"area_max": bound, **row(self.bins, b)})
        return {"small": row(self.small, 0), "all": row(self.all, 0), "bins": bins}


def _detect_inputs(det, inputs: Sequence[UpscaleInput], sample: FrameSample, imgsz: int, conf: float,
                   fake=None) -> list:
    """Detect on each input (one batch; the fake detector sees each input's ground truth)."""
    if fake is None:
        return det.detect_batch([ui.image for ui in inputs], imgsz=imgsz, conf=conf, iou=0.7)
    from repose_ros.core.detections import Detections
    results = []
    for ui in inputs:
        seen = ui.to_input(sample.gt)
        fake.set_ground_truth(Detections(seen.astype(np.float32), np.full(len(seen), 0.9, np.float32),
                                         np.zeros(len(seen), np.int32)))
        results.append(det.detect(ui.image, imgsz=imgsz, conf=conf, iou=0.7))
    return results


def _outside(boxes: np.ndarray, core: Tuple[float, float, float, float]) -> np.ndarray:
    """Whether each box's centre lies outside the ``core`` rectangle (x0, y0, x1, y1)."""
    cx0, cy0, cx1, cy1 = core
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    return (centre[:, 0] < cx0) | (centre[:, 0] > cx1) | (centre[:, 1] < cy0) | (centre[:, 1] > cy1)


def run_upscale_study(zoo, model_name: str, data_sets: Sequence[Tuple[str, str, List[FrameSample]]],
                      sizes: Sequence[int], factors: Sequence[float], n_anchors: int, conf: float,
                      recall_conf: float, small_area: float, min_gain: float, rng: np.random.Generator,
                      bar, fake=None) -> Dict[str, Any]:
    """Run the study (see the module docstring) with the detector of ``model_name`` at each size.

    ``data_sets``: ``(label, description, samples)``; ``bar`` gets one update per detector input.
    Returns the JSON/YAML-ready result with the table and the derived ``cap``.
    """
    factors = sorted(float(f) for f in factors)
    if not factors or factors[0] < 1.0:
        raise ValueError(f"upscale factors must be >= 1, got {factors}")
    cells: Dict[Tuple[int, float, str], _Cell] = {}
    n_inputs = 0
    for size in sizes:
        det, _ = zoo.get(f"{model_name}@{int(size)}")
        size_rng = np.random.default_rng(rng.integers(1 << 31))
        for label, _desc, samples in data_sets:
            for sample in samples:
                for plan in anchor_plan(sample, int(size), factors, n_anchors, size_rng):
                    inputs = [make_upscale_input(sample.image, int(size), f, w)
                              for f, w in zip(factors, plan["windows"])]
                    results = _detect_inputs(det, inputs, sample, int(size), conf, fake)
                    mask = plan["core_gt"]
                    gt_core = sample.gt[mask]
                    ignore = np.concatenate([sample.gt[~mask], sample.ignore]).reshape(-1, 4)
                    for ui, dets in zip(inputs, results):
                        src = ui.to_source(dets.xyxy)
                        cell = cells.setdefault((int(size), ui.factor, label), _Cell(small_area))
                        cell.add(src, dets.scores, gt_core, ignore, det_ignore=_outside(src, plan["core"]))
                    n_inputs += len(inputs)
                    bar.update(len(inputs))
    labels = [label for label, _d, _s in data_sets]

    def table(select) -> List[Dict[str, Any]]:
        rows = []
        for f in factors:
            group = [c for (sz, fac, lab), c in cells.items() if fac == f and select(sz, lab)]
            rows.append({"factor": f, **(_Cell.pooled(group, small_area).report(recall_conf) if group
                                         else _Cell(small_area).report(recall_conf))})
        return rows

    by_size = {str(int(sz)): table(lambda s, _lab, sz=int(sz): s == sz) for sz in sizes}
    pooled = table(lambda _s, _lab: True)
    by_data: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    for lab in labels:
        for sz in sizes:
            rows = table(lambda s, la, sz=int(sz), lab=lab: s == sz and la == lab)
            by_data.setdefault(lab, {})[str(int(sz))] = [
                {"factor": r["factor"], "small": r["small"], "all": r["all"]} for r in rows]
    cap = derive_upscale_cap(factors, [r["small"]["ap50_95"] for r in pooled], min_gain)
    cap_by_size = {k: derive_upscale_cap(factors, [r["small"]["ap50_95"] for r in v], min_gain)
                   for k, v in by_size.items()}
    return {
        "definition": "same source objects at several enlargements: per frame and input size, crops of side "
                      "imgsz/f source px centred on random people, resized by f into the imgsz input; evaluated: "
                      "the people entirely inside every crop of the anchor (the core); other people and ignore "
                      "regions are ignored, as are unmatched detections centred outside the core. Boxes compared "
                      "in source px, binned by source-object area (px^2); COCO-style AP50:95 and AP50; recall at "
                      "IoU 0.5 and score >= recall_conf",
        "rule": f"cap = the last factor reached, walking up from 1, while every step raises the AP50:95 of small "
                f"objects (source area <= {small_area:g} px^2), pooled over input sizes and data sets, by >= "
                f"{min_gain:g} over the next smaller factor; 1 if the first step fails; the largest factor means "
                "'at least that'",
        "model": model_name, "sizes": [int(s) for s in sizes], "factors": factors,
        "anchors_per_frame": int(n_anchors), "conf": conf, "recall_conf": recall_conf,
        "small_area": float(small_area), "min_gain": float(min_gain), "source_bins": list(SOURCE_BINS),
        "data": {label: desc for label, desc, _s in data_sets}, "inputs": n_inputs,
        "pooled": pooled, "by_size": by_size, "by_data": by_data,
        "cap": cap, "cap_by_size": cap_by_size, "gain": derive_upscale_gain(factors, pooled),
    }


def derive_upscale_gain(factors: Sequence[float], pooled: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Return the profile's ``upscale_gain`` section from the study's pooled rows (one per factor, with ``bins``).

    Per source-area bin, the AP50:95 at each factor less the AP50:95 at factor 1: what enlarging the
    same people by that factor changed. A bin without ground truth at a factor (AP None) gains 0
    there. ``{}`` when the factors do not start at 1 (nothing to compare with).
    """
    if not factors or float(factors[0]) != 1.0 or len(pooled) != len(factors):
        return {}
    first = pooled[0]["bins"]
    bins = []
    for i, b in enumerate(first):
        base = b["ap50_95"]
        gains = [0.0 if base is None or row["bins"][i]["ap50_95"] is None
                 else round(float(row["bins"][i]["ap50_95"]) - float(base), 4) for row in pooled]
        bins.append([float(b["area_max"]), gains])
    return {"factors": [float(f) for f in factors], "bins": bins,
            "definition": "AP50:95 of the same people enlarged by each factor less at factor 1, per source-object "
                          "area bin (frame px^2), pooled over input sizes and data sets (repose profile "
                          "--upscale-study)"}


def derive_upscale_cap(factors: Sequence[float], ap_small: Sequence[Optional[float]],
                       min_gain: float = 0.01) -> Optional[float]:
    """Cap rule of the module docstring; None when the first factor has no small objects to measure."""
    if not factors or len(factors) != len(ap_small):
        raise ValueError("need one AP per factor")
    if ap_small[0] is None:
        return None
    cap = float(factors[0])
    for j in range(1, len(factors)):
        prev, cur = ap_small[j - 1], ap_small[j]
        if cur is None or prev is None or cur - prev < min_gain - 1e-12:
            break
        cap = float(factors[j])
    return cap


def format_upscale_table(result: Dict[str, Any]) -> str:
    """Terminal table of the study: per size (and pooled), AP50:95 / recall of small and all objects per factor."""
    lines = [f"upscale study ({result['model']}, sizes {result['sizes']}, small = source area <= "
             f"{result['small_area']:g} px^2, recall at score >= {result['recall_conf']:g})"]
    head = f"{'size':>7} {'factor':>6} | {'n small':>7} {'AP50:95':>7} {'AP50':>6} {'recall':>6} | " \
           f"{'n all':>6} {'AP50:95':>7} {'recall':>6}"
    lines.append(head)

    def fmt(v: Optional[float]) -> str:
        return "   -  " if v is None else f"{v:.3f}"

    for name, rows in list(result["by_size"].items()) + [("pooled", result["pooled"])]:
        for r in rows:
            s, a = r["small"], r["all"]
            lines.append(f"{name:>7} {r['factor']:>6g} | {s['n_gt']:>7} {fmt(s['ap50_95']):>7} {fmt(s['ap50']):>6} "
                         f"{fmt(s['recall']):>6} | {a['n_gt']:>6} {fmt(a['ap50_95']):>7} {fmt(a['recall']):>6}")
    lines.append(f"upscale_cap = {result['cap']} (per size: {result['cap_by_size']}); rule: {result['rule']}")
    return "\n".join(lines)
