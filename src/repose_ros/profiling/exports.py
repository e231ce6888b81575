"""Exports against the ``.pt`` model: latency per input size and mAP50:95 on annotated frames.

``repose export --compare`` runs :func:`compare_exports`; the README's export figures come from it.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Dict, List, Optional, Sequence

from repose_ros.detectors.export import ExportError


def _square_crop(frame: Any, imgsz: int) -> Any:
    import cv2
    h, w = frame.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) // 2, (h - side) // 2
    return cv2.resize(frame[y0:y0 + side, x0:x0 + side], (int(imgsz), int(imgsz)), interpolation=cv2.INTER_AREA)


def letterbox_square(image: Any, imgsz: int) -> Any:
    """Return ``(square imgsz x imgsz image, scale)``: ``image`` scaled to fit, padded right/bottom with 114."""
    import cv2
    import numpy as np
    h, w = image.shape[:2]
    scale = float(imgsz) / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.full((int(imgsz), int(imgsz), 3), 114, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas, scale


def compare_exports(pt_weights: str, exports: Sequence[Dict[str, Any]], frames: Sequence[Any], *,
                    threads: int = 1, repeats: int = 5, warmup: int = 1, conf: float = 0.01,
                    openvino_half: bool = True, progress: bool = True) -> List[Dict[str, Any]]:
    """Measure latency and mAP50:95 of the ``.pt`` model and of each export, per input size.

    ``exports`` holds ``{"format", "imgsz", "path"}`` rows (as ``repose export`` writes them);
    ``frames`` are :class:`repose_ros.datasets.annotated.EvalFrame` (ground truth + loader). Per input
    size, the ``.pt`` model and every export run (``threads`` threads, the detector the node uses)
    ``repeats`` timed calls (after ``warmup``; the formats take turns call by call) on one square
    ``imgsz x imgsz`` crop of the first frame, so every format runs the same tensor; then every
    frame at ``conf``, twice: whole, as the detector runs it (a static export pads every input to the square
    ``imgsz x imgsz``, where the ``.pt`` model pads a 16:9 frame only to a multiple of 32), and
    letterboxed to that square beforehand, so that every format sees the same tensor. Return one
    row per (input size, format) with ``latency_ms`` (median), ``map50_95`` (COCO, against the
    frames' ground truth, as run) and ``map50_95_same_input`` (square inputs), and each one's
    difference to the ``.pt`` model (``d_map50_95``, ``d_map50_95_same_input``). With
    ``openvino_half`` every OpenVINO export also runs with ``half`` (row ``openvino-half``:
    OpenVINO's own CPU precision, bf16 where the CPU has it; see
    :func:`repose_ros.detectors.ultralytics.limit_runtime_threads`).
    """
    from repose_ros.detectors.ultralytics import UltralyticsDetector
    from repose_ros.evaluation.metrics import DetectionEvaluator

    images = [f.load() for f in frames]
    if not images:
        raise ExportError("no frames to compare on")
    rows: List[Dict[str, Any]] = []
    sizes = sorted({int(e["imgsz"]) for e in exports})
    for imgsz in sizes:
        crop = _square_crop(images[0], imgsz)
        runs = [{"format": "pt", "imgsz": imgsz, "path": str(pt_weights)}]
        for e in exports:
            if int(e["imgsz"]) == imgsz:
                runs.append(dict(e))
                if e["format"] == "openvino" and openvino_half:  # the same folder, run in bf16/fp16
                    runs.append(dict(e, format="openvino-half", half=True))
        dets = [UltralyticsDetector(run["path"], torch_threads=threads, half=bool(run.get("half"))).load()
                for run in runs]
        for det in dets:
            for _ in range(warmup):
                det.detect(crop, imgsz=imgsz, conf=0.25)
        times: List[List[float]] = [[] for _ in dets]
        for _ in range(repeats):  # formats take turns, so a load beside the run slows them alike
            for i, det in enumerate(dets):
                t0 = time.perf_counter()
                det.detect(crop, imgsz=imgsz, conf=0.25)
                times[i].append((time.perf_counter() - t0) * 1000.0)
        base = None
        for run, det, ts in zip(runs, dets, times):
            ev, ev_same = DetectionEvaluator(), DetectionEvaluator()
            for frame, image in zip(frames, images):
                ev.add_detections(frame.gt, det.detect(image, imgsz=imgsz, conf=conf), frame.ignore,
                                  frame.width, frame.height)
                square, scale = letterbox_square(image, imgsz)
                d = det.detect(square, imgsz=imgsz, conf=conf)
                ev_same.add(frame.gt, d.xyxy / scale, d.scores, frame.ignore, frame.width, frame.height)
            m, m_same = ev.summary()["map50_95"], ev_same.summary()["map50_95"]
            if run["format"] == "pt":
                base = (m, m_same)
            row = {"imgsz": imgsz, "format": run["format"], "latency_ms": round(float(statistics.median(ts)), 1),
                   "map50_95": _round(m), "d_map50_95": _diff(m, base[0] if base else None),
                   "map50_95_same_input": _round(m_same),
                   "d_map50_95_same_input": _diff(m_same, base[1] if base else None),
                   "threads_limited": det.runtime_threads_limited if run["format"] != "pt" else True,
                   "path": run["path"]}
            rows.append(row)
            if progress:
                print(f"compare {imgsz:>5} {row['format']:<9} {row['latency_ms']:>8.1f} ms  mAP50:95 as run "
                      f"{row['map50_95']} ({row['d_map50_95']}), same input {row['map50_95_same_input']} "
                      f"({row['d_map50_95_same_input']})", flush=True)
        del dets
    return rows


def _round(v: Optional[float]) -> Optional[float]:
    return None if v is None else round(float(v), 4)


def _diff(v: Optional[float], base: Optional[float]) -> Optional[float]:
    return None if v is None or base is None else round(float(v) - float(base), 4)


def format_compare_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Return a Markdown table of :func:`compare_exports` rows, one line per input size and format."""
    lines = ["| input | format | latency ms | vs .pt | mAP50:95 as run (vs .pt) | mAP50:95 same input (vs .pt) |",
             "|---|---|---|---|---|---|"]
    for imgsz in sorted({r["imgsz"] for r in rows}):
        here = [r for r in rows if r["imgsz"] == imgsz]
        pt = next((r for r in here if r["format"] == "pt"), None)
        for r in here:
            speed = f"{pt['latency_ms'] / r['latency_ms']:.2f}x" if pt and r["latency_ms"] > 0 else ""

            def acc(key: str, r: Dict[str, Any] = r) -> str:
                if r[key] is None:
                    return ""
                return f"{r[key]:.4f}" if r["format"] == "pt" else f"{r[key]:.4f} ({r['d_' + key]:+.4f})"

            lines.append(f"| {imgsz} | {r['format']} | {r['latency_ms']:.1f} | {speed} | {acc('map50_95')} | "
                         f"{acc('map50_95_same_input')} |")
    return "\n".join(lines)
