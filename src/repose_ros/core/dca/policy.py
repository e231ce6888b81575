"""RL-DCA: PPO-driven refinement of the initial clusters (keep / merge / split).

Coordinates
-----------
Per-box quantities live in the *plain* normalised frame space: centre ``(x / frame_w,
y / frame_h)``, size ``(w / frame_w, h / frame_h)``. The stretched y of
:mod:`repose_ros.core.clustering` is used only by the mean shift that makes the initial
clusters; state, actions and reward use plain normalised coordinates, so that a distance
relates directly to the pixel extent (and background share) of the block a cluster becomes.

State
-----
:meth:`ClusterState.features` gives, per cluster, ``[cx, cy, mean_w, mean_h, count / N]``,
clusters sorted by count (descending), then centroid y, then centroid x (ascending), truncated
or zero-padded to ``max_clusters`` slots, followed by ``min(K / max_clusters, 4)``. Length
``5 * max_clusters + 1``. This is the state of the method description and the default.

Optional *extended* state (``extended=True``): three more values per slot, the standard
deviation of the box centres along x and y and of the relative box areas (the quantities the
tightness and area terms penalise). Without them the policy cannot tell which cluster is
spread out or mixes near and far people; see
:func:`repose_ros.training.dca.train_policy` ``extended_state``.
Length ``8 * max_clusters + 1``.

Optional *context* (``context=True``): two more values at the end, the frame's detection
budget and number of edge servers (:func:`context_features`), so that one policy serves every
budget; the environment draws them per episode (``context_sampler``) and hands them to the
planner value hook. Length ``feature_size(max_clusters, extended, True)``.

Actions
-------
``0`` keep; ``1`` merge the two clusters whose centroids are closest; ``2 + i`` split the
``i``-th cluster of the sorted order in two by exact 1-D 2-means along the axis (x or y) where
its box centres vary most (ties go to y). An action that cannot apply (merge with one cluster,
split of a one-box cluster or of a cluster whose centres coincide, split index >= K or beyond
the observed slots) changes nothing and costs ``invalid_penalty``.

Reward
------
The quality score of a clustering is ``Q = -(w_tight T + w_area A + w_count C + w_close P) +
w_planner V`` with

* ``T`` tightness: average over clusters of the mean Euclidean distance of its box centres to
  its centroid;
* ``A`` area variance: average over clusters of the (population) variance of the box areas
  divided by the mean box area of the whole frame (dimensionless; about 0.5-1 for a single
  cluster holding near and far people, near 0 for size-homogeneous clusters);
* ``C`` count penalty: ``max(0, min(k_min, N) - K) + max(0, K - k_max)``;
* ``P`` close penalty: number of centroid pairs closer than ``d_min``;
* the averages of ``T`` and ``A`` weight each cluster by its box count by default
  (``RewardConfig.weighting``; a uniform average rewards splitting single boxes off);
* ``V`` optional planner value in [0, 1] (expected precision of the plan under the latency
  budget) from a caller-supplied hook, off by default (``w_planner = 0``). With every other
  weight at 0 and :func:`repose_ros.core.dca.reward.make_plan_value` as the hook, the agent
  is paid exactly what the run-time planner maximises (``repose train-dca --reward plan``).

The environment pays the *change* of the score, ``r_t = Q(s_{t+1}) - Q(s_t)``, minus a small
cost per applied merge or split (``step_cost``) or the invalid-action penalty; an episode is
``max_steps`` steps long. The undiscounted return is the final score minus the score of the
mean-shift clustering (less costs): the agent is paid for improving the frame it was given,
not for the frame being easy, and using differences removes the large per-layout offset of
``Q`` from the value targets. *Keep* (and an invalid action) leaves the state unchanged and
does not end the episode in training, so an early random keep does not cut exploration
short. A deterministic policy that keeps once would keep at every later step (same
observation), so :meth:`RLDCA.refine` stopping at the first keep gives the same result as
running all ``max_steps`` steps.

Inference
---------
:class:`RLDCA` runs the actor MLP in numpy (weights from a ``.npz`` saved beside the policy
``.zip`` at training time, or extracted once from ``PPO.load``), so refinement needs neither
torch nor stable-baselines3 and costs a few microseconds per step. Training (the gymnasium
environment, PPO, the greedy baseline) lives in :mod:`repose_ros.training.dca`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from repose_ros.core.clustering import DEFAULT_BANDWIDTH, DEFAULT_GAMMA, initial_clusters

__all__ = [
    "ACTION_KEEP",
    "feature_size",
    "context_features",
    "feature_bounds",
    "CONTEXT_SIZE",
    "ACTION_MERGE",
    "DEFAULT_MAX_CLUSTERS",
    "DEFAULT_MAX_STEPS",
    "RewardConfig",
    "ClusterState",
    "merge_closest",
    "split_cluster",
    "two_means_1d",
    "tightness",
    "area_variance",
    "count_penalty",
    "close_penalty",
    "reward_terms",
    "cluster_score",
    "apply_action",
    "extract_actor_weights",
    "NumpyActor",
    "RLDCA",
    "default_policy_path",
]

ACTION_KEEP = 0
ACTION_MERGE = 1
#: Default number of cluster slots in the observation (and of split actions).
DEFAULT_MAX_CLUSTERS = 16
#: Default episode length / maximum number of refinement steps per frame.
DEFAULT_MAX_STEPS = 8
_K_FEATURE_CAP = 4.0
_PER_SLOT = 5
_PER_SLOT_EXTENDED = 8


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


# --------------------------------------------------------------------------- reward config


@dataclass
class RewardConfig:
    """Weights and thresholds of the cluster-quality score (see the module docstring).

    Attributes:
        w_tight: weight of the tightness term ``T`` (normalised distance, typically 0.01-0.3).
        w_area: weight of the area-variance term ``A`` (dimensionless, typically 0-1).
        w_count: weight per cluster outside ``[k_min, k_max]``.
        w_close: weight per centroid pair closer than ``d_min``.
        w_planner: weight of the planner value hook (0 disables it).
        k_min: smallest acceptable number of clusters (capped by the number of boxes).
        k_max: largest acceptable number of clusters.
        d_min: minimum centroid distance (plain normalised units) before a pair is penalised.
        invalid_penalty: cost of an action that cannot apply (it is a no-op).
        step_cost: cost of every applied merge or split (environment reward only, not part of
            the score): a change must gain more than this to pay, which also makes a
            split-then-merge round trip a loss instead of a tie.
        weighting: how ``T`` and ``A`` average their per-cluster values: ``"boxes"`` (by box
            count, default) or ``"clusters"`` (uniform). With a uniform average, cutting a
            single far box off a large cluster creates a cluster with zero spread and zero
            variance and lowers both averages without making any block better; weighting by
            box count removes that incentive (a split then always pays in proportion to the
            spread it removes, a merge always costs).
        planner_value: optional hook ``(xyxy, labels, frame_w, frame_h) -> [0, 1]``.
    """

    w_tight: float = 5.0
    w_area: float = 1.0
    w_count: float = 0.5
    w_close: float = 0.25
    w_planner: float = 0.0
    k_min: int = 2
    k_max: int = 8
    d_min: float = 0.08
    invalid_penalty: float = 0.05
    step_cost: float = 0.01
    weighting: str = "boxes"
    planner_value: PlannerValue | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the numeric settings as a plain dict (the hook is reported as a flag)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "planner_value"}
        d["planner_hook"] = self.planner_value is not None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RewardConfig":
        """Build a config from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)} - {"planner_value"}
        return cls(**{k: v for k, v in d.items() if k in names})


