"""RL-DCA's scale choice: how coarsely to cluster a frame, chosen per frame by a learned policy.

Why
---
Which mean-shift bandwidth pays depends on the frame (docs/rl_dca.md, sixth round): finer
clusters (smaller, more numerous blocks that the planner can run at a higher resolution) gain on
sparse scenes of small people and lose on dense crowds, whose people get cut by the extra block
borders; and the planner's value, which the keep / merge / split policies and the greedy search
maximise, ranks such alternatives little better than a coin where the coarse pass misses most
people. So the scale is chosen from what was *measured*: ``repose partition-study`` runs each
scale of a frame end to end (coarse pass, plan, detector, fusion) and scores it against the
ground truth; a policy learns from those rewards which scale to pick from features of the
frame's coarse boxes and of its budget.

The decision
------------
A one-step episode (a contextual bandit): observation :func:`scale_features`, actions the
bandwidth multipliers ``scales`` (mean shift at ``bandwidth x scale``), reward the frame's
measured mAP50:95 under that scale. Every scale of a training frame is measured, so the policy
gradient of the expected reward is exact (no sampling, no critic needed);
:mod:`repose_ros.training.dca_scale` fits the actor (an MLP of two hidden layers of 128, ReLU,
like the keep / merge / split actor). At run time the arg-max scale is taken (a few microseconds
before the one mean shift the frame needs anyway).

Features (each a plain function of the boxes, so that they mean the same on any frame size):

* ``log_boxes``: ``log1p(N) / log(1000)``;
* ``height``: median box height over frame height, x 10;
* ``crowding``: ``log`` of the median, over boxes, of the distance from a box's centre to the
  nearest other centre divided by the box's height (about 0 in a dense crowd, 2-4 for scattered
  people);
* ``cover``: ``log10`` of the boxes' summed area over the frame's area;
* ``budget``, ``servers``: :func:`repose_ros.core.dca.state.context_features`.
The policy file stores the mean and scale used to standardise them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from repose_ros.core.dca.state import context_features

__all__ = ["SCALE_FEATURES", "DEFAULT_SCALES", "POLICY_KIND", "scale_features", "ScalePolicy", "FixedScale",
           "fixed_scale_of"]

#: Names of :func:`scale_features`' values, in order.
SCALE_FEATURES = ("log_boxes", "height", "crowding", "cover", "budget", "servers")
#: Bandwidth multipliers the shipped scale policy chooses from (1.0: the configured bandwidth); a
#: trained policy chooses from the scales its studies measured.
DEFAULT_SCALES = (0.45, 0.6, 0.8, 1.0)
#: ``kind`` of a scale policy in its file's metadata.
POLICY_KIND = "scale"


def scale_features(xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float, servers: int) -> np.ndarray:
    """Return the observation of the scale choice (:data:`SCALE_FEATURES`, float64) for a frame's coarse boxes."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError("frame size must be positive")
    n = len(b)
    ctx = context_features(budget_ms, servers).astype(np.float64)
    if n == 0:
        return np.concatenate([[0.0, 0.0, 0.0, -4.0], ctx])
    w = np.maximum(b[:, 2] - b[:, 0], 1.0)
    h = np.maximum(b[:, 3] - b[:, 1], 1.0)
    if n >= 2:
        from scipy.spatial import cKDTree  # scikit-learn's dependency; O(n log n), 0.1 ms at 300 boxes

        c = np.stack([(b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0], axis=1)
        nearest = cKDTree(c).query(c, k=2)[0][:, 1]
        crowd = float(np.log(max(np.median(nearest / h), 1e-3)))
    else:
        crowd = float(np.log(max(frame_w, frame_h) / h[0]))
    cover = float(np.log10(max(float(np.sum(w * h)) / (float(frame_w) * float(frame_h)), 1e-4)))
    return np.concatenate([[np.log1p(n) / np.log(1000.0), 10.0 * float(np.median(h)) / float(frame_h), crowd, cover],
                           ctx])


class ScalePolicy:
    """A learned choice of the mean-shift bandwidth multiplier per frame (module docstring).

    Args:
        actor: a :class:`~repose_ros.core.dca.policy.NumpyActor` over the standardised features,
            one logit per scale.
        scales: the bandwidth multipliers, one per action.
        mean: feature means subtracted before the actor.
        std: feature scales divided by before the actor.
        meta: anything else the file carries (training settings, figures).
    """

    def __init__(self, actor: Any, scales: Sequence[float], mean: Sequence[float], std: Sequence[float],
                 meta: Dict[str, Any] | None = None) -> None:
        self.actor = actor
        self.scales = tuple(float(s) for s in scales)
        self.mean = np.asarray(mean, np.float64).reshape(-1)
        self.std = np.asarray(std, np.float64).reshape(-1)
        self.meta = dict(meta or {})
        # scale_features' nearest-neighbour search, imported with the policy (the partitioner node
        # loads it when configured) rather than in the first frame (about 0.2 s on this CPU)
        import scipy.spatial  # noqa: F401
        nf = len(SCALE_FEATURES)
        if len(self.scales) < 1 or min(self.scales) <= 0:
            raise ValueError("a scale policy needs at least one positive scale")
        if actor.n_actions != len(self.scales) or actor.obs_dim != nf or self.mean.shape != (nf,) \
                or self.std.shape != (nf,) or np.any(self.std <= 0):
            raise ValueError(f"scale policy: actor {actor.obs_dim} -> {actor.n_actions}, {len(self.scales)} scales, "
                             f"mean/std {self.mean.shape}/{self.std.shape}: expected {nf} features, one action "
                             "per scale, positive std")

    def observe(self, xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float, servers: int) -> np.ndarray:
        """Return the standardised observation of a frame."""
        return (scale_features(xyxy, frame_w, frame_h, budget_ms, servers) - self.mean) / self.std

    def choose(self, xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float, servers: int) -> float:
        """Return the bandwidth multiplier for a frame (the arg-max action)."""
        return self.scales[int(self.actor.act(self.observe(xyxy, frame_w, frame_h, budget_ms, servers)))]

    def to_meta(self) -> Dict[str, Any]:
        """Metadata of the policy file (kind, scales, standardisation, features, the rest of ``meta``)."""
        return dict(self.meta, kind=POLICY_KIND, scales=list(self.scales), mean=self.mean.tolist(),
                    std=self.std.tolist(), features=list(SCALE_FEATURES))

    def save(self, path: str | Path) -> None:
        """Write the policy as ``.npz`` (actor weights + JSON metadata)."""
        self.actor.save_npz(path, self.to_meta())

    @classmethod
    def from_npz(cls, actor: Any, meta: Dict[str, Any]) -> "ScalePolicy":
        """Build the policy of a loaded ``.npz`` (``meta['kind'] == 'scale'``); ValueError when it is not one."""
        if meta.get("kind") != POLICY_KIND:
            raise ValueError(f"not a scale policy (kind {meta.get('kind')!r})")
        if list(meta.get("features", [])) != list(SCALE_FEATURES):
            raise ValueError(f"scale policy observes {meta.get('features')}, this version computes "
                             f"{list(SCALE_FEATURES)}")
        rest = {k: v for k, v in meta.items() if k not in ("kind", "scales", "mean", "std", "features",
                                                           "activation", "n_layers")}
        return cls(actor, meta["scales"], meta["mean"], meta["std"], rest)


class FixedScale:
    """The same bandwidth multiplier on every frame (``policy: scale:F``): no file, no features.

    What a learned :class:`ScalePolicy` has to beat: its choice per frame against the one
    constant that does as well on average.
    """

    def __init__(self, scale: float) -> None:
        scale = float(scale)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"a fixed bandwidth scale must be a positive number, got {scale!r}")
        self.scales = (scale,)
        self.meta: Dict[str, Any] = {"kind": "fixed"}

    def choose(self, xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float, servers: int) -> float:
        """Return the fixed multiplier (whatever the frame)."""
        return self.scales[0]


def fixed_scale_of(text: Any) -> Optional[float]:
    """Return F of a ``policy`` setting ``scale:F`` (a fixed bandwidth multiplier), None for any other setting.

    Raises:
        ValueError: when F is not a positive number.
    """
    name = "" if text is None else str(text)
    if not name.startswith("scale:"):
        return None
    try:
        value = float(name.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"policy {name!r}: scale:F needs a positive number F (e.g. scale:0.45)") from None
    return FixedScale(value).scales[0]
