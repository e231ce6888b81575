"""Coarse detection: split the frame into N equal blocks, detect them in one batch, merge.

RE-POSE first runs a cheap detection on N equal blocks of the frame (N = number of edge
servers) at a low confidence threshold; the boxes found drive the partitioning. The blocks
form a ``rows x cols`` grid with ``rows * cols == N`` chosen so that the blocks are as close
to square as possible (:func:`grid_shape`). Detections of all blocks are shifted to frame
pixels and merged across blocks: class-aware NMS removes duplicates from overlapping blocks,
fragments of one object cut by a block edge are suppressed when another block sees the object
whole, and fragments cut in two by a seam are joined (:func:`merge_block_detections`).

Tile artefacts
--------------
A detector shown a tile with nothing it recognises sometimes answers with a box over the whole
tile: it spans the tile from top to bottom and is as wide as it is tall or wider (on drone frames
of small people the shipped person model gave about two per frame at the 960 input and conf 0.05,
scores up to 0.37, none of them a person; docs/rl_dca.md, twenty-sixth round). Such a box is not a person: a standing
person who fills a tile's height is much taller than wide, and a lying one cannot fill it. Left in,
it becomes a cluster of its own (or drags a cluster's block over the whole tile), the planner spends
budget on it at a resolution too low for the small people around it, and fusion may publish it as
a large person's coarse answer. :func:`tile_artefact_mask` finds them; :func:`merge_block_detections`
drops them before merging (``artefact_span`` 0 keeps them). The rule's two numbers are choices,
not the paper's: ``artefact_span`` (share of the tile's height, and for a box that spans the tile's
width too, of its width) and ``artefact_aspect`` (width over height at or above which a
full-height box is an artefact). It can drop a person standing so close to the camera that, with
outstretched arms, their box fills a whole coarse tile; a wide-angle robot camera at arm's length
should switch it off (``coarse.artefact_span: 0.0``).
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from repose_ros.core.blocks import Rect, uniform_grid
from repose_ros.core.boxes import batched_nms
from repose_ros.core.detections import Detections
from repose_ros.core.fusion import cut_flags, fragment_mask


def grid_shape(n_blocks: int, frame_w: int = 16, frame_h: int = 9) -> Tuple[int, int]:
    """Return ``(rows, cols)`` with ``rows * cols == n_blocks`` giving the squarest blocks.

    Among the factorisations of ``n_blocks`` the one whose blocks ``(W / cols) x (H / rows)``
    have an aspect ratio closest to 1 (in log scale) wins; ties go to fewer rows. Without a
    frame size a 16:9 landscape frame is assumed: 1 -> 1x1, 2 -> 1x2, 3 -> 1x3, 4 -> 2x2,
    6 -> 2x3, 8 -> 2x4; for portrait frames rows and columns swap.
    """
    n = int(n_blocks)
    if n < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError(f"frame size must be positive, got {frame_w}x{frame_h}")
    best: Tuple[float, int, int] = (math.inf, 0, 0)
    for rows in range(1, n + 1):
        if n % rows:
            continue
        cols = n // rows
        cost = abs(math.log((frame_w / cols) / (frame_h / rows)))
        if cost < best[0] - 1e-12:
            best = (cost, rows, cols)
    return best[1], best[2]


def coarse_blocks(frame_w: int, frame_h: int, n_blocks: int, overlap: float = 0.0) -> List[Rect]:
    """Return the ``n_blocks`` equal blocks (row-major) that cover a ``frame_w x frame_h`` frame."""
    rows, cols = grid_shape(n_blocks, frame_w, frame_h)
    return uniform_grid(frame_w, frame_h, rows, cols, overlap)


class CoarseResult(NamedTuple):
    """Result of :func:`coarse_detect`.

    ``detections``: merged boxes in frame pixels; ``timings``: milliseconds (``detect_ms``,
    ``merge_ms``, ``total_ms``); ``rects``: the blocks; ``grid``: ``(rows, cols)``;
    ``per_block``: the detections of each block (frame pixels) before merging; ``artefacts``: how
    many of them were tile artefacts (dropped, :func:`tile_artefact_mask`).
    """

    detections: Detections
    timings: Dict[str, float]
    rects: List[Rect]
    grid: Tuple[int, int]
    per_block: List[Detections]
    artefacts: int = 0


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    union = max(a1, b1) - min(a0, b0)
    return max(inter, 0.0) / union if union > 0 else 0.0


def _join_pass(xyxy: np.ndarray, scores: np.ndarray, cls: np.ndarray, rects: np.ndarray, cut: np.ndarray,
               axis: int, tol: float, min_overlap: float) -> Tuple[np.ndarray, ...]:
    """Join pairs of fragments cut by a seam along ``axis`` (0: vertical seams, 1: horizontal)."""
    lo, hi = axis, axis + 2            # coordinate indices along the axis
    olo, ohi = 1 - axis, 3 - axis      # coordinates across it
    cut_lo, cut_hi = axis, axis + 2    # cut flags: left/top and right/bottom
    cands = []
    for a in np.flatnonzero(cut[:, cut_hi]):
        for b in np.flatnonzero(cut[:, cut_lo]):
            if a == b or cls[a] != cls[b]:
                continue
            if not (rects[b, lo] > rects[a, lo] and rects[b, lo] <= rects[a, hi]):
                continue                # b's block must start after a's, without a gap
            meet = (xyxy[b, lo] <= xyxy[a, hi] + tol and xyxy[a, lo] < xyxy[b, lo]
                    and xyxy[a, hi] < xyxy[b, hi])
            if not meet:
                continue                # the fragments must meet across the seam
            ov = _overlap_1d(xyxy[a, olo], xyxy[a, ohi], xyxy[b, olo], xyxy[b, ohi])
            if ov >= min_overlap:
                cands.append((ov, int(a), int(b)))
    if not cands:
        return xyxy, scores, cls, rects, cut
    used = np.zeros(len(xyxy), dtype=bool)
    new_rows: List[Tuple[np.ndarray, float, int, np.ndarray, np.ndarray]] = []
    for _ov, a, b in sorted(cands, key=lambda t: (-t[0], t[1], t[2])):
        if used[a] or used[b]:
            continue
        used[a] = used[b] = True
        box = np.concatenate([np.minimum(xyxy[a, :2], xyxy[b, :2]), np.maximum(xyxy[a, 2:], xyxy[b, 2:])])
        rect = np.concatenate([np.minimum(rects[a, :2], rects[b, :2]),
                               np.maximum(rects[a, 2:], rects[b, 2:])])
        flags = cut[a] | cut[b]
        flags[cut_lo], flags[cut_hi] = cut[a, cut_lo], cut[b, cut_hi]
        new_rows.append((box, float(max(scores[a], scores[b])), int(cls[a]), rect, flags))
    keep = ~used
    return (np.concatenate([xyxy[keep], np.array([r[0] for r in new_rows], dtype=xyxy.dtype)]),
            np.concatenate([scores[keep], np.array([r[1] for r in new_rows], dtype=scores.dtype)]),
            np.concatenate([cls[keep], np.array([r[2] for r in new_rows], dtype=cls.dtype)]),
            np.concatenate([rects[keep], np.array([r[3] for r in new_rows], dtype=rects.dtype)]),
            np.concatenate([cut[keep], np.array([r[4] for r in new_rows], dtype=bool)]))


#: Default share of a coarse tile's height (and width) a box must span to be a tile artefact.
DEFAULT_ARTEFACT_SPAN = 0.9
#: Default width-over-height at or above which a box spanning a tile's height is a tile artefact.
DEFAULT_ARTEFACT_ASPECT = 1.0


def tile_artefact_mask(xyxy: np.ndarray, rect: Any, span: float = DEFAULT_ARTEFACT_SPAN,
                       aspect: float = DEFAULT_ARTEFACT_ASPECT) -> np.ndarray:
    """Return which boxes (frame pixels) are artefacts of the tile ``rect`` (module docstring).

    A box is one when the part of it inside the tile spans at least ``span`` of the tile's height
    and the box is at least ``aspect`` times as wide as tall, or when that part spans ``span`` of
    both the tile's height and its width. ``span`` 0 (or less) finds none.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if span <= 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    x0, y0, x1, y1 = (rect.x0, rect.y0, rect.x1, rect.y1) if hasattr(rect, "x0") else rect
    inside_h = np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)
    inside_w = np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0)
    tall = inside_h >= span * (y1 - y0)
    wide = inside_w >= span * (x1 - x0)
    return tall & (((b[:, 2] - b[:, 0]) >= aspect * (b[:, 3] - b[:, 1])) | wide)


