"""Detection sets as plain numpy arrays (the currency between the core modules).

A :class:`Detections` holds ``N`` boxes in full-frame pixel coordinates unless a caller says
otherwise: ``xyxy`` (N, 4) float32, ``scores`` (N,) float32, ``class_ids`` (N,) int32. Inputs
are converted to those dtypes on construction; shapes, finiteness, integral class ids and box
order (``x1 >= x0``, ``y1 >= y0``) are checked, with a ValueError naming the problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Sequence, Union

import numpy as np

from repose_ros.core import boxes as _boxes

IndexLike = Union[int, slice, Sequence[int], Sequence[bool], np.ndarray]


def _float_array(value: Any, name: str) -> np.ndarray:
    """Convert ``value`` to float32 or raise ValueError naming the field."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds here
        raise ValueError(f"{name}: cannot convert to an array ({exc})") from exc
    if arr.size and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


@dataclass(eq=False)
class Detections:
    """A set of ``N`` detections: ``xyxy`` (N, 4) float32, ``scores`` (N,), ``class_ids`` (N,)."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __post_init__(self) -> None:
        xyxy = _float_array(self.xyxy, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        scores = _float_array(self.scores, "scores")
        if scores.size == 0:
            scores = scores.reshape(0)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) to match xyxy, got {scores.shape}")
        cls = np.asarray(self.class_ids)
        if cls.size == 0:
            cls = cls.reshape(0)
        if cls.shape != (n,):
            raise ValueError(f"class_ids must have shape ({n},) to match xyxy, got {cls.shape}")
        if cls.size and not np.issubdtype(cls.dtype, np.integer):
            if not np.issubdtype(cls.dtype, np.floating) or not np.all(np.isfinite(cls)) \
                    or not np.all(cls == np.round(cls)):
                raise ValueError(f"class_ids must be integers, got dtype {cls.dtype}")
        if cls.size and (cls.min() < np.iinfo(np.int32).min or cls.max() > np.iinfo(np.int32).max):
            raise ValueError("class_ids do not fit in int32")
        cls = cls.astype(np.int32, copy=False)
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy must hold finite coordinates")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores must be finite")
        bad = (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])
        if np.any(bad):
            raise ValueError(f"boxes must satisfy x1 >= x0 and y1 >= y0; first bad row "
                             f"{int(np.argmax(bad))}: {xyxy[int(np.argmax(bad))].tolist()}")
        self.xyxy = xyxy
        self.scores = scores
        self.class_ids = cls

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "Detections":
        """Return a set with no detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_xywh(cls, xywh: np.ndarray, scores: np.ndarray, class_ids: np.ndarray) -> "Detections":
        """Build from top-left corner plus width/height boxes ``(N, 4)``."""
        b = _float_array(xywh, "xywh")
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"xywh must have shape (N, 4), got {b.shape}")
        xyxy = np.concatenate((b[:, :2], b[:, :2] + b[:, 2:]), axis=1)
        return cls(xyxy, scores, class_ids)

    @classmethod
    def concatenate(cls, items: Iterable["Detections"]) -> "Detections":
        """Concatenate several sets into one (in the given order)."""
        items = list(items)
        if not items:
            return cls.empty()
        return cls(np.concatenate([d.xyxy for d in items]), np.concatenate([d.scores for d in items]),
                   np.concatenate([d.class_ids for d in items]))

    def to_dict(self) -> Dict[str, list]:
        """Return a JSON-serialisable dict with lists ``xyxy``, ``scores``, ``class_ids``."""
        return {"xyxy": self.xyxy.tolist(), "scores": self.scores.tolist(),
                "class_ids": self.class_ids.tolist()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Detections":
        """Inverse of :meth:`to_dict`; raises ValueError on missing keys."""
        missing = [k for k in ("xyxy", "scores", "class_ids") if k not in data]
        if missing:
            raise ValueError(f"Detections.from_dict: missing keys {missing}")
        return cls(np.asarray(data["xyxy"], dtype=np.float32), data["scores"], data["class_ids"])

    # -- container protocol --------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: IndexLike) -> "Detections":
        """Select by bool mask, index array, slice or single int (always returns Detections)."""
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == np.bool_:
                if index.shape != (len(self),):
                    raise ValueError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
            elif index.size == 0:
                index = index.astype(np.int64)
            elif not np.issubdtype(index.dtype, np.integer):
                raise ValueError(f"index must be a bool mask or integer indices, got dtype {index.dtype}")
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (np.array_equal(self.xyxy, other.xyxy) and np.array_equal(self.scores, other.scores)
                and np.array_equal(self.class_ids, other.class_ids))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Detections(n={len(self)})"

    # -- derived quantities --------------------------------------------------------------------
    @property
    def wh(self) -> np.ndarray:
        """Widths and heights ``(N, 2)``."""
        return self.xyxy[:, 2:] - self.xyxy[:, :2]

    @property
    def areas(self) -> np.ndarray:
        """Box areas ``(N,)`` in square pixels."""
        wh = self.wh
        return wh[:, 0] * wh[:, 1]

    @property
    def centers(self) -> np.ndarray:
        """Box centres ``(N, 2)``."""
        return (self.xyxy[:, :2] + self.xyxy[:, 2:]) * 0.5

    # -- transforms (all return new objects) ---------------------------------------------------
    def shift(self, dx: float, dy: float) -> "Detections":
        """Translate every box by ``(dx, dy)`` (e.g. block to frame coordinates)."""
        off = np.array([dx, dy, dx, dy], dtype=np.float32)
        return Detections(self.xyxy + off, self.scores.copy(), self.class_ids.copy())

    def scale(self, sx: float, sy: float) -> "Detections":
        """Scale coordinates by ``sx`` along x and ``sy`` along y (both must be positive)."""
        if not (sx > 0 and sy > 0):
            raise ValueError(f"scale factors must be positive, got ({sx}, {sy})")
        fac = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(self.xyxy * fac, self.scores.copy(), self.class_ids.copy())

    def clip(self, w: float, h: float) -> "Detections":
        """Clip boxes to the image ``[0, w] x [0, h]`` (boxes may become degenerate)."""
        b = self.xyxy.copy()
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
        return Detections(b, self.scores.copy(), self.class_ids.copy())

    def filter(self, min_score: float = 0.0, min_area: float = 0.0) -> "Detections":
        """Keep detections with ``score >= min_score`` and ``area >= min_area``."""
        return self[(self.scores >= min_score) & (self.areas >= min_area)]

    def select_class(self, class_ids: Union[int, Iterable[int]]) -> "Detections":
        """Keep detections whose class is ``class_ids`` (an int or an iterable of ints)."""
        wanted = np.atleast_1d(np.asarray(list(class_ids) if not np.isscalar(class_ids) else class_ids))
        return self[np.isin(self.class_ids, wanted)]

    def with_nms(self, iou: float = 0.5, class_agnostic: bool = False) -> "Detections":
        """Return the detections kept by NMS, highest score first."""
        if class_agnostic:
            keep = _boxes.nms(self.xyxy, self.scores, iou)
        else:
            keep = _boxes.batched_nms(self.xyxy, self.scores, self.class_ids, iou)
        return self[keep]
