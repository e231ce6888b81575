"""``repose train-dca``: train the RL-DCA partitioning policy with PPO.

Examples::

    repose train-dca --timesteps 20000 --out /tmp/dca.zip          # quick try
    repose train-dca --data mot17:../shared/data/mot17_mini/train   # mix in MOT17 mosaics
    repose train-dca --reward plan --coarse-data visdrone:../shared/data/visdrone_people \
        --coarse-data mot17-collage:../shared/data/mot17_mini      # budget-aware, on coarse boxes

``--scale-study`` trains RL-DCA's other policy kind instead: the per-frame choice of the mean-shift
bandwidth (:mod:`repose_ros.core.dca.scale`), from measured ``repose partition-study`` rows
(:mod:`repose_ros.training.dca_scale`); it writes a ``.npz`` (give ``--out X.npz``; ``policy:``
in config/repose.yaml takes its path), a ``.json`` report with cross-validated figures and a
learning-curve PNG::

    repose train-dca --scale-study study_a.json,study_b.json --out /tmp/scale.npz

``--reward plan`` pays the change of what the run-time plan is expected to find under the budget
(:func:`repose_ros.core.dca.reward.make_plan_value`: with ``--target people`` the share of the
annotated people, with ``--target coarse`` the planner's own value over the coarse boxes) on layouts of coarse
boxes (``--coarse-data``: the shipped coarse stage on real frames, cached under
``.cache/dca``; plus generated PANDA-like layouts thinned by the coarse pass's measured recall),
with the detection budget and the number of servers drawn per episode and observed by the
policy, so that one policy serves every budget.

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
    from repose_ros.core.dca.state import DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_STEPS
    from repose_ros.core.dca.policy import default_policy_path

    p = argparse.ArgumentParser(prog="repose train-dca", description="Train the RL-DCA policy (PPO, CPU).")
    p.add_argument("--out", default=str(default_policy_path()), help="policy .zip to write")
    p.add_argument("--timesteps", type=int, default=200_000, help="PPO steps (default: %(default)s)")
    p.add_argument("--imitate", type=int, default=0, metavar="LAYOUTS",
                   help="before PPO, fit the actor to the greedy look-ahead's actions (on the same reward) on this "
                        "many training layouts; --timesteps 0 then keeps that actor as it is (default: %(default)s)")
    p.add_argument("--imitate-epochs", type=int, default=60, help="passes over the demonstrations (default: 60)")
    p.add_argument("--imitate-rounds", type=int, default=1,
                   help="rounds of imitation: each after the first follows the actor so far on --imitate new layouts, "
                        "labels the states it reaches with greedy's actions and fits again (DAgger; default: 1)")
    p.add_argument("--imitate-temperature", type=float, default=0.0, metavar="T",
                   help="> 0: imitate the look-ahead's gains of every action (softmax of gain / T, T in units of the "
                        "reward) instead of its single choice; 0: its choice (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--data", default=None, metavar="mot17:PATH",
                   help="also train on 2x2 mosaics of MOT17 ground truth under PATH (sequence folders)")
    p.add_argument("--mosaic-prob", type=float, default=0.5, help="share of MOT17 mosaics with --data")
    p.add_argument("--eval-data", default=None, metavar="mot17:PATH",
                   help="also evaluate (not train) on 100 2x2 mosaics of MOT17 ground truth under PATH")
    p.add_argument(
        "--reward",
        choices=("paper", "planner", "plan"),
        default="paper",
        help="paper: cluster-quality score only; planner: add the planner value hook; plan: what the "
             "run-time plan is expected to find (--target), with the budget and the servers in the state",
    )
    p.add_argument("--coarse-data", action="append", default=[], metavar="KIND:PATH",
                   help="(--reward plan) coarse boxes of real frames: visdrone:PATH (frames 9-71: the first 8 are "
                        "what repose eval scores), mot17-collage:PATH (16 collages, seed 1), mot17-2x2:PATH "
                        "(8 mosaics, seed 1); repeatable; cached in --cache-dir")
    p.add_argument("--target", choices=("people", "coarse"), default="people",
                   help="(--reward plan) what the reward counts: people: the annotated people the plan is expected to "
                        "find (missed ones included; the policy still sees only coarse boxes); coarse: the planner's "
                        "own value over the coarse boxes (default: %(default)s)")
    p.add_argument("--hidden-spread", type=float, default=0.0,
                   help="(--reward plan --target coarse) RePoseConfig.hidden_spread of the planner that values the "
                        "clusters: the people a coarse box stands for are spread around it (default: %(default)s)")
    p.add_argument("--cache-dir", default=".cache/dca", help="cache of coarse boxes (default: %(default)s)")
    p.add_argument("--synthetic-share", type=float, default=0.4,
                   help="(--reward plan) share of generated layouts thinned by the coarse recall "
                        "(default: %(default)s)")
    p.add_argument("--jitter", type=float, default=0.08,
                   help="(--reward plan) corner noise of generated coarse boxes, share of box size "
                        "(default: %(default)s)")
    p.add_argument("--budgets", default="400,6000",
                   help="(--reward plan) detection budgets drawn log-uniformly from LO,HI ms (default: %(default)s)")
    p.add_argument("--servers", default="2,3,4,6,8",
                   help="(--reward plan) numbers of edge servers drawn uniformly (default: %(default)s)")
    p.add_argument("--eval-layouts", type=int, default=None,
                   help="held-out generated layouts per evaluation set (default: 30 with --reward plan, else 100)")
    p.add_argument("--plot", default=None, help="learning-curve PNG (default: beside the policy, <stem>_curve.png)")
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
    p.add_argument("--scale-study", default=None, metavar="JSON[,JSON...]",
                   help="train the scale choice (bandwidth per frame) from these repose partition-study files "
                        "(candidates meanshift,bandwidth:F,...) instead of the keep / merge / split policy")
    p.add_argument("--scale-epochs", type=int, default=300, help="(--scale-study) full-batch epochs (default: 300)")
    p.add_argument("--scale-entropy", type=float, default=0.05,
                   help="(--scale-study) entropy bonus of the softmax policy (default: %(default)s)")
    p.add_argument("--scale-weight-decay", type=float, default=1e-3,
                   help="(--scale-study) Adam weight decay (default: %(default)s)")
    p.add_argument("--scale-hold-out-studies", action="store_true",
                   help="(--scale-study) also hold out each study in turn (fit on the others) and report it: "
                        "does what was learnt on some scenes carry over to another?")
    p.add_argument("--scale-folds", type=int, default=5,
                   help="(--scale-study) folds of the frame-wise cross-validation reported (default: 5; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main_train_scale(args: argparse.Namespace) -> int:
    """``repose train-dca --scale-study``: fit, cross-validate and write the scale policy."""
    from pathlib import Path

    from repose_ros.cli.args import comma_list
    from repose_ros.training.dca_scale import (cross_validate, cross_validate_studies, evaluate_choice,
                                               fit_scale_policy, load_study_samples, plot_scale_curve)

    out = Path(args.out)
    if out.suffix != ".npz":
        raise SystemExit("repose train-dca --scale-study: --out must name a .npz file")
    if args.scale_epochs < 1 or args.scale_folds < 0 or args.scale_entropy < 0 or args.scale_weight_decay < 0:
        raise SystemExit("repose train-dca: --scale-epochs >= 1, --scale-folds, --scale-entropy and "
                         "--scale-weight-decay >= 0")
    files = comma_list(args.scale_study)
    try:
        samples = load_study_samples(files)
    except (ValueError, OSError, KeyError) as exc:
        raise SystemExit(f"repose train-dca --scale-study: {exc}") from None
    fit = dict(epochs=args.scale_epochs, entropy=args.scale_entropy, weight_decay=args.scale_weight_decay)
    print(f"repose train-dca: {len(samples)} (frame, budget) samples from {len(files)} studies; "
          f"scales {list(samples.scales)}")
    report: dict[str, Any] = {"studies": files, "scales": list(samples.scales), "samples": len(samples)}
    if args.scale_folds:
        try:
            report["cross_validation"] = cross_validate(samples, folds=args.scale_folds, seed=args.seed, **fit)
        except ValueError as exc:
            raise SystemExit(f"repose train-dca --scale-study: {exc}") from None
    if args.scale_hold_out_studies:
        try:
            report["study_hold_out"] = cross_validate_studies(samples, names=[Path(f).name for f in files],
                                                              seed=args.seed, **fit)
        except ValueError as exc:
            raise SystemExit(f"repose train-dca --scale-study: {exc}") from None
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.scale_epochs, desc="train-dca scale", unit="epoch", file=sys.stderr)
    try:
        policy, curve = fit_scale_policy(samples, seed=args.seed, on_epoch=(lambda _e, _v: bar.update(1)) if bar
                                         else None, **fit)
    finally:
        if bar is not None:
            bar.close()
    report["training"] = evaluate_choice(policy, samples)
    report["curve"] = curve
    policy.meta.update(studies=[Path(f).name for f in files])
    out.parent.mkdir(parents=True, exist_ok=True)
    policy.save(out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    plot = args.plot or str(out.with_suffix("")) + "_curve.png"
    plot_scale_curve(curve, plot)
    brief = {k: v for k, v in report.items() if k != "curve"}
    print(json.dumps(brief, indent=1))
    print(f"repose train-dca: wrote {out}, {out.with_suffix('.json')} and {plot}")
    return 0


def _mot_frames(spec: str, option: str) -> tuple[str, list]:
    """Parse ``mot17:PATH`` and return ``(PATH, frames)``; exit with a message when unusable."""
    from repose_ros.datasets.mot import mot_box_frames

    kind, _, path = spec.partition(":")
    if kind != "mot17" or not path:
        raise SystemExit(f"repose train-dca: {option} must be mot17:PATH, got {spec!r}")
    frames = mot_box_frames(path)
    if len(frames) < 4:
        raise SystemExit(
            f"repose train-dca: need at least 4 annotated MOT17 frames under {path}, found {len(frames)}"
        )
    return path, frames


def _plan_setup(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """Parse the plan reward's options and build its source (:func:`repose_ros.training.sources.plan_reward_setup`)."""
    from repose_ros.training.sources import plan_reward_setup

    try:
        lo, hi = (float(v) for v in args.budgets.split(","))
        servers = [int(v) for v in args.servers.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"repose train-dca: --budgets LO,HI and --servers N,N,... expected, got "
                         f"{args.budgets!r} / {args.servers!r}")
    try:
        return plan_reward_setup((lo, hi), servers, args.coarse_data, args.cache_dir, args.jitter,
                                 args.synthetic_share, args.target,
                                 args.eval_layouts if args.eval_layouts is not None else 30, args.seed,
                                 progress=not args.no_progress)
    except ValueError as exc:
        raise SystemExit(f"repose train-dca: {exc}") from None