# --------------------------------------------------------------------------- state


def _cluster_sums(labels: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """Sum the rows of ``values`` (N, D) per label into (K, D)."""
    onehot = (labels[None, :] == np.arange(k)[:, None]).astype(np.float64)
    return onehot @ values


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
            uniq, inv = np.unique(lab, return_inverse=True)
            lab = inv.reshape(-1).astype(np.int64)
            k = len(uniq)
        else:
            k = 0
        self.labels = lab
        self.k = k
        self.counts = np.bincount(lab, minlength=k).astype(np.int64) if k else np.zeros(0, np.int64)
        if k:
            means = _cluster_sums(lab, k, self._pwh) / self.counts[:, None]
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
        new.context = self.context
        new._set_labels(labels, compact=compact)
        return new

    def spreads(self) -> np.ndarray:
        """Return (K, 3) per-cluster standard deviations of centre x, centre y, relative area."""
        if not self.k:
            return np.zeros((0, 3))
        vals = np.concatenate([self.points, self.rel_areas[:, None]], axis=1)
        means = _cluster_sums(self.labels, self.k, vals) / self.counts[:, None]
        var = _cluster_sums(self.labels, self.k, (vals - means[self.labels]) ** 2) / self.counts[:, None]
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
        out = np.zeros(per_slot * max_clusters + 1, dtype=np.float32)
        m = min(self.k, max_clusters)
        if m:
            sel = self.order[:m]
            cols = [self.centroids[sel], self.mean_wh[sel], (self.counts[sel] / self.n_boxes)[:, None]]
            if extended:
                cols.append(self.spreads()[sel])
            out[: per_slot * m] = np.concatenate(cols, axis=1).reshape(-1)
        out[-1] = min(self.k / max_clusters, _K_FEATURE_CAP)
        if context:
            if self.context is None:
                raise ValueError("this policy observes the budget and the servers: set ClusterState.context")
            out = np.concatenate([out, context_features(self.context["budget_ms"], self.context["servers"])])
        return out


# --------------------------------------------------------------------------- actions


def _centroids(labels: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (K, D) centroids and (K,) counts of compact labels."""
    k = int(labels.max()) + 1 if labels.size else 0
    counts = np.bincount(labels, minlength=k)
    sums = _cluster_sums(labels, k, points)
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
        cent, _ = _centroids(lab, np.asarray(points, dtype=np.float64))
    else:
        cent = np.asarray(centroids, dtype=np.float64)
    k = len(cent)
    if k < 2:
        return lab
    d2 = ((cent[:, None, :] - cent[None, :, :]) ** 2).sum(axis=2)
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


def split_cluster(labels: np.ndarray, label: int, points: np.ndarray) -> np.ndarray:
    """Split one cluster in two by 1-D 2-means along its axis of larger centre variance.

    Args:
        labels: (N,) labels in 0..K-1.
        label: the cluster to split.
        points: (N, 2) box centres (x, y).

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
    lab[idx[order[t:]]] = int(lab.max()) + 1
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
    new = split_cluster(state.labels, label, state.points)
    if int(new.max()) + 1 == state.k:
        return state, False
    return state.with_labels(new, compact=True), True


# --------------------------------------------------------------------------- reward


def _average(per_cluster: np.ndarray, counts: np.ndarray, weighting: str) -> float:
    """Average per-cluster values uniformly (``"clusters"``) or by box count (``"boxes"``)."""
    if weighting == "boxes":
        return float((per_cluster * counts).sum() / counts.sum())
    if weighting == "clusters":
        return float(per_cluster.mean())
    raise ValueError(f"weighting must be 'boxes' or 'clusters', got {weighting!r}")


def tightness(points: np.ndarray, labels: np.ndarray, weighting: str = "boxes") -> float:
    """Return the average over clusters of the mean distance of points to their centroid.

    ``weighting="boxes"`` weights each cluster by its box count (the mean over boxes of the
    distance to their own centroid); ``"clusters"`` gives every cluster the same weight.
    """
    lab = np.asarray(labels, dtype=np.int64)
    if lab.size == 0:
        return 0.0
    cent, counts = _centroids(lab, points)
    dist = np.sqrt(((points - cent[lab]) ** 2).sum(axis=1))
    per = np.bincount(lab, weights=dist, minlength=len(cent)) / counts
    return _average(per, counts, weighting)


def area_variance(rel_areas: np.ndarray, labels: np.ndarray, weighting: str = "boxes") -> float:
    """Return the average over clusters of the population variance of the (relative) areas.

    ``weighting`` as in :func:`tightness`.
    """
    lab = np.asarray(labels, dtype=np.int64)
    if lab.size == 0:
        return 0.0
    a = np.asarray(rel_areas, dtype=np.float64)
    k = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=k)
    mean = np.bincount(lab, weights=a, minlength=k) / counts
    var = np.bincount(lab, weights=(a - mean[lab]) ** 2, minlength=k) / counts
    return _average(var, counts, weighting)


def count_penalty(k: int, k_min: int, k_max: int, n_boxes: int | None = None) -> float:
    """Return the distance of the cluster count ``k`` outside ``[k_min, k_max]``.

    ``k_min`` is capped by ``n_boxes`` when given (three boxes cannot make four clusters).
    """
    lo = k_min if n_boxes is None else min(k_min, n_boxes)
    return float(max(0, lo - k) + max(0, k - k_max))


def close_penalty(centroids: np.ndarray, d_min: float) -> float:
    """Return the number of centroid pairs closer than ``d_min``."""
    c = np.asarray(centroids, dtype=np.float64)
    k = len(c)
    if k < 2:
        return 0.0
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    iu = np.triu_indices(k, 1)
    return float(np.count_nonzero(d[iu] < d_min))


def reward_terms(state: ClusterState, cfg: RewardConfig) -> dict[str, float]:
    """Return the raw score terms ``tight``, ``area``, ``count``, ``close``, ``planner``."""
    terms = {
        "tight": tightness(state.points, state.labels, cfg.weighting),
        "area": area_variance(state.rel_areas, state.labels, cfg.weighting),
        "count": count_penalty(state.k, cfg.k_min, cfg.k_max, state.n_boxes),
        "close": close_penalty(state.centroids, cfg.d_min),
        "planner": 0.0,
    }
    if cfg.w_planner != 0.0 and cfg.planner_value is not None and state.n_boxes:
        terms["planner"] = float(
            cfg.planner_value(state.xyxy.astype(np.float32), state.labels, state.frame_w, state.frame_h,
                              **(state.context or {}))
        )
    return terms


def cluster_score(state: ClusterState, cfg: RewardConfig) -> float:
    """Return the quality score ``Q`` of a clustering (higher is better; see module docstring)."""
    t = reward_terms(state, cfg)
    return float(
        -(
            cfg.w_tight * t["tight"]
            + cfg.w_area * t["area"]
            + cfg.w_count * t["count"]
            + cfg.w_close * t["close"]
        )
        + cfg.w_planner * t["planner"]
    )


# --------------------------------------------------------------------------- numpy actor


class NumpyActor:
    """Deterministic actor of a PPO MLP policy evaluated in numpy.

    ``logits = W_L a_{L-1} + b_L`` with ``a_l = act(W_l a_{l-1} + b_l)``, ``a_0 = obs``; the
    deterministic action is the arg-max of the logits (the mode of the categorical
    distribution, as ``PPO.predict(deterministic=True)``).

    Args:
        weights: list of (out, in) matrices, hidden layers then the action head.
        biases: list of (out,) vectors, same order.
        activation: ``"relu"`` or ``"tanh"`` (hidden layers).
    """

    def __init__(
        self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], activation: str = "relu"
    ) -> None:
        if len(weights) != len(biases) or not weights:
            raise ValueError("need as many weight matrices as bias vectors (at least one)")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"unsupported activation {activation!r}")
        self.weights = [np.ascontiguousarray(np.asarray(w, dtype=np.float64).T) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in biases]
        self.activation = activation

    @property
    def obs_dim(self) -> int:
        """Input size."""
        return self.weights[0].shape[0]

    @property
    def n_actions(self) -> int:
        """Number of discrete actions."""
        return self.weights[-1].shape[1]

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Return action logits for (obs_dim,) or (B, obs_dim) observations."""
        a = np.asarray(obs, dtype=np.float64)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = a @ w + b
            a = np.maximum(a, 0.0) if self.activation == "relu" else np.tanh(a)
        return a @ self.weights[-1] + self.biases[-1]

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        """Return the arg-max action (int for one observation, array for a batch)."""
        lg = self.logits(obs)
        if lg.ndim == 1:
            return int(np.argmax(lg))
        return np.argmax(lg, axis=1)

    def save_npz(self, path: str | Path, meta: dict[str, Any]) -> None:
        """Write weights, biases, activation and ``meta`` (JSON) to ``path``."""
        arrays: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"w{i}"] = w.T.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        meta = dict(meta, activation=self.activation, n_layers=len(self.weights))
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> tuple["NumpyActor", dict[str, Any]]:
        """Read an actor written by :meth:`save_npz`; return ``(actor, meta)``."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            n = int(meta["n_layers"])
            ws = [z[f"w{i}"] for i in range(n)]
            bs = [z[f"b{i}"] for i in range(n)]
        return cls(ws, bs, meta.get("activation", "relu")), meta


