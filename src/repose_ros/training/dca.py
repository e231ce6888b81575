"""Training of the RL-DCA policy: the gymnasium environment, a greedy baseline and PPO.

:class:`DCAEnv` draws one layout per episode, clusters it with mean shift and pays the change of
the cluster-quality score of :mod:`repose_ros.core.dca.paper_reward` for each keep / merge / split;
:func:`train_policy` trains the actor and critic with stable-baselines3's PPO and saves the
policy with its numpy actor (what :class:`repose_ros.core.dca.policy.RLDCA` runs at inference, without
gymnasium, torch or stable-baselines3); :func:`evaluate_refiners` compares a policy with mean
shift alone and :func:`greedy_refine` on the same score.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import set_random_seed

from repose_ros.core.clustering import DEFAULT_BANDWIDTH, DEFAULT_GAMMA, initial_clusters
from repose_ros.core.dca.state import ACTION_KEEP, ClusterState, DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_STEPS, feature_bounds
from repose_ros.core.dca.policy import RLDCA, extract_actor_weights
from repose_ros.core.dca.paper_reward import RewardConfig, cluster_score
from repose_ros.core.dca.actions import apply_action

__all__ = ["DCAEnv", "make_env", "greedy_refine", "evaluate_refiners", "train_policy", "TrainSettings",
           "LearningCurve", "held_out_layouts", "evaluate_sets", "plot_learning_curve", "PPO_DEFAULTS", "NET_ARCH",
           "greedy_action", "greedy_demonstrations", "imitate", "lookahead_gains", "soft_targets",
           "imitation_regret"]

#: A layout: boxes alone (frame size from the environment), ``(xyxy, frame_w, frame_h)``, or
#: ``(xyxy, frame_w, frame_h, gt)`` with the frame's annotated people (handed to the planner value
#: hook as ``gt`` when the environment has a context).
Layout = Union[np.ndarray, tuple[np.ndarray, int, int], tuple[np.ndarray, int, int, np.ndarray]]


def _sample_layout(
    source: Callable[[np.random.Generator], Layout] | Sequence[Layout] | None,
    rng: np.random.Generator,
    frame_w: int,
    frame_h: int,
) -> tuple[np.ndarray, int, int, np.ndarray | None]:
    """Draw one layout from the source and return ``(xyxy, frame_w, frame_h, gt or None)``."""
    if source is None:
        from repose_ros.datasets.layouts import panda_like_layout

        item: Any = panda_like_layout(rng, frame_w, frame_h)
    elif callable(source):
        item = source(rng)
    else:
        if len(source) == 0:
            raise ValueError("empty layout list")
        item = source[int(rng.integers(len(source)))]
    if isinstance(item, tuple):
        xyxy, w, h = item[:3]
        gt = np.asarray(item[3], np.float64).reshape(-1, 4) if len(item) > 3 and item[3] is not None else None
        return np.asarray(xyxy, dtype=np.float32).reshape(-1, 4), int(w), int(h), gt
    return np.asarray(item, dtype=np.float32).reshape(-1, 4), frame_w, frame_h, None


class DCAEnv(gym.Env):
    """Gymnasium environment of RL-DCA cluster refinement (one layout per episode).

    ``reset`` draws a layout (``layout_source``: None for PANDA-like layouts, a callable
    ``rng -> xyxy | (xyxy, w, h)``, or a sequence of such layouts; layouts with fewer than
    ``min_boxes`` boxes are redrawn), clusters it with mean shift and returns the
    features. ``step`` applies an action and pays the change of the quality score (minus
    the invalid-action penalty); episodes are truncated after ``max_steps`` steps (*keep*
    does not end them). All randomness comes from ``reset(seed=...)``.

    Args:
        layout_source: where layouts come from (see above).
        frame_w: frame width for layouts given without a size.
        frame_h: frame height for layouts given without a size.
        max_clusters: observation slots / number of split actions.
        max_steps: episode length cap.
        reward_config: score weights (default :class:`RewardConfig`).
        gamma: stretch exponent of the initial clustering.
        bandwidth: mean-shift bandwidth of the initial clustering.
        min_boxes: minimum number of boxes of a layout.
        extended_state: use the extended observation (:meth:`ClusterState.features`).
        context_sampler: ``rng -> (budget_ms, servers)`` drawn per episode; the pair is
            observed (:func:`context_features`) and handed to the planner value hook, so
            that one policy serves every budget and number of servers. None: no context.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        layout_source: Callable[[np.random.Generator], Layout] | Sequence[Layout] | None = None,
        frame_w: int = 3840,
        frame_h: int = 2160,
        max_clusters: int = DEFAULT_MAX_CLUSTERS,
        max_steps: int = DEFAULT_MAX_STEPS,
        reward_config: RewardConfig | None = None,
        gamma: float = DEFAULT_GAMMA,
        bandwidth: float = DEFAULT_BANDWIDTH,
        min_boxes: int = 2,
        extended_state: bool = False,
        context_sampler: Callable[[np.random.Generator], tuple[float, int]] | None = None,
    ) -> None:
        super().__init__()
        self.extended_state = bool(extended_state)
        self.context_sampler = context_sampler
        self.use_context = context_sampler is not None
        self.layout_source = layout_source
        self.frame_w = frame_w
        self.frame_h = frame_h
        self.max_clusters = int(max_clusters)
        self.max_steps = int(max_steps)
        self.reward_config = reward_config or RewardConfig()
        self.gamma = gamma
        self.bandwidth = bandwidth
        self.min_boxes = min_boxes
        high = feature_bounds(self.max_clusters, self.extended_state, self.use_context)
        self.observation_space = spaces.Box(low=0.0, high=high, dtype=np.float32)
        self.action_space = spaces.Discrete(2 + self.max_clusters)
        self.state: ClusterState | None = None
        self._score = 0.0
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Draw a layout, cluster it with mean shift and return ``(obs, info)``."""
        super().reset(seed=seed)
        xyxy, w, h, gt = _sample_layout(self.layout_source, self.np_random, self.frame_w, self.frame_h)
        for _ in range(100):
            if len(xyxy) >= self.min_boxes:
                break
            xyxy, w, h, gt = _sample_layout(self.layout_source, self.np_random, self.frame_w, self.frame_h)
        labels = initial_clusters(xyxy, w, h, gamma=self.gamma, bandwidth=self.bandwidth)
        self.state = ClusterState(xyxy, labels, w, h)
        if self.context_sampler is not None:
            budget_ms, servers = self.context_sampler(self.np_random)
            self.state.context = {"budget_ms": float(budget_ms), "servers": int(servers)}
            if gt is not None:
                self.state.context["gt"] = gt
        self._score = cluster_score(self.state, self.reward_config)
        self._t = 0
        obs = self.state.features(self.max_clusters, self.extended_state, self.use_context)
        return obs, {"score": self._score, "k": self.state.k}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply ``action``; return ``(obs, reward, terminated, truncated, info)``."""
        assert self.state is not None, "call reset() first"
        self._t += 1
        a = int(action)
        new, valid = apply_action(self.state, a, self.max_clusters)
        if a == ACTION_KEEP:
            reward = 0.0
        elif not valid:
            reward = -self.reward_config.invalid_penalty
        else:
            score = cluster_score(new, self.reward_config)
            reward = score - self._score - self.reward_config.step_cost
            self._score = score
            self.state = new
        terminated = False
        truncated = self._t >= self.max_steps
        info = {"score": self._score, "k": self.state.k, "valid": valid}
        obs = self.state.features(self.max_clusters, self.extended_state, self.use_context)
        return obs, float(reward), terminated, truncated, info


