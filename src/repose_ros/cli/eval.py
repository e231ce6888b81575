r"""``repose eval``: accuracy and latency of RE-POSE against its baselines, in one run.

Methods (all with the same detector weights): ``full_frame`` at each input size of the model
family, ``uniform`` grids with 30% overlap spread over the S servers (one tile per server and
round), ``sahi`` (the PyPI library: its default greedy-NMM/IOS merging and NMS/IoU merging),
``remix`` (REMIX-style: partition and per-block models planned from the previous frame's boxes
under the same budget), ``meanshift`` (RE-POSE without the RL policy), ``greedy`` (RE-POSE with a
one-step look-ahead on the planner's value instead of the policy) and ``rl_dca`` (RE-POSE).
Metrics: COCO mAP50:95, mAP50 and AP by object size with ignore regions (pycocotools); latency:
measured, never modelled: every server's blocks run one per detector call (as the edge detector
node runs them) and each server is timed on its own; a frame's parallel latency is the coarse
stage as deployed + partition + plan + the slowest server's measured time + fusion.

Examples::

    repose eval --dataset mot17:../shared/data/mot17_mini --mosaic collage --frames 8 \\
        --json docs/eval/collage.json --plot docs/eval/collage.png
    repose eval --dataset synthetic --quick        # no data: fake detector, machinery only
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, Optional, Sequence

from repose_ros.cli.args import add_policy_options, comma_list
from repose_ros.core.config import BUDGET_CLOCKS
from repose_ros.evaluation.session import (DEFAULT_BUDGETS, DEFAULT_FULL_EXTRA, DEFAULT_UNIFORM, EvalOptions,
                                           run_eval)


def _parser() -> argparse.ArgumentParser:
    from repose_ros.evaluation.methods import FAMILIES

    p = argparse.ArgumentParser(prog="repose eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="auto",
                   help="KIND:PATH - mot17:ROOT, visdrone:ROOT, panda:IMAGES_ROOT:JSON, coco:JSON:IMAGES or synthetic; "
                        "default auto: ../shared/data/mot17_mini when present, else synthetic")
    p.add_argument("--mosaic", choices=["none", "2x2", "collage"], default="none",
                   help="MOT only: 2x2 mosaics of 1080p frames or PANDA-like collages (3840x2160)")
    p.add_argument("--frames", type=int, default=None, help="number of frames (mosaics) to evaluate (default 8)")
    p.add_argument("--servers", type=int, default=4, help="edge servers S (default 4)")
    p.add_argument("--budgets", default=None,
                   help=f"latency budgets in ms (default {','.join(f'{b:g}' for b in DEFAULT_BUDGETS)})")
    p.add_argument("--methods", default=",".join(FAMILIES),
                   help=f"comma-separated method families to run (default: all: {','.join(FAMILIES)})")
    p.add_argument("--full-sizes", default=None,
                   help="input sizes of full_frame (default: every size of the profile's model family, "
                        f"then {', '.join(str(v) for v in DEFAULT_FULL_EXTRA)})")
    p.add_argument("--uniform", default=None, help=f"uniform grids RxC-IMGSZ (default {','.join(DEFAULT_UNIFORM)})")
    p.add_argument("--sahi", default="greedynmm,nms", help="SAHI merges: greedynmm (its default), nms")
    p.add_argument("--sahi-slice", type=int, default=640, help="SAHI slice size and model input size")
    p.add_argument("--coarse-on-edge", action=argparse.BooleanOptionalAction, default=None,
                   help="RE-POSE's coarse stage: one block per edge server (as in the paper) instead of one call on "
                        "the camera host (default: the coarse.on_edge setting of config/repose.yaml)")
    p.add_argument("--coarse-model", default=None,
                   help="model key of RE-POSE's coarse stage (default: coarse.model of config/repose.yaml)")
    p.add_argument("--coarse-sizes", default=None,
                   help="candidate coarse input sizes (comma-separated; the coarse model's weights): per budget "
                        "the largest whose predicted coarse stage fits --coarse-budget-share of it (default: "
                        "coarse.sizes of config/repose.yaml; empty: the coarse model only)")
    p.add_argument("--coarse-budget-share", type=float, default=None,
                   help="share of the budget the coarse stage may take when choosing among --coarse-sizes "
                        "(default: config)")
    p.add_argument("--coverage", action=argparse.BooleanOptionalAction, default=False,
                   help="RE-POSE: spend budget left over by the planned blocks on coverage blocks over regions no "
                        "block covers (RePoseConfig.coverage)")
    p.add_argument("--plan-max-person-height", type=float, default=None,
                   help="RE-POSE's planner: enlarge no block past the point where its coarse boxes' median height "
                        "reaches this at the model input, px; 0: off (default: config)")
    p.add_argument("--budget-clock", choices=BUDGET_CLOCKS, default="measured",
                   help="RE-POSE's detection budget: the budget less the measured coarse stage and partition (as "
                        "deployed), or less the profile's predicted coarse stage only (plans that do not follow how "
                        "busy the machine is, for comparing partitioners; latencies are measured either way)")
    p.add_argument("--budget-reserve", type=float, default=None,
                   help="ms of the budget kept free of detector work for fusion and transfers (default: config)")
    p.add_argument("--conf", type=float, default=0.05, help="detection confidence threshold of every method")
    p.add_argument("--iou", type=float, default=0.5, help="NMS IoU of the detector and of fusion")
    p.add_argument("--profile", default="", help="latency/precision profile YAML (default: the package's)")
    add_policy_options(p)
    p.add_argument("--weights", default="builtin:yolov8s-person", help="detector weights of every method")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    p.add_argument("--panda-box", choices=["full", "visible", "head"], default="full")
    p.add_argument("--min-visibility", type=float, default=0.0,
                   help="MOT: pedestrians less visible than this become ignore regions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--goals", choices=["auto", "sparse", "dense", "none"], default="auto",
                   help="which benchmark goals to judge (auto: dense for 2x2 mosaics, sparse otherwise)")
    p.add_argument("--compare-to", default="meanshift", metavar="FAMILY",
                   help="pair every method that has a budget with this family at the same budget: mAP50:95 "
                        "difference and its 95%% bootstrap interval over the frames (default meanshift; none: off)")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="bootstrap resamples of the frames for --compare-to (default 1000; 200 with --quick)")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--record", metavar="PATH",
                   help="write what happened to each person as JSON Lines, one line per frame and method: blocks "
                        "(model, input size, enlargement), coarse boxes, each detection's fate and each person's "
                        "finder (repose_ros/evaluation/record.py)")
    p.add_argument("--plot", help="write the latency-accuracy plot (PNG) to this file")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for tests: 2 frames, few settings (1280x720 scenes when synthetic)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _write_outputs(args: argparse.Namespace, dataset: Any, payload: Dict[str, Any]) -> None:
    """Print the table; write ``--json`` and ``--plot`` when asked."""
    from repose_ros.evaluation import report as ev_report

    _print_report(payload)
    if payload.get("record"):
        print(f"repose eval: wrote {payload['record']['path']} ({payload['record']['lines']} lines)", file=sys.stderr)
    if args.json:
        path = ev_report.write_json(args.json, payload)
        print(f"repose eval: wrote {path}", file=sys.stderr)
    if args.plot:
        title = (f"{dataset.title or dataset.description}: {len(dataset.frames)} frames, {payload['n_gt']} people, "
                 f"S={args.servers}")
        if dataset.fake:
            title = "FAKE DETECTOR - " + title
        path = ev_report.plot_results(payload["methods"], args.plot, title[:100])
        print(f"repose eval: wrote {path}", file=sys.stderr)


def _options(args: argparse.Namespace) -> EvalOptions:
    """Return the parsed command line as :class:`EvalOptions`, comma lists split.

    An absent or empty list option means the default; ``--coarse-sizes ""`` means none (the coarse model only).
    """
    def listed(text: Optional[str], cast: Any = str) -> Optional[list]:
        return comma_list(text, cast) if text else None

    def size(v: str) -> int:
        return int(float(v))

    values = {k: v for k, v in vars(args).items() if k in EvalOptions.__dataclass_fields__}
    values.update(methods=comma_list(args.methods), sahi=comma_list(args.sahi), budgets=listed(args.budgets, float),
                  full_sizes=listed(args.full_sizes, size), uniform=listed(args.uniform),
                  coarse_sizes=None if args.coarse_sizes is None else comma_list(args.coarse_sizes, size),
                  progress=not args.no_progress,
                  bootstrap=args.bootstrap if args.bootstrap is not None else (200 if args.quick else 1000))
    return EvalOptions(**values)


def main_eval(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose eval`` with command-line arguments ``argv``; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    from repose_ros.cli.eval_goals import goal_checks
    from repose_ros.evaluation.methods import FAMILIES

    if args.bootstrap is not None and args.bootstrap < 0:
        parser.error("--bootstrap must be >= 0")
    if args.compare_to not in (*FAMILIES, "none"):
        parser.error(f"--compare-to must be one of {', '.join(FAMILIES)} or none, not {args.compare_to!r}")
    from repose_ros.profiling.machine import cpu_model

    options = _options(args)
    goals_kind = args.goals if args.goals != "auto" else ("dense" if args.mosaic == "2x2" else "sparse")

    def judge(methods: Dict[str, Any], width: Optional[int]) -> list:
        return goal_checks(methods, goals_kind, native_width=width)

    dataset, payload = run_eval(options, "repose eval " + " ".join(argv if argv is not None else sys.argv[1:]),
                                None if goals_kind == "none" else judge)
    payload["machine"]["cpu"] = cpu_model()
    _write_outputs(args, dataset, payload)
    return 0


def _print_report(payload: Dict[str, Any]) -> None:
    from repose_ros.evaluation.paired import format_paired
    from repose_ros.evaluation.report import format_table

    print(f"data: {payload['description']} ({payload['frames']} frames, {payload['n_gt']} people, "
          f"{payload['n_ignore']} ignore regions); detector: {payload['detector']}; S={payload['servers']}")
    for note in payload["notes"]:
        if note.startswith("FAKE"):
            print(f"NOTE: {note}")
    print(format_table(payload["methods"]))
    paired = {k: m["paired"] for k, m in payload["methods"].items() if "paired" in m}
    if paired:
        few = " (few frames: a coarse interval)" if payload["frames"] < 10 else ""
        print(f"paired with {payload['paired']['reference']} on the same frames, bootstrap over frames{few}:")
        print(format_paired(paired))
    for key, why in payload["skipped"].items():
        print(f"skipped {key}: {why}")
    if payload["goals"]:
        print("goals:")
        for g in payload["goals"]:
            state = {True: "met", False: "MISSED", None: "n/a"}[g["met"]]
            print(f"  [{state}] {g['goal']}: {g['detail']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_eval())