def extract_actor_weights(model: Any) -> NumpyActor:
    """Copy the actor of a stable-baselines3 PPO ``MlpPolicy`` into a :class:`NumpyActor`.

    Reads ``policy.mlp_extractor.policy_net`` (Linear + activation pairs) and
    ``policy.action_net``. Only flat Box observations without normalisation are supported
    (the observation goes to the MLP unchanged, as in RL-DCA).
    """
    import torch

    policy = model.policy
    ws: list[np.ndarray] = []
    bs: list[np.ndarray] = []
    act = "relu"
    for layer in policy.mlp_extractor.policy_net:
        if isinstance(layer, torch.nn.Linear):
            ws.append(layer.weight.detach().cpu().numpy())
            bs.append(layer.bias.detach().cpu().numpy())
        elif isinstance(layer, torch.nn.Tanh):
            act = "tanh"
        elif not isinstance(layer, torch.nn.ReLU):
            raise ValueError(f"unsupported layer in policy_net: {layer!r}")
    ws.append(policy.action_net.weight.detach().cpu().numpy())
    bs.append(policy.action_net.bias.detach().cpu().numpy())
    return NumpyActor(ws, bs, act)


# --------------------------------------------------------------------------- inference


def default_policy_path() -> Path:
    """Return the path of the policy shipped with the package (``repose_ros/data``)."""
    try:
        from importlib.resources import files

        p = Path(str(files("repose_ros").joinpath("data", "rl_dca_policy.zip")))
        if p.exists():
            return p
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "data" / "rl_dca_policy.zip"


