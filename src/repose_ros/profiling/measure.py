"""Measuring a profile: latency per model key on the edge code path, precision per area bin, makespan check."""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.evaluation.area_bins import AreaBinEvaluator
from repose_ros.profiling.samples import FrameSample, make_model_input
from repose_ros.profiling.data import makespan_frames


def build_zoo(names: Sequence[str], backend: str = "ultralytics", weights_items: Sequence[str] = (),
              device: str = "cpu", class_map: str = "auto", threads: Optional[int] = None, seed: int = 0):
    """Return ``(zoo, fake)``: the model zoo of the model ``names`` and, for the fake back-end, its detector.

    Args:
        weights_items: ``NAME=SPEC`` strings (``--weights``); ``yolov8s`` defaults to the built-in person weights.
    """
    from repose_ros.detectors.weights import BUILTIN_PERSON
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.backends import make_zoo
    from repose_ros.detectors.zoo import ModelZoo
    if backend == "fake":
        fake = FakeDetector(min_input_px=10.0, dropout=0.05, jitter=0.03, latency_ms_at_640=4.0,
                            latency_base_ms=0.5, seed=seed)
        return ModelZoo.fake(fake, names), fake
    weights = {n: BUILTIN_PERSON for n in names if n == "yolov8s"}
    for item in weights_items:
        if "=" not in item:
            raise SystemExit(f"--weights expects NAME=SPEC, got {item!r}")
        name, spec = item.split("=", 1)
        weights[name.strip()] = spec.strip()
    missing = [n for n in names if n not in weights]
    if missing:
        raise SystemExit(f"no weights for model names {missing}: give --weights NAME=/path/to/file.pt")
    return make_zoo("ultralytics", list(weights), list(weights.values()), device, threads or 0,
                    class_map=class_map), None


def measure_latency(zoo, keys: Sequence[str], samples: List[FrameSample], repeats: int, warmup: int,
                    rng: np.random.Generator, bar, shapes: bool = True) -> Dict[str, Dict[str, Any]]:
    """Return per key: median/p90/min ms of one block per call, on the edge server's code path.

    Blocks are cut from the data frames (random noise without data) and run through
    :func:`repose_ros.core.serving.run_block`, as an edge detector runs them
    (:func:`repose_ros.profiling.latency.measure_shape_latency`). With ``shapes`` the blocks take
    the aspect ratios of :data:`repose_ros.profiling.latency.ASPECTS` (landscape, and portrait
    for some), and every measured tensor shape is kept in ``points`` (``[tensor_h, tensor_w,
    ms]``, the profile's ``latency_shapes``); the square block's figures are the key's
    ``median_ms``, ``p90_ms``, ``min_ms``.
    """
    from repose_ros.profiling.latency import ASPECTS, PORTRAIT, measure_shape_latency

    frames = [s.image for s in samples] or [rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)]
    aspects, portrait = (ASPECTS, PORTRAIT) if shapes else ((1.0,), ())
    for key in keys:
        zoo.get(key)[0].load()
    measured = measure_shape_latency(zoo, keys, frames, repeats, warmup, aspects, portrait,
                                     seed=int(rng.integers(1 << 31)), progress=bar.update)
    out = {}
    for key, m in measured.items():
        square = next(r for r in m["shapes"] if r["block"][0] == r["block"][1])
        out[key] = {"median_ms": square["median_ms"], "p90_ms": square["p90_ms"], "min_ms": square["min_ms"],
                    "n": square["n"]}
        if shapes:
            out[key]["points"] = m["points"]
            out[key]["shapes"] = m["shapes"]
    return out


def measure_precision(zoo, keys: Sequence[str], samples: List[FrameSample], scales: Sequence[float],
                      bounds: Sequence[float], conf: float, rng: np.random.Generator, bar,
                      fake=None) -> Dict[str, "AreaBinEvaluator"]:
    """Return per key the :class:`AreaBinEvaluator` filled over all samples x scales."""
    by_data = measure_precision_by_data(zoo, keys, [("data", "", samples)], scales, bounds, conf, rng, bar, fake)
    return {k: v["data"] for k, v in by_data.items()}


