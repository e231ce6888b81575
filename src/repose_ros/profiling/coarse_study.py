"""The coarse-stage study: recall and cost of the coarse stage per input size and confidence.

What ``repose coarse-study`` measures (its ``--help`` says how): per data set, coarse input size
and threshold, the recall of the merged coarse boxes by ground-truth height, the boxes per frame,
and the time of one coarse block.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_iou

HEIGHT_BINS = (25.0, 50.0, 100.0, 200.0, math.inf)
HEIGHT_LABELS = ("<25", "25-50", "50-100", "100-200", ">200")


def height_bin_labels(bounds: Sequence[float]) -> List[str]:
    """Labels ``<a``, ``a-b``, ..., ``>z`` of height bins with upper bounds ``bounds`` (last: inf)."""
    out = []
    lo = None
    for b in bounds:
        if lo is None:
            out.append(f"<{b:g}")
        elif math.isinf(b):
            out.append(f">{lo:g}")
        else:
            out.append(f"{lo:g}-{b:g}")
        lo = b
    return out


def matched_ground_truth(gt: np.ndarray, det_xyxy: np.ndarray, det_scores: np.ndarray,
                         iou_thr: float = 0.5) -> np.ndarray:
    """Boolean mask of the ground-truth boxes matched at IoU >= ``iou_thr`` (greedy by score, one-to-one)."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    matched = np.zeros(len(gt), bool)
    ious = box_iou(det_xyxy, gt)
    if ious.size == 0:
        return matched
    for d in np.argsort(-np.asarray(det_scores, np.float64).reshape(-1), kind="stable"):
        cand = np.where(~matched & (ious[d] >= iou_thr), ious[d], -1.0)
        g = int(np.argmax(cand))
        if cand[g] >= 0:
            matched[g] = True
    return matched


class RecallCounter:
    """Ground truth and matches per height bin (bin ``i``: ``bound[i-1] <= h < bound[i]``), over frames."""

    def __init__(self, bounds: Sequence[float] = HEIGHT_BINS):
        self.bounds = [float(b) for b in bounds]
        self.n_gt = np.zeros(len(self.bounds), np.int64)
        self.n_hit = np.zeros(len(self.bounds), np.int64)

    def add(self, gt: np.ndarray, matched: np.ndarray) -> None:
        """Count one frame's ground truth (xyxy) and which of it was matched."""
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        idx = np.minimum(np.searchsorted(self.bounds, gt[:, 3] - gt[:, 1], side="right"), len(self.bounds) - 1)
        np.add.at(self.n_gt, idx, 1)
        np.add.at(self.n_hit, idx, np.asarray(matched, bool).astype(np.int64))

    def report(self) -> Dict[str, Any]:
        """``{"overall", "n_gt", "by_height": {label: {"n_gt", "recall"}}}`` (recall None without ground truth)."""
        total = int(self.n_gt.sum())
        by = {}
        for label, n, h in zip(height_bin_labels(self.bounds), self.n_gt, self.n_hit):
            by[label] = {"n_gt": int(n), "recall": None if n == 0 else round(float(h) / float(n), 4)}
        return {"overall": None if total == 0 else round(float(self.n_hit.sum()) / total, 4), "n_gt": total,
                "by_height": by}


class CachedBlocks:
    """Detector stand-in for :func:`coarse_detect`: per-block detections filtered to the asked threshold.

    ``per_block`` holds each block's detections at ``base_conf`` (frame pixels, in the order of the
    blocks ``coarse_detect`` will ask for); a block with ``max_det`` boxes is re-run on ``detector``.
    """

    def __init__(self, detector: Any, per_block: Sequence[Any], base_conf: float, max_det: int):
        self.detector = detector
        self.per_block = list(per_block)
        self.base_conf = float(base_conf)
        self.max_det = int(max_det)
        self.reruns = 0

    def detect_crops(self, image: np.ndarray, rects: Sequence[Any], imgsz: int = 640, conf: float = 0.25,
                     iou: float = 0.7, max_det: int = 300) -> List[Any]:
        """Return the cached detections of each block with score >= ``conf``."""
        if len(rects) != len(self.per_block):
            raise ValueError(f"cached {len(self.per_block)} blocks, asked for {len(rects)}")
        if conf < self.base_conf - 1e-12:
            raise ValueError(f"cached at conf {self.base_conf}, asked for {conf}")
        out = []
        for rect, dets in zip(rects, self.per_block):
            if len(dets) >= self.max_det and conf > self.base_conf:
                self.reruns += 1
                out.append(self.detector.detect_crops(image, [rect], imgsz=imgsz, conf=conf, iou=iou,
                                                      max_det=max_det)[0])
            else:
                out.append(dets[dets.scores >= conf])
        return out


