"""The RL-DCA state: per-cluster features (centroid, mean box size, box count), cluster count and context, padded."""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np


ACTION_KEEP = 0
ACTION_MERGE = 1
#: Default number of cluster slots in the observation (and of split actions).
DEFAULT_MAX_CLUSTERS = 16
#: Default episode length / maximum number of refinement steps per frame.
DEFAULT_MAX_STEPS = 8
_K_FEATURE_CAP = 4.0
_PER_SLOT = 5
_PER_SLOT_EXTENDED = 8


def renumber_labels(labels: np.ndarray) -> np.ndarray:
    """Return integer cluster labels renumbered 0..K-1 in ascending order of their values (int64)."""
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    return np.unique(lab, return_inverse=True)[1].reshape(-1).astype(np.int64) if lab.size else lab


def feature_size(max_clusters: int, extended: bool = False, context: bool = False) -> int:
    """Return the observation length: ``5`` (``8`` when ``extended``) per slot, plus one, plus two with ``context``."""
    return (_PER_SLOT_EXTENDED if extended else _PER_SLOT) * int(max_clusters) + 1 + (CONTEXT_SIZE if context else 0)


def feature_bounds(max_clusters: int, extended: bool = False, context: bool = False) -> np.ndarray:
    """Return the upper bound of each observation value (the lower bound is 0; float32, inf where unbounded)."""
    high = np.ones(feature_size(max_clusters, extended, context), dtype=np.float32)
    n_k = feature_size(max_clusters, extended)
    if extended:  # the relative-area spread is unbounded
        high[_PER_SLOT_EXTENDED - 1:n_k - 1:_PER_SLOT_EXTENDED] = np.inf
    high[n_k - 1] = _K_FEATURE_CAP
    high[n_k:] = 2.0  # context_features clips to at most 2
    return high


#: Values the *context* adds to the observation (:func:`context_features`).
CONTEXT_SIZE = 2
#: Budget (ms) of the context's zero; the context grows with log2 of the budget from here.
_CONTEXT_BUDGET_ZERO_MS = 250.0


def context_features(budget_ms: float, servers: int) -> np.ndarray:
    """Return the observed context of a frame: ``[log2(budget / 250 ms) / 6, servers / 8]``.

    ``budget_ms`` is what the detection stage may spend (the planner's budget): 250 ms maps to
    0, 16 s to 1 (clipped to [0, 1.5]); the log scale gives each doubling the same weight.
    ``servers`` is the number of edge servers the plan may use (clipped to [0, 2] after scaling).
    """
    b = np.log2(max(float(budget_ms), 1.0) / _CONTEXT_BUDGET_ZERO_MS) / 6.0
    return np.array([np.clip(b, 0.0, 1.5), np.clip(int(servers) / 8.0, 0.0, 2.0)], np.float32)


#: ``planner_value(xyxy, labels, frame_w, frame_h) -> float in [0, 1]``.
PlannerValue = Callable[[np.ndarray, np.ndarray, float, float], float]

#: Relative rise of the planner's value below which a search step counts as no gain (float noise).
VALUE_RISE_TOLERANCE = 1e-6


def raises_value(new: float, current: float) -> bool:
    """Return whether ``new`` beats ``current`` by more than :data:`VALUE_RISE_TOLERANCE` of it (at least 1e-6).

    The one test of the searches that refine clusters by the planner's value (the ``greedy``
    partitioner and RL-DCA's ``policy_check``): a rise within float noise does not justify a step.
    A finite value raises ``-inf`` (no plan fits); nothing raises ``+inf``.
    """
    new, current = float(new), float(current)
    if not np.isfinite(current):
        return bool(current < 0 and new > current)
    return bool(new > current + VALUE_RISE_TOLERANCE * max(1.0, abs(current)))


@functools.lru_cache(maxsize=64)
def _context_values(budget_ms: float, servers: int) -> tuple:
    return tuple(float(v) for v in context_features(budget_ms, servers))


def membership(labels: np.ndarray, k: int) -> np.ndarray:
    """Return the (K, N) float64 0/1 matrix of which box is in which cluster."""
    return (labels[None, :] == np.arange(k)[:, None]).astype(np.float64)


def cluster_sums(labels: np.ndarray, k: int, values: np.ndarray, onehot: np.ndarray | None = None) -> np.ndarray:
    """Sum the rows of ``values`` (N, D) per label into (K, D) (``onehot``: :func:`membership`, if known)."""
    return (membership(labels, k) if onehot is None else onehot) @ values