def merge_block_detections(per_block: Sequence[Detections], rects: Sequence[Any], frame_w: int, frame_h: int,
                           iou: float = 0.5, join_seams: bool = True, edge_tol: float = 3.0,
                           min_seam_overlap: float = 0.6, fragment_ios: float = 0.8,
                           artefact_span: float = DEFAULT_ARTEFACT_SPAN,
                           artefact_aspect: float = DEFAULT_ARTEFACT_ASPECT,
                           counts: Dict[str, int] | None = None) -> Detections:
    """Merge detections (frame pixels) of blocks ``rects`` into one set.

    0. tile artefacts (:func:`tile_artefact_mask` with ``artefact_span`` and ``artefact_aspect``;
       ``artefact_span`` 0: none) are dropped, and counted in ``counts["artefacts"]`` when given;
    1. class-aware NMS at ``iou`` (duplicates from overlapping blocks);
    2. if ``join_seams``: a box touching an interior edge of its block (within ``edge_tol``
       pixels) whose area lies at least ``fragment_ios`` inside a larger same-class box from
       another block is dropped (the other block saw the object whole);
    3. if ``join_seams``: pairs of same-class fragments cut by the same seam (one touches the
       right/bottom edge of its block, the other the left/top edge of the next block, they meet
       across the seam and overlap by ``min_seam_overlap`` along it, as 1-D IoU) are replaced by
       their union, first across vertical then across horizontal seams (objects cut in four
       are rebuilt too); the score is the larger one.

    Returns the merged set ordered by score, highest first.
    """
    if len(per_block) != len(rects):
        raise ValueError(f"got {len(per_block)} detection sets for {len(rects)} blocks")
    rect_arr = np.array([[r.x0, r.y0, r.x1, r.y1] if hasattr(r, "x0") else list(r) for r in rects],
                        dtype=np.float64)
    sets = []
    for d, r in zip(per_block, rect_arr):
        bad = tile_artefact_mask(d.xyxy, r, artefact_span, artefact_aspect)
        if bad.any():
            d = d[~bad]
            if counts is not None:
                counts["artefacts"] = counts.get("artefacts", 0) + int(bad.sum())
        sets.append(d)
    if not sets or sum(len(d) for d in sets) == 0:
        return Detections.empty()
    dets = Detections.concatenate(sets)
    owner = np.concatenate([np.full(len(d), i, np.int64) for i, d in enumerate(sets)])
    keep = np.asarray(batched_nms(dets.xyxy, dets.scores, dets.class_ids, iou), dtype=np.int64)
    dets, owner = dets[keep], owner[keep]
    if not join_seams or len(dets) < 2:
        return dets
    xyxy = dets.xyxy.astype(np.float64)
    scores, cls = dets.scores.copy(), dets.class_ids.copy()
    rects_b = rect_arr[owner]
    cut = cut_flags(xyxy, rects_b, frame_w, frame_h, edge_tol)
    # 2. fragments seen whole by another block
    drop = fragment_mask(xyxy, cls, owner, cut, fragment_ios)
    xyxy, scores, cls, rects_b, cut = xyxy[~drop], scores[~drop], cls[~drop], rects_b[~drop], cut[~drop]
    # 3. join fragments across vertical, then horizontal seams
    for axis in (0, 1):
        xyxy, scores, cls, rects_b, cut = _join_pass(xyxy, scores, cls, rects_b, cut, axis, edge_tol,
                                                     min_seam_overlap)
    out = Detections(xyxy.astype(np.float32), scores, cls)
    order = np.asarray(batched_nms(out.xyxy, out.scores, out.class_ids, iou), dtype=np.int64)
    return out[order]


