"""Pure-numpy box geometry: areas, overlap matrices, NMS and the merge rules used by fusion.

Boxes are ``(N, 4)`` arrays of ``x0, y0, x1, y1`` in continuous pixel coordinates. Degenerate
boxes (zero or negative width/height) have area 0; any overlap measure whose denominator is 0
is defined as 0, so such boxes never suppress nor get suppressed.

Overlap metrics (``metric`` arguments):

* ``"iou"``: intersection over union.
* ``"ios"``: intersection over the smaller of the two areas (catches a partial box cut by a block
  edge that lies inside a full box of the same object).

Merge rules (:func:`merge_boxes`), all greedy in descending score order: the best remaining
box is the *keeper*; every remaining box (of the same class unless class-agnostic) whose overlap
with the keeper is above the threshold joins its cluster and is consumed.

* ``"nms"``: the cluster is reduced to its keeper.
* ``"nmm"`` (non-maximum merging): the cluster becomes the union box of its members.
* ``"wbf"`` (weighted box fusion): the cluster becomes the score-weighted mean of its members.

In all three the merged score is the keeper's score (the maximum of the cluster) and the class
is the keeper's class; the output is ordered by score, highest first.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

METRICS = ("iou", "ios")
MERGE_METHODS = ("nms", "nmm", "wbf")


def _as_boxes(xyxy: np.ndarray, name: str = "xyxy") -> np.ndarray:
    """Return ``xyxy`` as a float64 ``(N, 4)`` array or raise ValueError."""
    arr = np.asarray(xyxy, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite coordinates")
    return arr


def _as_scores(scores: np.ndarray, n: int) -> np.ndarray:
    """Return ``scores`` as a float64 ``(n,)`` array or raise ValueError."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"scores must have shape ({n},), got {np.shape(scores)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores must be finite")
    return arr


def box_array(xyxy: Any) -> np.ndarray:
    """Return ``xyxy`` (or ``None``: no boxes) as a float64 ``(N, 4)`` array, without validation."""
    b = np.asarray(xyxy if xyxy is not None else np.zeros((0, 4)), dtype=np.float64)
    return b.reshape(-1, 4)


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """Return the areas ``(N,)`` of boxes ``(N, 4)``; degenerate boxes have area 0."""
    b = _as_boxes(xyxy)
    return np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the ``(M, N)`` matrix of intersection areas of boxes ``a`` (M, 4) and ``b`` (N, 4)."""
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Divide elementwise, 0 where the denominator is not positive."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the ``(M, N)`` intersection-over-union matrix of boxes ``a`` and ``b``."""
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return _safe_div(inter, union)


def box_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the ``(M, N)`` matrix of intersection over the area of the *first* argument's box.

    ``box_ioa(a, b)[i, j]`` is the fraction of box ``a[i]`` that lies inside ``b[j]`` (e.g. how
    much of a detection lies inside a block).
    """
    inter = box_intersection(a, b)
    return _safe_div(inter, np.broadcast_to(box_area(a)[:, None], inter.shape))


def box_ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the ``(M, N)`` matrix of intersection over the smaller of the two areas."""
    inter = box_intersection(a, b)
    smaller = np.minimum(box_area(a)[:, None], box_area(b)[None, :])
    return _safe_div(inter, smaller)


def box_overlap(a: np.ndarray, b: np.ndarray, metric: str = "iou") -> np.ndarray:
    """Return the ``(M, N)`` overlap matrix under ``metric`` ("iou" or "ios")."""
    if metric == "iou":
        return box_iou(a, b)
    if metric == "ios":
        return box_ios(a, b)
    raise ValueError(f"unknown overlap metric {metric!r}; expected one of {METRICS}")


def _overlap_one(box: np.ndarray, area: float, others: np.ndarray, other_areas: np.ndarray,
                 metric: str) -> np.ndarray:
    """Overlap of one box with many (vectorised inner step of the greedy loops)."""
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    if metric == "iou":
        den = area + other_areas - inter
    else:
        den = np.minimum(area, other_areas)
    return _safe_div(inter, den)


def _offset_by_class(b: np.ndarray, class_ids: Optional[np.ndarray]) -> np.ndarray:
    """Move each class to its own disjoint region of the plane (coordinate-offset trick).

    Boxes are first translated so that the smallest coordinate is 0, then shifted along both
    axes by ``rank(class) * (max_coordinate + 1)``; boxes of different classes can then never
    intersect, so one class-agnostic pass does per-class work. Computed in float64.
    """
    if class_ids is None or b.shape[0] == 0:
        return b
    cls = np.asarray(class_ids).reshape(-1)
    if cls.shape[0] != b.shape[0]:
        raise ValueError(f"class_ids must have shape ({b.shape[0]},), got {np.shape(class_ids)}")
    _, rank = np.unique(cls, return_inverse=True)
    shifted = b - b.min()
    offset = rank.reshape(-1).astype(np.float64) * (shifted.max() + 1.0)
    return shifted + offset[:, None]


def _greedy(b: np.ndarray, scores: np.ndarray, thr: float, metric: str,
            members: bool) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Greedy score-ordered clustering shared by NMS and the merge rules.

    Returns the keeper indices (descending score; ties broken by lower index) and, if
    ``members`` is true, one index array per keeper (keeper first, then the boxes it consumed in
    descending score order).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown overlap metric {metric!r}; expected one of {METRICS}")
    if not np.isfinite(thr):
        raise ValueError(f"overlap threshold must be finite, got {thr}")
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    keep: List[int] = []
    groups: List[np.ndarray] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        ov = _overlap_one(b[i], areas[i], b[rest], areas[rest], metric)
        hit = ov > thr
        if members:
            groups.append(np.concatenate(([i], rest[hit])).astype(np.int64))
        order = rest[~hit]
    return np.asarray(keep, dtype=np.int64), groups


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_thr: float, metric: str = "iou") -> np.ndarray:
    """Non-maximum suppression; return the indices of the kept boxes, highest score first.

    A box is suppressed when its overlap with an already kept, higher-scoring box is strictly
    greater than ``iou_thr``; equal scores are ordered by index. Kept boxes therefore have
    pairwise overlap ``<= iou_thr``.
    """
    b = _as_boxes(xyxy)
    s = _as_scores(scores, b.shape[0])
    keep, _ = _greedy(b, s, float(iou_thr), metric, members=False)
    return keep


