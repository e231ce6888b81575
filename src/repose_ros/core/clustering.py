"""Initial clustering of coarse detections (RL-DCA, first stage).

Box centres are mapped to a normalised space ``(x / frame_w, stretch_y(y / frame_h))`` and
grouped with a flat-kernel mean shift using binned seeds. The mean shift here is a vectorised
numpy re-implementation of scikit-learn's ``MeanShift(bin_seeding=True, cluster_all=True)``:
same seeding, same convergence rule, same duplicate suppression and same nearest-centre label
assignment, so both give the same partition (the tests check this), but it runs all seeds at
once and takes well under a millisecond for a few hundred boxes, where scikit-learn needs tens
of milliseconds (mostly per-seed Python and neighbour-search overhead).

The y transform
---------------
In a high-resolution street or plaza frame the camera looks down at the scene: people near the
top are small and packed, people near the bottom are large and sparse. ``stretch_y`` is the
power map ``y' = y ** gamma`` with ``0 < gamma <= 1``: it is monotone, keeps 0 and 1 fixed,
its slope ``gamma * y ** (gamma - 1)`` is above 1 near the top of the frame (small objects are
pulled apart, so dense far crowds are easier to separate) and below 1 near the bottom (large,
sparse objects are pushed together, so one large group is not cut into pieces). ``gamma = 1``
is the identity. The default 0.6 maps the top tenth of the frame to a quarter of the range.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_BANDWIDTH",
    "stretch_y",
    "normalized_centers",
    "bin_seeds",
    "mean_shift",
    "initial_clusters",
    "compact_labels",
]

#: Default exponent of :func:`stretch_y` (``1.0`` disables the stretch).
DEFAULT_GAMMA = 0.6
#: Default flat-kernel radius of the mean shift, in normalised (stretched) units.
DEFAULT_BANDWIDTH = 0.15


def stretch_y(y_norm: np.ndarray | float, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Map normalised y in [0, 1] monotonically onto [0, 1], stretching the top of the frame.

    The map is ``y ** gamma`` (values outside [0, 1] are clipped first). With ``gamma < 1`` the
    upper part of the frame (small y, small far objects) is expanded and the lower part
    compressed; ``gamma == 1`` is the identity.

    Args:
        y_norm: normalised y coordinate(s), 0 = top row, 1 = bottom row.
        gamma: exponent in (0, 1]; smaller means a stronger stretch of the top.

    Returns:
        Array of the same shape (float64) with the transformed coordinates.

    Raises:
        ValueError: if ``gamma`` is not in (0, 1].
    """
    if not (0.0 < gamma <= 1.0):
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    y = np.clip(np.asarray(y_norm, dtype=np.float64), 0.0, 1.0)
    return np.power(y, gamma)