class ClusterState:
    """A clustering of one frame's boxes with its per-cluster statistics.

    Labels are renumbered to 0..K-1 on construction. Statistics (plain normalised units):
    ``centroids`` (K, 2) mean box centre, ``mean_wh`` (K, 2) mean box size, ``counts`` (K,);
    ``order`` lists cluster labels in feature order (count desc, then centroid y, x asc).

    Args:
        xyxy: (N, 4) boxes in pixels.
        labels: (N,) integer cluster labels.
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
    """

    def __init__(self, xyxy: np.ndarray, labels: np.ndarray, frame_w: float, frame_h: float) -> None:
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        lab = np.asarray(labels).reshape(-1)
        if len(lab) != len(b):
            raise ValueError(f"{len(b)} boxes but {len(lab)} labels")
        self.xyxy = b
        self.frame_w = float(frame_w)
        self.frame_h = float(frame_h)
        self.points = np.stack(
            [0.5 * (b[:, 0] + b[:, 2]) / self.frame_w, 0.5 * (b[:, 1] + b[:, 3]) / self.frame_h], axis=1
        )
        self.wh = np.stack([(b[:, 2] - b[:, 0]) / self.frame_w, (b[:, 3] - b[:, 1]) / self.frame_h], axis=1)
        areas = self.wh[:, 0] * self.wh[:, 1]
        mean_area = float(areas.mean()) if len(areas) else 0.0
        self.rel_areas = areas / mean_area if mean_area > 0 else np.zeros_like(areas)
        self._pwh = np.concatenate([self.points, self.wh], axis=1)
        self._spread_values = np.concatenate([self.points, self.rel_areas[:, None]], axis=1)
        #: ``{"budget_ms": ..., "servers": ...}`` of the frame when the policy observes a context (in
        #: training also ``"gt"``, the annotated people); every entry goes to the planner value hook.
        self.context: dict[str, Any] | None = None
        self._set_labels(lab)

    def _set_labels(self, labels: np.ndarray, compact: bool = False) -> None:
        """Store labels (renumbered to 0..K-1 unless ``compact``) and recompute the statistics."""
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        if lab.size and compact:
            k = int(lab.max()) + 1
        elif lab.size:
            lab = renumber_labels(lab)
            k = int(lab.max()) + 1
        else:
            k = 0
        self.labels = lab
        self.k = k
        self.counts = np.bincount(lab, minlength=k).astype(np.int64) if k else np.zeros(0, np.int64)
        self._onehot = membership(lab, k) if k else None
        if k:
            means = cluster_sums(lab, k, self._pwh, self._onehot) / self.counts[:, None]
            self.centroids = means[:, :2]
            self.mean_wh = means[:, 2:]
            self.order = np.lexsort((self.centroids[:, 0], self.centroids[:, 1], -self.counts))
        else:
            self.centroids = np.zeros((0, 2))
            self.mean_wh = np.zeros((0, 2))
            self.order = np.zeros(0, dtype=np.int64)

    @property
    def n_boxes(self) -> int:
        """Number of boxes."""
        return len(self.labels)

    def with_labels(self, labels: np.ndarray, compact: bool = False) -> "ClusterState":
        """Return a new state for the same boxes with other labels (per-box arrays shared).

        ``compact=True`` promises that the labels already are 0..K-1, all used (skips the
        renumbering).
        """
        new = object.__new__(ClusterState)
        new.xyxy, new.frame_w, new.frame_h = self.xyxy, self.frame_w, self.frame_h
        new.points, new.wh, new.rel_areas, new._pwh = self.points, self.wh, self.rel_areas, self._pwh
        new._spread_values = self._spread_values
        new.context = self.context
        new._set_labels(labels, compact=compact)
        return new

    def spreads(self) -> np.ndarray:
        """Return (K, 3) per-cluster standard deviations of centre x, centre y, relative area."""
        if not self.k:
            return np.zeros((0, 3))
        vals = self._spread_values
        means = cluster_sums(self.labels, self.k, vals, self._onehot) / self.counts[:, None]
        var = cluster_sums(self.labels, self.k, (vals - means[self.labels]) ** 2, self._onehot) / self.counts[:, None]
        return np.sqrt(var)

    def features(self, max_clusters: int = DEFAULT_MAX_CLUSTERS, extended: bool = False,
                 context: bool = False) -> np.ndarray:
        """Return the fixed-size observation vector (float32, see :func:`feature_size`).

        Per slot ``[cx, cy, mean_w, mean_h, count / N]`` (``extended``: then ``std_x, std_y,
        std_rel_area``) for the clusters in :attr:`order` (zeros for empty slots), then
        ``min(K / max_clusters, 4)``, then with ``context`` :func:`context_features` of
        :attr:`context` (which must be set).
        """
        per_slot = _PER_SLOT_EXTENDED if extended else _PER_SLOT
        if context and self.context is None:
            raise ValueError("this policy observes the budget and the servers: set ClusterState.context")
        out = np.zeros(per_slot * max_clusters + 1 + (CONTEXT_SIZE if context else 0), dtype=np.float32)
        m = min(self.k, max_clusters)
        if m:
            sel = self.order[:m]
            cols = [self.centroids[sel], self.mean_wh[sel], (self.counts[sel] / self.n_boxes)[:, None]]
            if extended:
                cols.append(self.spreads()[sel])
            out[: per_slot * m] = np.concatenate(cols, axis=1).reshape(-1)
        out[per_slot * max_clusters] = min(self.k / max_clusters, _K_FEATURE_CAP)
        if context:
            out[per_slot * max_clusters + 1:] = _context_values(float(self.context["budget_ms"]),
                                                                int(self.context["servers"]))
        return out
