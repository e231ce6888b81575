"""Ultralytics YOLO back-end: one forward pass over the crops of a frame, in every format ultralytics runs.

torch and ultralytics are imported lazily, so this module imports without them.
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.detectors.base import (ClassMapSpec, RectLike, check_image, merges_classes, nms_after_map,
                                       apply_class_map, build_class_map, check_device, default_torch_threads,
                                       rect_bounds)
from repose_ros.detectors.weights import (WeightsError, check_export_folder, check_weights_digest,
                                          check_weights_location, normalize_allowed_dirs, resolve_weights,
                                          weights_format)


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


def detections_from_result(result: Any) -> Detections:
    """Convert one ultralytics ``Results`` (its ``boxes``: xyxy, conf, cls tensors) into :class:`Detections`."""
    boxes = getattr(result, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    return Detections(boxes.xyxy.cpu().numpy().astype(np.float32), boxes.conf.cpu().numpy().astype(np.float32),
                      boxes.cls.cpu().numpy().astype(np.int32))


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
            dets = detections_from_result(res)
            if len(dets) == 0:
                out.append(dets)
                continue
            dets = apply_class_map(dets, self._class_map)
            if merges_classes(self._class_map):
                dets = nms_after_map(dets, iou)
            out.append(dets)
        if results:
            speed = dict(getattr(results[0], "speed", {}) or {})
            self.last_speed_ms = {k: float(v) for k, v in speed.items()}
        return out

    def detect_batch(self, images: Sequence[np.ndarray], imgsz: int = 640, conf: float = 0.25,
                     iou: float = 0.7, max_det: int = 300) -> List[Detections]:
        """Detect on a list of images in batches of up to ``max_batch``; boxes in each image's pixels."""
        self.load()
        images = [check_image(im) for im in images]
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
        image = check_image(image)
        h, w = image.shape[:2]
        bounds = [rect_bounds(r, w, h) for r in rects]
        todo = [i for i, (x0, y0, x1, y1) in enumerate(bounds) if x1 > x0 and y1 > y0]
        results: List[Detections] = [Detections.empty() for _ in bounds]
        if todo:
            crops = [image[bounds[i][1]:bounds[i][3], bounds[i][0]:bounds[i][2]] for i in todo]
            for i, dets in zip(todo, self.detect_batch(crops, imgsz, conf, iou, max_det)):
                results[i] = dets.shift(bounds[i][0], bounds[i][1])
        return results
