"""``repose bench``: overhead benchmarks of the partitioner.

``repose bench overhead`` measures, per frame, what the partitioner node runs: the partition
(mean-shift initial clustering plus the RL-DCA policy, with the planner's check of its choice when
``policy_check``, then the blocks) and the planning (knapsack DP, server assignment and budget
spending with the default profile) under the budget the partition left, sharing one memo per frame,
on PANDA-like layouts of exactly N boxes in a 3840x2160 frame, and prints the medians as JSON.
``repose bench pipeline`` compares the launched ROS pipeline with the in-process core.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from repose_ros.cli.args import add_policy_options
from repose_ros.cli.output import print_result
from repose_ros.profiling.overhead import bench_overhead

__all__ = ["main_bench"]


def main_bench(argv: Optional[List[str]] = None) -> int:
    """Run ``repose bench``; returns the exit code."""
    p = argparse.ArgumentParser(prog="repose bench", description="RE-POSE overhead benchmarks.")
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead", help="partition and planning time per frame vs number of boxes")
    o.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000], help="box counts")
    o.add_argument("--repeats", type=int, default=50, help="frames per size")
    o.add_argument("--seed", type=int, default=0, help="layout seed")
    add_policy_options(o, "the timed rl_dca")
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
    sub.add_parser("batching", help="k same-shape blocks in k calls or one batch (see repose bench batching -h)",
                   add_help=False)
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "pipeline":
        from repose_ros.cli.bench_pipeline import main_bench_pipeline

        return main_bench_pipeline(list(argv[1:]))
    if argv and argv[0] == "transport":
        from repose_ros.cli.bench_transport import main_bench_transport

        return main_bench_transport(list(argv[1:]))
    if argv and argv[0] == "batching":
        from repose_ros.cli.bench_batching import main_bench_batching

        return main_bench_batching(list(argv[1:]))
    if argv and argv[0] == "tracking":
        from repose_ros.cli.bench_tracking import main_bench_tracking

        return main_bench_tracking(list(argv[1:]))
    args = p.parse_args(argv)
    from repose_ros.evaluation.session import policy_settings

    chosen = policy_settings(args.policy, args.policy_check, policy_check_value=args.policy_check_value,
                             search_share=args.search_share)
    res = bench_overhead(
        sizes=args.sizes,
        repeats=args.repeats,
        seed=args.seed,
        policy_path=chosen["policy"],
        use_policy=not args.meanshift_only,
        policy_check=chosen["policy_check"],
        policy_check_value=chosen["policy_check_value"],
        search_share=chosen["search_share"],
        budget_ms=args.budget_ms,
        servers=args.servers,
    )
    print_result(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
