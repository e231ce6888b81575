"""Overhead of the partitioner and the planner per frame (``repose bench overhead``).

:func:`bench_overhead` times, on PANDA-like layouts of exactly N boxes in a 3840x2160 frame, the
partition (mean-shift initial clustering plus the RL-DCA policy; with ``policy_check`` also the
plans that check the policy's choice, as :meth:`RePose.partition` runs them) and the planning (blocks from
the clusters, knapsack DP and server assignment with the default profile).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def bench_overhead(
    sizes: Sequence[int] = (50, 300, 1000),
    repeats: int = 50,
    seed: int = 0,
    policy_path: str | Path | None = None,
    use_policy: bool = True,
    frame_w: int = 3840,
    frame_h: int = 2160,
    warmup: int = 3,
    budget_ms: float = 2000.0,
    servers: int = 4,
    policy_check: bool = False,
) -> dict[str, Any]:
    """Measure the median partition time per frame for each box count.

    Each repeat draws a fresh PANDA-like layout with exactly N boxes (subsampled from enough
    crowds), then times ``RLDCA.cluster`` (initial clustering + policy refinement) with
    ``time.perf_counter``. Layout generation is not timed; the policy is loaded before timing.

    Args:
        sizes: box counts per frame.
        repeats: timed frames per size.
        seed: seed of the layouts.
        policy_path: RL-DCA policy (default: the shipped keep / merge / split one, builtin:ppo).
        use_policy: False times mean shift alone.
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        warmup: untimed frames per size before timing.
        budget_ms: latency budget given to the planner.
        servers: number of edge servers the planner assigns blocks to.
        policy_check: time the planner's check of the policy's choice too (RePoseConfig.policy_check).

    Returns:
        ``{"boxes": {"<N>": {"partition_ms": median, "plan_ms": median, "partition_p90_ms": p90,
        "plan_p90_ms": p90, "clusters": mean cluster count}}, "repeats": ..., "policy": ...}``.
    """
    from repose_ros.core.detections import Detections
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.datasets.layouts import panda_like_layout
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.dca.policy import RLDCA

    part = RLDCA(policy_path or None, use_policy=use_policy)
    if use_policy:
        part.load()
    # Planning as the partitioner node plans: RePose.plan_frame (knapsack, then budget spending).
    rp = RePose(RePoseConfig(num_servers=servers, partitioner="meanshift"), zoo=ModelZoo.fake())
    checked = None
    if use_policy and policy_check:  # the policy's choice checked by the planner, as the partitioner node runs it
        checked = RePose(RePoseConfig(num_servers=servers, partitioner="rl_dca", policy=str(policy_path or ""),
                                      policy_check=True), zoo=ModelZoo.fake(), dca=part)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "boxes": {},
        "repeats": repeats,
        "policy": "meanshift_only" if not use_policy else str(policy_path or "builtin:ppo"),
        "policy_check": checked is not None,
        "budget_ms": budget_ms,
        "servers": servers,
    }
    for n in sizes:
        layouts = [panda_like_layout(rng, frame_w, frame_h, n_boxes=int(n)) for _ in range(repeats + warmup)]
        times, plan_times, ks = [], [], []
        for i, b in enumerate(layouts):
            dets = Detections(b, np.full(len(b), 0.5, np.float32), np.zeros(len(b), np.int32))
            t0 = time.perf_counter()
            if checked is not None:
                labels = checked.partition(dets, frame_w, frame_h, budget_ms).labels
            else:
                labels = part.cluster(b, frame_w, frame_h, budget_ms, servers)
            t1 = time.perf_counter()
            blocks = rp.blocks_of(dets, labels, frame_w, frame_h)
            rp.plan_frame(blocks, dets, frame_w, frame_h, budget_ms)
            t2 = time.perf_counter()
            if i >= warmup:
                times.append((t1 - t0) * 1e3)
                plan_times.append((t2 - t1) * 1e3)
                ks.append(int(labels.max()) + 1 if len(labels) else 0)
        out["boxes"][str(int(n))] = {
            "partition_ms": round(float(np.median(times)), 4),
            "plan_ms": round(float(np.median(plan_times)), 4),
            "partition_p90_ms": round(float(np.percentile(times, 90)), 4),
            "plan_p90_ms": round(float(np.percentile(plan_times, 90)), 4),
            "clusters": round(float(np.mean(ks)), 2),
        }
    return out
