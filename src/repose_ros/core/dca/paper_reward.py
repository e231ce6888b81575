"""The paper's cluster-quality reward: minus a weighted sum of tightness, area-variance, count and closeness terms."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from repose_ros.core.clustering import squared_distances
from repose_ros.core.dca.actions import label_centroids
from repose_ros.core.dca.state import ClusterState, PlannerValue


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
    cent, counts = label_centroids(lab, points)
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
    d = np.sqrt(squared_distances(c, c))
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
