"""Training layouts of RL-DCA beyond the synthetic default: MOT17 mosaics and the plan reward's mix.

:func:`mot_mosaic_source` mixes PANDA-like layouts with 2x2 mosaics of MOT17 ground truth;
:func:`plan_reward_setup` builds what the plan reward trains on: degraded PANDA-like layouts (boxes
dropped by the profile's coarse recall), optionally cached coarse boxes of real frames, and the
per-episode budget and server count.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np


def mot_mosaic_source(path: str, frames: Sequence[Any], mosaic_prob: float, seed: int) -> tuple[Any, dict[str, Any]]:
    """PANDA-like layouts mixed with 2x2 mosaics of MOT17 ``frames`` (of ``path``); ``(source, settings)``."""
    from repose_ros.datasets.layouts import mixed_layout_source, mosaic_2x2_layouts

    mosaics = mosaic_2x2_layouts(frames, n_layouts=2000, rng=np.random.default_rng(seed))
    source = mixed_layout_source(mosaics, mosaic_prob=mosaic_prob)
    source.__name__ = "panda_like+mot17_mosaic"  # type: ignore[attr-defined]
    settings = {"data": f"panda_like+mot17:{path}", "mot17_frames": len(frames), "mosaic_prob": mosaic_prob}
    return source, settings


COARSE_KINDS = {"visdrone": ("visdrone", 63, 8, "none"), "mot17-collage": ("mot17", 16, 0, "collage"),
                "mot17-2x2": ("mot17", 8, 0, "2x2")}
"""Kinds of real coarse data: ``kind -> (data set, frames, frames skipped, mosaic)``."""


def plan_reward_setup(budgets: tuple[float, float], servers: Sequence[int], coarse_data: Sequence[str] = (),
                      cache_dir: Optional[str] = None, jitter: float = 0.0, synthetic_share: float = 0.5,
                      target: str = "people", n_eval: int = 30, seed: int = 0,
                      progress: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """Return ``(layout source, context sampler, settings)`` of the plan reward (``--reward plan``).

    Args:
        budgets: ``(lo, hi)`` ms: each episode draws a budget log-uniformly in between.
        servers: server counts an episode draws from.
        coarse_data: ``KIND:PATH`` (:data:`COARSE_KINDS`): real frames whose cached coarse boxes
            are training layouts beside the degraded PANDA-like ones.
        synthetic_share: share of degraded PANDA-like layouts when real ones are given.
        target: ``people`` (the layouts keep the annotated people for the reward) or ``coarse``.
        n_eval: held-out degraded layouts for the evaluation (``settings["eval_sets"]``).
    """
    from repose_ros.training.dca_data import coarse_layouts, degraded_source, mixed_source
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose

    lo, hi = float(budgets[0]), float(budgets[1])
    servers = [int(v) for v in servers]
    if not 0 < lo <= hi or not servers or min(servers) < 1:
        raise ValueError("need 0 < LO <= HI budgets and servers >= 1")
    rp = RePose(RePoseConfig(partitioner="meanshift"), zoo=ModelZoo.fake())
    key = rp.config.coarse_model
    if not rp.profiles.has_recall(key):
        raise ValueError(f"the profile has no coarse recall curve for {key}")
    real = []
    settings: dict[str, Any] = {"coarse_data": {}}
    for spec in coarse_data:
        kind, _, path = spec.partition(":")
        if kind not in COARSE_KINDS or not path:
            raise ValueError(f"coarse data must be one of {sorted(COARSE_KINDS)}:PATH, got {spec!r}")
        data_kind, n, skip, mosaic = COARSE_KINDS[kind]
        layouts = coarse_layouts(f"{data_kind}:{path}", n, cache_dir, skip=skip, mosaic=mosaic, seed=1,
                                 coarse_model=key, progress=progress)
        layouts = [lay for lay in layouts if len(lay[0]) >= 2]
        settings["coarse_data"][spec] = len(layouts)
        real.extend(layouts)
    synth = degraded_source(lambda a: rp.profiles.recall_of_area(key, a), rp.coarse_scale, jitter=jitter)
    share = float(synthetic_share) if real else 1.0
    mixed = mixed_source([(share, synth)] + ([(1.0 - share, real)] if share < 1.0 else []))

    def source(rng: np.random.Generator) -> Any:
        layout = mixed(rng)
        return layout if target == "people" else layout[:3]

    source.__name__ = f"coarse_boxes(real+degraded_panda_like, target={target})"  # type: ignore[attr-defined]

    def context(rng: np.random.Generator) -> tuple[float, int]:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), int(servers[int(rng.integers(len(servers)))])

    settings.update(budgets_ms=[lo, hi], servers=servers, synthetic_share=share, jitter=jitter,
                    coarse_model=key, target=target)
    erng = np.random.default_rng(10_000 + seed)  # held out: other draws than training's
    held_out = []
    while len(held_out) < n_eval:
        lay = synth(erng)
        if len(lay[0]) >= 2:
            held_out.append(lay if target == "people" else lay[:3])
    settings["eval_sets"] = {"degraded_panda_like": held_out}
    return source, context, settings
