"""One ``repose eval`` run: data, methods, RE-POSE's deployment settings, the loop, the result.

:func:`run_eval` takes :class:`EvalOptions` (the command line's values, lists parsed) and
returns the data set and the JSON-ready result; printing, files and the judgement of goals stay
with the command (:mod:`repose_ros.cli.eval`, :mod:`repose_ros.cli.eval_goals`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from repose_ros.evaluation.methods import FAMILIES
from repose_ros.evaluation.paired import INTERVAL_LEVEL
from repose_ros.evaluation.record import Recorder

DEFAULT_UNIFORM = ("2x2-640", "2x2-960", "2x2-1280", "2x2-1600", "2x2-1920", "2x2-2560", "3x3-640", "3x3-960",
                   "3x3-1280", "3x3-1600")
DEFAULT_FULL_EXTRA = (2560, 3840)
"""Full-frame sizes beyond the profile's family, so that full frame spans RE-POSE's latency range."""
DEFAULT_BUDGETS = (1000.0, 2000.0, 4000.0)


@dataclass
class EvalOptions:
    """What ``repose eval`` was asked (see its ``--help``); a list option that is None takes the default."""

    dataset: str = "auto"
    mosaic: str = "none"
    frames: Optional[int] = None
    servers: int = 4
    budgets: Optional[List[float]] = None
    methods: List[str] = field(default_factory=lambda: list(FAMILIES))
    full_sizes: Optional[List[int]] = None
    uniform: Optional[List[str]] = None
    sahi: List[str] = field(default_factory=lambda: ["greedynmm", "nms"])
    sahi_slice: int = 640
    coarse_on_edge: Optional[bool] = None
    coarse_model: Optional[str] = None
    coarse_sizes: Optional[List[int]] = None
    coarse_budget_share: Optional[float] = None
    coverage: bool = False
    plan_max_person_height: Optional[float] = None  # None: as config/repose.yaml deploys it
    budget_reserve: Optional[float] = None
    conf: float = 0.05
    iou: float = 0.5
    profile: str = ""
    policy: Optional[str] = None  # None: the deployed one (config/repose.yaml)
    policy_check: Optional[bool] = None  # None: the deployed setting
    policy_check_value: Optional[str] = None  # None: the deployed setting
    search_share: Optional[float] = None  # None: the deployed setting
    budget_clock: str = "measured"  # RePose.run's budget_clock for RE-POSE's methods
    weights: str = "builtin:yolov8s-person"
    device: str = "cpu"
    threads: Optional[int] = None
    panda_box: str = "full"
    min_visibility: float = 0.0
    seed: int = 0
    quick: bool = False
    progress: bool = True
    compare_to: str = "meanshift"
    bootstrap: int = 1000
    record: Optional[str] = None  # JSON Lines: what happened to each person (evaluation/record.py)


def run_eval(o: EvalOptions, command: str = "repose eval",
             goal_checks: Optional[Callable[[Dict[str, Any], Optional[int]], list]] = None
             ) -> Tuple[Any, Dict[str, Any]]:
    """Run every method on the data set; return ``(dataset, result)`` (the JSON of ``repose eval``).

    Args:
        command: the command line recorded in the result.
        goal_checks: ``(methods, native_width) -> checks`` judged on the summaries (``goals``); None: none.
    """
    from repose_ros.core.profiles import Profiles
    from repose_ros.evaluation import methods as ev_methods

    dataset = _load_dataset(o)
    profiles = Profiles.load(o.profile) if o.profile else Profiles.default()
    specs = _method_specs(o, profiles)
    zoo, fake, name, weights_path = _build_zoo(o, dataset.fake, profiles)
    dep = deployment(o, profiles)
    runner = ev_methods.MethodRunner(zoo, profiles, servers=o.servers, conf=o.conf, iou=o.iou,
                                     model_name=name, fake=fake, weights_path=weights_path,
                                     device=o.device, coverage=o.coverage, budget_clock=o.budget_clock, **dep)
    skipped = _sahi_missing(specs)
    recorder = Recorder(o.record) if o.record else None
    with recorder if recorder is not None else contextlib.nullcontext():
        stats, elapsed = _run_methods(dataset, runner, specs, skipped, o.progress, recorder)
    methods = {k: st.summary() for k, st in stats.items()}
    matches = {k: st.evaluator.frame_matches() for k, st in stats.items()}
    _frame_scores(matches, methods)
    paired = _paired(o, matches, methods)
    widths = {f.width for f in dataset.frames}
    checks = [] if goal_checks is None else goal_checks(methods, widths.pop() if len(widths) == 1 else None)
    from repose_ros.core.config import RePoseConfig

    result = {
        "dataset": dataset.spec, "description": dataset.description, "frames": len(dataset.frames),
        "frame_names": [f.name for f in dataset.frames],
        "n_gt": int(sum(len(f.gt) for f in dataset.frames)),
        "n_ignore": int(sum(len(f.ignore) for f in dataset.frames)),
        "detector": "fake (simulated)" if dataset.fake else o.weights,
        "servers": o.servers,
        "coarse_on_edge": dep["coarse_on_edge"], "coarse_model": dep["coarse_model"],
        "coarse_sizes": dep["coarse_sizes"], "coarse_budget_share": dep["coarse_budget_share"],
        "coarse_artefact_span": RePoseConfig.coarse_artefact_span,
        "coarse_artefact_aspect": RePoseConfig.coarse_artefact_aspect,
        "coverage": bool(o.coverage), "budget_reserve_ms": dep["budget_reserve_ms"],
        "policy": dep["policy"], "policy_check": dep["policy_check"], "policy_check_value": dep["policy_check_value"],
        "search_share": dep["search_share"], "plan_max_person_height": dep["plan_max_person_height"],
        "budget_clock": o.budget_clock, "latency_measured": True, "conf": o.conf,
        "methods": methods, "skipped": skipped, "goals": checks,
        "paired": {"reference": o.compare_to if paired else None, "resamples": o.bootstrap, "level": INTERVAL_LEVEL,
                   "methods": sorted(paired)},
        "notes": _notes(o, dataset, runner, specs, dep),
        "machine": {"host": platform.node(), "python": platform.python_version(),
                    "device": o.device, "threads": getattr(zoo.detector(f"{name}@640"), "torch_threads", None)},
        "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "duration_s": round(elapsed, 1),
    }
    if recorder is not None:
        result["record"] = {"path": str(recorder.path), "lines": recorder.lines}
    if dataset.frames and "free_fraction" in dataset.frames[0].info:
        result["collage_free_fraction"] = [round(float(f.info["free_fraction"]), 3) for f in dataset.frames]
    return dataset, result


def _frame_scores(matches: Dict[str, Any], methods: Dict[str, Dict[str, Any]]) -> None:
    """Give each method entry its mAP50:95 per frame (``frame_map50_95``, in ``frame_names`` order).

    What COCO would report on each frame alone (None for a frame without people that count), so
    that runs on different frames can be pooled and single frames looked at.
    """
    from repose_ros.evaluation.paired import map50_95

    for key, frames in matches.items():
        scores = [map50_95([m]) for m in frames]
        methods[key]["frame_map50_95"] = [None if v is None else round(v, 5) for v in scores]


def _paired(o: EvalOptions, matches: Dict[str, Any], methods: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Pair each method with ``o.compare_to`` at its budget (bootstrap over frames); return them by key.

    ``matches``: each method's per-frame COCO matches (``DetectionEvaluator.frame_matches``).

    Each result is also the method entry's ``paired``. Empty when the reference family was not run
    or ``compare_to`` is "none".
    """
    from repose_ros.evaluation.paired import compare_to_reference

    if o.compare_to in ("", "none") or not any(m.get("family") == o.compare_to for m in methods.values()):
        return {}
    paired = compare_to_reference(matches, methods, o.compare_to, resamples=o.bootstrap, seed=o.seed)
    for key, p in paired.items():
        methods[key]["paired"] = p
    return paired


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


