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

Scale policies
--------------
A policy file can instead hold RL-DCA's *scale choice* (:mod:`repose_ros.core.dca.scale`: a
``.npz`` whose metadata says ``kind: scale``): it picks, per frame, the multiplier of the
mean-shift bandwidth and makes no keep / merge / split step (:meth:`RLDCA.bandwidth_scale`).
``policy: scale:F`` names no file: the same multiplier F on every frame (:class:`FixedScale`), the
constant a learned scale choice is measured against.

Inference
---------
:class:`RLDCA` runs the actor MLP in numpy (weights from a ``.npz`` saved beside the policy
``.zip`` at training time, or extracted once from ``PPO.load``), so refinement needs neither
torch nor stable-baselines3 and costs a few microseconds per step. Training (the gymnasium
environment, PPO, the greedy baseline) lives in :mod:`repose_ros.training.dca`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from repose_ros.core.clustering import DEFAULT_BANDWIDTH, DEFAULT_GAMMA, initial_clusters
from repose_ros.core.dca.actions import apply_action
from repose_ros.core.dca.scale import POLICY_KIND, FixedScale, ScalePolicy, fixed_scale_of
from repose_ros.core.dca.state import (ACTION_KEEP, ClusterState, DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_STEPS, feature_size,
                                       raises_value, renumber_labels)


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


def _data_file(name: str) -> Path:
    """Return the path of a file shipped in ``repose_ros/data``."""
    try:
        from importlib.resources import files

        p = Path(str(files("repose_ros").joinpath("data", name)))
        if p.exists():
            return p
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "data" / name


def default_policy_path() -> Path:
    """Return the path of the policy shipped with the package (``repose_ros/data``)."""
    return _data_file("rl_dca_policy.zip")


#: Policies shipped with the package, by the name ``policy: builtin:<name>`` gives them: ``ppo``
#: the keep / merge / split policy (also ``default``, its name before the scale policy became
#: RePoseConfig's default), ``scale`` the scale policy.
BUILTIN_POLICIES = {"ppo": "rl_dca_policy.zip", "default": "rl_dca_policy.zip", "scale": "rl_dca_scale.npz"}


def resolve_policy_path(text: str | Path | None) -> Path | None:
    """Return the file a ``policy`` setting names: None for empty (the default), ``builtin:<name>``, or a path.

    Raises:
        ValueError: for an unknown ``builtin:`` name.
    """
    if text is None or str(text) == "":
        return None
    name = str(text)
    if name.startswith("builtin:"):
        key = name.split(":", 1)[1]
        if key not in BUILTIN_POLICIES:
            raise ValueError(f"unknown built-in policy {name!r}; known: "
                             f"{', '.join('builtin:' + k for k in BUILTIN_POLICIES)}")
        return _data_file(BUILTIN_POLICIES[key])
    return Path(name)


