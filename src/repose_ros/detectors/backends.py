"""Detector back-ends the nodes can be configured with (no rclpy)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo


def bright_blobs(image: np.ndarray, threshold: int = 128, min_area: int = 4) -> Detections:
    """Boxes of the bright connected regions of an image (the 'fake' back-end's detector).

    Used by tests and CPU-free smoke runs with synthetic frames (white figures on a dark
    background): the output depends on the pixels, so crops, offsets and fusion are exercised
    exactly as with a real network.
    """
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    n, _, stats, _ = cv2.connectedComponentsWithStats((gray >= threshold).astype(np.uint8), connectivity=8)
    st = stats[1:]
    st = st[st[:, cv2.CC_STAT_AREA] >= min_area]
    if len(st) == 0:
        return Detections.empty()
    x, y = st[:, cv2.CC_STAT_LEFT], st[:, cv2.CC_STAT_TOP]
    xyxy = np.stack([x, y, x + st[:, cv2.CC_STAT_WIDTH], y + st[:, cv2.CC_STAT_HEIGHT]], 1).astype(np.float32)
    return Detections(xyxy, np.full(len(st), 0.9, np.float32), np.zeros(len(st), np.int32))


def make_zoo(backend: str, names: Sequence[str], files: Sequence[str], device: str = "cpu",
             torch_threads: int = 0, allowed_dirs: Sequence[str] = (),
             sha256: Sequence[str] = (), half: bool = False, class_map: str = "auto") -> ModelZoo:
    """Build a model zoo: ``ultralytics`` (real weights) or ``fake`` (bright blobs).

    The one builder of real-weights zoos: the nodes, ``repose profile``, ``repose eval`` and the
    benchmarks call it (tools that simulate a detector build ``ModelZoo.fake`` themselves).

    ``torch_threads`` > 0 fixes torch's CPU thread count (several detector processes sharing
    one machine should use 1 each); 0 leaves torch's default. The zoo loads only ``files``
    (model keys received in messages select among ``names``); ``allowed_dirs`` (empty strings
    ignored) restricts them to folders and ``sha256`` (one digest or "" per file, or empty)
    pins their contents. ``half`` runs FP16 on a CUDA device (on the CPU: only OpenVINO exports, in
    bf16/fp16 instead of f32; see :class:`UltralyticsDetector`); ``class_map`` is
    :func:`repose_ros.detectors.base.build_class_map`'s mode.
    """
    if len(names) != len(files):
        raise ValueError("weights_names and weights_files must have the same length")
    digests = [d for d in sha256 if str(d).strip()]
    if digests and len(sha256) != len(files):
        raise ValueError("weights_sha256 must be empty or have one entry (digest or \"\") per weights file")
    if backend == "fake":
        return ModelZoo.fake(FakeDetector(ground_truth=bright_blobs), names)
    if backend == "ultralytics":
        return ModelZoo(dict(zip(names, files)), device=device, torch_threads=torch_threads or None, half=half,
                        allowed_dirs=allowed_dirs, sha256=dict(zip(names, sha256)) if digests else None,
                        class_map=class_map)
    raise ValueError(f"unknown detector backend '{backend}' (ultralytics or fake)")


def make_zoo_from_params(p: dict) -> ModelZoo:
    """:func:`make_zoo` from a node's parameter values (backend, weights_*, device, torch_threads)."""
    return make_zoo(p["backend"], p["weights_names"], p["weights_files"], p["device"], p["torch_threads"],
                    allowed_dirs=p.get("weights_dirs", ()), sha256=p.get("weights_sha256", ()),
                    half=bool(p.get("half", False)))