def make_env(**kwargs: Any) -> DCAEnv:
    """Return a new :class:`DCAEnv` (see the class docstring for the arguments)."""
    return DCAEnv(**kwargs)


def greedy_refine(state: ClusterState, cfg: RewardConfig, max_clusters: int, max_steps: int) -> ClusterState:
    """One-step look-ahead baseline: take the best-scoring action until none improves."""
    for _ in range(max_steps):
        a = greedy_action(state, cfg, max_clusters)
        if a == ACTION_KEEP:
            break
        state, _ = apply_action(state, a, max_clusters)
    return state


def greedy_action(state: ClusterState, cfg: RewardConfig, max_clusters: int) -> int:
    """Return what :func:`greedy_refine` does in ``state``: its best action, or *keep* when none improves."""
    return _best_of(lookahead_gains(state, cfg, max_clusters))


def lookahead_gains(state: ClusterState, cfg: RewardConfig, max_clusters: int) -> np.ndarray:
    """Score change of every action in ``state``: ``(2 + max_clusters,)``, *keep* 0, NaN where an action cannot apply.

    What the greedy look-ahead weighs (it takes the largest gain when it is above zero); imitation
    with a temperature (:func:`imitate`) learns from all of it, not only from the winner.
    """
    score = cluster_score(state, cfg)
    gains = np.full(2 + int(max_clusters), np.nan)
    gains[ACTION_KEEP] = 0.0
    for a in range(1, 2 + max_clusters):
        new, valid = apply_action(state, a, max_clusters)
        if valid:
            gains[a] = cluster_score(new, cfg) - score
    return gains


