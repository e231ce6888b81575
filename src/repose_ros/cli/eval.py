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
import datetime as _dt
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

DEFAULT_UNIFORM = "2x2-640,2x2-960,2x2-1280,2x2-1600,2x2-1920,2x2-2560,3x3-640,3x3-960,3x3-1280,3x3-1600"
DEFAULT_FULL_EXTRA = (2560, 3840)
"""Full-frame sizes beyond the profile's family, so that full frame spans RE-POSE's latency range."""
DEFAULT_BUDGETS = "1000,2000,4000"


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
    p.add_argument("--budgets", default=None, help=f"latency budgets in ms (default {DEFAULT_BUDGETS})")
    p.add_argument("--methods", default=",".join(FAMILIES),
                   help=f"comma-separated method families to run (default: all: {','.join(FAMILIES)})")
    p.add_argument("--full-sizes", default=None,
                   help="input sizes of full_frame (default: every size of the profile's model family, "
                        f"then {', '.join(str(v) for v in DEFAULT_FULL_EXTRA)})")
    p.add_argument("--uniform", default=None, help=f"uniform grids RxC-IMGSZ (default {DEFAULT_UNIFORM})")
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
    p.add_argument("--budget-reserve", type=float, default=None,
                   help="ms of the budget kept free of detector work for fusion and transfers (default: config)")
    p.add_argument("--conf", type=float, default=0.05, help="detection confidence threshold of every method")
    p.add_argument("--iou", type=float, default=0.5, help="NMS IoU of the detector and of fusion")
    p.add_argument("--profile", default="", help="latency/precision profile YAML (default: the package's)")
    p.add_argument("--policy", default="", help="RL-DCA policy (default: the shipped one)")
    p.add_argument("--weights", default="builtin:yolov8s-person", help="detector weights of every method")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    p.add_argument("--panda-box", choices=["full", "visible", "head"], default="full")
    p.add_argument("--min-visibility", type=float, default=0.0,
                   help="MOT: pedestrians less visible than this become ignore regions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--goals", choices=["auto", "sparse", "dense", "none"], default="auto",
                   help="which benchmark goals to judge (auto: dense for 2x2 mosaics, sparse otherwise)")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--plot", help="write the latency-accuracy plot (PNG) to this file")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for tests: 2 frames, few settings (1280x720 scenes when synthetic)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _floats(text: str) -> List[float]:
    return [float(v) for v in str(text).replace(" ", "").split(",") if v]


def _words(text: str) -> List[str]:
    return [v for v in str(text).replace(" ", "").split(",") if v]


def _resolve_dataset(spec: str) -> tuple:
    """Return ``(spec, message)``: auto becomes the shared MOT data when present, else synthetic."""
    if spec != "auto":
        return spec, ""
    from repose_ros.datasets.load import default_mot_root

    root = default_mot_root()
    if root is not None:
        return f"mot17:{root}", ""
    return "synthetic", ("repose eval: no annotated data given and ../shared/data/mot17_mini not found; "
                         "running on generated scenes with the FAKE detector (figures say nothing about "
                         "real accuracy). Give --dataset mot17:PATH, panda:IMAGES:JSON or coco:JSON:IMAGES.")


def _build_zoo(args: argparse.Namespace, fake_mode: bool, profiles: Any):
    from repose_ros.detectors.backends import make_zoo
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.detectors.weights import resolve_weights

    name = profiles.models[0].name
    if fake_mode:
        lat640 = 343.8 * (0.0 if args.quick else 0.01)
        fake = FakeDetector(None, dropout=0.05, jitter=0.03, min_input_px=12.0, latency_ms_at_640=lat640,
                            seed=args.seed)
        return ModelZoo.fake(fake, [name]), fake, name, None
    zoo = make_zoo("ultralytics", [name], [args.weights], args.device, args.threads or 0)
    return zoo, None, name, str(resolve_weights(args.weights))