def _build_zoo(o: EvalOptions, fake_mode: bool, profiles: Any):
    """Return ``(zoo, fake detector or None, model name, weights path or None)`` of the run."""
    from repose_ros.detectors.backends import make_zoo
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.detectors.weights import resolve_weights

    name = profiles.models[0].name
    if fake_mode:
        lat640 = 343.8 * (0.0 if o.quick else 0.01)
        fake = FakeDetector(None, dropout=0.05, jitter=0.03, min_input_px=12.0, latency_ms_at_640=lat640,
                            seed=o.seed)
        return ModelZoo.fake(fake, [name]), fake, name, None
    zoo = make_zoo("ultralytics", [name], [o.weights], o.device, o.threads or 0)
    return zoo, None, name, str(resolve_weights(o.weights))


def _load_dataset(o: EvalOptions):
    """Resolve ``--dataset`` and load its frames (SystemExit with the reason when that fails)."""
    from repose_ros.datasets import load as ds_load
    from repose_ros.datasets import mot as ds_mot

    spec, message = _resolve_dataset(o.dataset)
    if message:
        print(message, file=sys.stderr)
    n_frames = o.frames if o.frames is not None else (2 if o.quick else 8)
    if n_frames < 1 or o.servers < 1:
        raise SystemExit("--frames and --servers must be >= 1")
    try:
        ds_load.parse_dataset_spec(spec)
        size = (1280, 720) if o.quick else ds_mot.TARGET_4K
        dataset = ds_load.load_dataset(spec, n_frames, o.mosaic, o.seed, o.panda_box,
                                       o.min_visibility, synthetic_size=size)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"repose eval: {exc}") from None
    if not dataset.frames:
        raise SystemExit(f"repose eval: no frames in {spec}")
    return dataset