def coarse_detect(frame: np.ndarray, detector: Any, n_blocks: int, imgsz: int, conf: float = 0.05,
                  iou: float = 0.5, overlap: float = 0.0, max_det: int = 300,
                  join_seams: bool = True, artefact_span: float = DEFAULT_ARTEFACT_SPAN,
                  artefact_aspect: float = DEFAULT_ARTEFACT_ASPECT) -> CoarseResult:
    """Detect on ``n_blocks`` equal blocks of ``frame`` in one batch and merge across blocks.

    ``detector`` is any object with ``detect_crops(image, rects, imgsz=, conf=, iou=, max_det=)``
    returning per-block :class:`Detections` in frame pixels (:class:`UltralyticsDetector`,
    :class:`FakeDetector`); ``imgsz`` is the model input size for every block; ``conf`` is
    deliberately low (the coarse pass should not miss objects); ``iou`` is used both by the
    detector and by the cross-block NMS; ``overlap`` is the fraction by which neighbouring
    blocks overlap (see :func:`repose_ros.core.blocks.uniform_grid`); ``artefact_span`` and
    ``artefact_aspect``: tile artefacts dropped (:func:`merge_block_detections`). Returns a
    :class:`CoarseResult` whose first two fields are the merged detections and the timings.
    """
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or frame.size == 0:
        raise ValueError("frame must be a non-empty HxW or HxWxC numpy array")
    t0 = time.perf_counter()
    h, w = frame.shape[:2]
    rows, cols = grid_shape(n_blocks, w, h)
    rects = uniform_grid(w, h, rows, cols, overlap)
    per_block = list(detector.detect_crops(frame, rects, imgsz=int(imgsz), conf=float(conf), iou=float(iou),
                                           max_det=int(max_det)))
    t1 = time.perf_counter()
    counts: Dict[str, int] = {}
    merged = merge_block_detections(per_block, rects, w, h, iou=iou, join_seams=join_seams,
                                    artefact_span=artefact_span, artefact_aspect=artefact_aspect, counts=counts)
    t2 = time.perf_counter()
    timings = {"detect_ms": (t1 - t0) * 1e3, "merge_ms": (t2 - t1) * 1e3, "total_ms": (t2 - t0) * 1e3}
    return CoarseResult(merged, timings, rects, (rows, cols), per_block, counts.get("artefacts", 0))
