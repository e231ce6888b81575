"""``repose train-dca``: train the RL-DCA partitioning policy with PPO.

Examples::

    repose train-dca --timesteps 20000 --out /tmp/dca.zip          # quick try
    repose train-dca --data mot17:../shared/data/mot17_mini/train   # mix in MOT17 mosaics

Writes the policy ``.zip`` plus ``.npz`` (numpy actor for inference) and ``.json`` (settings,
learning curve, evaluation) beside it. The default output is the policy shipped with the
package (``repose_ros/data/rl_dca_policy.zip``).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, List, Optional

import numpy as np

__all__ = ["build_parser", "main_train", "PLANNER_VALUE_HOOK"]

#: Planner value hook used by ``--reward planner``: a callable
#: ``(xyxy, labels, frame_w, frame_h) -> float in [0, 1]`` (expected precision under the latency
#: budget). None means the default: core.planner_reward.make_planner_value with the default
#: profile and the --planner-budget-ms / --planner-servers options.
PLANNER_VALUE_HOOK: Optional[Callable[..., float]] = None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``repose train-dca``."""
    from repose_ros.core.clustering import DEFAULT_BANDWIDTH, DEFAULT_GAMMA
    from repose_ros.core.rl_dca import DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_STEPS, default_policy_path

    p = argparse.ArgumentParser(prog="repose train-dca", description="Train the RL-DCA policy (PPO, CPU).")
    p.add_argument("--out", default=str(default_policy_path()), help="policy .zip to write")
    p.add_argument("--timesteps", type=int, default=200_000, help="PPO steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--data",
        default=None,
        metavar="mot17:PATH",
        help="also train on 2x2 mosaics of MOT17 ground truth under PATH (sequence folders)",
    )
    p.add_argument("--mosaic-prob", type=float, default=0.5, help="share of MOT17 mosaics with --data")
    p.add_argument(
        "--eval-data",
        default=None,
        metavar="mot17:PATH",
        help="also evaluate (not train) on 100 2x2 mosaics of MOT17 ground truth under PATH",
    )
    p.add_argument(
        "--reward",
        choices=("paper", "planner"),
        default="paper",
        help="paper: cluster-quality score only; planner: add the planner value hook",
    )
    p.add_argument("--planner-weight", type=float, default=1.0, help="planner value weight")
    p.add_argument("--planner-budget-ms", type=float, default=2000.0,
                   help="latency budget of the planner reward (default: %(default)s)")
    p.add_argument("--planner-servers", type=int, default=4, help="servers of the planner reward (default: 4)")
    p.add_argument(
        "--state",
        choices=("paper", "extended"),
        default="paper",
        help="paper: [cx, cy, mean w, mean h, count] per cluster; extended: plus spreads of x, y, area",
    )
    p.add_argument("--n-envs", type=int, default=4, help="environments per rollout (default: %(default)s)")
    p.add_argument("--max-clusters", type=int, default=DEFAULT_MAX_CLUSTERS, help="observation slots")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="refinement steps per frame")
    p.add_argument("--gamma", type=float, default=DEFAULT_GAMMA, help="y stretch exponent")
    p.add_argument("--bandwidth", type=float, default=DEFAULT_BANDWIDTH, help="mean-shift bandwidth")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _mot_frames(spec: str, option: str) -> tuple[str, list]:
    """Parse ``mot17:PATH`` and return ``(PATH, frames)``; exit with a message when unusable."""
    from repose_ros.core.layouts import mot_frames

    kind, _, path = spec.partition(":")
    if kind != "mot17" or not path:
        raise SystemExit(f"repose train-dca: {option} must be mot17:PATH, got {spec!r}")
    frames = mot_frames(path)
    if len(frames) < 4:
        raise SystemExit(
            f"repose train-dca: need at least 4 annotated MOT17 frames under {path}, found {len(frames)}"
        )
    return path, frames


def _layout_source(spec: Optional[str], mosaic_prob: float, seed: int) -> tuple[Any, dict[str, Any]]:
    """Build the layout source from ``--data``; return ``(source, settings for the sidecar)``."""
    from repose_ros.core.layouts import mixed_layout_source, mosaic_2x2_layouts

    if not spec:
        return None, {"data": "synthetic"}
    path, frames = _mot_frames(spec, "--data")
    mosaics = mosaic_2x2_layouts(frames, n_layouts=2000, rng=np.random.default_rng(seed))
    source = mixed_layout_source(mosaics, mosaic_prob=mosaic_prob)
    source.__name__ = "panda_like+mot17_mosaic"  # type: ignore[attr-defined]
    settings = {"data": f"panda_like+mot17:{path}", "mot17_frames": len(frames), "mosaic_prob": mosaic_prob}
    return source, settings


def main_train(argv: Optional[List[str]] = None) -> int:
    """Run ``repose train-dca``; returns the exit code."""
    args = build_parser().parse_args(argv)
    from repose_ros.core.rl_dca import RewardConfig, train_policy

    cfg = RewardConfig()
    if args.reward == "planner":
        hook = PLANNER_VALUE_HOOK
        if hook is None:
            from repose_ros.core.planner_reward import make_planner_value

            hook = make_planner_value(budget_ms=args.planner_budget_ms, servers=args.planner_servers)
        cfg = RewardConfig(w_planner=args.planner_weight, planner_value=hook)
    source, data_settings = _layout_source(args.data, args.mosaic_prob, args.seed)
    eval_sets = None
    if args.eval_data:
        from repose_ros.core.layouts import mosaic_2x2_layouts

        _, frames = _mot_frames(args.eval_data, "--eval-data")
        mos = mosaic_2x2_layouts(frames, n_layouts=100, rng=np.random.default_rng(12_345))
        eval_sets = {"mot17_mosaic": [(m, 3840, 2160) for m in mos if len(m) >= 2]}
    summary = train_policy(
        args.out,
        total_timesteps=args.timesteps,
        seed=args.seed,
        layout_source=source,
        reward_config=cfg,
        progress_bar=not args.no_progress,
        n_envs=args.n_envs,
        max_clusters=args.max_clusters,
        max_steps=args.max_steps,
        gamma=args.gamma,
        bandwidth=args.bandwidth,
        extra_settings=dict(data_settings, reward_mode=args.reward, state=args.state),
        eval_sets=eval_sets,
        extended_state=args.state == "extended",
    )
    brief = {k: summary.get(k) for k in (
        "policy", "total_timesteps", "train_seconds", "timesteps_per_second",
        "first_mean_episode_reward", "final_mean_episode_reward",
    )}
    brief.update({k: v for k, v in summary.items() if k.startswith("eval_")})
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main_train())