def _method_specs(o: EvalOptions, profiles: Any) -> list:
    """Return the methods to run: ``--methods`` with their sizes, grids and budgets (quick: a few of each)."""
    from repose_ros.evaluation import methods as ev_methods

    family_sizes = sorted({m.imgsz for m in profiles.models})
    if o.quick:
        full_sizes = list(o.full_sizes) if o.full_sizes is not None else family_sizes[:1] + family_sizes[-1:]
        uniform = list(o.uniform) if o.uniform is not None else ["2x2-640"]
        budgets = list(o.budgets) if o.budgets is not None else [1000.0, 4000.0]
    else:
        full_sizes = list(o.full_sizes) if o.full_sizes is not None else \
            family_sizes + [v for v in DEFAULT_FULL_EXTRA if v > max(family_sizes)]
        uniform = list(o.uniform if o.uniform is not None else DEFAULT_UNIFORM)
        budgets = list(o.budgets if o.budgets is not None else DEFAULT_BUDGETS)
    try:
        return ev_methods.build_methods(list(o.methods), full_sizes, uniform, budgets, list(o.sahi), o.sahi_slice)
    except ValueError as exc:
        raise SystemExit(f"repose eval: {exc}") from None


def deployment(o: EvalOptions, profiles: Any) -> Dict[str, Any]:
    """RE-POSE's deployment settings: the command line's, else config/repose.yaml's (coarse model, budget, policy)."""
    deployed = deployed_settings()
    coarse_key = o.coarse_model or deployed["coarse_model"]
    if coarse_key not in profiles.model_keys:
        if o.coarse_model:
            raise SystemExit(f"repose eval: --coarse-model {coarse_key} is not in the profile "
                             f"({', '.join(profiles.model_keys)})")
        coarse_key = next((m.key for m in profiles.models if m.imgsz == 640), profiles.models[0].key)
    return {
        "coarse_model": coarse_key,
        "coarse_on_edge": deployed["coarse_on_edge"] if o.coarse_on_edge is None else bool(o.coarse_on_edge),
        "budget_reserve_ms": (deployed["budget_reserve_ms"] if o.budget_reserve is None
                              else float(o.budget_reserve)),
        "coarse_sizes": list(o.coarse_sizes) if o.coarse_sizes is not None else list(deployed["coarse_sizes"]),
        "coarse_budget_share": (deployed["coarse_budget_share"] if o.coarse_budget_share is None
                                else float(o.coarse_budget_share)),
        "plan_max_person_height": (deployed["plan_max_person_height"] if o.plan_max_person_height is None
                                   else float(o.plan_max_person_height)),
        **policy_settings(o.policy, o.policy_check, deployed, o.policy_check_value, o.search_share),
    }