def timed_blocks(detector: Any, frame: np.ndarray, n_blocks: int, imgsz: int, conf: float, iou: float,
                 max_det: int) -> Tuple[List[Any], List[float]]:
    """Run each coarse block of ``frame`` alone; return its detections (frame px) and ms per block."""
    from repose_ros.core.coarse import coarse_blocks
    h, w = frame.shape[:2]
    rects = coarse_blocks(w, h, n_blocks)
    dets, times = [], []
    for r in rects:
        t0 = time.perf_counter()
        dets.append(detector.detect_crops(frame, [r], imgsz=int(imgsz), conf=float(conf), iou=float(iou),
                                          max_det=int(max_det))[0])
        times.append((time.perf_counter() - t0) * 1e3)
    return dets, times


def run_coarse_study(detector: Any, data_sets: Sequence[Tuple[str, Any]], sizes: Sequence[int],
                     confs: Sequence[float], n_blocks: int = 4, iou: float = 0.5, max_det: int = 300,
                     bar: Any = None, fake: Any = None) -> Dict[str, Any]:
    """Run the study; ``data_sets`` are ``(label, EvalDataset)``; returns the JSON-ready result."""
    from repose_ros.core.coarse import coarse_detect, grid_shape
    confs = sorted(float(c) for c in confs)
    base = confs[0]
    results: Dict[str, Any] = {}
    for label, dataset in data_sets:
        counters = {(s, c): RecallCounter() for s in sizes for c in confs}
        boxes = {(s, c): [] for s in sizes for c in confs}
        block_ms: Dict[int, List[float]] = {int(s): [] for s in sizes}
        reruns = {int(s): 0 for s in sizes}
        shapes = set()
        for frame in dataset.frames:
            image = frame.load()
            if fake is not None:
                fake.set_ground_truth(frame.fake_gt if frame.fake_gt is not None else frame.gt)
            h, w = image.shape[:2]
            rows, cols = grid_shape(n_blocks, w, h)
            shapes.add((w // cols, h // rows))
            for s in sizes:
                per_block, times = timed_blocks(detector, image, n_blocks, int(s), base, iou, max_det)
                block_ms[int(s)].append(max(times))
                cache = CachedBlocks(detector, per_block, base, max_det)
                for c in confs:
                    res = coarse_detect(image, cache, n_blocks, int(s), conf=c, iou=iou, max_det=max_det)
                    dets = res.detections
                    counters[(s, c)].add(frame.gt, matched_ground_truth(frame.gt, dets.xyxy, dets.scores))
                    boxes[(s, c)].append(len(dets))
                reruns[int(s)] += cache.reruns
                if bar is not None:
                    bar.update(1)
        rows_out = []
        for s in sizes:
            ms = block_ms[int(s)]
            for c in confs:
                rep = counters[(s, c)].report()
                rows_out.append({
                    "imgsz": int(s), "conf": c, "recall": rep["overall"], "n_gt": rep["n_gt"],
                    "recall_by_height": {k: v["recall"] for k, v in rep["by_height"].items()},
                    "n_gt_by_height": {k: v["n_gt"] for k, v in rep["by_height"].items()},
                    "boxes_per_frame": round(float(np.mean(boxes[(s, c)])), 1) if boxes[(s, c)] else None,
                    "block_ms_median": round(statistics.median(ms), 1) if ms else None,
                    "block_ms_max": round(max(ms), 1) if ms else None,
                    "max_det_reruns": reruns[int(s)],
                })
        results[label] = {"spec": dataset.spec, "description": dataset.description,
                          "frames": len(dataset.frames), "n_gt": int(sum(len(f.gt) for f in dataset.frames)),
                          "block_shapes": sorted([list(x) for x in shapes]), "rows": rows_out}
    return results


def format_table(results: Dict[str, Any]) -> str:
    """Terminal table: per data set and setting, recall overall and by height, boxes per frame, block ms."""
    lines = []
    for label, res in results.items():
        rows = res["rows"]
        if not rows:
            continue
        heights = list(rows[0]["recall_by_height"])
        n_by = rows[0]["n_gt_by_height"]
        lines.append(f"{label}: {res['frames']} frames, {res['n_gt']} people, coarse blocks "
                     f"{' '.join('x'.join(str(v) for v in s) for s in res['block_shapes'])} px")
        lines.append(f"{'imgsz':>5} {'conf':>5} | {'recall':>6} | "
                     + " ".join(f"{h + ' (' + str(n_by[h]) + ')':>14}" for h in heights)
                     + f" | {'boxes/frame':>11} | {'block ms (median/max)':>21}")
        for r in rows:
            by = r["recall_by_height"]
            cells = " ".join(f"{'-' if by[h] is None else format(by[h], '.3f'):>14}" for h in heights)
            rec = "-" if r["recall"] is None else f"{r['recall']:.3f}"
            lines.append(f"{r['imgsz']:>5} {r['conf']:>5g} | {rec:>6} | {cells} | {r['boxes_per_frame']:>11} | "
                         f"{str(r['block_ms_median']) + ' / ' + str(r['block_ms_max']):>21}")
        lines.append("")
    return "\n".join(lines)
