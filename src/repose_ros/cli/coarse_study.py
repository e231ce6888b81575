"""``repose coarse-study``: recall and cost of RE-POSE's coarse stage per coarse setting.

For every setting (coarse input size x confidence threshold) the command runs the package's
coarse stage, :func:`repose_ros.core.coarse.coarse_detect` with N equal blocks (default 4, the
paper's four edge servers; IoU 0.5, as ``config/repose.yaml``), on the frames of each data set,
and reports

* **recall**: the fraction of the ground truth (ignore regions excluded) matched at IoU >= 0.5
  by a merged coarse box (one box per object, greedy by score), overall and by ground-truth
  height in frame pixels (< 25, 25-50, 50-100, 100-200, >= 200; each bin includes its lower bound);
* **coarse boxes per frame** (mean), what the partitioner clusters;
* **time of one coarse block**: each of the N blocks of a frame is timed alone (one detector
  call, as an edge server runs its coarse block; the blocks of one frame share one shape), the
  slowest of them counts, median (and max) over the frames; torch threads 1 unless ``--threads``.

The per-block detections of every threshold come from the timed calls at the lowest threshold,
filtered per threshold (exact: the detector's NMS is greedy by score, so the boxes above a
threshold do not depend on the boxes below it), except for a block that returned ``max_det``
boxes, which is run again at that threshold. ``coarse_detect`` then merges them as deployed.

Data sets (``--data``, comma-separated): ``mot17-collage:ROOT`` (PANDA-like 4K collages of MOT17
frames), ``mot17-2x2:ROOT`` (2x2 mosaics of 1080p frames), ``mot17:ROOT`` (frames as they are),
``visdrone:ROOT`` (VisDrone-DET people at native resolution), ``synthetic`` (fake back-end only);
``auto``: the first three kinds from ../shared/data when present (collage, 2x2, VisDrone).
The table goes to the terminal, the figures to ``--json``.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_iou

DEFAULT_SIZES = "640,800,960,1280"
DEFAULT_CONFS = "0.01,0.05,0.1,0.25"
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


def _auto_data() -> List[str]:
    from repose_ros.profiling.data import shared_roots
    from repose_ros.datasets.mot import find_mot_sequences
    from repose_ros.datasets.visdrone import find_visdrone_split
    out: List[str] = []
    for base in shared_roots():
        mot, vis = base / "mot17_mini", base / "visdrone_people"
        if not out and mot.is_dir() and find_mot_sequences(mot):
            out += [f"mot17-collage:{mot}", f"mot17-2x2:{mot}"]
        if not any(s.startswith("visdrone:") for s in out) and vis.is_dir():
            try:
                find_visdrone_split(vis)
                out.append(f"visdrone:{vis}")
            except (OSError, ValueError):
                pass
    return out


def parse_study_data(text: str) -> List[Tuple[str, str, str]]:
    """Turn ``--data`` into ``(label, load_dataset spec, mosaic)`` triples; SystemExit on an unknown kind."""
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    specs: List[str] = []
    for item in items:
        specs += _auto_data() if item == "auto" else [item]
    out = []
    for item in specs:
        kind, _, path = item.partition(":")
        if kind == "synthetic":
            out.append(("synthetic", "synthetic", "none"))
        elif kind in ("mot17", "mot17-collage", "mot17-2x2", "visdrone") and path:
            mosaic = {"mot17-collage": "collage", "mot17-2x2": "2x2"}.get(kind, "none")
            out.append((kind, f"{'visdrone' if kind == 'visdrone' else 'mot17'}:{path}", mosaic))
        else:
            raise SystemExit(f"--data items must be mot17-collage:ROOT, mot17-2x2:ROOT, mot17:ROOT, visdrone:ROOT, "
                             f"synthetic or auto, got {item!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``repose coarse-study``."""
    p = argparse.ArgumentParser(prog="repose coarse-study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="auto", help="comma-separated data sets (see above); default auto")
    p.add_argument("--frames", default=None,
                   help="frames per data set: one number or one per --data item (default 8, quick 1)")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="coarse input sizes")
    p.add_argument("--confs", default=DEFAULT_CONFS, help="coarse confidence thresholds")
    p.add_argument("--blocks", type=int, default=4, help="coarse blocks N (edge servers)")
    p.add_argument("--iou", type=float, default=0.5, help="NMS IoU of the detector and of the cross-block merge")
    p.add_argument("--max-det", type=int, default=300, help="boxes per block at most")
    p.add_argument("--weights", default="builtin:yolov8s-person", help="detector weights")
    p.add_argument("--backend", choices=("ultralytics", "fake"), default="ultralytics")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the block time is measured with these)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per input size before timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the figures to this JSON file")
    p.add_argument("--quick", action="store_true", help="one frame per data set (tests, smoke runs)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main_coarse_study(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose coarse-study`` with command-line arguments ``argv``; return the exit code."""
    from repose_ros.profiling.data import per_spec_counts
    from repose_ros.profiling.machine import cpu_model
    from repose_ros.profiling.measure import NoBar
    from repose_ros.datasets.load import load_dataset

    args = build_parser().parse_args(argv)
    sizes = [int(v) for v in str(args.sizes).replace(" ", "").split(",") if v]
    confs = [float(v) for v in str(args.confs).replace(" ", "").split(",") if v]
    if not sizes or min(sizes) < 32 or not confs or not all(0.0 <= c <= 1.0 for c in confs) or args.blocks < 1:
        raise SystemExit("--sizes must be >= 32, --confs in [0, 1], --blocks >= 1")
    items = parse_study_data(args.data)
    if not items:
        raise SystemExit("repose coarse-study: no data (../shared/data not found); give --data")
    if any(lab == "synthetic" for lab, _s, _m in items) != (args.backend == "fake"):
        raise SystemExit("--data synthetic and --backend fake go together")
    counts = per_spec_counts(args.frames, len(items), 1 if args.quick else 8)
    data_sets = []
    for (label, spec, mosaic), n in zip(items, counts):
        if n < 1:
            continue
        try:
            data_sets.append((label, load_dataset(spec, n, mosaic, args.seed, synthetic_size=(1920, 1080))))
        except (ValueError, FileNotFoundError) as exc:
            raise SystemExit(f"repose coarse-study: {exc}") from None
    fake = None
    if args.backend == "fake":
        from repose_ros.detectors.fake import FakeDetector
        fake = FakeDetector(None, dropout=0.05, jitter=0.03, min_input_px=10.0, seed=args.seed)
        detector: Any = fake
    else:
        from repose_ros.detectors.ultralytics import UltralyticsDetector
        detector = UltralyticsDetector(args.weights, device=args.device, class_map="auto",
                                       torch_threads=args.threads).load()
        warm = np.full((1080, 1920, 3), 114, np.uint8)
        for s in sizes:
            for _ in range(max(0, args.warmup)):
                timed_blocks(detector, warm, args.blocks, s, min(confs), args.iou, args.max_det)
    total = sum(len(d.frames) for _l, d in data_sets) * len(sizes)
    if args.no_progress:
        bar: Any = NoBar()
    else:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="coarse study", unit="frame x size", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        results = run_coarse_study(detector, data_sets, sizes, confs, args.blocks, args.iou, args.max_det, bar, fake)
    finally:
        bar.close()
    print(format_table(results))
    payload = {
        "command": shlex.join(["repose", "coarse-study", *(sys.argv[1:] if argv is None else argv)]),
        "definition": " ".join(" ".join(__doc__.split("\n\n")[1:4]).split()) if __doc__ else "",
        "backend": args.backend, "weights": args.weights if args.backend != "fake" else "fake",
        "device": args.device, "torch_threads": getattr(detector, "torch_threads", None),
        "cpu": cpu_model(), "blocks": args.blocks, "iou": args.iou, "max_det": args.max_det,
        "sizes": sizes, "confs": sorted(confs), "height_bins": height_bin_labels(HEIGHT_BINS),
        "duration_s": round(time.perf_counter() - t0, 1), "data_sets": results,
    }
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"repose coarse-study: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_coarse_study())
