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
import shlex
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.cli.args import comma_list
from repose_ros.profiling.coarse_study import (HEIGHT_BINS, format_table, height_bin_labels, run_coarse_study,
                                               timed_blocks)

DEFAULT_SIZES = "640,800,960,1280"
DEFAULT_CONFS = "0.01,0.05,0.1,0.25"


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
    sizes = comma_list(args.sizes, int)
    confs = comma_list(args.confs, float)
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
