"""``repose bench pipeline``: the launched ROS pipeline against the in-process core.

Both run the same frames with the same configuration. In-process, ``RePose.process`` runs
every stage serially in one process; the pipeline runs the frontend, S edge detector
processes and the aggregator, fed closed-loop (the next frame is sent when the previous one is
answered). Reported per setting: mean and p95 latency per frame, throughput, the ratio to
the in-process latency, and budget adherence (share of frames whose measured latency stays
within the planner's budget, and p95 latency / budget).
"""
from __future__ import annotations

import argparse
import json
import statistics
from typing import List, Optional

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose bench pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=4, help="frames per setting (default 4)")
    p.add_argument("--servers", default="1,2,4", help="comma-separated edge server counts (default 1,2,4)")
    p.add_argument("--backend", choices=["ultralytics", "fake"], default="ultralytics")
    p.add_argument("--budget-ms", type=float, default=None,
                   help="planner budget (default: the partitioner's budget_ms in config/repose.yaml)")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--log-dir", default="/tmp", help="where the launch logs go")
    return p


def _p95(values: List[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def main_bench_pipeline(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; prints a table and optionally writes JSON."""
    args = _parser().parse_args(argv)
    import yaml

    from ..core.demo_data import demo_frames
    from ..core.detector import ModelZoo
    from ..core.paths import find_config_file
    from ..core.pipeline import RePose, RePoseConfig
    from ..nodes.backends import make_zoo
    from ..ros.launched import LaunchedPipeline

    params = yaml.safe_load(find_config_file("repose.yaml").read_text())
    part = params["/**/partitioner"]["ros__parameters"]
    budget = args.budget_ms or float(part["budget_ms"])
    frames, what = demo_frames(args.frames + 1, prefer_clip=args.backend != "fake")
    servers = [int(s) for s in args.servers.split(",")]
    results = {"input": what, "backend": args.backend, "budget_ms": budget, "frames": args.frames, "settings": {}}

    for s in servers:
        cfg = RePoseConfig(num_servers=s, budget_ms=budget, partitioner=part["partitioner"])
        zoo: ModelZoo = make_zoo(args.backend, ["yolov8s"], ["builtin:yolov8s-person"])
        core = RePose(cfg, zoo=zoo)
        core.process(frames[0])  # warm-up: model loading is not part of a frame's latency
        lat, par = [], []
        for f in frames[1:]:
            _, _, t = core.process(f)
            lat.append(t["total_ms"])
            par.append(t["parallel_ms"])
        results["settings"][f"inprocess@{s}"] = {
            "servers": s, "latency_ms_mean": statistics.mean(lat), "latency_ms_p95": _p95(lat),
            "parallel_estimate_ms_mean": statistics.mean(par)}
        print(f"in-process, planned for {s} servers: {statistics.mean(lat):.0f} ms/frame "
              f"(serial; parallel estimate {statistics.mean(par):.0f} ms)", flush=True)

        with LaunchedPipeline(s, args.backend, namespace=f"bench{s}",
                              log_path=f"{args.log_dir}/repose_bench_{s}.log") as pipe:
            pipe.wait_ready()
            pipe.send(frames[0])  # warm-up
            walls, within, degraded = [], 0, 0
            for f in frames[1:]:
                ans = pipe.send(f)
                if ans is None:
                    degraded += 1
                    continue
                walls.append(ans.wall_ms)
                within += int(ans.wall_ms <= budget)
                degraded += int(ans.report.degraded)
        total_s = sum(walls) / 1000.0
        ros = {"servers": s, "latency_ms_mean": statistics.mean(walls) if walls else None,
               "latency_ms_p95": _p95(walls), "throughput_fps": len(walls) / total_s if total_s else None,
               "answered": len(walls), "degraded": degraded,
               "ratio_to_inprocess": (statistics.mean(walls) / statistics.mean(lat)) if walls else None,
               "within_budget_share": within / max(1, len(walls)),
               "p95_over_budget": _p95(walls) / budget if walls else None}
        results["settings"][f"ros@{s}"] = ros
        print(f"ROS pipeline, {s} edge processes: {ros['latency_ms_mean']:.0f} ms/frame mean, "
              f"p95 {ros['latency_ms_p95']:.0f} ms, ratio to in-process {ros['ratio_to_inprocess']:.2f}, "
              f"within budget {ros['within_budget_share']:.0%}, p95/budget {ros['p95_over_budget']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0
