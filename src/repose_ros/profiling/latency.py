"""Shape-aware latency profiling and the planner's makespan check, on the servers' own code path.

Every measurement runs blocks through :func:`repose_ros.core.serving.run_block`, the function an
edge detector node calls for each block it receives, so the profile describes what a server does.

* :func:`measure_shape_latency`: per model key, blocks cut from real frames at a few aspect
  ratios (long side = the input size, so no resize; landscape and portrait), each timed over
  ``repeats`` calls after ``warmup`` calls; the median per shape, with the shape of the tensor
  ultralytics ran (:func:`repose_ros.core.tensor_shapes.letterbox_shape`). The square figure becomes
  the profile's ``latency_ms``, every point its ``latency_shapes``.
* :func:`makespan_check`: run RE-POSE (:meth:`repose_ros.core.pipeline.RePose.run`) on frames at
  a few budgets and compare the planner's predicted makespan (slowest server's planned load)
  with the measured one (slowest server's measured time).
"""
from __future__ import annotations

import statistics
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.tensor_shapes import letterbox_shape
from repose_ros.core.serving import BlockJob, run_block

ASPECTS = (1.0, 1.6, 2.5, 4.0)
"""Long side / short side of the measured blocks (1.0: the square of ``latency_ms``)."""

PORTRAIT = (2.5,)
"""Aspects also measured standing (tall blocks), to check that orientation does not matter."""


def shape_sizes(imgsz: int, aspects: Sequence[float] = ASPECTS,
                portrait: Sequence[float] = PORTRAIT) -> List[Tuple[int, int]]:
    """Block sizes ``(w, h)`` measured for input size ``imgsz``: long side ``imgsz``, one per aspect."""
    out = []
    for a in aspects:
        short = max(32, int(round(imgsz / float(a))))
        out.append((int(imgsz), short))
        if a in portrait and a != 1.0:
            out.append((short, int(imgsz)))
    return out


def frame_at_least(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """``frame`` enlarged (if needed) so that a ``w x h`` block fits inside it."""
    fh, fw = frame.shape[:2]
    if fw >= w and fh >= h:
        return frame
    import cv2

    s = max(w / fw, h / fh)
    return cv2.resize(frame, (int(np.ceil(fw * s)), int(np.ceil(fh * s))), interpolation=cv2.INTER_LINEAR)


def measure_shape_latency(zoo: Any, keys: Sequence[str], frames: Sequence[np.ndarray], repeats: int = 5,
                          warmup: int = 2, aspects: Sequence[float] = ASPECTS,
                          portrait: Sequence[float] = PORTRAIT, seed: int = 0,
                          progress: Optional[Callable[[int], None]] = None) -> Dict[str, Dict[str, Any]]:
    """Median ms per block shape and model key on this machine (see the module docstring).

    ``frames`` are BGR images the blocks are cut from (random positions); ``progress(n)`` is
    called after every timed or warm-up call. Returns per key ``{"square_ms", "points":
    [[tensor_h, tensor_w, ms], ...], "shapes": [{"block": [w, h], "tensor": [h, w], "median_ms",
    "p90_ms", "min_ms", "n"}, ...]}``.
    """
    if not frames:
        raise ValueError("need at least one frame to cut blocks from")
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    rng = np.random.default_rng(seed)
    out: Dict[str, Dict[str, Any]] = {}
    for key in keys:
        _, imgsz = zoo.get(key)
        rows = []
        for w, h in shape_sizes(imgsz, aspects, portrait):
            times = []
            for i in range(warmup + repeats):
                frame = frame_at_least(frames[int(rng.integers(len(frames)))], w, h)
                fh, fw = frame.shape[:2]
                x0, y0 = int(rng.integers(0, fw - w + 1)), int(rng.integers(0, fh - h + 1))
                run = run_block(zoo, frame, BlockJob(0, (x0, y0, x0 + w, y0 + h), key), 0.25, 0.7)
                if not run.ok:
                    raise RuntimeError(f"{key} on a {w}x{h} block failed: {run.error}")
                if i >= warmup:
                    times.append(run.ms)
                if progress is not None:
                    progress(1)
            arr = np.array(times)
            th, tw = letterbox_shape(w, h, imgsz)
            rows.append({"block": [w, h], "tensor": [th, tw], "median_ms": round(float(np.median(arr)), 2),
                         "p90_ms": round(float(np.percentile(arr, 90)), 2), "min_ms": round(float(arr.min()), 2),
                         "n": int(arr.size)})
        square = [r["median_ms"] for r in rows if r["block"][0] == r["block"][1]]
        out[key] = {"square_ms": square[0] if square else None,
                    "points": [[r["tensor"][0], r["tensor"][1], r["median_ms"]] for r in rows],
                    "shapes": rows}
    return out


def calls_per_key(keys: Sequence[str], zoo: Any, repeats: int, warmup: int, aspects: Sequence[float] = ASPECTS,
                  portrait: Sequence[float] = PORTRAIT) -> int:
    """Return the number of detector calls :func:`measure_shape_latency` makes (for a progress bar)."""
    return sum(len(shape_sizes(zoo.get(k)[1], aspects, portrait)) * (repeats + warmup) for k in keys)


def makespan_check(repose: Any, frames: Sequence[np.ndarray], budgets: Sequence[float],
                   progress: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Planner's predicted makespan against the measured one (see the module docstring).

    ``repose`` is a :class:`repose_ros.core.pipeline.RePose`. Each frame's coarse stage runs once
    and is shared by the budgets. Returns ``{"rows": [...], "median_abs_error": e, "n": n}`` where
    the error of a row is ``(measured - predicted) / predicted`` (frames whose plan runs nothing
    are left out).
    """
    rows = []
    for i, frame in enumerate(frames):
        stage = repose.coarse_stage(frame)
        for budget in budgets:
            res = repose.run(frame, float(budget), coarse=stage)
            predicted = float(res.plan.makespan_ms)
            measured = float(res.timings["detect_ms"])
            per_server = {str(s): {"predicted_ms": round(float(res.plan.server_load_ms.get(s, 0.0)), 1),
                                   "measured_ms": round(float(r.total_ms), 1)} for s, r in res.servers.items()}
            rows.append({"frame": i, "budget_ms": float(budget), "blocks": len(res.plan.blocks),
                         "detection_budget_ms": round(res.timings["detection_budget_ms"], 1),
                         "predicted_ms": round(predicted, 1), "measured_ms": round(measured, 1),
                         "error": (measured - predicted) / predicted if predicted > 0 else None,
                         "parallel_ms": round(res.timings["parallel_ms"], 1), "servers": per_server})
            if progress is not None:
                progress(1)
    errs = [abs(r["error"]) for r in rows if r["error"] is not None]
    return {"rows": rows, "median_abs_error": statistics.median(errs) if errs else None, "n": len(errs)}


def merge_latency(profiles: Any, measured: Dict[str, Dict[str, Any]], server_id: str = "default") -> Any:
    """Write measured shape latencies into ``profiles`` for ``server_id`` (in place; returns it).

    ``latency_ms[key][server_id]`` becomes the square figure and ``latency_shapes[key][server_id]``
    every measured point; keys of ``measured`` that the profile lacks are an error (add the model
    first). The profile is validated again, so its shape fits follow the new points.
    """
    sid = str(server_id)
    for key, m in measured.items():
        profiles.model(key)
        if m.get("square_ms"):
            profiles.latency_ms[key][sid] = float(m["square_ms"])
        profiles.latency_shapes.setdefault(key, {})[sid] = [list(p) for p in m["points"]]
    profiles.validate()
    return profiles
