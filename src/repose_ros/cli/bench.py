"""``repose bench``: overhead benchmarks of the partitioner.

``repose bench overhead`` measures, per frame, the partition time (mean-shift initial clustering
plus RL-DCA policy refinement) and the planning time (blocks from the clusters, then the
knapsack DP and the server assignment with the default profile) on PANDA-like layouts of
exactly N boxes in a 3840x2160 frame, and prints the medians as JSON.
``repose bench pipeline`` compares the launched ROS pipeline with the in-process core.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np

from repose_ros.cli.output import print_result

__all__ = ["bench_overhead", "main_bench"]


def bench_overhead(
    sizes: Sequence[int] = (50, 300, 1000),
    repeats: int = 50,
    seed: int = 0,
    policy_path: str | Path | None = None,
    use_policy: bool = True,
    frame_w: int = 3840,
    frame_h: int = 2160,
    warmup: int = 3,
    budget_ms: float = 2000.0,
    servers: int = 4,
) -> dict[str, Any]:
    """Measure the median partition time per frame for each box count.

    Each repeat draws a fresh PANDA-like layout with exactly N boxes (subsampled from enough
    crowds), then times ``RLDCA.cluster`` (initial clustering + policy refinement) with
    ``time.perf_counter``. Layout generation is not timed; the policy is loaded before timing.

    Args:
        sizes: box counts per frame.
        repeats: timed frames per size.
        seed: seed of the layouts.
        policy_path: RL-DCA policy (default: the shipped one).
        use_policy: False times mean shift alone.
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        warmup: untimed frames per size before timing.
        budget_ms: latency budget given to the planner.
        servers: number of edge servers the planner assigns blocks to.

    Returns:
        ``{"boxes": {"<N>": {"partition_ms": median, "plan_ms": median, "partition_p90_ms": p90,
        "plan_p90_ms": p90, "clusters": mean cluster count}}, "repeats": ..., "policy": ...}``.
    """
    from repose_ros.core.detections import Detections
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.datasets.layouts import panda_like_layout
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.dca.policy import RLDCA

    part = RLDCA(policy_path, use_policy=use_policy)
    if use_policy:
        part.load()
    # Planning as the partitioner node plans: RePose.plan_frame (knapsack, then budget spending).
    rp = RePose(RePoseConfig(num_servers=servers, partitioner="meanshift"), zoo=ModelZoo.fake())
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "boxes": {},
        "repeats": repeats,
        "policy": "meanshift_only" if not use_policy else str(policy_path or "default"),
        "budget_ms": budget_ms,
        "servers": servers,
    }
    for n in sizes:
        layouts = [panda_like_layout(rng, frame_w, frame_h, n_boxes=int(n)) for _ in range(repeats + warmup)]
        times, plan_times, ks = [], [], []
        for i, b in enumerate(layouts):
            t0 = time.perf_counter()
            labels = part.cluster(b, frame_w, frame_h)
            t1 = time.perf_counter()
            dets = Detections(b, np.full(len(b), 0.5, np.float32), np.zeros(len(b), np.int32))
            blocks = rp.blocks_of(dets, labels, frame_w, frame_h)
            rp.plan_frame(blocks, dets, frame_w, frame_h, budget_ms)
            t2 = time.perf_counter()
            if i >= warmup:
                times.append((t1 - t0) * 1e3)
                plan_times.append((t2 - t1) * 1e3)
                ks.append(int(labels.max()) + 1 if len(labels) else 0)
        out["boxes"][str(int(n))] = {
            "partition_ms": round(float(np.median(times)), 4),
            "plan_ms": round(float(np.median(plan_times)), 4),
            "partition_p90_ms": round(float(np.percentile(times, 90)), 4),
            "plan_p90_ms": round(float(np.percentile(plan_times, 90)), 4),
            "clusters": round(float(np.mean(ks)), 2),
        }
    return out


def main_bench(argv: Optional[List[str]] = None) -> int:
    """Run ``repose bench``; returns the exit code."""
    p = argparse.ArgumentParser(prog="repose bench", description="RE-POSE overhead benchmarks.")
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead", help="partition time per frame vs number of boxes")
    o.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000], help="box counts")
    o.add_argument("--repeats", type=int, default=50, help="frames per size")
    o.add_argument("--seed", type=int, default=0, help="layout seed")
    o.add_argument("--policy", default=None, help="RL-DCA policy .zip (default: shipped)")
    o.add_argument("--meanshift-only", action="store_true", help="time mean shift without the policy")
    o.add_argument("--budget-ms", type=float, default=2000.0, help="planner budget (default 2000)")
    o.add_argument("--servers", type=int, default=4, help="edge servers for the planner (default 4)")
    o.add_argument("--json", help="also write the result to this file")
    sub.add_parser("pipeline", help="launched ROS pipeline vs in-process core (see repose bench pipeline -h)",
                   add_help=False)
    sub.add_parser("transport", help="bytes, encode/decode time and mAP of raw / JPEG / PNG blocks (see -h)",
                   add_help=False)
    sub.add_parser("tracking", help="IDF1 / MOTA of the track ids on MOT sequences (see repose bench tracking -h)",
                   add_help=False)
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "pipeline":
        from repose_ros.cli.bench_pipeline import main_bench_pipeline

        return main_bench_pipeline(list(argv[1:]))
    if argv and argv[0] == "transport":
        from repose_ros.cli.bench_transport import main_bench_transport

        return main_bench_transport(list(argv[1:]))
    if argv and argv[0] == "tracking":
        from repose_ros.cli.bench_tracking import main_bench_tracking

        return main_bench_tracking(list(argv[1:]))
    args = p.parse_args(argv)
    res = bench_overhead(
        sizes=args.sizes,
        repeats=args.repeats,
        seed=args.seed,
        policy_path=args.policy,
        use_policy=not args.meanshift_only,
        budget_ms=args.budget_ms,
        servers=args.servers,
    )
    print_result(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