def normalized_centers(
    xyxy: np.ndarray, frame_w: float, frame_h: float, gamma: float | None = None
) -> np.ndarray:
    """Return box centres as (N, 2) float64 in normalised frame units.

    Args:
        xyxy: (N, 4) boxes in full-frame pixels.
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        gamma: when given, the y coordinate is passed through :func:`stretch_y`.

    Returns:
        ``(x / frame_w, y / frame_h)`` per box centre, or with the stretched y.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    cx = 0.5 * (b[:, 0] + b[:, 2]) / float(frame_w)
    cy = 0.5 * (b[:, 1] + b[:, 3]) / float(frame_h)
    if gamma is not None:
        cy = stretch_y(cy, gamma)
    return np.stack([cx, cy], axis=1)


def bin_seeds(points: np.ndarray, bin_size: float, min_bin_freq: int = 1) -> np.ndarray:
    """Return mean-shift seeds: centres of the grid bins holding at least ``min_bin_freq`` points.

    Follows scikit-learn's ``get_bin_seeds``: points are rounded to a grid of pitch
    ``bin_size``; when every point falls into its own bin the points themselves are returned.

    Args:
        points: (N, D) points.
        bin_size: grid pitch (the mean-shift bandwidth).
        min_bin_freq: minimum number of points for a bin to give a seed.

    Returns:
        (S, D) float64 seeds.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return pts.reshape(0, pts.shape[1] if pts.ndim == 2 else 2)
    binned = np.round(pts / bin_size)
    if pts.ndim == 2 and pts.shape[1] == 2 and np.isfinite(binned).all() and np.abs(binned).max() < 2 ** 20:
        # Rows as one integer key each (same lexicographic order): np.unique of a vector is much
        # faster than of rows.
        lo = binned.min(axis=0)
        cell = (binned - lo).astype(np.int64)
        span = int(cell[:, 1].max()) + 1
        keys, counts = np.unique(cell[:, 0] * span + cell[:, 1], return_counts=True)
        uniq = np.stack([keys // span, keys % span], axis=1).astype(np.float64) + lo
    else:
        uniq, counts = np.unique(binned, axis=0, return_counts=True)
    seeds = uniq[counts >= min_bin_freq]
    if len(seeds) == len(pts):
        return pts.copy()
    return seeds * bin_size


def _shift_seeds(X: np.ndarray, means: np.ndarray, bandwidth: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Move every seed (rows of ``means``, in place) to the mean of the points within ``bandwidth``.

    All seeds iterate together; a seed stops when its window is empty, when it moved by at most
    ``1e-3 * bandwidth``, or at ``max_iter``. Returns ``(means, counts)``: the converged centres
    and the number of points in each one's last window.

    Each iteration is two matrix products: the squared distances of the seeds to the points as
    ``[m, |m|^2, 1] . [-2x, 1, |x|^2]`` (one product instead of three passes over the seeds x points
    array), then the windows (0 / 1) times ``[x, 1]``, which gives each window's sum and count.
    """
    n, d = X.shape
    counts = np.zeros(len(means), dtype=np.int64)
    active = np.arange(len(means))
    bw2 = bandwidth * bandwidth
    stop2 = (1e-3 * bandwidth) ** 2
    x_rows = np.empty((d + 2, n))
    x_rows[:d] = -2.0 * X.T
    x_rows[d] = 1.0
    x_rows[d + 1] = np.einsum("ij,ij->i", X, X)
    x_aug = np.concatenate([X, np.ones((n, 1))], axis=1)  # one product gives sums and counts
    m_aug = np.empty((len(means), d + 2))
    m_aug[:, d + 1] = 1.0
    for completed in range(max_iter + 1):
        if active.size == 0:
            break
        m = means[active]
        ma = m_aug[:active.size]
        ma[:, :d] = m
        ma[:, d] = np.einsum("ij,ij->i", m, m)
        sums = (ma @ x_rows <= bw2).astype(np.float64) @ x_aug
        cnt = sums[:, d]
        counts[active] = cnt
        new = sums[:, :d] / np.maximum(cnt, 1.0)[:, None]
        step = new - m
        moving = np.einsum("ij,ij->i", step, step) > stop2
        nonempty = cnt > 0
        means[active[nonempty]] = new[nonempty]
        # Stop a seed whose window is empty, whose mean moved by at most ``stop``, or at max_iter.
        active = active[moving & nonempty] if completed < max_iter else active[:0]
    return means, counts


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the (len(a), len(b)) squared Euclidean distances, summed one coordinate at a time.

    The same numbers as ``((a[:, None] - b[None]) ** 2).sum(axis=2)``, several times faster for
    two or three coordinates (numpy reduces a short last axis slowly).
    """
    out = np.zeros((len(a), len(b)))
    for d in range(a.shape[1]):
        diff = a[:, d, None] - b[None, :, d]
        out += diff * diff
    return out


_FIXED_POINT_PASSES = 12  # passes of _distinct_modes' fixed point before it settles centre by centre


def _distinct_modes(centers: np.ndarray, intens: np.ndarray, bandwidth: float) -> np.ndarray:
    """Rank centres by (window count, coordinates) descending; drop one within ``bandwidth`` of a better one.

    A centre is kept when no kept centre ranked before it lies within ``bandwidth``. That rule
    defines the kept set one centre after the other; it is found here as the fixed point of
    "kept = no kept better centre near", iterated from "all kept" with one matrix product per
    pass: after ``t`` passes every centre whose chain of better near centres is shorter than ``t``
    is settled (2 to 8 passes on PANDA-like layouts). Past ``_FIXED_POINT_PASSES`` passes the rule runs
    centre by centre instead, so that a long chain costs little more than that rule alone.
    """
    order = np.lexsort(tuple(centers[:, d] for d in range(centers.shape[1] - 1, -1, -1)) + (intens,))
    centers = centers[order[::-1]]
    # A centre at the same point as the one ranked just before it is dropped whatever becomes of that
    # one (kept, it drops the twin; dropped, what dropped it is as near the twin): drop such twins
    # (seeds that converged together, usually) before the pairwise distances.
    if len(centers) > 1:
        centers = centers[np.concatenate([[True], np.any(centers[1:] != centers[:-1], axis=1)])]
    # better[j, i]: centre j ranks before centre i and lies within bandwidth of it
    better = np.triu(np.sqrt(squared_distances(centers, centers)) <= bandwidth, 1).astype(np.float64)
    kept = np.ones(len(centers), dtype=bool)
    for _ in range(_FIXED_POINT_PASSES):
        now = kept.astype(np.float64) @ better == 0.0
        if np.array_equal(now, kept):
            return centers[kept]
        kept = now
    # A long chain of near centres: settle them one after the other (a pass per kept centre).
    alive = np.ones(len(centers), dtype=bool)
    for i in range(len(centers)):
        if alive[i]:
            alive[i + 1:] &= better[i, i + 1:] == 0.0
    return centers[alive]


def mean_shift(
    points: np.ndarray,
    bandwidth: float,
    seeds: np.ndarray | None = None,
    max_iter: int = 300,
    min_bin_freq: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster points with a flat-kernel mean shift (all seeds iterated together).

    Each seed moves to the mean of the points within ``bandwidth`` (Euclidean, inclusive)
    until it moves by at most ``1e-3 * bandwidth`` or ``max_iter`` is reached. Converged
    centres are ranked by the number of points in their window (then by coordinates, both
    descending); a centre within ``bandwidth`` of a better-ranked kept centre is dropped.
    Every point is labelled with its nearest kept centre, so no point is left out.

    Args:
        points: (N, D) points.
        bandwidth: flat kernel radius (> 0).
        seeds: (S, D) start positions; default binned seeds (:func:`bin_seeds`).
        max_iter: iteration cap per seed.
        min_bin_freq: minimum bin population for binned seeds.

    Returns:
        ``(labels, centers)``: (N,) int64 labels in 0..K-1 (0 = densest mode) and (K, D)
        float64 centres.

    Raises:
        ValueError: if ``bandwidth`` is not positive.
    """
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    X = np.asarray(points, dtype=np.float64)
    n = len(X)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, X.shape[1] if X.ndim == 2 else 2))
    if seeds is None:
        seeds = bin_seeds(X, bandwidth, min_bin_freq)
    means, counts = _shift_seeds(X, np.array(seeds, dtype=np.float64, copy=True), bandwidth, max_iter)
    keep = counts > 0
    if not np.any(keep):
        # Cannot happen with binned seeds (every seed bin holds a point); fall back to one cluster.
        return np.zeros(n, dtype=np.int64), X.mean(axis=0, keepdims=True)
    centers = _distinct_modes(means[keep], counts[keep], bandwidth)
    labels = np.argmin(squared_distances(X, centers), axis=1).astype(np.int64)
    return labels, centers


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber labels to 0..K-1 in order of first appearance.

    Args:
        labels: (N,) integer labels (any values).

    Returns:
        (N,) int64 labels in 0..K-1.
    """
    lab = np.asarray(labels).reshape(-1)
    if lab.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inv = np.unique(lab, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.reshape(-1)]


def initial_clusters(
    xyxy: np.ndarray,
    frame_w: float,
    frame_h: float,
    gamma: float = DEFAULT_GAMMA,
    bandwidth: float = DEFAULT_BANDWIDTH,
    max_iter: int = 300,
    min_bin_freq: int = 1,
) -> np.ndarray:
    """Cluster boxes by their centres with mean shift in the stretched normalised space.

    Args:
        xyxy: (N, 4) boxes in full-frame pixels.
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        gamma: exponent of :func:`stretch_y` applied to the normalised centre y.
        bandwidth: flat kernel radius in normalised units (x / frame_w, stretched y).
        max_iter: mean-shift iteration cap.
        min_bin_freq: minimum bin population for a seed.

    Returns:
        (N,) int64 labels in 0..K-1, every box labelled (0 boxes -> empty array, 1 box -> [0]).
    """
    pts = normalized_centers(xyxy, frame_w, frame_h, gamma=gamma)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    labels, _ = mean_shift(pts, bandwidth, max_iter=max_iter, min_bin_freq=min_bin_freq)
    return labels
