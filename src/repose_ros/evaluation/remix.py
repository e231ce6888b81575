"""A REMIX-style baseline: partitions planned from earlier frames' detections (grids and quadtrees)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.blocks import Block, Rect, uniform_grid
from repose_ros.core.boxes import box_array


def _assign_boxes(history: np.ndarray, rects: Sequence[Rect]) -> List[np.ndarray]:
    """Give each box (by its centre) to the rect whose centre is nearest among those containing it."""
    c = (history[:, :2] + history[:, 2:]) / 2.0 if len(history) else np.zeros((0, 2))
    owner = np.full(len(c), -1, np.int64)
    best = np.full(len(c), np.inf)
    for i, r in enumerate(rects):
        inside = r.contains_points(c)
        d = np.hypot(c[:, 0] - (r.x0 + r.x1) / 2.0, c[:, 1] - (r.y0 + r.y1) / 2.0)
        better = inside & (d < best)
        owner[better], best[better] = i, d[better]
    return [np.flatnonzero(owner == i) for i in range(len(rects))]


def _quadtree(centres: np.ndarray, rect: Tuple[float, float, float, float], depth: int, max_boxes: int,
              max_depth: int, min_side: float) -> List[Tuple[float, float, float, float]]:
    x0, y0, x1, y1 = rect
    inside = ((centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1))
    n = int(inside.sum())
    if n == 0:
        return []
    if n <= max_boxes or depth >= max_depth or min(x1 - x0, y1 - y0) / 2.0 < min_side:
        return [rect]
    mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    out: List[Tuple[float, float, float, float]] = []
    for r in ((x0, y0, mx, my), (mx, y0, x1, my), (x0, my, mx, y1), (mx, my, x1, y1)):
        out += _quadtree(centres[inside], r, depth + 1, max_boxes, max_depth, min_side)
    return out


REMIX_GRIDS = ((1, 1), (1, 2), (2, 2), (2, 3), (3, 4), (4, 6))
REMIX_QUADTREE = (6, 15, 40)


def remix_candidates(history: np.ndarray, frame_w: int, frame_h: int, overlap: float = 0.15,
                     grids: Sequence[Tuple[int, int]] = REMIX_GRIDS,
                     quadtree_max_boxes: Sequence[int] = REMIX_QUADTREE,
                     max_depth: int = 3) -> Dict[str, List[Rect]]:
    """Candidate partitions of the REMIX-style baseline, from the boxes of earlier frames.

    Uniform grids (blocks holding no earlier box are skipped, as REMIX skips regions where
    objects did not appear) and quadtrees that split a region while it holds more than
    ``max_boxes`` earlier boxes. Every block grows by ``overlap`` of its size (clipped).
    """
    h = box_array(history)
    centres = (h[:, :2] + h[:, 2:]) / 2.0
    out: Dict[str, List[Rect]] = {}
    for rows, cols in grids:
        rects = uniform_grid(frame_w, frame_h, rows, cols, overlap)
        kept = [r for r in rects if r.contains_points(centres).any()] if len(h) else rects
        if kept:
            out[f"grid{rows}x{cols}"] = kept
    if len(h):
        for k in quadtree_max_boxes:
            leaves = _quadtree(centres, (0.0, 0.0, float(frame_w), float(frame_h)), 0, k, max_depth, 128.0)
            rects = []
            for x0, y0, x1, y1 in leaves:
                mx, my = (x1 - x0) * overlap / 2.0, (y1 - y0) * overlap / 2.0
                rects.append(Rect(int(math.floor(x0 - mx)), int(math.floor(y0 - my)), int(math.ceil(x1 + mx)),
                                  int(math.ceil(y1 + my))).clip(frame_w, frame_h))
            if rects:
                out[f"quadtree{k}"] = rects
    return out


def remix_partition(history: np.ndarray, frame_w: int, frame_h: int, profiles: Any, budget_ms: float,
                    servers: Sequence[int], model_keys: Optional[Sequence[str]] = None
                    ) -> Tuple[List[Block], Any, str]:
    """Choose the REMIX-style partition and per-block models from earlier frames' boxes.

    Every candidate of :func:`remix_candidates` is planned by the same knapsack planner as
    RE-POSE (:func:`repose_ros.core.planner.plan_blocks`, value = expected number of detected
    boxes); the feasible plan of highest value wins (ties: lower makespan). Without earlier
    boxes every block of the 1x1 ... grids is kept and the planner sees no boxes. Returns
    ``(blocks, plan, candidate name)``.
    """
    from repose_ros.core.planner import plan_blocks

    h = box_array(history)
    areas = (h[:, 2] - h[:, 0]) * (h[:, 3] - h[:, 1]) if len(h) else np.zeros(0)
    best = None
    for name, rects in remix_candidates(h, frame_w, frame_h).items():
        owners = _assign_boxes(h, rects)
        blocks = [Block(r, idx) for r, idx in zip(rects, owners)]
        plan = plan_blocks(blocks, [areas[idx] for idx in owners], profiles, budget_ms, list(servers),
                           model_keys=model_keys)
        key = (bool(plan.feasible), round(float(plan.total_value), 9), -float(plan.makespan_ms))
        if best is None or key > best[0]:
            best = (key, blocks, plan, name)
    assert best is not None
    return best[1], best[2], best[3]