def _load_dataset(args: argparse.Namespace):
    """Resolve ``--dataset`` and load its frames (SystemExit with the reason when that fails)."""
    from repose_ros.datasets import load as ds_load
    from repose_ros.datasets import mot as ds_mot

    spec, message = _resolve_dataset(args.dataset)
    if message:
        print(message, file=sys.stderr)
    n_frames = args.frames if args.frames is not None else (2 if args.quick else 8)
    if n_frames < 1 or args.servers < 1:
        raise SystemExit("--frames and --servers must be >= 1")
    try:
        ds_load.parse_dataset_spec(spec)
        size = (1280, 720) if args.quick else ds_mot.TARGET_4K
        dataset = ds_load.load_dataset(spec, n_frames, args.mosaic, args.seed, args.panda_box,
                                       args.min_visibility, synthetic_size=size)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"repose eval: {exc}") from None
    if not dataset.frames:
        raise SystemExit(f"repose eval: no frames in {spec}")
    return dataset


def _method_specs(args: argparse.Namespace, profiles: Any) -> list:
    """Return the methods to run: ``--methods`` with their sizes, grids and budgets (quick: a few of each)."""
    from repose_ros.evaluation import methods as ev_methods

    family_sizes = sorted({m.imgsz for m in profiles.models})
    if args.quick:
        full_sizes = [int(v) for v in _floats(args.full_sizes)] if args.full_sizes else family_sizes[:1] + \
            family_sizes[-1:]
        uniform = _words(args.uniform) if args.uniform else ["2x2-640"]
        budgets = _floats(args.budgets) if args.budgets else [1000.0, 4000.0]
    else:
        full_sizes = [int(v) for v in _floats(args.full_sizes)] if args.full_sizes else \
            family_sizes + [v for v in DEFAULT_FULL_EXTRA if v > max(family_sizes)]
        uniform = _words(args.uniform or DEFAULT_UNIFORM)
        budgets = _floats(args.budgets or DEFAULT_BUDGETS)
    try:
        return ev_methods.build_methods(_words(args.methods), full_sizes, uniform, budgets, _words(args.sahi),
                                        args.sahi_slice)
    except ValueError as exc:
        raise SystemExit(f"repose eval: {exc}") from None


def _deployment(args: argparse.Namespace, profiles: Any) -> Dict[str, Any]:
    """RE-POSE's deployment settings: the command line's, else config/repose.yaml's (coarse model, budget)."""
    deployed = _deployed_settings()
    coarse_key = args.coarse_model or deployed["coarse_model"]
    if coarse_key not in profiles.model_keys:
        if args.coarse_model:
            raise SystemExit(f"repose eval: --coarse-model {coarse_key} is not in the profile "
                             f"({', '.join(profiles.model_keys)})")
        coarse_key = next((m.key for m in profiles.models if m.imgsz == 640), profiles.models[0].key)
    return {
        "coarse_model": coarse_key,
        "coarse_on_edge": deployed["coarse_on_edge"] if args.coarse_on_edge is None else bool(args.coarse_on_edge),
        "budget_reserve_ms": (deployed["budget_reserve_ms"] if args.budget_reserve is None
                              else float(args.budget_reserve)),
        "coarse_sizes": ([int(v) for v in _floats(args.coarse_sizes)] if args.coarse_sizes is not None
                         else list(deployed["coarse_sizes"])),
        "coarse_budget_share": (deployed["coarse_budget_share"] if args.coarse_budget_share is None
                                else float(args.coarse_budget_share)),
    }


def _sahi_missing(specs: Sequence[Any]) -> Dict[str, str]:
    """Methods skipped because the ``sahi`` package is missing (key -> reason)."""
    skipped: Dict[str, str] = {}
    if any(s.family == "sahi" for s in specs):
        try:
            import sahi  # noqa: F401
        except ImportError as exc:
            for s in specs:
                if s.family == "sahi":
                    skipped[s.key] = f"sahi is not installed ({exc}); pip install sahi==0.12.8"
    return skipped