def _best_of(gains: np.ndarray) -> int:
    """Return the greedy choice among ``gains``: the first largest gain above zero (1e-12), else *keep*."""
    best, best_gain = ACTION_KEEP, 0.0
    for a, g in enumerate(gains):
        if a != ACTION_KEEP and not np.isnan(g) and g > best_gain + 1e-12:
            best, best_gain = a, float(g)
    return best


def greedy_demonstrations(env: "DCAEnv", episodes: int, seed: int, progress: bool = False,
                          follow: Callable[[np.ndarray], int] | None = None,
                          with_gains: bool = False) -> tuple[np.ndarray, ...]:
    """Observations and the greedy look-ahead's actions on ``episodes`` layouts of ``env``.

    Each episode follows :func:`greedy_action` from the mean-shift clustering until it keeps
    (that *keep* is recorded too) or ``env.max_steps`` actions were taken. With ``follow`` (obs ->
    action, e.g. the actor being trained) the episode goes where ``follow`` leads instead, and
    each state it visits is still labelled with greedy's action (DAgger: the states a cloned
    policy reaches by its own mistakes get a label too); it ends when ``follow`` keeps or picks
    an action that cannot apply. Returns ``(obs (N, D) float32, actions (N,) int64)``: what
    :func:`imitate` fits the actor to; with ``with_gains`` also ``gains (N, A)``, the
    :func:`lookahead_gains` of each state.
    """
    obs_list: list[np.ndarray] = []
    acts: list[int] = []
    gains: list[np.ndarray] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, desc="greedy demonstrations", unit="layout")
    for e in range(int(episodes)):
        obs, _ = env.reset(seed=seed + e)
        for _ in range(env.max_steps):
            assert env.state is not None
            g = lookahead_gains(env.state, env.reward_config, env.max_clusters)
            a = _best_of(g)
            obs_list.append(obs)
            acts.append(a)
            gains.append(g)
            go = a if follow is None else int(follow(obs))
            if go == ACTION_KEEP:
                break
            obs, _, _, _, info = env.step(go)
            if not info["valid"]:
                break
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    dim = env.observation_space.shape[0]
    out = np.asarray(obs_list, np.float32).reshape(-1, dim), np.asarray(acts, np.int64)
    if with_gains:
        return out + (np.asarray(gains, np.float64).reshape(-1, env.action_space.n),)
    return out


