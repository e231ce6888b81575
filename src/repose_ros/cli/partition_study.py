r"""``repose partition-study``: candidate partitions of the same coarse boxes, end to end, and the planner's value.

Runs :mod:`repose_ros.evaluation.partition_study`: per frame and budget one coarse pass, then each
candidate clustering (``--candidates``) planned as deployed under one shared detection budget,
detected and fused; prints each candidate's mAP50:95 and blocks, how often the planner's value
orders two candidates as their frame APs do, and the mAP of picking the largest value per frame.

Example::

    repose partition-study --dataset visdrone:../shared/data/visdrone_people --frames 24 \\
        --budgets 1000,4000 --coarse-on-edge --json docs/bench/partition_study_visdrone.json
    repose partition-study --dataset synthetic --frames 2 --budgets 1000   # machinery only (fake detector)
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import List, Optional

from repose_ros.cli.args import add_policy_options, comma_list


def _parser() -> argparse.ArgumentParser:
    from repose_ros.core.config import BUDGET_CLOCKS
    from repose_ros.evaluation.partition_study import DEFAULT_CANDIDATES

    p = argparse.ArgumentParser(prog="repose partition-study", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="auto", help="as repose eval --dataset (KIND:PATH or synthetic)")
    p.add_argument("--mosaic", choices=["none", "2x2", "collage"], default="none", help="MOT only, as repose eval")
    p.add_argument("--frames", type=int, default=8, help="frames (mosaics) to study (default 8)")
    p.add_argument("--first", type=int, default=0,
                   help="skip this many frames (mosaics) first: study frames first+1 .. first+frames (default 0), "
                        "e.g. to collect training rows apart from the frames an evaluation scores")
    p.add_argument("--budgets", default="1000,4000", help="latency budgets in ms (default 1000,4000)")
    p.add_argument("--servers", type=int, default=4, help="edge servers S (default 4)")
    p.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES),
                   help="clusterings to compare: meanshift, greedy, rl_dca, one, bandwidth:F (mean shift at F x "
                        f"its bandwidth), kmeans:K (default {','.join(DEFAULT_CANDIDATES)})")
    p.add_argument("--coarse-on-edge", action=argparse.BooleanOptionalAction, default=None,
                   help="coarse stage on the edge servers, as repose eval (default: config/repose.yaml)")
    add_policy_options(p, "the rl_dca candidate")
    p.add_argument("--weights", default="builtin:yolov8s-person", help="detector weights")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of mosaics / collages")
    p.add_argument("--json", default=None, help="write the summary and every row here")
    p.add_argument("--budget-clock", choices=BUDGET_CLOCKS, default="measured",
                   help="coarse time charged to the budget: measured (as deployed) or the profile's prediction, "
                        "with which the rows do not depend on the machine's load (default measured)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main_partition_study(argv: Optional[List[str]] = None) -> int:
    """Run ``repose partition-study``; returns the exit code."""
    from repose_ros.core.dca.scale import SCALE_FEATURES
    from repose_ros.core.profiles import Profiles
    from repose_ros.evaluation import methods as ev_methods
    from repose_ros.evaluation import session
    from repose_ros.evaluation.partition_study import format_summary, parse_candidate, run_study, summarise

    args = _parser().parse_args(argv)
    try:
        candidates = [parse_candidate(c) for c in comma_list(args.candidates)]
        budgets = [float(b) for b in comma_list(args.budgets)]
    except ValueError as exc:
        raise SystemExit(f"repose partition-study: {exc}") from None
    if not candidates or not budgets or min(budgets) <= 0:
        raise SystemExit("repose partition-study: give at least one candidate and positive budgets")
    if args.first < 0:
        raise SystemExit("repose partition-study: --first must be >= 0")
    o = session.EvalOptions(dataset=args.dataset, mosaic=args.mosaic, frames=args.first + args.frames,
                            servers=args.servers,
                            budgets=budgets, methods=["meanshift"], policy=args.policy,
                            policy_check=args.policy_check, policy_check_value=args.policy_check_value,
                            search_share=args.search_share,
                            weights=args.weights,
                            threads=args.threads, seed=args.seed, coarse_on_edge=args.coarse_on_edge,
                            progress=False)
    dataset = session._load_dataset(o)
    dataset.frames = dataset.frames[args.first:]
    if not dataset.frames:
        raise SystemExit(f"repose partition-study: no frames after the first {args.first}")
    profiles = Profiles.default()
    zoo, fake, name, weights_path = session._build_zoo(o, dataset.fake, profiles)
    dep = session.deployment(o, profiles)
    runner = ev_methods.MethodRunner(zoo, profiles, servers=o.servers, conf=o.conf, iou=o.iou, model_name=name,
                                     fake=fake, weights_path=weights_path, device=o.device, **dep)
    image = dataset.frames[0].load()
    runner.begin_frame(dataset.frames[0])
    runner.warmup([ev_methods.MethodSpec("meanshift", f"{budgets[0]:g}", budget_ms=budgets[0])], image, {})
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset.frames), desc="partition-study", unit="frame", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        rows = run_study(dataset, runner, budgets, candidates, progress=(lambda _i: bar.update(1)) if bar else None,
                         budget_clock=args.budget_clock)
    finally:
        if bar is not None:
            bar.close()
    summary = summarise(rows, dataset.frames)
    print(f"data: {dataset.description} ({len(dataset.frames)} frames); S={o.servers}; detector: "
          f"{'fake (simulated)' if dataset.fake else o.weights}")
    print(format_summary(summary))
    if args.json:
        out = {"dataset": dataset.spec, "mosaic": args.mosaic, "seed": args.seed, "first": args.first,
               "frames": [f.name for f in dataset.frames], "servers": o.servers,
               "policy": dep["policy"], "policy_check": dep["policy_check"],
               "policy_check_value": dep["policy_check_value"], "search_share": dep["search_share"],
               "budget_clock": args.budget_clock, "feature_names": list(SCALE_FEATURES),
               "candidates": [c.name for c in candidates], "summary": summary,
               "rows": [r.to_dict() for r in rows], "duration_s": round(time.perf_counter() - t0, 1),
               "command": "repose partition-study " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print(f"repose partition-study: wrote {args.json}")
    return 0
