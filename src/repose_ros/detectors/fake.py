"""A fake detector for tests and the built-in demo: detections from given ground truth or a function."""
from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.detectors.base import RectLike, check_image, rect_bounds


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
    rectangle (:func:`repose_ros.core.tensor_shapes.letterbox_shape`) and a call of mixed shapes pads
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
            from repose_ros.core.tensor_shapes import ceil_to, letterbox_shape
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
        image = check_image(image)
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
        h, w = check_image(image).shape[:2]
        return self.detect_crops(image, [(0, 0, w, h)], imgsz, conf, iou, max_det)[0]
