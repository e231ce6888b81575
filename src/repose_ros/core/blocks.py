"""Image blocks: integer rectangles, blocks around box clusters, and uniform tilings.

A :class:`Rect` covers the pixel columns ``x0 .. x1-1`` and rows ``y0 .. y1-1`` (exclusive
end). In continuous box coordinates it is the region ``[x0, x1] x [y0, y1]``, so a box with
``x1 == rect.x1`` still lies inside the rect.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def _is_int(v: Any) -> bool:
    """Return whether ``v`` is a Python or numpy integer (not a bool, not a float)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Rect:
    """Integer pixel rectangle ``[x0, x1) x [y0, y1)``; ``x1 >= x0`` and ``y1 >= y0``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if not (type(self.x0) is int and type(self.y0) is int and type(self.x1) is int and type(self.y1) is int):
            for name in ("x0", "y0", "x1", "y1"):  # the slow path: numpy integers become ints, the rest fails
                v = getattr(self, name)
                if not _is_int(v):
                    raise ValueError(f"Rect.{name} must be an int, got {v!r}")
                object.__setattr__(self, name, int(v))
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"Rect needs x1 >= x0 and y1 >= y0, got {self.as_tuple()}")

    @property
    def w(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        """Number of pixels covered."""
        return self.w * self.h

    def as_tuple(self) -> tuple:
        """Return ``(x0, y0, x1, y1)``."""
        return (self.x0, self.y0, self.x1, self.y1)

    def to_dict(self) -> Dict[str, int]:
        """Return a JSON-serialisable dict."""
        return {"x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}

    def clip(self, frame_w: int, frame_h: int) -> "Rect":
        """Intersect with the frame ``[0, frame_w) x [0, frame_h)`` (may give an empty rect)."""
        x0 = min(max(self.x0, 0), frame_w)
        y0 = min(max(self.y0, 0), frame_h)
        x1 = min(max(self.x1, x0), frame_w)
        y1 = min(max(self.y1, y0), frame_h)
        return Rect(x0, y0, x1, y1)

    def expand(self, margin: int) -> "Rect":
        """Grow by ``margin`` pixels on every side (not clipped; see :meth:`clip`)."""
        if margin < 0 and (2 * -margin > self.w or 2 * -margin > self.h):
            raise ValueError(f"negative margin {margin} larger than half of {self.w}x{self.h}")
        return Rect(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def contains_box(self, box: Sequence[float]) -> bool:
        """Tell whether the continuous box ``(x0, y0, x1, y1)`` lies inside this rect."""
        bx0, by0, bx1, by1 = (float(v) for v in box)
        return self.x0 <= bx0 and self.y0 <= by0 and bx1 <= self.x1 and by1 <= self.y1

    def contains_points(self, points: np.ndarray) -> np.ndarray:
        """Tell which ``(N, 2)`` points (e.g. box centres) lie in ``[x0, x1) x [y0, y1)``; bool ``(N,)``."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (p[:, 0] >= self.x0) & (p[:, 0] < self.x1) & (p[:, 1] >= self.y0) & (p[:, 1] < self.y1)

    def contains_boxes(self, xyxy: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`contains_box` for ``(N, 4)`` boxes; returns a bool ``(N,)``."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        return ((b[:, 0] >= self.x0) & (b[:, 1] >= self.y0)
                & (b[:, 2] <= self.x1) & (b[:, 3] <= self.y1))


COVERAGE_LABEL = -2
"""Label of blocks that cover regions the coarse pass left empty."""


@dataclass
class Block:
    """A block to offload: its rect and the indices of the boxes (of the coarse set) it serves.

    ``label`` is the cluster label it came from (``-1`` for a block made for one noise box,
    :data:`COVERAGE_LABEL` for a block that covers a region without coarse boxes). ``prior``
    ``(area, weight)`` stands for people nobody has seen in the block yet: the planner values it
    like one box of that area (frame px^2) counted ``weight`` times.
    """

    rect: Rect
    box_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    label: int = -1
    prior: Optional[Tuple[float, float]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.rect, Rect):
            raise ValueError(f"Block.rect must be a Rect, got {type(self.rect).__name__}")
        self.box_indices = np.asarray(self.box_indices, dtype=np.int64).reshape(-1)

    @property
    def n_boxes(self) -> int:
        """Number of boxes served by this block."""
        return int(self.box_indices.size)


