"""Fusion of the per-block detections of a frame into one set (last step of III-B).

Blocks may overlap (margins, uniform tiles), so one object can be reported by several blocks,
sometimes as a partial box cut by a block edge. :func:`fuse` concatenates the block results
(already in frame pixels) and merges duplicates with one of the rules of
:func:`repose_ros.core.boxes.merge_boxes`: "nms" keeps the best box, "nmm" replaces a group by
its union box, "wbf" by its score-weighted mean box. ``match_metric="ios"`` (intersection over
the smaller box) matches a partial box to the full one even when their IoU is low.

:func:`fuse_blocks` first drops *fragments*: a box that touches an interior edge of its own
block (the block was cut there, not the frame) and lies mostly inside a larger box of the same
class from another block, which saw the object whole. The more blocks a plan cuts a frame into,
the more such fragments there are; NMS alone keeps them when their IoU with the whole box is low.

:func:`swap_oversized` keeps each detection to the scale its model handles. A block is enlarged
to its model's input for the small people in it, and the large people in the same block are then
enlarged too, past the sizes the detector does well on (the precision profile falls for objects
over about 65536 px^2 at the model input; end to end, the large people's AP fell as the budget
and with it the enlargement grew). The coarse pass saw the whole frame at a smaller scale, so a
block detection larger than ``max_input_area`` at its block's input is answered by the coarse box
of the same object where there is one (IoU at least ``iou``, same class), as multi-scale detectors
keep each object from the scale at which it has a normal size. With ``drop_unmatched``, such a
detection that no coarse box confirms is dropped. Enlarging a block for its small people makes
clutter look like large people, while the coarse pass sees most real people of that size (it is
at least ``max_input_area`` x (coarse scale / block scale)^2 at the coarse input: 1820 px^2 for a
4K frame's coarse scale of 1/2 and a block enlarged 3x, where the default profile's recall at conf
0.05 is about 0.55, and more for anyone larger). On held-out frames 14 of 907 such unconfirmed
detections overlapped an annotated person (docs/rl_dca.md, sixteenth round).

:func:`coarse_answers` closes the gap the swap leaves: a coarse box of a person too large at the
input of every block that holds it (its centre) is the frame's only sound view of that person,
and the planner values such a person at the coarse pass's precision on that assumption. When no
block detection answers for it (the block saw a fragment, which was dropped unconfirmed, or
nothing), the coarse box itself is published. Without it, large people were lost outright at
large budgets (dense MOT17 mosaics at 4000 ms: 25 of 88 people taller than about 200 px, each
with a confident coarse box; docs/rl_dca.md, eighteenth round).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from repose_ros.core.boxes import MERGE_METHODS, METRICS, box_area, box_iou, merge_boxes
from repose_ros.core.detections import Detections

#: Default of ``max_input_area`` (:func:`swap_oversized`): above it the default profile's precision
#: falls at every input size from 960 up.
DEFAULT_MAX_INPUT_AREA = 65536.0


def area_limit_on(max_input_area: Optional[float]) -> bool:
    """Whether a ``max_input_area`` limit is in force: above 0 and finite (0, inf and None switch it off).

    One rule for fusion (:func:`swap_oversized`) and for the planner's value of the same people
    (``plan_max_input_area``: :meth:`repose_ros.core.profiles.Profiles.expected_precision_matrix`).
    """
    return max_input_area is not None and 0.0 < float(max_input_area) < math.inf


def fuse(detections_list: Iterable[Detections], method: str = "nms", iou: float = 0.5,
         match_metric: str = "iou", class_agnostic: bool = False) -> Detections:
    """Merge several detection sets (frame pixels) into one, highest score first.

    ``method`` is "nms", "nmm" or "wbf"; two boxes match when their ``match_metric`` ("iou" or
    "ios") overlap is above ``iou`` and, unless ``class_agnostic``, their classes agree.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {MERGE_METHODS}")
    if match_metric not in METRICS:
        raise ValueError(f"unknown match metric {match_metric!r}; expected one of {METRICS}")
    items = list(detections_list)
    for i, d in enumerate(items):
        if not isinstance(d, Detections):
            raise TypeError(f"detections_list[{i}] is {type(d).__name__}, expected Detections")
    merged = Detections.concatenate(items)
    if len(merged) == 0:
        return merged
    xyxy, scores, class_ids = merge_boxes(merged.xyxy, merged.scores, merged.class_ids, method=method,
                                          iou_thr=iou, metric=match_metric, class_agnostic=class_agnostic)
    return Detections(xyxy, scores, class_ids)