def _run_methods(dataset: Any, runner: Any, specs: Sequence[Any], skipped: Dict[str, str], progress_bar: bool):
    """Run every method on every frame (progress bar over runs); return ``(stats, seconds)``."""
    from repose_ros.evaluation import runner as ev_runner

    bar: Any = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset.frames) * len(specs), desc="eval", unit="run", file=sys.stderr)

    def progress(key: str) -> None:
        if bar is not None:
            bar.set_postfix_str(key, refresh=False)
            bar.update(1)

    t0 = time.perf_counter()
    try:
        stats = ev_runner.evaluate(dataset, runner, specs, progress, skipped)
    finally:
        if bar is not None:
            bar.close()
    return stats, time.perf_counter() - t0


def _notes(args: argparse.Namespace, dataset: Any, runner: Any, specs: Sequence[Any], dep: Dict[str, Any]) -> list:
    """How the figures were obtained: the data set's and the runner's notes, and what each latency means."""
    notes = list(dataset.notes) + list(runner.notes)
    notes.append("latency_ms: measured serial time per frame in this process (all stages); parallel_latency_ms: "
                 "MEASURED: coarse stage as deployed ("
                 + ("one block per edge server, the slowest counts" if dep["coarse_on_edge"]
                    else "one call on the camera host")
                 + f") + partition + planning + slowest of S={args.servers} servers' measured time (each server's "
                 "blocks one per detector call, as the edge node runs them) + fusion; full_frame and sahi: one device, "
                 f"= latency_ms. RE-POSE's budget covers the whole frame; {dep['budget_reserve_ms']:g} ms of it are "
                 "kept for fusion")
    notes.append("remix plans from the previous frame's coarse boxes (computed on that frame, not timed: they stand "
                 "for what REMIX keeps from earlier frames)")
    if any(s.family == "sahi" for s in specs):
        notes.append(f"sahi: get_sliced_prediction with {args.sahi_slice}px slices, 0.2 overlap, full-image pass "
                     "(its defaults), match threshold 0.5, class-agnostic merging (the model's two classes are both "
                     "'person'), confidence threshold --conf like every method; greedynmm is forced "
                     "(force_postprocess_type), since SAHI would switch to NMS below confidence 0.1")
    return notes


def _write_outputs(args: argparse.Namespace, dataset: Any, payload: Dict[str, Any]) -> None:
    """Print the table; write ``--json`` and ``--plot`` when asked."""
    from repose_ros.evaluation import report as ev_report

    _print_report(payload)
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