class RLDCA:
    """Partition a frame's boxes: mean-shift initial clusters refined by the RL-DCA policy.

    The policy is loaded lazily on first use: from ``<policy>.npz`` beside the ``.zip`` when
    present (numpy only), otherwise with ``PPO.load(device="cpu")`` and weight extraction. A
    ``.npz`` of kind ``scale`` is a scale policy (module docstring).
    Clustering settings (``gamma``, ``bandwidth``, ``max_clusters``, ``max_steps``) default to
    those the policy was trained with, then to the module defaults.

    Args:
        policy_path: ``.zip`` policy, a scale ``.npz``, ``builtin:<name>`` (:data:`BUILTIN_POLICIES`)
            or ``scale:F`` (a fixed bandwidth multiplier, no file); default :func:`default_policy_path`.
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
        fixed = fixed_scale_of(policy_path)
        self.policy_path = None if fixed is not None else resolve_policy_path(policy_path)
        self.use_policy = use_policy
        self._gamma = gamma
        self._bandwidth = bandwidth
        self._max_clusters = max_clusters
        self._max_steps = max_steps
        self._extended = extended_state
        self._context = context
        self._actor = actor
        self._meta: dict[str, Any] = {}
        self._scale: ScalePolicy | FixedScale | None = None
        self._loaded = actor is not None or not use_policy
        if fixed is not None and actor is None and use_policy:
            self._scale, self._loaded = FixedScale(fixed), True
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
            if self._meta.get("kind") == POLICY_KIND:  # a scale policy: no keep / merge / split actor
                self._scale = ScalePolicy.from_npz(self._actor, self._meta)
                self._actor = None
                self._loaded = True
                return
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

    @property
    def scale_policy(self) -> ScalePolicy | FixedScale | None:
        """The policy's per-frame choice of the bandwidth multiplier, when it is a scale policy or a fixed scale."""
        if self.use_policy:
            self.load()
        return self._scale

    def bandwidth_scale(self, xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float | None = None,
                        servers: int | None = None) -> float:
        """Return the multiplier of the mean-shift bandwidth for this frame (1.0 unless a scale policy chooses).

        ``budget_ms`` and ``servers`` as :meth:`refine` (defaults 3000 ms and 4).
        """
        sp = self.scale_policy
        if sp is None or len(xyxy) == 0:
            return 1.0
        return sp.choose(xyxy, frame_w, frame_h, 3000.0 if budget_ms is None else float(budget_ms),
                         4 if servers is None else int(servers))

    def cluster(self, xyxy: np.ndarray, frame_w: float, frame_h: float, budget_ms: float | None = None,
                servers: int | None = None) -> np.ndarray:
        """Return final labels: mean-shift initial clusters (at the scale policy's bandwidth), then refinement.

        ``budget_ms`` and ``servers``: what policies that observe them see (:meth:`refine`).
        """
        b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        scale = self.bandwidth_scale(b, frame_w, frame_h, budget_ms, servers)
        labels = None
        if scale != 1.0:
            labels = initial_clusters(b, frame_w, frame_h, gamma=self.gamma, bandwidth=self.bandwidth * scale)
        return self.refine(b, frame_w, frame_h, labels=labels, budget_ms=budget_ms, servers=servers)

    def refine(
        self, xyxy: np.ndarray, frame_w: float, frame_h: float, labels: np.ndarray | None = None,
        budget_ms: float | None = None, servers: int | None = None,
        value: Callable[[np.ndarray], float] | None = None,
    ) -> np.ndarray:
        """Refine a clustering of the current frame with the deterministic policy.

        Runs at most ``max_steps`` actions and stops at the first *keep* or at the first action
        that cannot apply (the deterministic policy would repeat it). No state is kept between
        frames. With ``value`` (labels -> what the planner expects of them, e.g.
        :meth:`repose_ros.core.pipeline.RePose.plan_value`) an action is kept only when it raises
        the value; the first one that does not ends the refinement (the policy proposes, the
        planner checks: one plan per step instead of a greedy search's one per candidate).

        Args:
            xyxy: (N, 4) boxes in pixels.
            frame_w: frame width in pixels.
            frame_h: frame height in pixels.
            labels: initial labels; default mean shift (:func:`initial_clusters`).
            budget_ms: the detection stage's budget of this frame (policies that observe the
                context; default 3000 ms).
            servers: edge servers the plan may use (same; default 4).
            value: optional check of each action (see above).

        Returns:
            (N,) int64 labels in 0..K-1 (every box labelled).
        """
        b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if labels is None:
            labels = initial_clusters(b, frame_w, frame_h, gamma=self.gamma, bandwidth=self.bandwidth)
        if not self.use_policy or len(b) < 2 or self.scale_policy is not None:
            # nothing to refine: the labels renumbered 0..K-1, as ClusterState stores them
            lab = renumber_labels(labels)
            if len(lab) != len(b):
                raise ValueError(f"{len(b)} boxes but {len(lab)} labels")
            return lab
        state = ClusterState(b, labels, frame_w, frame_h)
        actor = self.actor
        assert actor is not None
        m = self.max_clusters
        ext = self.extended_state
        ctx = self.uses_context
        if ctx:
            state.context = {"budget_ms": 3000.0 if budget_ms is None else float(budget_ms),
                             "servers": 4 if servers is None else int(servers)}
        current = value(state.labels) if value is not None else 0.0
        for _ in range(self.max_steps):
            a = actor.act(state.features(m, ext, ctx))
            if a == ACTION_KEEP:
                break
            nxt, valid = apply_action(state, int(a), m)
            if not valid:
                break
            if value is not None:
                v = value(nxt.labels)
                if not raises_value(v, current):
                    break
                current = v
            state = nxt
        return state.labels