def cut_flags(xyxy: np.ndarray, rects: np.ndarray, frame_w: int, frame_h: int, tol: float) -> np.ndarray:
    """(N, 4) bools: box touches an interior edge (left, top, right, bottom) of its block ``rects[i]``."""
    return np.stack([
        (xyxy[:, 0] <= rects[:, 0] + tol) & (rects[:, 0] > 0),
        (xyxy[:, 1] <= rects[:, 1] + tol) & (rects[:, 1] > 0),
        (xyxy[:, 2] >= rects[:, 2] - tol) & (rects[:, 2] < frame_w),
        (xyxy[:, 3] >= rects[:, 3] - tol) & (rects[:, 3] < frame_h),
    ], axis=1)


def fragment_mask(xyxy: np.ndarray, class_ids: np.ndarray, owner: np.ndarray, cut: np.ndarray,
                  min_ios: float = 0.8) -> np.ndarray:
    """Return bools: the boxes to drop as fragments.

    A fragment is cut by its block (``cut``) and lies ``min_ios`` inside a larger same-class box
    of another block; a box already dropped does not make another one a fragment.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64)
    areas = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0)
    drop = np.zeros(len(xyxy), dtype=bool)
    for f in np.flatnonzero(cut.any(axis=1)):
        if areas[f] <= 0:
            continue
        iw = np.clip(np.minimum(xyxy[f, 2], xyxy[:, 2]) - np.maximum(xyxy[f, 0], xyxy[:, 0]), 0, None)
        ih = np.clip(np.minimum(xyxy[f, 3], xyxy[:, 3]) - np.maximum(xyxy[f, 1], xyxy[:, 1]), 0, None)
        ios = iw * ih / areas[f]
        other = (owner != owner[f]) & (class_ids == class_ids[f]) & (areas > areas[f]) & ~drop & (ios >= min_ios)
        if other.any():
            drop[f] = True
    return drop


def fuse_blocks(per_block: Sequence[Detections], rects: Sequence[Any], frame_w: int, frame_h: int,
                method: str = "nms", iou: float = 0.5, edge_tol: float = 3.0, fragment_ios: float = 0.8) -> Detections:
    """Drop fragments cut by block edges (see the module docstring), then :func:`fuse` the rest.

    ``rects[i]`` is block ``i``'s rectangle (a ``Rect`` or ``(x0, y0, x1, y1)``) in frame pixels.
    """
    if len(per_block) != len(rects):
        raise ValueError(f"got {len(per_block)} detection sets for {len(rects)} blocks")
    items = list(per_block)
    dets = Detections.concatenate(items) if items else Detections.empty()
    if len(dets) < 2:
        return fuse(items, method=method, iou=iou)
    rect_arr = np.array([[r.x0, r.y0, r.x1, r.y1] if hasattr(r, "x0") else list(r) for r in rects], np.float64)
    owner = np.concatenate([np.full(len(d), i, np.int64) for i, d in enumerate(items)])
    cut = cut_flags(dets.xyxy.astype(np.float64), rect_arr[owner], frame_w, frame_h, edge_tol)
    keep = ~fragment_mask(dets.xyxy, dets.class_ids, owner, cut, fragment_ios)
    return fuse([dets[keep]], method=method, iou=iou)


def input_scale(imgsz: int, block_w: float, block_h: float) -> float | None:
    """Model-input pixels per frame pixel of a block letterboxed into ``imgsz`` (None without a size or an area)."""
    if imgsz <= 0 or block_w <= 0 or block_h <= 0:
        return None
    return imgsz / float(max(block_w, block_h))


def swap_oversized(per_block: Sequence[Detections], scales: Sequence[Any], coarse: Detections,
                   max_input_area: float, iou: float = 0.5, drop_unmatched: bool = False
                   ) -> tuple[list, Detections, int, int]:
    """Replace block detections too large at their model input by the coarse boxes of the same objects.

    Args:
        per_block: each block's detections in frame pixels.
        scales: per block, model-input pixels per frame pixel (:func:`input_scale`);
            ``None`` leaves that block's detections as they are (e.g. coarse boxes answering a
            block left out).
        coarse: the frame's coarse detections (frame pixels).
        max_input_area: px^2 at the model input above which a block detection is swapped;
            ``<= 0`` or ``inf`` swaps nothing.
        iou: least IoU between the detection and its coarse box (same class).
        drop_unmatched: drop an oversized detection that matches no coarse box (otherwise it stays).

    Returns:
        ``(per_block, used, swapped, dropped)``: the block detections without the swapped (and
        dropped) ones, the coarse boxes that replace them (each once), how many block detections
        were swapped and how many were dropped unconfirmed. A frame without coarse boxes has nothing
        to confirm against: its detections stay.
    """
    if len(per_block) != len(scales):
        raise ValueError(f"got {len(per_block)} detection sets for {len(scales)} scales")
    out = list(per_block)
    if not area_limit_on(max_input_area) or len(coarse) == 0:
        return out, Detections.empty(), 0, 0
    c_xyxy = np.asarray(coarse.xyxy, dtype=np.float64)
    used = np.zeros(len(coarse), dtype=bool)
    swapped = dropped = 0
    for i, (d, s) in enumerate(zip(per_block, scales)):
        if s is None or len(d) == 0:
            continue
        xyxy = np.asarray(d.xyxy, dtype=np.float64)
        big = np.flatnonzero(box_area(xyxy) * float(s) ** 2 > max_input_area)
        if big.size == 0:
            continue
        overlap = box_iou(xyxy[big], c_xyxy)
        overlap[d.class_ids[big][:, None] != coarse.class_ids[None, :]] = 0.0
        best = overlap.argmax(axis=1)
        hit = overlap[np.arange(big.size), best] >= iou
        gone = hit | bool(drop_unmatched)
        if not gone.any():
            continue
        keep = np.ones(len(d), dtype=bool)
        keep[big[gone]] = False
        used[best[hit]] = True
        swapped += int(hit.sum())
        dropped += int((gone & ~hit).sum())
        out[i] = d[keep]
    return out, coarse[np.flatnonzero(used)], swapped, dropped


def coarse_answers(per_block: Sequence[Detections], rects: Sequence[Any], scales: Sequence[Any],
                   coarse: Detections, max_input_area: float, iou: float = 0.5) -> Detections:
    """Coarse boxes of people too large for every block that holds them, that no block detection answers.

    Args:
        per_block: the detections the frame will publish, per block (frame pixels; after
            :func:`swap_oversized`, with the coarse boxes it swapped in among them).
        rects: ``(x0, y0, x1, y1)`` of the blocks that ran, one per entry of ``scales``.
        scales: per block, model-input pixels per frame pixel (:func:`input_scale`); ``None``
            for a block that did not run a model (its coarse boxes answer for it already).
        coarse: the frame's coarse detections (frame pixels).
        max_input_area: px^2 at the model input above which a person is too large for a block;
            ``<= 0`` or ``inf``: none is.
        iou: least IoU (same class) between a block detection and the coarse box it answers.

    Returns:
        The coarse boxes whose centre lies in at least one block that ran, whose area at the input
        of every such block exceeds ``max_input_area``, and that no detection of ``per_block``
        overlaps by ``iou``.
    """
    if len(rects) != len(scales):
        raise ValueError(f"got {len(rects)} block rectangles for {len(scales)} scales")
    if not area_limit_on(max_input_area) or len(coarse) == 0:
        return Detections.empty()
    xyxy = np.asarray(coarse.xyxy, dtype=np.float64)
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2.0, (xyxy[:, 1] + xyxy[:, 3]) / 2.0
    area = box_area(xyxy)
    held = np.zeros(len(coarse), dtype=bool)
    fits = np.zeros(len(coarse), dtype=bool)
    for r, s in zip(rects, scales):
        if s is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in r)
        inside = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
        held |= inside
        fits |= inside & (area * float(s) ** 2 <= max_input_area)
    cand = np.flatnonzero(held & ~fits)
    if cand.size == 0:
        return Detections.empty()
    parts = [d for d in per_block if len(d)]
    if parts:
        dets = Detections.concatenate(parts)
        overlap = box_iou(xyxy[cand], np.asarray(dets.xyxy, dtype=np.float64))
        overlap[coarse.class_ids[cand][:, None] != dets.class_ids[None, :]] = 0.0
        cand = cand[overlap.max(axis=1) < iou]
    return coarse[cand]


def answer_oversized(per_block: Sequence[Detections], rects: Sequence[Any], scales: Sequence[Any],
                     coarse: Detections, max_input_area: float, drop_unmatched: bool = False,
                     answer: bool = True) -> tuple[list, Detections, int, int, int]:
    """Keep each person to the scale that sees it: :func:`swap_oversized`, then (``answer``) :func:`coarse_answers`.

    ``per_block``, ``rects`` and ``scales`` are one entry per block (``None`` scale: a block that ran
    no model). Returns ``(per_block, coarse_in, swapped, dropped, answered)``: the block detections
    left, the coarse boxes that answer for people (those swapped in, then the large people no block
    answered; seen on the whole frame, so never cut) and how many were swapped, dropped and answered.
    The one rule for fusion in one process (``RePose.fuse_runs``) and in the aggregator.
    """
    out, swapped_in, swapped, dropped = swap_oversized(per_block, scales, coarse, max_input_area,
                                                       drop_unmatched=drop_unmatched)
    answered = coarse_answers(out + [swapped_in], rects, scales, coarse, max_input_area) if answer \
        else Detections.empty()
    return out, Detections.concatenate([swapped_in, answered]), swapped, dropped, len(answered)
