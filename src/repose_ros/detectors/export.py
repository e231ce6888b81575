"""Export ``.pt`` weights to ONNX / OpenVINO / TensorRT, offline (what ``repose export`` runs).

Each (format, input size) pair becomes one file or folder (:func:`export_path`). Nothing is
installed or downloaded: ultralytics' exporter would pip-install a missing ``onnx`` or
``openvino``, so every dependency is checked first (:func:`missing_dependencies`,
:func:`check_can_export`) and auto-install is switched off while exporting (:class:`NoAutoInstall`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from repose_ros.core.environ import temporary_environ

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


def check_can_export(fmt: str, device: str) -> None:
    """Raise :class:`ExportError` when ``fmt`` cannot be exported here (missing package, no CUDA device)."""
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


class NoAutoInstall:
    """Context: ultralytics may not pip-install or download anything (restores its settings after)."""

    def __enter__(self) -> "NoAutoInstall":
        self._env = contextlib.ExitStack()
        self._env.enter_context(temporary_environ({"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}))
        import ultralytics.utils.checks as checks
        self._checks = checks
        self._old = getattr(checks, "AUTOINSTALL", None)
        checks.AUTOINSTALL = False
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            self._checks.AUTOINSTALL = self._old
        self._env.close()


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
    check_can_export(fmt, device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = export_path(out_dir, export_stem(weights, src), fmt, imgsz, half)
    if dest.exists() and not overwrite:
        return dest
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as tmp, NoAutoInstall():
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
