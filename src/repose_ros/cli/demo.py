"""``repose demo``: launch the ROS 2 pipeline and feed it the built-in default input.

It starts ``ros2 launch repose_ros pipeline.launch.py`` as separate processes, waits until
every edge detector reports active, publishes each demo frame (4K) on the pipeline's input
topic, prints the per-frame result from ``/repose/detections`` and ``/repose/frame_report``,
saves the annotated debug images, prints a latency summary and shuts the pipeline down.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import List, Optional


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=4, help="number of 4K frames to send (default 4)")
    p.add_argument("--servers", type=int, default=2,
                   help="edge detector processes (default 2: one per core of a 2-core machine)")
    p.add_argument("--backend", choices=["auto", "ultralytics", "fake"], default="auto",
                   help="detector back-end; auto: ultralytics on the demo clip, fake on generated scenes")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each frame's answer")
    p.add_argument("--out", default=None, help="folder for debug images and results.json "
                   "(default .cache/demo/out)")
    p.add_argument("--namespace", default="repose")
    return p


def main_demo(argv: Optional[List[str]] = None) -> int:
    """Run the demo; exit code 0 when every frame got exactly one answer."""
    args = _parser().parse_args(argv)
    import cv2
    import numpy as np

    from repose_ros.datasets.demo import demo_frames
    from repose_ros.ros.convert import image_to_bgr
    from repose_ros.testing.launched import LaunchedPipeline

    root = Path(os.environ.get("REPOSE_ROOT", Path.cwd()))
    out_dir = Path(args.out) if args.out else root / ".cache" / "demo" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, what = demo_frames(args.frames, prefer_clip=args.backend != "fake")
    backend = args.backend if args.backend != "auto" else ("fake" if "generated" in what else "ultralytics")
    print(f"[demo] input: {what}; backend {backend}; {args.servers} edge servers", flush=True)
    pipe = LaunchedPipeline(args.servers, backend, args.namespace, log_path=str(out_dir / "launch.log"))
    print(f"[demo] {' '.join(pipe.cmd)}  (log: {out_dir / 'launch.log'})", flush=True)
    rows = []
    try:
        with pipe:
            print(f"[demo] pipeline ready in {pipe.wait_ready():.1f} s", flush=True)
            for i, frame in enumerate(frames):
                ans = pipe.send(frame, timeout=args.timeout, want_debug=True)
                if ans is None:
                    print(f"[demo] frame {i}: NO ANSWER within {args.timeout:.0f} s", flush=True)
                    rows.append({"frame": i, "answered": False})
                    continue
                if ans.debug_image is not None:
                    cv2.imwrite(str(out_dir / f"frame_{i:03d}.png"), image_to_bgr(ans.debug_image))
                rep = ans.report
                scores = [d.results[0].hypothesis.score for d in ans.detections.detections if d.results]
                row = {"frame": i, "answered": True, "detections": len(ans.detections.detections),
                       "blocks": int(rep.blocks_expected), "blocks_received": int(rep.blocks_received),
                       "degraded": bool(rep.degraded), "drop_reason": rep.drop_reason,
                       "latency_ms": round(ans.wall_ms, 1), "e2e_ms": round(float(rep.e2e_ms), 1),
                       "budget_ms": float(rep.budget_ms), "within_budget": bool(rep.within_budget),
                       "blocks_skipped": int(rep.blocks_skipped),
                       "mean_score": round(float(np.mean(scores)), 3) if scores else None}
                rows.append(row)
                skipped = f" ({row['blocks_skipped']} left out)" if row["blocks_skipped"] else ""
                print(f"[demo] frame {i}: {row['detections']} people, {row['blocks_received']}/{row['blocks']} "
                      f"blocks{skipped}{' DEGRADED (' + rep.drop_reason + ')' if row['degraded'] else ''}, "
                      f"latency {ans.wall_ms:.0f} ms (from arrival {rep.e2e_ms:.0f} ms, budget "
                      f"{rep.budget_ms:.0f} ms)", flush=True)
    except (KeyboardInterrupt, RuntimeError) as exc:
        print(f"[demo] stopped: {exc}", file=sys.stderr, flush=True)
        return 1
    answered = [r for r in rows if r.get("answered")]
    lat = [r["latency_ms"] for r in answered]
    summary = {"input": what, "backend": backend, "servers": args.servers, "frames_sent": len(frames),
               "frames_answered": len(answered),
               "latency_ms": {"mean": round(statistics.mean(lat), 1), "p50": round(statistics.median(lat), 1),
                              "max": round(max(lat), 1)} if lat else None,
               "frames": rows}
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2))
    if lat:
        print(f"[demo] {len(answered)}/{len(frames)} frames answered; latency mean {statistics.mean(lat):.0f} ms, "
              f"median {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms", flush=True)
    print(f"[demo] annotated frames and results.json in {out_dir}", flush=True)
    return 0 if len(answered) == len(frames) else 1