def policy_settings(policy: Optional[str] = None, policy_check: Optional[bool] = None,
                    deployed: Optional[Dict[str, Any]] = None, policy_check_value: Optional[str] = None,
                    search_share: Optional[float] = None) -> Dict[str, Any]:
    """``{"policy", "policy_check", "policy_check_value", "search_share"}``: the given ones, else the deployed ones.

    The deployed ones are :func:`deployed_settings`'.
    """
    if deployed is None and None in (policy, policy_check, policy_check_value, search_share):
        deployed = deployed_settings()
    return {"policy": deployed["policy"] if policy is None else str(policy),
            "policy_check": deployed["policy_check"] if policy_check is None else bool(policy_check),
            "policy_check_value": (deployed["policy_check_value"] if policy_check_value is None
                                   else str(policy_check_value)),
            "search_share": deployed["search_share"] if search_share is None else float(search_share)}


def deployed_settings() -> Dict[str, Any]:
    """RE-POSE's settings (coarse stage, reserve, RL-DCA policy) as config/repose.yaml deploys them.

    The core defaults (RePoseConfig) where the file or a setting is missing.
    """
    from repose_ros.core.config import RePoseConfig

    out = {"coarse_on_edge": RePoseConfig.coarse_on_edge, "budget_reserve_ms": RePoseConfig.budget_reserve_ms,
           "coarse_model": RePoseConfig.coarse_model, "coarse_sizes": list(RePoseConfig.coarse_sizes),
           "coarse_budget_share": RePoseConfig.coarse_budget_share, "policy": RePoseConfig.policy,
           "policy_check": RePoseConfig.policy_check, "policy_check_value": RePoseConfig.policy_check_value,
           "search_share": RePoseConfig.search_share, "plan_max_person_height": RePoseConfig.plan_max_person_height}
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
            if "policy" in params:
                out["policy"] = str(params["policy"] or "")
            if "policy_check" in params:
                out["policy_check"] = bool(params["policy_check"])
            if "policy_check_value" in params:
                out["policy_check_value"] = str(params["policy_check_value"])
            if "search_share" in params:
                out["search_share"] = float(params["search_share"])
            if "plan_max_person_height" in params:
                out["plan_max_person_height"] = float(params["plan_max_person_height"])
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return out


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


def _run_methods(dataset: Any, runner: Any, specs: Sequence[Any], skipped: Dict[str, str], progress_bar: bool,
                 record: Optional[Callable[..., None]] = None):
    """Run every method on every frame (progress bar over runs; ``record`` each result); return ``(stats, seconds)``."""
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
        stats = ev_runner.evaluate(dataset, runner, specs, progress, skipped, record=record)
    finally:
        if bar is not None:
            bar.close()
    return stats, time.perf_counter() - t0


def _notes(o: EvalOptions, dataset: Any, runner: Any, specs: Sequence[Any], dep: Dict[str, Any]) -> list:
    """How the figures were obtained: the data set's and the runner's notes, and what each latency means."""
    notes = list(dataset.notes) + list(runner.notes)
    notes.append("latency_ms: measured serial time per frame in this process (all stages); parallel_latency_ms: "
                 "MEASURED: coarse stage as deployed ("
                 + ("one block per edge server, the slowest counts" if dep["coarse_on_edge"]
                    else "one call on the camera host")
                 + f") + partition + planning + slowest of S={o.servers} servers' measured time (each server's "
                 "blocks one per detector call, as the edge node runs them) + fusion; full_frame and sahi: one device, "
                 f"= latency_ms. RE-POSE's budget covers the whole frame; {dep['budget_reserve_ms']:g} ms of it are "
                 "kept for fusion")
    if o.budget_clock == "profile":
        notes.append("budget_clock profile: RE-POSE's plans got the budget less the profile's PREDICTED coarse stage "
                     "(not the measured one, and nothing for the partition), so they do not follow the machine's "
                     "load; the latencies above are still measured")
    notes.append("remix plans from the previous frame's coarse boxes (computed on that frame, not timed: they stand "
                 "for what REMIX keeps from earlier frames)")
    if any(s.family == "sahi" for s in specs):
        notes.append(f"sahi: get_sliced_prediction with {o.sahi_slice}px slices, 0.2 overlap, full-image pass "
                     "(its defaults), match threshold 0.5, class-agnostic merging (the model's two classes are both "
                     "'person'), confidence threshold --conf like every method; greedynmm is forced "
                     "(force_postprocess_type), since SAHI would switch to NMS below confidence 0.1")
    return notes
