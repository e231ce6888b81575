"""What every detector back-end shares: class maps, compute devices, rectangles of a frame, image checks.

A back-end implements ``detect(image, imgsz, conf, iou, max_det) -> Detections`` on a whole image and
``detect_crops(image, rects, imgsz, conf, iou, max_det) -> list[Detections]``: one result per rectangle,
all crops run as one batch where possible, boxes in *frame* pixels.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.core.detections import Detections


# OMP_NUM_THREADS as the user set it, before ultralytics (which sets it to 1 when unset) is imported.
_USER_OMP_THREADS = os.environ.get("OMP_NUM_THREADS")

RectLike = Union[Sequence[int], Any]
ClassMapSpec = Union[None, str, Mapping[Union[int, str], int]]


class DeviceError(RuntimeError):
    """The requested compute device is not available."""


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


def merges_classes(class_map: Optional[Dict[int, int]]) -> bool:
    """Return whether ``class_map`` sends two source classes to one output class."""
    return class_map is not None and len(set(class_map.values())) < len(class_map)


def nms_after_map(dets: Detections, iou: float) -> Detections:
    """Class-aware NMS on the *output* classes (used when a map merges source classes)."""
    if len(dets) < 2:
        return dets
    from repose_ros.core.boxes import batched_nms
    keep = np.asarray(batched_nms(dets.xyxy, dets.scores, dets.class_ids, iou), dtype=np.int64)
    return dets[np.sort(keep)]


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


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as an HxWx3 array; ValueError for anything that is not a non-empty image."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("image must be a non-empty HxW or HxWxC numpy array")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image