def soft_targets(gains: np.ndarray, temperature: float) -> np.ndarray:
    """Return each state's action distribution from its look-ahead ``gains``: ``softmax(gain / temperature)``.

    Actions that cannot apply (NaN) get 0; a state's actions whose gains are within about one
    temperature of the best share its probability, so near-ties are not taught as mistakes.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    g = np.asarray(gains, np.float64)
    z = np.where(np.isnan(g), -np.inf, g / float(temperature))
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def imitate(policy: Any, obs: np.ndarray, actions: np.ndarray, epochs: int = 60, lr: float = 1e-3,
            batch_size: int = 256, seed: int = 0, gains: np.ndarray | None = None,
            temperature: float = 0.0) -> dict[str, float]:
    """Fit the actor of a stable-baselines3 ``ActorCriticPolicy`` to ``actions`` (cross-entropy).

    Behaviour cloning: the actor learns to do what the demonstrator did in each observed state,
    a start for PPO that its own exploration rarely reaches (a look-ahead's choices among 2 + K
    actions). Only the actor's layers are trained (``mlp_extractor.policy_net`` and
    ``action_net``). With ``gains`` (:func:`lookahead_gains` of each state) and a ``temperature``
    > 0 the target is :func:`soft_targets` instead of the single chosen action: the actor learns
    how much each alternative would have lost. Returns the final training loss, the share of
    actions it reproduces and, with ``gains``, its ``regret``: the mean gain its own choice gives up
    against the demonstrator's (0 when it always picks an equally good action; an action that
    cannot apply ends a refinement at run time, so it counts as *keep*).
    """
    if len(obs) == 0:
        raise ValueError("no demonstrations to imitate")
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.as_tensor(obs, dtype=torch.float32)
    y = torch.as_tensor(actions, dtype=torch.int64)
    soft = None
    if temperature > 0:
        if gains is None:
            raise ValueError("a temperature needs the look-ahead gains")
        soft = torch.as_tensor(soft_targets(gains, temperature), dtype=torch.float32)
    params = list(policy.mlp_extractor.policy_net.parameters()) + list(policy.action_net.parameters())
    opt = torch.optim.Adam(params, lr=lr)

    def logits(batch: torch.Tensor) -> torch.Tensor:
        return policy.action_net(policy.mlp_extractor.policy_net(batch))

    loss = torch.zeros(())
    for _ in range(int(epochs)):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            target = y[idx] if soft is None else soft[idx]
            loss = torch.nn.functional.cross_entropy(logits(x[idx]), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        chosen = logits(x).argmax(dim=1).numpy()
    out = {"loss": float(loss.detach()), "agreement": float((chosen == actions).mean()), "samples": int(len(x))}
    if gains is not None:
        out["regret"] = imitation_regret(gains, actions, chosen)
    return out


def imitation_regret(gains: np.ndarray, demonstrated: np.ndarray, chosen: np.ndarray) -> float:
    """Mean gain given up by ``chosen`` actions against ``demonstrated`` ones (see :func:`imitate`)."""
    g = np.asarray(gains, np.float64)
    rows = np.arange(len(g))
    best = g[rows, np.asarray(demonstrated)]
    got = g[rows, np.asarray(chosen)]
    got = np.where(np.isnan(got), 0.0, got)  # cannot apply: the refinement stops, as with keep
    return float(np.mean(best - got))


def evaluate_refiners(
    refiner: "RLDCA",
    layouts: Sequence[tuple[np.ndarray, int, int]],
    cfg: RewardConfig,
    contexts: Sequence[tuple[float, int]] | None = None,
) -> dict[str, float]:
    """Compare mean shift alone, the greedy look-ahead baseline and ``refiner`` on layouts.

    ``contexts`` gives each layout its ``(budget_ms, servers)`` (policies that observe the
    context, planner rewards that use it). Returns mean score and mean cluster count of each
    (keys ``score_meanshift``, ``score_greedy``, ``score_policy``, ``k_meanshift``, ``k_greedy``,
    ``k_policy``).
    """
    acc: dict[str, list[float]] = {}
    for i, layout in enumerate(layouts):
        xyxy, w, h = layout[:3]
        lab0 = initial_clusters(xyxy, w, h, gamma=refiner.gamma, bandwidth=refiner.bandwidth)
        s0 = ClusterState(xyxy, lab0, w, h)
        ctx: dict[str, Any] = {}
        if contexts is not None:
            ctx = {"budget_ms": float(contexts[i][0]), "servers": int(contexts[i][1])}
            s0.context = dict(ctx)
            if len(layout) > 3 and layout[3] is not None:
                s0.context["gt"] = np.asarray(layout[3], np.float64).reshape(-1, 4)
        sg = greedy_refine(s0, cfg, refiner.max_clusters, refiner.max_steps)
        sp = s0.with_labels(refiner.refine(xyxy, w, h, labels=lab0, **ctx))
        for name, st in (("meanshift", s0), ("greedy", sg), ("policy", sp)):
            acc.setdefault(f"score_{name}", []).append(cluster_score(st, cfg))
            acc.setdefault(f"k_{name}", []).append(float(st.k))
    return {k: float(np.mean(v)) for k, v in acc.items()}


PPO_DEFAULTS: dict[str, Any] = dict(n_steps=256, batch_size=256, n_epochs=10, learning_rate=3e-4, gamma=0.95,
                                    gae_lambda=0.95, clip_range=0.2, ent_coef=0.01, vf_coef=0.5)
"""PPO hyper-parameters of the shipped policy (``ppo_kwargs`` overrides them)."""
NET_ARCH = dict(pi=[128, 128], vf=[128, 128])
"""Actor and critic: separate MLPs of two hidden layers of 128 (ReLU)."""


@dataclass
class TrainSettings:
    """Scalar settings of :func:`train_policy` (everything but the data and the hooks).

    Args:
        total_timesteps: PPO environment steps.
        seed: random seed of everything.
        progress_bar: show a tqdm progress bar.
        n_envs: parallel environments (vectorised in-process).
        max_clusters: observation slots / split actions.
        max_steps: episode length cap (also used at inference).
        gamma: stretch exponent of the initial clustering.
        bandwidth: mean-shift bandwidth of the initial clustering.
        frame_w, frame_h: frame size for layouts given without one.
        ppo_kwargs: overrides of :data:`PPO_DEFAULTS`.
        n_eval_layouts: held-out layouts per synthetic family for the final evaluation (0 to skip).
        torch_threads: ``torch.set_num_threads`` value (None leaves it).
        extra_settings: more entries for the JSON sidecar (e.g. the data used).
        extended_state: train on the extended observation (per-cluster spreads); the choice is
            stored with the policy and used by :class:`RLDCA`.
        imitation_episodes: before PPO, fit the actor to the greedy look-ahead's actions on this
            many layouts (:func:`greedy_demonstrations`, :func:`imitate`; 0: PPO from scratch).
        imitation_epochs: passes over those demonstrations.
        imitation_rounds: rounds of imitation; each round after the first follows the actor of the
            round before on ``imitation_episodes`` new layouts, labels what it visits with greedy's
            actions, adds them to the demonstrations and fits again (DAgger).
        imitation_temperature: > 0: fit the actor to :func:`soft_targets` of the look-ahead's gains at
            this temperature (units of the reward) instead of greedy's single action; 0: hard labels.
    """

    total_timesteps: int = 200_000
    seed: int = 0
    progress_bar: bool = True
    n_envs: int = 4
    max_clusters: int = DEFAULT_MAX_CLUSTERS
    max_steps: int = DEFAULT_MAX_STEPS
    gamma: float = DEFAULT_GAMMA
    bandwidth: float = DEFAULT_BANDWIDTH
    frame_w: int = 3840
    frame_h: int = 2160
    ppo_kwargs: dict[str, Any] | None = None
    n_eval_layouts: int = 100
    torch_threads: int | None = 1
    extra_settings: dict[str, Any] | None = None
    extended_state: bool = False
    imitation_episodes: int = 0
    imitation_epochs: int = 60
    imitation_rounds: int = 1
    imitation_temperature: float = 0.0


class LearningCurve(BaseCallback):
    """PPO callback: record the mean episode reward after each rollout, drive the progress bar.

    ``points`` collects ``(timesteps, mean episode reward)``; ``callback`` is called with each.
    """

    def __init__(self, total_timesteps: int, progress_bar: bool,
                 callback: Callable[[int, float], None] | None = None) -> None:
        super().__init__()
        self.total, self.progress_bar, self.callback = total_timesteps, progress_bar, callback
        self.points: list[tuple[int, float]] = []
        self.bar = None

    def _on_training_start(self) -> None:
        if self.progress_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc="train RL-DCA", unit="step")

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.training_env.num_envs)
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.ep_info_buffer
        if buf:
            self.points.append((int(self.num_timesteps), float(np.mean([e["r"] for e in buf]))))
            if self.callback is not None:
                self.callback(*self.points[-1])

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


def held_out_layouts(n: int, seed: int, frame_w: int, frame_h: int) -> dict[str, list[tuple[np.ndarray, int, int]]]:
    """``n`` PANDA-like layouts and ``n`` synthetic mosaics (at least 2 boxes each), seeded apart from training."""
    from repose_ros.datasets.layouts import panda_like_layout, synthetic_mosaic_layout

    sets: dict[str, list[tuple[np.ndarray, int, int]]] = {}
    if n <= 0:
        return sets
    for name, draw in (("panda_like", panda_like_layout), ("synthetic_mosaic", synthetic_mosaic_layout)):
        rng = np.random.default_rng(10_000 + seed)
        layouts: list[tuple[np.ndarray, int, int]] = []
        while len(layouts) < n:
            b = draw(rng, frame_w, frame_h)
            if len(b) >= 2:
                layouts.append((b, frame_w, frame_h))
        sets[name] = layouts
    return sets


def evaluate_sets(refiner: RLDCA, sets: dict[str, Sequence[tuple[np.ndarray, int, int]]], cfg: RewardConfig,
                  context_sampler: Callable[[np.random.Generator], tuple[float, int]] | None,
                  seed: int) -> dict[str, Any]:
    """``eval_<name>`` entries: :func:`evaluate_refiners` on each set (one seeded context per layout)."""
    out: dict[str, Any] = {}
    for name, layouts in sets.items():
        contexts = None
        if context_sampler is not None:
            crng = np.random.default_rng(20_000 + seed)
            contexts = [context_sampler(crng) for _ in layouts]
        out[f"eval_{name}"] = dict(evaluate_refiners(refiner, layouts, cfg, contexts), n_layouts=len(layouts))
    return out


def train_policy(
    out_path: str | Path,
    layout_source: Callable[[np.random.Generator], Layout] | Sequence[Layout] | None = None,
    reward_config: RewardConfig | None = None,
    eval_sets: dict[str, Sequence[tuple[np.ndarray, int, int]]] | None = None,
    context_sampler: Callable[[np.random.Generator], tuple[float, int]] | None = None,
    callback: Callable[[int, float], None] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train the RL-DCA policy with PPO and save it; return the summary written to the JSON sidecar.

    Writes ``out_path`` (``.zip``, stable-baselines3 format), ``<stem>.npz`` (numpy actor
    weights and the clustering settings, read by :class:`RLDCA`) and ``<stem>.json`` (settings,
    learning curve, final mean episode reward, evaluation against mean shift alone and a greedy
    one-step look-ahead on held-out layouts and ``eval_sets``). Training runs on the CPU with
    ``n_envs`` environments in one process; the same seed and settings give the same policy.

    Args:
        layout_source: see :class:`DCAEnv`; None: :func:`repose_ros.datasets.layouts.default_training_source`.
        reward_config: score weights; a ``planner_value`` hook is used when ``w_planner != 0``.
        eval_sets: more named evaluation layouts ``(xyxy, frame_w, frame_h)``, reported as ``eval_<name>``.
        context_sampler: ``rng -> (budget_ms, servers)`` per episode: the policy observes them.
        callback: called with ``(timesteps, mean episode reward)`` after every rollout.
        settings: fields of :class:`TrainSettings`.
    """
    st = TrainSettings(**settings)
    out = Path(out_path).with_suffix(".zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = reward_config or RewardConfig()
    if layout_source is None:
        from repose_ros.datasets.layouts import default_training_source
        layout_source = default_training_source(frame_w=st.frame_w, frame_h=st.frame_h)
    if st.torch_threads is not None:
        torch.set_num_threads(int(st.torch_threads))
    set_random_seed(st.seed)
    torch.manual_seed(st.seed)
    meta = dict(max_clusters=st.max_clusters, extended_state=bool(st.extended_state),
                context=context_sampler is not None, max_steps=st.max_steps, gamma=st.gamma, bandwidth=st.bandwidth)
    env_kwargs = dict(layout_source=layout_source, frame_w=st.frame_w, frame_h=st.frame_h, reward_config=cfg,
                      context_sampler=context_sampler, **{k: v for k, v in meta.items() if k != "context"})
    venv = make_vec_env(DCAEnv, n_envs=st.n_envs, seed=st.seed, env_kwargs=env_kwargs)
    hp = dict(PPO_DEFAULTS, **(st.ppo_kwargs or {}))
    model = PPO("MlpPolicy", venv, policy_kwargs=dict(net_arch=NET_ARCH, activation_fn=torch.nn.ReLU),
                device="cpu", seed=st.seed, verbose=0, **hp)
    curve = LearningCurve(st.total_timesteps, st.progress_bar, callback)
    t0 = time.perf_counter()
    imitation: dict[str, Any] = {}
    if st.imitation_episodes > 0:
        demo_env = DCAEnv(**env_kwargs)
        tau = float(st.imitation_temperature)
        obs, acts, gains = greedy_demonstrations(demo_env, st.imitation_episodes, seed=st.seed + 50_000,
                                                 progress=st.progress_bar, with_gains=True)
        fit = imitate(model.policy, obs, acts, epochs=st.imitation_epochs, seed=st.seed, gains=gains,
                      temperature=tau)
        rounds = [fit]
        for r in range(1, max(1, int(st.imitation_rounds))):
            learner = extract_actor_weights(model)
            more = greedy_demonstrations(
                demo_env, st.imitation_episodes, seed=st.seed + 50_000 + r * st.imitation_episodes,
                progress=st.progress_bar, follow=lambda o: int(learner.act(o[None])[0]), with_gains=True)
            obs, acts, gains = (np.concatenate([old, new]) for old, new in zip((obs, acts, gains), more))
            rounds.append(imitate(model.policy, obs, acts, epochs=st.imitation_epochs, seed=st.seed + r,
                                  gains=gains, temperature=tau))
        imitation = dict(rounds[-1], episodes=int(st.imitation_episodes), epochs=int(st.imitation_epochs),
                         rounds=len(rounds), agreement_per_round=[f["agreement"] for f in rounds],
                         temperature=tau, seconds=round(time.perf_counter() - t0, 1))
    if st.total_timesteps > 0:
        model.learn(total_timesteps=st.total_timesteps, callback=curve)
    train_s = time.perf_counter() - t0
    model.save(str(out))
    actor = extract_actor_weights(model)
    meta.update(obs_dim=actor.obs_dim, n_actions=actor.n_actions)
    actor.save_npz(out.with_suffix(".npz"), meta)
    points = curve.points
    summary: dict[str, Any] = dict(
        policy=out.name, total_timesteps=int(model.num_timesteps), seed=st.seed, n_envs=st.n_envs,
        train_seconds=round(train_s, 1), timesteps_per_second=round(model.num_timesteps / max(train_s, 1e-9), 1),
        ppo=hp, net_arch=NET_ARCH, activation="relu", reward=cfg.to_dict(),
        layout_source=getattr(layout_source, "__name__", type(layout_source).__name__), curve=points,
        first_mean_episode_reward=points[0][1] if points else None,
        final_mean_episode_reward=points[-1][1] if points else None, imitation=imitation or None, **meta)
    summary.update(st.extra_settings or {})
    sets = dict(held_out_layouts(st.n_eval_layouts, st.seed, st.frame_w, st.frame_h), **(eval_sets or {}))
    if sets:
        refiner = RLDCA(actor=actor, **{k: v for k, v in meta.items() if k not in ("obs_dim", "n_actions")})
        summary.update(evaluate_sets(refiner, sets, cfg, context_sampler, st.seed))
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    venv.close()
    return summary


def plot_learning_curve(curve: Sequence[tuple[int, float]], path: str | Path) -> Path:
    """Write the learning curve (mean episode reward per rollout) as a PNG; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repose_ros.evaluation.report import save_figure

    fig, ax = plt.subplots(figsize=(7, 4))
    if curve:
        ax.plot([c[0] for c in curve], [c[1] for c in curve], lw=1.2)
    ax.set_xlabel("PPO steps")
    ax.set_ylabel("mean episode reward")
    ax.set_title("RL-DCA learning curve")
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path, dpi=110)
