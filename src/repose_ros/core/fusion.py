"""Fusion of the per-block detections of a frame into one set (last step of III-B).

Blocks may overlap (margins, uniform tiles), so one object can be reported by several blocks,
sometimes as a partial box cut by a block edge. :func:`fuse` concatenates the block results
(already in frame pixels) and merges duplicates with one of the rules of
:func:`repose_ros.core.boxes.merge_boxes`: "nms" keeps the best box, "nmm" replaces a group by
its union box, "wbf" by its score-weighted mean box. ``match_metric="ios"`` (intersection over
the smaller box) matches a partial box to the full one even when their IoU is low.
"""
from __future__ import annotations

from typing import Iterable

from repose_ros.core.boxes import MERGE_METHODS, METRICS, merge_boxes
from repose_ros.core.detections import Detections


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