def measure_precision_by_data(zoo, keys: Sequence[str], data_sets: Sequence[Tuple[str, str, List[FrameSample]]],
                              scales: Sequence[float], bounds: Sequence[float], conf: float,
                              rng: np.random.Generator, bar, fake=None) -> Dict[str, Dict[str, "AreaBinEvaluator"]]:
    """Per key and data-set label, the :class:`AreaBinEvaluator` filled over its samples x scales.

    ``data_sets``: ``(label, description, samples)``. Every key sees the same frames, cut at
    random positions drawn from one generator per key (seeded from ``rng``).
    """
    from repose_ros.core.detections import Detections
    out: Dict[str, Dict[str, AreaBinEvaluator]] = {}
    for key in keys:
        det, imgsz = zoo.get(key)
        key_rng = np.random.default_rng(rng.integers(1 << 31))
        out[key] = {}
        for label, _desc, samples in data_sets:
            ev = out[key].setdefault(label, AreaBinEvaluator(bounds))
            for sample in samples:
                inputs = [make_model_input(sample, imgsz, s, key_rng) for s in scales]
                if fake is not None:
                    results = []
                    for mi in inputs:
                        fake.set_ground_truth(Detections(mi.gt, np.full(len(mi.gt), 0.9, np.float32),
                                                         np.zeros(len(mi.gt), np.int32)))
                        results.append(det.detect(mi.image, imgsz=imgsz, conf=conf, iou=0.7))
                else:
                    results = det.detect_batch([mi.image for mi in inputs], imgsz=imgsz, conf=conf, iou=0.7)
                for mi, dets in zip(inputs, results):
                    ev.add(dets.xyxy, dets.scores, mi.gt, mi.ignore)
                bar.update(len(inputs))
    return out


class NoBar:
    """A progress bar that shows nothing (``--no-progress``): tqdm's methods, doing nothing."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` steps (nothing shown)."""

    def close(self) -> None:
        """Close the bar (nothing to close)."""

    def set_description(self, text: str) -> None:
        """Name the current phase (nothing shown)."""


def run_makespan_check(zoo, prof, specs: Sequence[str], n_frames: int, budgets: Sequence[float], seed: int,
                       bar_enabled: bool = True) -> Dict[str, Any]:
    """Run RE-POSE with the new profile on real frames; the planner's predicted vs measured makespan.

    Args:
        specs: the ``--data`` specs (:func:`repose_ros.profiling.data.makespan_frames` picks the frames).
        n_frames: frames to plan and run; budgets: the latency budgets (ms) planned for on each frame.
    """
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.profiling.latency import makespan_check

    budgets = list(budgets)
    label, frames = makespan_frames(specs, n_frames, seed)
    coarse = next((m.key for m in prof.models if m.imgsz == 640), prof.models[0].key)
    rp = RePose(RePoseConfig(num_servers=4, coarse_model=coarse, partitioner="meanshift"), zoo=zoo, profiles=prof)
    bar: Any = NoBar()
    if bar_enabled:
        from tqdm import tqdm
        bar = tqdm(total=len(frames) * len(budgets), desc="makespan check", unit="plan", file=sys.stderr)
    try:
        out = makespan_check(rp, frames, budgets, progress=bar.update)
    finally:
        bar.close()
    out.update(frames=label, servers=4, partitioner="meanshift", budgets_ms=budgets)
    return out


def format_makespan_check(check: Dict[str, Any]) -> str:
    """Table of the makespan check (one row per frame and budget) and the median absolute error."""
    lines = [f"makespan check on {check['frames']}, S={check['servers']}: planned vs measured slowest server",
             f"  {'frame':>5} {'budget':>7} {'blocks':>6} {'predicted':>10} {'measured':>9} {'error':>7}"]
    for r in check["rows"]:
        err = f"{100 * r['error']:+6.1f}%" if r["error"] is not None else "    -"
        lines.append(f"  {r['frame']:>5} {r['budget_ms']:>7.0f} {r['blocks']:>6} {r['predicted_ms']:>10.1f} "
                     f"{r['measured_ms']:>9.1f} {err:>7}")
    med = check.get("median_abs_error")
    lines.append(f"  median |error| {100 * med:.1f}% over {check['n']} plans" if med is not None
                 else "  no plan ran a block")
    return "\n".join(lines)
