"""Tensor shapes that ultralytics runs for a block, and the fitted cost of a shape.

:func:`letterbox_shape` is the rectangle a single block is letterboxed to; :func:`effective_imgsz`
the input size a block runs at under an ``upscale_cap``; :func:`fit_shape_cost` fits
``ms = a + b * pixels`` to measured points (the shape-aware latency of
:class:`repose_ros.core.profiles.Profiles`).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np


def ceil_to(value: float, stride: int) -> int:
    """Smallest multiple of ``stride`` that is >= ``value``."""
    return int(math.ceil(float(value) / stride - 1e-9)) * int(stride)


def letterbox_shape(block_w: float, block_h: float, imgsz: int, stride: int = 32) -> Tuple[int, int]:
    """Return ``(tensor_h, tensor_w)`` that ultralytics runs for one ``block_w x block_h`` image.

    A single image (or a batch of images of one shape) is letterboxed to a *rectangle*: scaled by
    ``r = imgsz / max(w, h)`` (enlarged too), then the short side is padded up to a multiple of
    the stride; ``imgsz`` itself is first rounded up to the stride. (A batch of mixed shapes is
    padded to the full ``imgsz x imgsz`` square instead; the servers never batch mixed shapes.)
    """
    if not (block_w > 0 and block_h > 0):
        raise ValueError(f"block size must be positive, got {block_w}x{block_h}")
    size = ceil_to(imgsz, stride)
    r = size / float(max(block_w, block_h))
    nw, nh = max(round(block_w * r), 1), max(round(block_h * r), 1)
    return int(nh + (size - nh) % stride), int(nw + (size - nw) % stride)


def effective_imgsz(block_w: float, block_h: float, imgsz: int, upscale_cap: Optional[float] = None,
                    stride: int = 32) -> int:
    """Input size a block really runs at: ``imgsz``, or less where that would enlarge it > ``upscale_cap``.

    With a cap, a block whose long side ``L`` satisfies ``L * cap < imgsz`` runs at
    ``ceil_to(L * cap, stride)`` (at least one stride): native size for ``cap == 1``.
    """
    if upscale_cap is None:
        return int(imgsz)
    longest = float(max(block_w, block_h))
    return int(min(int(imgsz), max(int(stride), ceil_to(longest * float(upscale_cap), stride))))


def fit_shape_cost(points: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    """Fit ``ms = a + b * pixels`` over ``(pixels, ms)`` points, ``a, b >= 0``, in relative error.

    Each point is weighted by ``1 / ms`` (least squares of the *relative* error), so that small
    tensors are fitted as well as large ones. One distinct size: ``a = 0`` (cost proportional to
    pixels through that point).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("need at least one (pixels, ms) point")
    x, y = pts[:, 0], pts[:, 1]

    def through_origin() -> Tuple[float, float]:
        return 0.0, float(np.sum(x / y) / np.sum((x / y) ** 2))

    if len(np.unique(x)) < 2:
        return through_origin()
    design = np.stack([1.0 / y, x / y], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if a < 0:
        return through_origin()
    if b < 0:
        return float(len(y) / np.sum(1.0 / y)), 0.0
    return float(a), float(b)
