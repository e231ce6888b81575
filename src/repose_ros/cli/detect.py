"""``repose detect``: run the whole RE-POSE method in one process on images or videos.

For every frame it writes an annotated image (blocks with their model and server, detections)
and appends a record to ``detections.json``: detections in frame pixels, the plan and the
stage timings. Frames of a video are tracked (ByteTrack on the fused detections, as the
aggregator node does): each record has ``track_ids``, one per detection (-1: no track). The
edge servers are emulated in this process (serially), and the parallel latency they would give
is reported as ``parallel_ms``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List, Optional

from repose_ros.datasets.frames import VIDEO_EXT, iter_frames
from repose_ros.core.config import PARTITIONERS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose detect", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="image files, video files or folders of images")
    p.add_argument("--config", help="RePose config YAML (keys of RePoseConfig, e.g. config/detect.yaml)")
    p.add_argument("--out", default="repose_out", help="output folder (default ./repose_out)")
    p.add_argument("--budget-ms", type=float, help="latency budget of the parallel stage per frame")
    p.add_argument("--servers", type=int, help="number of edge servers to plan for")
    p.add_argument("--partitioner", choices=list(PARTITIONERS))
    p.add_argument("--device", help="cpu or cuda:N")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames per video (0: all)")
    p.add_argument("--stride", type=int, default=1, help="take every n-th video frame")
    p.add_argument("--no-images", action="store_true", help="write only the JSON")
    p.add_argument("--tracker", choices=["bytetrack", "botsort", "none"], default="bytetrack",
                   help="track ids for the frames of a video (default bytetrack; none: off)")
    return p


def main_detect(argv: Optional[List[str]] = None) -> int:
    """Run RE-POSE on the inputs; returns 0 on success."""
    args = _parser().parse_args(argv)
    import cv2
    from tqdm import tqdm

    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.tracking import Tracker, TrackerConfig
    from repose_ros.core.visualize import annotate

    cfg = RePoseConfig.from_yaml(args.config) if args.config else RePoseConfig()
    for attr, val in (("budget_ms", args.budget_ms), ("num_servers", args.servers),
                      ("partitioner", args.partitioner), ("device", args.device)):
        if val is not None:
            setattr(cfg, attr, val)
    cfg.__post_init__()
    repose = RePose(cfg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    tracker, tracked_source = None, None
    bar = tqdm(iter_frames(args.inputs, args.max_frames, args.stride), desc="repose detect", unit="frame")
    for source, index, frame in bar:
        dets, plan, timings = repose.process(frame)
        rects = [repose.last_partition.blocks[b.block_index].rect for b in plan.blocks]
        blocks = [((r.x0, r.y0, r.x1, r.y1), b.model_key, b.server_id) for r, b in zip(rects, plan.blocks)]
        ids = None
        if args.tracker != "none" and Path(source).suffix.lower() in VIDEO_EXT:
            if tracked_source != source:  # a new video: new tracks
                tracker, tracked_source = Tracker(TrackerConfig(method=args.tracker)), source
            ids = tracker.update(dets, key=index)
        name = f"{Path(source).stem}_{index:05d}"
        if not args.no_images:
            img = annotate(frame, blocks, dets, f"{len(dets)} detections, {len(blocks)} blocks, "
                           f"parallel {timings['parallel_ms']:.0f} ms")
            cv2.imwrite(str(out / f"{name}.jpg"), img)
        records.append({"source": source, "frame": index, "width": frame.shape[1], "height": frame.shape[0],
                        "detections": dets.to_dict(), "plan": plan.to_dict(),
                        **({"track_ids": [int(i) for i in ids]} if ids is not None else {}),
                        "timings_ms": {k: round(v, 2) for k, v in timings.items()}})
        bar.set_postfix(dets=len(dets), blocks=len(blocks), ms=f"{timings['total_ms']:.0f}")
    (out / "detections.json").write_text(json.dumps({"config": cfg.to_dict(), "frames": records}, indent=1))
    print(f"repose detect: {len(records)} frames -> {out}/ (annotated images, detections.json)")
    return 0