class RLDCA:
    """Partition a frame's boxes: mean-shift initial clusters refined by the RL-DCA policy.

    The policy is loaded lazily on first use: from ``<policy>.npz`` beside the ``.zip`` when
    present (numpy only), otherwise with ``PPO.load(device="cpu")`` and weight extraction.
    Clustering settings (``gamma``, ``bandwidth``, ``max_clusters``, ``max_steps``) default to
    those the policy was trained with, then to the module defaults.

    Args:
        policy_path: ``.zip`` policy (default :func:`default_policy_path`).
        use_policy: False gives mean shift only (ablation; see :meth:`meanshift_only`).
        gamma: stretch exponent of the initial clustering.
        bandwidth: mean-shift bandwidth.
        max_clusters: observation slots (must match the policy).
        max_steps: refinement steps per frame.
        actor: an already built :class:`NumpyActor` (skips loading).
        extended_state: expected observation kind; by default inferred from the policy's input
            size (``5`` or ``8`` values per slot).
        context: whether the policy observes the budget and the servers (two more inputs);
            by default inferred from the policy.
    """

    def __init__(
        self,
        policy_path: str | Path | None = None,
        use_policy: bool = True,
        gamma: float | None = None,
        bandwidth: float | None = None,
        max_clusters: int | None = None,
        max_steps: int | None = None,
        actor: NumpyActor | None = None,
        extended_state: bool | None = None,
        context: bool | None = None,
    ) -> None:
        self.policy_path = Path(policy_path) if policy_path is not None else None
        self.use_policy = use_policy
        self._gamma = gamma
        self._bandwidth = bandwidth
        self._max_clusters = max_clusters
        self._max_steps = max_steps
        self._extended = extended_state
        self._context = context
        self._actor = actor
        self._meta: dict[str, Any] = {}
        self._loaded = actor is not None or not use_policy
        if actor is not None:
            self._meta["max_clusters"], self._meta["extended_state"], self._meta["context"] = self._check_actor(
                actor, max_clusters, extended_state, context
            )

    @staticmethod
    def _check_actor(actor: NumpyActor, max_clusters: int | None, extended: bool | None,
                     context: bool | None = None) -> tuple[int, bool, bool]:
        """Return the actor's ``(slots, extended, context)``; raise ValueError on a mismatch."""
        m = actor.n_actions - 2 if max_clusters is None else int(max_clusters)
        kinds = [(e, c) for e in ([extended] if extended is not None else [False, True])
                 for c in ([context] if context is not None else [False, True])]
        for ext, ctx in kinds:
            if actor.n_actions == 2 + m and actor.obs_dim == feature_size(m, ext, ctx):
                return m, bool(ext), bool(ctx)
        want = " or ".join(str(feature_size(m, e, c)) for e, c in kinds)
        raise ValueError(
            f"policy has {actor.obs_dim} inputs / {actor.n_actions} actions, "
            f"expected {want} / {2 + m} for max_clusters={m}"
        )

    @classmethod
    def meanshift_only(cls, gamma: float = DEFAULT_GAMMA, bandwidth: float = DEFAULT_BANDWIDTH) -> "RLDCA":
        """Return a partitioner that keeps the mean-shift clusters (no policy, no loading)."""
        return cls(use_policy=False, gamma=gamma, bandwidth=bandwidth)

    def _setting(self, explicit: Any, key: str, default: Any) -> Any:
        """Return an explicit setting, else the policy's, else the default."""
        if explicit is not None:
            return explicit
        if self.use_policy:
            self.load()
        return self._meta.get(key, default)

    @property
    def gamma(self) -> float:
        """Stretch exponent of the initial clustering."""
        return float(self._setting(self._gamma, "gamma", DEFAULT_GAMMA))

    @property
    def bandwidth(self) -> float:
        """Mean-shift bandwidth of the initial clustering."""
        return float(self._setting(self._bandwidth, "bandwidth", DEFAULT_BANDWIDTH))

    @property
    def max_clusters(self) -> int:
        """Observation slots of the policy."""
        return int(self._setting(self._max_clusters, "max_clusters", DEFAULT_MAX_CLUSTERS))

    @property
    def extended_state(self) -> bool:
        """Whether the policy observes the extended state."""
        return bool(self._setting(self._extended, "extended_state", False))

    @property
    def uses_context(self) -> bool:
        """Whether the policy observes the budget and the servers (:func:`context_features`)."""
        return bool(self._setting(self._context, "context", False))

    @property
    def max_steps(self) -> int:
        """Maximum refinement steps per frame."""
        return int(self._setting(self._max_steps, "max_steps", DEFAULT_MAX_STEPS))

    @property
    def actor(self) -> NumpyActor | None:
        """Get the numpy actor, loading the policy if needed (None in mean-shift-only mode)."""
        if self.use_policy:
            self.load()
        return self._actor

    def load(self) -> None:
        """Load the policy now (no-op when already loaded or in mean-shift-only mode).

        Raises:
            FileNotFoundError: if neither the ``.npz`` nor the ``.zip`` exists.
        """
        if self._loaded:
            return
        path = self.policy_path or default_policy_path()
        npz = path.with_suffix(".npz")
        if npz.is_file():
            self._actor, self._meta = NumpyActor.load_npz(npz)
        elif path.is_file():
            from stable_baselines3 import PPO

            model = PPO.load(str(path), device="cpu")
            self._actor = extract_actor_weights(model)
            side = path.with_suffix(".json")
            self._meta = json.loads(side.read_text()) if side.is_file() else {}
        else:
            raise FileNotFoundError(f"no RL-DCA policy at {path} (nor {npz.name})")
        m = self._max_clusters
        if m is None:
            m = self._meta.get("max_clusters")
        ext = self._extended
        if ext is None:
            ext = self._meta.get("extended_state")
        ctx = self._context
        if ctx is None:
            ctx = self._meta.get("context")
        self._meta["max_clusters"], self._meta["extended_state"], self._meta["context"] = self._check_actor(
            self._actor, m, ext, ctx)
        self._loaded = True

    def cluster(self, xyxy: np.ndarray, frame_w: float, frame_h: float) -> np.ndarray:
        """Return final labels: mean-shift initial clusters, then policy refinement."""
        return self.refine(xyxy, frame_w, frame_h, labels=None)

    def refine(
        self, xyxy: np.ndarray, frame_w: float, frame_h: float, labels: np.ndarray | None = None,
        budget_ms: float | None = None, servers: int | None = None,
    ) -> np.ndarray:
        """Refine a clustering of the current frame with the deterministic policy.

        Runs at most ``max_steps`` actions and stops at the first *keep* or at the first action
        that cannot apply (the deterministic policy would repeat it). No state is kept between
        frames.

        Args:
            xyxy: (N, 4) boxes in pixels.
            frame_w: frame width in pixels.
            frame_h: frame height in pixels.
            labels: initial labels; default mean shift (:func:`initial_clusters`).
            budget_ms: the detection stage's budget of this frame (policies that observe the
                context; default 3000 ms).
            servers: edge servers the plan may use (same; default 4).

        Returns:
            (N,) int64 labels in 0..K-1 (every box labelled).
        """
        b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if labels is None:
            labels = initial_clusters(b, frame_w, frame_h, gamma=self.gamma, bandwidth=self.bandwidth)
        state = ClusterState(b, labels, frame_w, frame_h)
        if not self.use_policy or state.n_boxes < 2:
            return state.labels
        actor = self.actor
        assert actor is not None
        m = self.max_clusters
        ext = self.extended_state
        ctx = self.uses_context
        if ctx:
            state.context = {"budget_ms": 3000.0 if budget_ms is None else float(budget_ms),
                             "servers": 4 if servers is None else int(servers)}
        for _ in range(self.max_steps):
            a = actor.act(state.features(m, ext, ctx))
            if a == ACTION_KEEP:
                break
            state, valid = apply_action(state, int(a), m)
            if not valid:
                break
        return state.labels