def batched_nms(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_thr: float,
                metric: str = "iou") -> np.ndarray:
    """Class-aware NMS (boxes of different classes never suppress each other).

    Returns kept indices ordered by score, highest first (ties by index). Uses the
    coordinate-offset trick so that one greedy pass serves all classes.
    """
    b = _as_boxes(xyxy)
    s = _as_scores(scores, b.shape[0])
    keep, _ = _greedy(_offset_by_class(b, class_ids), s, float(iou_thr), metric, members=False)
    return keep


def greedy_clusters(xyxy: np.ndarray, scores: np.ndarray, iou_thr: float, metric: str = "iou",
                    class_ids: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Group boxes greedily around their keepers (see the module docstring).

    Returns one index array per cluster, clusters in descending keeper score, each array
    starting with its keeper. With ``class_ids`` given, clusters never mix classes.
    """
    b = _as_boxes(xyxy)
    s = _as_scores(scores, b.shape[0])
    _, groups = _greedy(_offset_by_class(b, class_ids), s, float(iou_thr), metric, members=True)
    return groups


def merge_boxes(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, method: str = "nms",
                iou_thr: float = 0.5, metric: str = "iou",
                class_agnostic: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping detections with rule ``method`` ("nms", "nmm" or "wbf").

    Returns ``(xyxy float32 (K, 4), scores float32 (K,), class_ids int32 (K,))`` ordered by
    score, highest first. See the module docstring for the rules.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"unknown merge method {method!r}; expected one of {MERGE_METHODS}")
    b = _as_boxes(xyxy)
    s = _as_scores(scores, b.shape[0])
    c = np.asarray(class_ids).reshape(-1)
    if c.shape[0] != b.shape[0]:
        raise ValueError(f"class_ids must have shape ({b.shape[0]},), got {np.shape(class_ids)}")
    groups_by = None if class_agnostic else c
    if method == "nms":
        keep, _ = _greedy(_offset_by_class(b, groups_by), s, float(iou_thr), metric, members=False)
        out_b = b[keep]
    else:
        keep_list: List[int] = []
        merged: List[np.ndarray] = []
        for g in greedy_clusters(b, s, iou_thr, metric, class_ids=groups_by):
            keep_list.append(int(g[0]))
            members = b[g]
            if method == "nmm":
                merged.append(np.concatenate((members[:, :2].min(axis=0), members[:, 2:].max(axis=0))))
            else:
                w = np.clip(s[g], 0.0, None)
                if w.sum() > 0:
                    merged.append((members * w[:, None]).sum(axis=0) / w.sum())
                else:
                    merged.append(members.mean(axis=0))
        keep = np.asarray(keep_list, dtype=np.int64)
        out_b = np.asarray(merged, dtype=np.float64).reshape(-1, 4)
    return (out_b.astype(np.float32), s[keep].astype(np.float32),
            c[keep].astype(np.int32))
