"""``repose export``: turn the configured weights into ONNX / OpenVINO / TensorRT models, offline.

Each (format, input size) pair becomes one file or folder under ``--out``::

    <stem>_<imgsz>[_fp16].onnx              ONNX Runtime
    <stem>_<imgsz>[_fp16]_openvino_model/   OpenVINO (one .xml, its .bin, metadata.yaml)
    <stem>_<imgsz>[_fp16].engine            TensorRT (needs the tensorrt package and a CUDA device)

``<stem>`` is ``yolov8s-person`` for the builtin model, else the stem of the ``.pt`` file. The
input sizes default to those of the profile's models (``config/profiles/default.yaml``). Exports
are static (one input size, batch ``--batch``) unless ``--dynamic``; ``--half`` exports FP16
(ultralytics' ``quantize=16``). One progress line per export gives its path, size, time and
SHA-256 (the digest to pin in ``weights_sha256``; for a folder see
:func:`repose_ros.detectors.weights.folder_sha256`).

Nothing is installed or downloaded: ultralytics' exporter would pip-install a missing ``onnx`` or
``openvino``, so every dependency is checked first (:func:`missing_dependencies`) and the run
stops with the ``pip install`` line to run, and auto-install is switched off while exporting.

``--compare`` then measures, on this machine, the median latency of one call per input size of
the ``.pt`` model and of each export (``--threads`` threads, ``--repeats`` timed calls on a square
``imgsz x imgsz`` crop of a real frame) and the COCO mAP50:95 of each on ``--frames`` MOT17
frames, with its difference to the ``.pt`` model (the README's figures come from this command).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["FORMATS", "ExportError", "export_path", "missing_dependencies", "export_weights", "compare_exports",
           "main_export"]

FORMATS = ("onnx", "openvino", "engine")
"""Formats ``repose export`` writes (ultralytics' format names)."""

# import name -> pip name of what each format needs (pinned in requirements.txt)
_NEEDS = {
    "onnx": (("onnx", "onnx"), ("onnxslim", "onnxslim"), ("onnxruntime", "onnxruntime")),
    "openvino": (("openvino", "openvino"),),
    "engine": (("onnx", "onnx"), ("onnxslim", "onnxslim"), ("tensorrt", "tensorrt")),
}


class ExportError(RuntimeError):
    """An export that cannot run here (missing dependency, no CUDA device, wrong weights)."""


def export_stem(weights: str, path: Path) -> str:
    """Return the file-name stem of the exports of ``weights`` (resolved to ``path``)."""
    from repose_ros.detectors.weights import BUILTIN_PERSON, _BUILTIN_ALIASES
    if str(weights).strip() in _BUILTIN_ALIASES:
        return BUILTIN_PERSON.split(":", 1)[1]
    return path.stem


def export_path(out_dir: Path, stem: str, fmt: str, imgsz: int, half: bool = False) -> Path:
    """Return where the ``fmt`` export of ``stem`` at ``imgsz`` goes under ``out_dir``."""
    base = f"{stem}_{int(imgsz)}{'_fp16' if half else ''}"
    if fmt == "openvino":
        return Path(out_dir) / f"{base}_openvino_model"
    if fmt in ("onnx", "engine"):
        return Path(out_dir) / f"{base}.{fmt}"
    raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def missing_dependencies(fmt: str, device: str = "cpu") -> List[str]:
    """Return the pip names of the packages an export to ``fmt`` needs that are not installed.

    ``engine`` also needs a CUDA device (checked by :func:`export_weights`).
    """
    if fmt not in _NEEDS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    needs = list(_NEEDS[fmt])
    return [pip for mod, pip in needs if importlib.util.find_spec(mod) is None]


def _check_can_export(fmt: str, device: str) -> None:
    missing = missing_dependencies(fmt, device)
    if fmt == "engine":
        if missing:
            raise ExportError("TensorRT export needs the Python package 'tensorrt' (and a CUDA device); it is not "
                              f"installed here (missing: {', '.join(missing)}). Export onnx or openvino instead, or "
                              "install the TensorRT build of your CUDA (pip install tensorrt-cu<CUDA major>) on "
                              "the GPU machine")
        if not device.startswith("cuda"):
            raise ExportError("TensorRT export runs on a CUDA device: give --device cuda:0")
    elif missing:
        raise ExportError(f"exporting to {fmt} needs {', '.join(missing)}, which is not installed; repose never "
                          f"installs anything itself: pip install {' '.join(missing)} (versions: requirements.txt)")


class _NoAutoInstall:
    """Context: ultralytics may not pip-install or download anything (restores its settings after)."""

    def __enter__(self) -> "_NoAutoInstall":
        self._env = {k: os.environ.get(k) for k in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL")}
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "False"
        import ultralytics.utils.checks as checks
        self._checks = checks
        self._old = getattr(checks, "AUTOINSTALL", None)
        checks.AUTOINSTALL = False
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            self._checks.AUTOINSTALL = self._old
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def export_weights(weights: str, fmt: str, imgsz: int, out_dir: Path, *, half: bool = False,
                   dynamic: bool = False, batch: int = 1, device: str = "cpu",
                   allowed_dirs: Optional[Sequence[str]] = None, overwrite: bool = True) -> Path:
    """Export the ``.pt`` weights ``weights`` (a spec of ``resolve_weights``) to ``fmt`` at ``imgsz``.

    Return the path of the export (see :func:`export_path`). The ``.pt`` file is copied into a
    temporary folder under ``out_dir`` first, because ultralytics writes its export beside the
    source file (which for the builtin model lies inside site-packages).
    """
    from repose_ros.detectors.base import check_device
    from repose_ros.detectors.weights import resolve_weights, weights_format
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if int(imgsz) <= 0 or int(imgsz) % 32:
        raise ExportError(f"input size {imgsz} is not a positive multiple of 32 (the model's stride)")
    src = resolve_weights(weights, allowed_dirs=allowed_dirs)
    if weights_format(src) != "pt":
        raise ExportError(f"{src} is a {weights_format(src)} model: export starts from a .pt file")
    device = check_device(device)
    _check_can_export(fmt, device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = export_path(out_dir, export_stem(weights, src), fmt, imgsz, half)
    if dest.exists() and not overwrite:
        return dest
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as tmp, _NoAutoInstall():
        from ultralytics import YOLO
        from ultralytics.cfg import DEFAULT_CFG_DICT
        work = Path(tmp) / f"{export_path(Path(tmp), export_stem(weights, src), 'onnx', imgsz, half).stem}.pt"
        shutil.copy2(src, work)
        kwargs: Dict[str, Any] = {"format": fmt, "imgsz": int(imgsz), "dynamic": bool(dynamic),
                                  "batch": max(1, int(batch)), "verbose": False,
                                  "device": device.split(":", 1)[1] if device.startswith("cuda:") else device}
        if fmt != "openvino":
            kwargs["simplify"] = True
        if half:
            kwargs.update({"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True})
        made = YOLO(str(work)).export(**kwargs)
        made = Path(made[0] if isinstance(made, (list, tuple)) else made)
        if not made.exists():
            raise ExportError(f"ultralytics reported {made} but wrote nothing there")
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        shutil.move(str(made), str(dest))
    return dest


# --------------------------------------------------------------------------- comparison


def _square_crop(frame: Any, imgsz: int) -> Any:
    import cv2
    h, w = frame.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) // 2, (h - side) // 2
    return cv2.resize(frame[y0:y0 + side, x0:x0 + side], (int(imgsz), int(imgsz)), interpolation=cv2.INTER_AREA)


def _letterbox_square(image: Any, imgsz: int) -> Any:
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
                square, scale = _letterbox_square(image, imgsz)
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


# --------------------------------------------------------------------------- command line


def _sizes(text: Optional[str], profile: Optional[str]) -> List[int]:
    if text:
        try:
            sizes = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise SystemExit(f"--sizes must be comma-separated integers, got {text!r}") from None
    else:
        from repose_ros.core.keys import parse_key
        from repose_ros.core.profiles import Profiles
        prof = Profiles.load(profile) if profile else Profiles.default()
        sizes = sorted({parse_key(k)[1] for k in prof.model_keys})
    bad = [s for s in sizes if s <= 0 or s % 32]
    if not sizes or bad:
        raise SystemExit(f"--sizes: every input size must be a positive multiple of 32 (got {sizes})")
    return sorted(set(sizes))


def _formats(text: str) -> List[str]:
    fmts = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in fmts if f not in FORMATS]
    if not fmts or unknown:
        raise SystemExit(f"--formats: use one or more of {', '.join(FORMATS)} (got {text!r})")
    return list(dict.fromkeys(fmts))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``repose export``."""
    from repose_ros.detectors.weights import BUILTIN_PERSON
    p = argparse.ArgumentParser(prog="repose export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=BUILTIN_PERSON, help="the .pt weights to export (path or builtin)")
    p.add_argument("--formats", default="onnx,openvino",
                   help=f"comma-separated formats: {', '.join(FORMATS)} (engine needs TensorRT and CUDA)")
    p.add_argument("--sizes", default=None,
                   help="comma-separated input sizes (multiples of 32); default: those of the profile's models")
    p.add_argument("--profile", default=None, help="profile whose model sizes are the default (default: the "
                   "package's config/profiles/default.yaml)")
    p.add_argument("--out", default="exports", help="output folder")
    p.add_argument("--half", action="store_true", help="export FP16 (onnx, openvino, engine)")
    p.add_argument("--dynamic", action="store_true", help="dynamic input shapes (default: static, fastest)")
    p.add_argument("--batch", type=int, default=1, help="batch size of a static export (larger calls are split)")
    p.add_argument("--device", default="cpu", help="cpu or cuda:N (engine needs cuda)")
    p.add_argument("--weights-dir", action="append", default=[], metavar="DIR",
                   help="only read weights from these folders (repeatable), as the nodes' weights_dirs")
    p.add_argument("--skip-existing", action="store_true", help="keep exports that already exist")
    p.add_argument("--compare", action="store_true",
                   help="then measure latency and mAP50:95 of the .pt model and of every export")
    p.add_argument("--data", default=None, help="--compare: MOT17 folder (default: shared/data/mot17_mini)")
    p.add_argument("--frames", type=int, default=6, help="--compare: frames for mAP50:95")
    p.add_argument("--threads", type=int, default=1, help="--compare: CPU threads of every runtime")
    p.add_argument("--repeats", type=int, default=5, help="--compare: timed calls per size and format")
    p.add_argument("--json", default=None, help="--compare: also write the rows as JSON here")
    return p


def main_export(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose export`` with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    fmts = _formats(args.formats)
    sizes = _sizes(args.sizes, args.profile)
    if args.batch < 1 or args.frames < 1 or args.threads < 1 or args.repeats < 1:
        raise SystemExit("--batch, --frames, --threads and --repeats must be >= 1")
    from repose_ros.detectors.base import DeviceError, check_device
    from repose_ros.detectors.weights import WeightsError, weights_sha256
    try:
        device = check_device(args.device)
        for fmt in fmts:  # every dependency before the first (slow) export
            _check_can_export(fmt, device)
    except (ExportError, DeviceError) as exc:
        print(f"repose export: {exc}", file=sys.stderr)
        return 2
    made: List[Dict[str, Any]] = []
    n = len(fmts) * len(sizes)
    for i, (fmt, imgsz) in enumerate(((f, s) for s in sizes for f in fmts), start=1):
        t0 = time.perf_counter()
        try:
            path = export_weights(args.weights, fmt, imgsz, Path(args.out), half=args.half, dynamic=args.dynamic,
                                  batch=args.batch, device=device, allowed_dirs=args.weights_dir,
                                  overwrite=not args.skip_existing)
        except (ExportError, WeightsError, DeviceError) as exc:
            print(f"repose export: {exc}", file=sys.stderr)
            return 2
        size_mb = sum(f.stat().st_size for f in ([path] if path.is_file() else path.rglob("*"))) / 1e6
        print(f"[{i}/{n}] {fmt:<8} imgsz {imgsz:<5} {path}  {size_mb:.1f} MB  {time.perf_counter() - t0:.1f} s  "
              f"sha256 {weights_sha256(path)}", flush=True)
        made.append({"format": fmt, "imgsz": imgsz, "path": str(path)})
    if args.compare:
        from repose_ros.datasets.load import default_mot_root
        from repose_ros.datasets.mot import find_mot_sequences, mot_frames
        root = Path(args.data) if args.data else default_mot_root()
        seqs = find_mot_sequences(root) if root is not None else []
        if not seqs:
            print("repose export: --compare needs MOT17 frames (--data FOLDER with <seq>/gt/gt.txt and img1/)",
                  file=sys.stderr)
            return 2
        rows = compare_exports(args.weights, made, mot_frames(seqs, args.frames), threads=args.threads,
                               repeats=args.repeats)
        print(f"\nlatency: median of {args.repeats} calls on one square input-size crop, {args.threads} thread(s); "
              f"mAP50:95: {args.frames} frames of {root}")
        print(format_compare_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "threads": args.threads, "repeats": args.repeats,
                                                   "frames": args.frames, "data": str(root)}, indent=2) + "\n")
    return 0
