"""``repose bench tracking``: IDF1 / MOTA of the track ids RE-POSE publishes, on MOT sequences.

Each sequence runs through the in-process method (:meth:`RePose.process`: coarse stage,
partition, plan, blocks, fusion: the detections the aggregator fuses) frame after frame, and the
fused detections go through the aggregator's tracker (:class:`repose_ros.core.tracking.Tracker`)
with the aggregator's defaults. Metrics by py-motmetrics over all sequences; ``--degrade N`` also
empties every N-th frame's detections (a frame answered with nothing), to see what a degraded
frame costs the ids.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional


def bench_tracking(dataset: str, method: str = "bytetrack", budget_ms: float = 2000.0, servers: int = 4,
                   degrade_every: int = 0, max_frames: int = 0) -> dict:
    """Run RE-POSE and the tracker over every MOT sequence under ``dataset``; return metrics and timings."""
    import numpy as np
    from tqdm import tqdm

    from repose_ros.core.detections import Detections
    from repose_ros.datasets.mot import find_mot_sequences
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.tracking import Tracker, TrackerConfig, track_metrics

    seqs = find_mot_sequences(dataset)
    if not seqs:
        raise FileNotFoundError(f"no MOT sequences (gt/gt.txt + img1/) under {dataset}")
    repose = RePose(RePoseConfig(num_servers=servers, budget_ms=budget_ms))
    frames, per_seq, ms = [], {}, []
    total = sum(min(len(s), max_frames) if max_frames else len(s) for s in seqs)
    bar = tqdm(total=total, desc="repose bench tracking", unit="frame")
    for seq in seqs:
        tracker = Tracker(TrackerConfig(method=method))
        seq_frames = []
        for i, fid in enumerate(seq.frame_ids[:max_frames or None]):
            img = seq.read(i)
            t0 = time.perf_counter()
            dets, _, _ = repose.process(img)
            if degrade_every and (i + 1) % degrade_every == 0:
                dets = Detections.empty()
            ids = tracker.update(dets, key=fid)
            ms.append((time.perf_counter() - t0) * 1000.0)
            gt_ids, gt, ignore = seq.tracks(fid)
            seq_frames.append((gt_ids, gt, ids, dets.xyxy, ignore))
            bar.update(1)
        per_seq[seq.name] = track_metrics(seq_frames)
        # One accumulator over all sequences: ids of different sequences must not meet.
        offset = (len(per_seq)) * 10_000_000
        frames.extend((g + offset, gx, np.where(h >= 0, h + offset, -1), hx, ig) for g, gx, h, hx, ig in seq_frames)
    bar.close()
    return {"dataset": str(dataset), "method": method, "budget_ms": budget_ms, "servers": servers,
            "degrade_every": degrade_every, "overall": track_metrics(frames), "sequences": per_seq,
            "frame_ms_median": float(np.median(ms)) if ms else 0.0}


def main_bench_tracking(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run :func:`bench_tracking`, print (and write) the JSON."""
    p = argparse.ArgumentParser(prog="repose bench tracking", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="folder with MOT sequences (e.g. ../shared/data/mot17_mini)")
    p.add_argument("--method", choices=["bytetrack", "botsort"], default="bytetrack")
    p.add_argument("--budget-ms", type=float, default=2000.0)
    p.add_argument("--servers", type=int, default=4)
    p.add_argument("--degrade", type=int, default=0, help="empty every N-th frame's detections (0: never)")
    p.add_argument("--max-frames", type=int, default=0, help="frames per sequence at most (0: all)")
    p.add_argument("--json", help="also write the result to this file")
    args = p.parse_args(argv)
    res = bench_tracking(args.dataset, args.method, args.budget_ms, args.servers, args.degrade, args.max_frames)
    from repose_ros.cli.output import print_result

    print_result(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main_bench_tracking())