def main_train(argv: Optional[List[str]] = None) -> int:
    """Run ``repose train-dca``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.scale_study:
        return main_train_scale(args)
    if (args.timesteps < 0 or args.imitate < 0 or args.imitate_epochs < 1 or args.imitate_rounds < 1
            or not args.imitate_temperature >= 0):
        raise SystemExit("repose train-dca: --timesteps, --imitate and --imitate-temperature must be >= 0, "
                         "--imitate-epochs and --imitate-rounds >= 1")
    if args.timesteps == 0 and args.imitate == 0:
        raise SystemExit("repose train-dca: nothing to train (--timesteps 0 without --imitate)")
    from pathlib import Path

    from repose_ros.training.dca import plot_learning_curve, train_policy
    from repose_ros.training.sources import mot_mosaic_source
    from repose_ros.core.dca.paper_reward import RewardConfig

    cfg = RewardConfig()
    context = None
    plan_settings: dict[str, Any] = {}
    if args.reward == "plan":
        from repose_ros.core.config import RePoseConfig
        from repose_ros.core.dca.reward import make_plan_value
        from repose_ros.core.pipeline import RePose
        from repose_ros.detectors.zoo import ModelZoo

        try:  # RePoseConfig checks the value; the reward's planner gets --hidden-spread, not the config default
            cfg_spread = RePoseConfig(partitioner="meanshift", hidden_spread=args.hidden_spread)
        except ValueError as exc:
            raise SystemExit(f"repose train-dca: --hidden-spread: {exc}") from None
        repose = RePose(cfg_spread, zoo=ModelZoo.fake())
        cfg = RewardConfig(w_tight=0.0, w_area=0.0, w_count=0.0, w_close=0.0, w_planner=1.0,
                           step_cost=0.002, invalid_penalty=0.01, planner_value=make_plan_value(repose))
        source, context, plan_settings = _plan_setup(args)
        plan_settings["hidden_spread"] = args.hidden_spread
    elif args.reward == "planner":
        hook = PLANNER_VALUE_HOOK
        if hook is None:
            from repose_ros.core.dca.reward import make_planner_value

            hook = make_planner_value(budget_ms=args.planner_budget_ms, servers=args.planner_servers)
        cfg = RewardConfig(w_planner=args.planner_weight, planner_value=hook)
    eval_sets = None
    if args.reward != "plan":
        source, data_settings = None, {"data": "synthetic"}
        if args.data:
            path, frames = _mot_frames(args.data, "--data")
            source, data_settings = mot_mosaic_source(path, frames, args.mosaic_prob, args.seed)
    else:
        eval_sets = plan_settings.pop("eval_sets")
        data_settings = plan_settings
    if args.eval_data:
        from repose_ros.datasets.layouts import mosaic_2x2_layouts

        _, frames = _mot_frames(args.eval_data, "--eval-data")
        mos = mosaic_2x2_layouts(frames, n_layouts=100, rng=np.random.default_rng(12_345))
        eval_sets = dict(eval_sets or {}, mot17_mosaic=[(m, 3840, 2160) for m in mos if len(m) >= 2])
    summary = train_policy(
        args.out,
        total_timesteps=args.timesteps,
        imitation_episodes=args.imitate,
        imitation_epochs=args.imitate_epochs,
        imitation_rounds=args.imitate_rounds,
        imitation_temperature=args.imitate_temperature,
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
        context_sampler=context,
        n_eval_layouts=0 if context is not None else (args.eval_layouts if args.eval_layouts is not None else 100),
    )
    plot = args.plot or str(Path(args.out).with_suffix("")) + "_curve.png"
    plot_learning_curve(summary.get("curve", []), plot)
    print(f"repose train-dca: learning curve written to {plot}")
    brief = {k: summary.get(k) for k in (
        "policy", "total_timesteps", "train_seconds", "timesteps_per_second",
        "first_mean_episode_reward", "final_mean_episode_reward", "imitation",
    )}
    brief.update({k: v for k, v in summary.items() if k.startswith("eval_")})
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main_train())