def _grow_axes(lo: np.ndarray, hi: np.ndarray, min_size: int, limit: int) -> tuple:
    """Grow each ``[lo, hi)`` symmetrically to ``min(min_size, limit)``, shifted to stay in ``[0, limit)``."""
    size = hi - lo
    target = np.minimum(np.maximum(size, min_size), limit)
    extra = target - size
    grown = extra > 0
    lo = np.where(grown, lo - extra // 2, lo)
    hi = np.where(grown, lo + target, hi)
    low = lo < 0
    lo, hi = np.where(low, 0, lo), np.where(low, target, hi)
    high = hi > limit
    return np.where(high, limit - target, lo), np.where(high, limit, hi)


def _rects_around(hulls: np.ndarray, frame_w: int, frame_h: int, margins: np.ndarray, min_size: int) -> List[Rect]:
    """Rects around hulls ``(K, 4)`` of boxes plus their ``margins``, clipped, grown to ``min_size``.

    Each: the integer hull (floor / ceil) widened by its margin on every side, clipped to the
    frame, then grown symmetrically to at least ``min_size`` per side (shifted back into the
    frame when it would stick out; never larger than the frame). All hulls at once.
    """
    h = np.asarray(hulls, np.float64).reshape(-1, 4)
    lo = np.floor(h[:, :2]).astype(np.int64) - margins[:, None]
    hi = np.ceil(h[:, 2:]).astype(np.int64) + margins[:, None]
    size = np.array([frame_w, frame_h], np.int64)
    lo = np.minimum(np.maximum(lo, 0), size)
    hi = np.minimum(np.maximum(hi, lo), size)
    x0, x1 = _grow_axes(lo[:, 0], hi[:, 0], min_size, frame_w)
    y0, y1 = _grow_axes(lo[:, 1], hi[:, 1], min_size, frame_h)
    return [Rect(*r) for r in np.stack([x0, y0, x1, y1], axis=1).tolist()]


def blocks_from_clusters(xyxy: np.ndarray, labels: np.ndarray, frame_w: int, frame_h: int,
                         margin: int = 32, min_size: int = 64, noise: str = "own",
                         rects: Optional[Dict[bytes, Rect]] = None, margin_height: float = 0.0) -> List[Block]:
    """Make one block per cluster of boxes.

    Each cluster's block is the integer hull of its boxes (floor/ceil), plus ``margin`` on every
    side (at least ``margin_height`` times the median height of its boxes, rounded up: with 0.5 a
    person as tall as the cluster's, centred on the hull's edge, lies wholly inside), clipped to the
    frame, then grown symmetrically to at least ``min_size`` in each
    dimension (shifted back into the frame when it would stick out; never larger than the
    frame). Boxes are clipped to the frame first, so every (clipped) box lies inside its block.

    Label ``-1`` marks noise. ``noise="own"`` (default) gives every noise box a block of its
    own (noise boxes are isolated objects by construction of the clustering, and attaching them
    could blow up a compact block); ``noise="nearest"`` attaches each to the cluster whose box
    hull is nearest to the box centre (own block if there is no cluster).

    Blocks come ordered by ascending cluster label, then noise blocks by box index.

    ``rects`` (optional): a cache of each block's rect under its box indices, kept by a caller
    that makes blocks of many clusterings of the same boxes, frame, margin and min_size.
    """
    if int(frame_w) <= 0 or int(frame_h) <= 0:
        raise ValueError(f"frame size must be positive, got {frame_w}x{frame_h}")
    frame_w, frame_h = int(frame_w), int(frame_h)
    for name, value in (("margin", margin), ("min_size", min_size)):
        if not _is_int(value):
            raise ValueError(f"{name} must be a whole number of pixels (int), got {value!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not 0.0 <= margin_height < math.inf:
        raise ValueError(f"margin_height must be >= 0 and finite, got {margin_height}")
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    if noise not in ("own", "nearest"):
        raise ValueError(f"noise must be 'own' or 'nearest', got {noise!r}")
    b = np.asarray(xyxy, dtype=np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), got {b.shape}")
    lab = np.asarray(labels).reshape(-1)
    if lab.shape[0] != b.shape[0]:
        raise ValueError(f"labels must have one entry per box ({b.shape[0]}), got {lab.shape[0]}")
    if b.shape[0] == 0:
        return []
    if not np.all(np.isfinite(b)):
        raise ValueError("xyxy must hold finite coordinates")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    if np.any(lab < -1):
        raise ValueError("labels must be >= -1 (-1 means noise)")
    b = b.copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, frame_w)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, frame_h)
    b[:, 2] = np.maximum(b[:, 2], b[:, 0])
    b[:, 3] = np.maximum(b[:, 3], b[:, 1])

    order = np.argsort(lab, kind="stable")  # box indices grouped by label, ascending within each
    sorted_lab = lab[order]
    cuts = np.flatnonzero(sorted_lab[1:] != sorted_lab[:-1]) + 1
    members: Dict[int, np.ndarray] = dict(zip(sorted_lab[np.concatenate([[0], cuts])].tolist(),
                                              np.split(order.astype(np.int64, copy=False), cuts)))
    noise_idx = [int(i) for i in members.pop(-1, ())]
    cluster_ids = list(members)
    own: List[int] = noise_idx
    if noise == "nearest" and cluster_ids and noise_idx:
        hulls = np.array([[b[members[c], 0].min(), b[members[c], 1].min(),
                           b[members[c], 2].max(), b[members[c], 3].max()] for c in cluster_ids])
        extra: Dict[int, List[int]] = {c: [] for c in cluster_ids}
        for i in noise_idx:
            cx, cy = (b[i, 0] + b[i, 2]) / 2, (b[i, 1] + b[i, 3]) / 2
            dx = np.maximum(np.maximum(hulls[:, 0] - cx, 0.0), cx - hulls[:, 2])
            dy = np.maximum(np.maximum(hulls[:, 1] - cy, 0.0), cy - hulls[:, 3])
            extra[cluster_ids[int(np.argmin(dx * dx + dy * dy))]].append(i)
        members = {c: np.sort(np.concatenate([members[c], np.asarray(extra[c], np.int64)])) for c in cluster_ids}
        own = []
    groups = [(c, members[c]) for c in cluster_ids]
    groups += [(-1, np.array([i], dtype=np.int64)) for i in own]
    names = [idx.tobytes() for _, idx in groups]  # groups are disjoint, so each name is one group's
    cache: Dict[bytes, Rect] = {} if rects is None else rects
    todo = [g for g, name in enumerate(names) if name not in cache]
    if todo:  # every hull in one pass: the boxes of the groups laid end to end, one reduction per group
        parts = [groups[g][1] for g in todo]
        starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        boxes = b[np.concatenate(parts)]
        hulls = np.concatenate([np.minimum.reduceat(boxes[:, :2], starts, axis=0),
                                np.maximum.reduceat(boxes[:, 2:], starts, axis=0)], axis=1)
        margins = np.full(len(todo), margin, np.int64)
        if margin_height > 0:
            for k, idx in enumerate(parts):
                margins[k] = max(margin, math.ceil(margin_height * float(np.median(b[idx, 3] - b[idx, 1]))))
        for g, rect in zip(todo, _rects_around(hulls, frame_w, frame_h, margins, min_size)):
            cache[names[g]] = rect
    return [Block(cache[name], idx, c) for name, (c, idx) in zip(names, groups)]


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Return the standard normal CDF of ``z``, elementwise."""
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1.0 + erf(np.asarray(z, np.float64) / math.sqrt(2.0)).astype(np.float64))


def kernel_share(xyxy: np.ndarray, rect: "Rect | np.ndarray", spread: float, whole: bool = False,
                 frame_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Share of a Gaussian around each box that lies inside ``rect``.

    The Gaussian sits at the box centre with a standard deviation of ``spread`` x the box height
    on both axes: where the people a coarse box stands for, but that the coarse pass missed, are
    assumed to stand (people gather, so they are near the ones it found, at the distance of a few
    of their own heights). ``spread`` 0 puts them all at the box centre (share 1 inside, 0 outside).
    ``rect`` is one Rect for every box, or an ``(N, 4)`` array of ``x0, y0, x1, y1``, one per box
    (the blocks of many boxes in one call).

    ``whole``: count only the people wholly inside, each as large as its box: the rect loses half
    the box's width and height on every side that is not the frame's own edge (``frame_size``
    ``(w, h)``; without it only the sides at 0 count as the frame's), so a person cut by the
    block's edge counts for nothing (such people were found 0-19 % of the time, against 31-82 %
    for whole ones; docs/rl_dca.md, twentieth round).
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    r = np.asarray(rect.as_tuple() if isinstance(rect, Rect) else rect, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
    cx, cy = 0.5 * (b[:, 0] + b[:, 2]), 0.5 * (b[:, 1] + b[:, 3])
    if whole:
        hw, hh = 0.5 * (b[:, 2] - b[:, 0]), 0.5 * (b[:, 3] - b[:, 1])
        fw, fh = (np.inf, np.inf) if frame_size is None else (float(frame_size[0]), float(frame_size[1]))
        x0, y0 = np.where(x0 > 0, x0 + hw, x0), np.where(y0 > 0, y0 + hh, y0)
        x1, y1 = np.where(x1 < fw, x1 - hw, x1), np.where(y1 < fh, y1 - hh, y1)
        x1, y1 = np.maximum(x1, x0), np.maximum(y1, y0)
    if spread <= 0:
        return ((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)).astype(np.float64)
    sigma = np.maximum(spread * (b[:, 3] - b[:, 1]), 1e-6)
    cdf = _normal_cdf(np.concatenate([(x1 - cx) / sigma, (x0 - cx) / sigma, (y1 - cy) / sigma, (y0 - cy) / sigma]))
    n = len(b)
    fx = cdf[:n] - cdf[n:2 * n]
    fy = cdf[2 * n:3 * n] - cdf[3 * n:]
    return np.clip(fx * fy, 0.0, 1.0)


def uniform_grid(frame_w: int, frame_h: int, rows: int, cols: int, overlap: float = 0.3) -> List[Rect]:
    """Tile the frame with ``rows x cols`` equal rects overlapping by about ``overlap``.

    Tile width is ``ceil(W / (1 + (cols - 1) * (1 - overlap)))`` (likewise height), so that
    neighbouring tiles overlap by the fraction ``overlap`` of a tile; tile starts are spread
    evenly (rounded to integers) from 0 to ``W - tile_w``, so the first tile is flush with the
    left/top edge and the last with the right/bottom edge and every pixel is covered. Integer
    rounding makes the realised overlap differ from ``overlap`` by at most a pixel or two.
    Returned in row-major order.
    """
    frame_w, frame_h, rows, cols = int(frame_w), int(frame_h), int(rows), int(cols)
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError(f"frame size must be positive, got {frame_w}x{frame_h}")
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be >= 1, got {rows}x{cols}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")

    def starts(length: int, n: int) -> tuple:
        size = min(length, max(1, math.ceil(length / (1.0 + (n - 1) * (1.0 - overlap)) - 1e-9)))
        if n == 1:
            return size, [0]
        step = (length - size) / (n - 1)
        return size, [int(round(i * step)) for i in range(n)]

    tw, xs = starts(frame_w, cols)
    th, ys = starts(frame_h, rows)
    return [Rect(x, y, x + tw, y + th) for y in ys for x in xs]
