"""Composing evaluation frames: taking frames in turn, resizing, moving boxes into canvas tiles.

Shared by the MOT mosaics (:mod:`repose_ros.datasets.mot`), the collages
(:mod:`repose_ros.datasets.collage`) and the COCO-format readers (:mod:`repose_ros.datasets.coco`).
"""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_array


def take_round_robin(groups: Sequence[Sequence[Any]], n: int) -> List[Any]:
    """Take items of ``groups`` in turn (first of each, then second of each ...), up to ``n``."""
    out: List[Any] = []
    depth = 0
    while len(out) < n and any(depth < len(g) for g in groups):
        for g in groups:
            if depth < len(g) and len(out) < n:
                out.append(g[depth])
        depth += 1
    return out


def _transform(xyxy: np.ndarray, ox: float, oy: float, sx: float, sy: float, dx: float, dy: float) -> np.ndarray:
    """Map boxes: subtract the crop origin, scale, add the destination offset."""
    b = box_array(xyxy).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - ox) * sx + dx
    b[:, [1, 3]] = (b[:, [1, 3]] - oy) * sy + dy
    return b


def clip_visible(xyxy: np.ndarray, region: Tuple[float, float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to ``region``; return the clipped boxes and the fraction of each box kept."""
    x0, y0, x1, y1 = region
    b = box_array(xyxy)
    c = b.copy()
    c[:, [0, 2]] = np.clip(c[:, [0, 2]], x0, x1)
    c[:, [1, 3]] = np.clip(c[:, [1, 3]], y0, y1)
    area = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    inside = np.prod(np.clip(c[:, 2:] - c[:, :2], 0, None), axis=1)
    return c, np.divide(inside, area, out=np.zeros_like(area), where=area > 0)


def place_boxes(gt: np.ndarray, ignore: np.ndarray, crop: Tuple[int, int, int, int], sx: float, sy: float,
                dx: float, dy: float, min_inside: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Move a source frame's boxes into a canvas tile; boxes mostly cut off become ignore regions."""
    x0, y0, x1, y1 = crop
    g, frac = clip_visible(gt, crop)
    i, ifrac = clip_visible(ignore, crop)
    keep = frac >= min_inside
    cut = (frac > 0) & ~keep
    gt_out = _transform(g[keep], x0, y0, sx, sy, dx, dy)
    ign_out = _transform(np.concatenate([g[cut], i[ifrac > 0]]), x0, y0, sx, sy, dx, dy)
    return gt_out.astype(np.float32), ign_out.astype(np.float32)


def resize_image(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize ``img`` to ``w x h`` (area averaging when shrinking, bilinear when enlarging; as is when equal)."""
    import cv2

    if img.shape[1] == w and img.shape[0] == h:
        return img
    interp = cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (int(w), int(h)), interpolation=interp)
