"""RL-DCA actions on a cluster labelling: keep, merge the closest pair of centroids, split by 1-D 2-means."""
from __future__ import annotations

import numpy as np

from repose_ros.core.clustering import squared_distances
from repose_ros.core.dca.state import ACTION_KEEP, ACTION_MERGE, ClusterState, cluster_sums


def label_centroids(labels: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (K, D) centroids and (K,) counts of compact labels."""
    k = int(labels.max()) + 1 if labels.size else 0
    counts = np.bincount(labels, minlength=k)
    sums = cluster_sums(labels, k, points)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None], counts


def merge_closest(labels: np.ndarray, points: np.ndarray, centroids: np.ndarray | None = None) -> np.ndarray:
    """Merge the two clusters whose centroids are closest.

    Args:
        labels: (N,) labels in 0..K-1 (every label used).
        points: (N, D) box centres (plain normalised units in RL-DCA).
        centroids: (K, D) centroids of ``labels`` when already known (else computed).

    Returns:
        New (N,) int64 labels in 0..K-2: the pair ``i < j`` with the smallest centroid
        distance (ties: smallest ``(i, j)``) becomes ``i``, labels above ``j`` shift down by
        one. With fewer than two clusters, an unchanged copy.
    """
    lab = np.asarray(labels, dtype=np.int64).reshape(-1).copy()
    if lab.size == 0:
        return lab
    if centroids is None:
        cent, _ = label_centroids(lab, np.asarray(points, dtype=np.float64))
    else:
        cent = np.asarray(centroids, dtype=np.float64)
    k = len(cent)
    if k < 2:
        return lab
    d2 = squared_distances(cent, cent)
    d2 = np.where(np.tri(k, dtype=bool), np.inf, d2)
    flat = int(np.argmin(d2))
    i, j = divmod(flat, k)
    lab[lab == j] = i
    lab[lab > j] -= 1
    return lab


def two_means_1d(values: np.ndarray) -> int:
    """Return the optimal cut of sorted values into two groups (exact 1-D k-means, k = 2).

    The optimal 2-means partition of points on a line is a cut of the sorted values; the sum
    of squared errors of every cut is evaluated at once with prefix sums. Cuts between equal
    values are not allowed, so a threshold between the two groups always exists.

    Args:
        values: (n,) values sorted ascending.

    Returns:
        ``t`` in 1..n-1: the groups are ``values[:t]`` and ``values[t:]``; ``0`` when all values
        are equal (no valid cut).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(v)
    if n < 2:
        return 0
    s1 = np.cumsum(v)
    s2 = np.cumsum(v * v)
    t = np.arange(1, n)
    left = s2[:-1] - s1[:-1] ** 2 / t
    rs1 = s1[-1] - s1[:-1]
    rs2 = s2[-1] - s2[:-1]
    right = rs2 - rs1**2 / (n - t)
    cost = left + right
    cost[v[1:] <= v[:-1]] = np.inf
    if not np.isfinite(cost).any():
        return 0
    return int(np.argmin(cost)) + 1


def split_cluster(labels: np.ndarray, label: int, points: np.ndarray, k: int | None = None) -> np.ndarray:
    """Split one cluster in two by 1-D 2-means along its axis of larger centre variance.

    Args:
        labels: (N,) labels in 0..K-1.
        label: the cluster to split.
        points: (N, 2) box centres (x, y).
        k: the number of clusters K, when known (else ``labels.max() + 1``).

    Returns:
        New (N,) int64 labels: the part with the larger coordinates gets the new label ``K``.
        Unchanged copy if the cluster does not exist, has fewer than two boxes, or its centres
        coincide. Ties in variance choose y.
    """
    lab = np.asarray(labels, dtype=np.int64).reshape(-1).copy()
    pts = np.asarray(points, dtype=np.float64)
    idx = np.flatnonzero(lab == label)
    if idx.size < 2:
        return lab
    sub = pts[idx]
    var = sub.var(axis=0)
    axis = 0 if var[0] > var[1] else 1
    vals = sub[:, axis]
    order = np.argsort(vals, kind="stable")
    t = two_means_1d(vals[order])
    if t == 0:
        return lab
    lab[idx[order[t:]]] = int(lab.max()) + 1 if k is None else int(k)
    return lab


def apply_action(state: ClusterState, action: int, max_clusters: int) -> tuple[ClusterState, bool]:
    """Apply a discrete RL-DCA action.

    Args:
        state: current clustering.
        action: 0 keep, 1 merge closest, ``2 + i`` split the ``i``-th cluster of ``state.order``.
        max_clusters: number of observed slots (split indices beyond it are invalid).

    Returns:
        ``(new_state, valid)``; an invalid action returns ``(state, False)``.
    """
    a = int(action)
    if a == ACTION_KEEP:
        return state, True
    if a == ACTION_MERGE:
        if state.k < 2:
            return state, False
        merged = merge_closest(state.labels, state.points, state.centroids)
        return state.with_labels(merged, compact=True), True
    i = a - 2
    if i < 0 or i >= min(state.k, max_clusters):
        return state, False
    label = int(state.order[i])
    if state.counts[label] < 2:
        return state, False
    new = split_cluster(state.labels, label, state.points, state.k)
    if int(new.max()) + 1 == state.k:
        return state, False
    return state.with_labels(new, compact=True), True
