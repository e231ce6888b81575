"""The model zoo: model keys ``"<name>@<imgsz>"`` -> a detector and its input size.

A :class:`ModelZoo` loads only the weights it was configured with (a model key received in a message
selects among them; it is never taken as a path); keys that share a weights file share one loaded
network.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.core.keys import parse_key
from repose_ros.detectors.base import ClassMapSpec, RectLike
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.ultralytics import UltralyticsDetector
from repose_ros.detectors.weights import (BUILTIN_PERSON, WeightsError, check_weights_digest, normalize_allowed_dirs,
                                          resolve_weights)


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
        input than the key's, see :func:`repose_ros.core.tensor_shapes.effective_imgsz`).
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