def main_eval(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose eval`` with command-line arguments ``argv``; return the exit code."""
    args = _parser().parse_args(argv)
    from repose_ros.cli.eval_goals import goal_checks
    from repose_ros.core.profiles import Profiles
    from repose_ros.evaluation import methods as ev_methods

    dataset = _load_dataset(args)
    profiles = Profiles.load(args.profile) if args.profile else Profiles.default()
    specs = _method_specs(args, profiles)
    zoo, fake, name, weights_path = _build_zoo(args, dataset.fake, profiles)
    dep = _deployment(args, profiles)
    runner = ev_methods.MethodRunner(zoo, profiles, servers=args.servers, conf=args.conf, iou=args.iou,
                                     model_name=name, policy=args.policy, fake=fake, weights_path=weights_path,
                                     device=args.device, coverage=args.coverage, **dep)
    skipped = _sahi_missing(specs)
    stats, elapsed = _run_methods(dataset, runner, specs, skipped, not args.no_progress)
    methods = {k: st.summary() for k, st in stats.items()}
    goals_kind = args.goals if args.goals != "auto" else ("dense" if args.mosaic == "2x2" else "sparse")
    widths = {f.width for f in dataset.frames}
    checks = [] if goals_kind == "none" else goal_checks(methods, goals_kind,
                                                         native_width=widths.pop() if len(widths) == 1 else None)
    payload = {
        "dataset": dataset.spec, "description": dataset.description, "frames": len(dataset.frames),
        "frame_names": [f.name for f in dataset.frames],
        "n_gt": int(sum(len(f.gt) for f in dataset.frames)),
        "n_ignore": int(sum(len(f.ignore) for f in dataset.frames)),
        "detector": "fake (simulated)" if dataset.fake else args.weights,
        "servers": args.servers,
        "coarse_on_edge": dep["coarse_on_edge"], "coarse_model": dep["coarse_model"],
        "coarse_sizes": dep["coarse_sizes"], "coarse_budget_share": dep["coarse_budget_share"],
        "coverage": bool(args.coverage), "budget_reserve_ms": dep["budget_reserve_ms"],
        "latency_measured": True, "conf": args.conf,
        "methods": methods, "skipped": skipped, "goals": checks,
        "notes": _notes(args, dataset, runner, specs, dep),
        "machine": {"host": platform.node(), "python": platform.python_version(), "cpu": _cpu(),
                    "device": args.device, "threads": getattr(zoo.detector(f"{name}@640"), "torch_threads", None)},
        "command": "repose eval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "duration_s": round(elapsed, 1),
    }
    if dataset.frames and "free_fraction" in dataset.frames[0].info:
        payload["collage_free_fraction"] = [round(float(f.info["free_fraction"]), 3) for f in dataset.frames]
    _write_outputs(args, dataset, payload)
    return 0


def _deployed_settings() -> Dict[str, Any]:
    """``coarse_on_edge`` and ``budget_reserve_ms`` as config/repose.yaml deploys them (core defaults if absent)."""
    from repose_ros.core.config import RePoseConfig

    out = {"coarse_on_edge": RePoseConfig.coarse_on_edge, "budget_reserve_ms": RePoseConfig.budget_reserve_ms,
           "coarse_model": RePoseConfig.coarse_model, "coarse_sizes": list(RePoseConfig.coarse_sizes),
           "coarse_budget_share": RePoseConfig.coarse_budget_share}
    try:
        import yaml

        from repose_ros.core.paths import find_config_file

        with open(find_config_file("repose.yaml"), encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        for node in data.values():
            params = (node or {}).get("ros__parameters", {}) if isinstance(node, dict) else {}
            coarse = params.get("coarse", {}) if isinstance(params.get("coarse"), dict) else {}
            if "on_edge" in coarse:
                out["coarse_on_edge"] = bool(coarse["on_edge"])
            if "coarse.on_edge" in params:
                out["coarse_on_edge"] = bool(params["coarse.on_edge"])
            if "coarse.model" in params:
                out["coarse_model"] = str(params["coarse.model"])
            if "coarse.sizes" in params:
                out["coarse_sizes"] = [int(v) for v in params["coarse.sizes"] if int(v) > 0]
            if "coarse.budget_share" in params:
                out["coarse_budget_share"] = float(params["coarse.budget_share"])
            if "budget_reserve_ms" in params:
                out["budget_reserve_ms"] = float(params["budget_reserve_ms"])
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return out


def _cpu() -> str:
    from repose_ros.profiling.machine import cpu_model

    return cpu_model()


def _print_report(payload: Dict[str, Any]) -> None:
    from repose_ros.evaluation.report import format_table

    print(f"data: {payload['description']} ({payload['frames']} frames, {payload['n_gt']} people, "
          f"{payload['n_ignore']} ignore regions); detector: {payload['detector']}; S={payload['servers']}")
    for note in payload["notes"]:
        if note.startswith("FAKE"):
            print(f"NOTE: {note}")
    print(format_table(payload["methods"]))
    for key, why in payload["skipped"].items():
        print(f"skipped {key}: {why}")
    if payload["goals"]:
        print("goals:")
        for g in payload["goals"]:
            state = {True: "met", False: "MISSED", None: "n/a"}[g["met"]]
            print(f"  [{state}] {g['goal']}: {g['detail']}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_eval())
