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
``openvino``, so every dependency is checked first
(:func:`repose_ros.detectors.export.missing_dependencies`) and the run stops with the ``pip
install`` line to run, and auto-install is switched off while exporting.

``--compare`` then measures, on this machine, the median latency of one call per input size of
the ``.pt`` model and of each export (``--threads`` threads, ``--repeats`` timed calls on a square
``imgsz x imgsz`` crop of a real frame) and the COCO mAP50:95 of each on ``--frames`` MOT17
frames, with its difference to the ``.pt`` model (the README's figures come from this command).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from repose_ros.detectors import export as dexport
from repose_ros.detectors.export import FORMATS


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
            dexport.check_can_export(fmt, device)
    except (dexport.ExportError, DeviceError) as exc:
        print(f"repose export: {exc}", file=sys.stderr)
        return 2
    made: List[Dict[str, Any]] = []
    n = len(fmts) * len(sizes)
    for i, (fmt, imgsz) in enumerate(((f, s) for s in sizes for f in fmts), start=1):
        t0 = time.perf_counter()
        try:
            path = dexport.export_weights(args.weights, fmt, imgsz, Path(args.out), half=args.half,
                                          dynamic=args.dynamic, batch=args.batch, device=device,
                                          allowed_dirs=args.weights_dir, overwrite=not args.skip_existing)
        except (dexport.ExportError, WeightsError, DeviceError) as exc:
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
        from repose_ros.profiling.exports import compare_exports, format_compare_table
        rows = compare_exports(args.weights, made, mot_frames(seqs, args.frames), threads=args.threads,
                               repeats=args.repeats)
        print(f"\nlatency: median of {args.repeats} calls on one square input-size crop, {args.threads} thread(s); "
              f"mAP50:95: {args.frames} frames of {root}")
        print(format_compare_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "threads": args.threads, "repeats": args.repeats,
                                                   "frames": args.frames, "data": str(root)}, indent=2) + "\n")
    return 0
