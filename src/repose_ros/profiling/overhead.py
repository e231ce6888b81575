"""Overhead of the partitioner and the planner per frame (``repose bench overhead``).

:func:`bench_overhead` times, on PANDA-like layouts of exactly N boxes in a 3840x2160 frame, what
the partitioner node runs per frame: :meth:`RePose.partition` (mean-shift initial clustering, the
RL-DCA policy, with ``policy_check`` the plans that check the policy's choice, then the blocks)
and :meth:`RePose.plan_frame` (knapsack DP, server assignment and budget spending with the default
profile), the two sharing one memo per frame as in the node.
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
    policy_check_value: str = "spent",
    search_share: float = 0.0,
) -> dict[str, Any]:
    """Measure the median partition and planning times per frame for each box count.

    Each repeat draws a fresh PANDA-like layout with exactly N boxes (subsampled from enough
    crowds), then times ``RePose.partition`` and ``RePose.plan_frame`` with ``time.perf_counter``,
    one memo per frame shared by the two and the plan given the budget less the partition's
    measured time (the partitioner node's path: the plan the check of a scale policy made of the
    clusters it kept is returned when it fits that budget). Layout generation is not timed; the
    policy is loaded before timing.

    Args:
        sizes: box counts per frame.
        repeats: timed frames per size.
        seed: seed of the layouts.
        policy_path: RL-DCA policy (default: the shipped keep / merge / split one, builtin:ppo).
        use_policy: False times mean shift alone (the ``meanshift`` partitioner).
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        warmup: untimed frames per size before timing.
        budget_ms: latency budget given to the partition and the planner.
        servers: number of edge servers the planner assigns blocks to.
        policy_check: the planner checks the policy's choice (RePoseConfig.policy_check).
        policy_check_value: what the check compares, "spent" or "plan" (RePoseConfig.policy_check_value).
        search_share: share of ``budget_ms`` the search after the policy may take (RePoseConfig.search_share).

    Returns:
        ``{"boxes": {"<N>": {"partition_ms": median, "plan_ms": median, "frame_ms": median of the
        sum, "partition_p90_ms": p90, "plan_p90_ms": p90, "clusters": mean cluster count,
        "plan_reused": share of the frames whose plan was the one the partition's check made}},
        "repeats": ..., "policy": ...}``.
    """
    from repose_ros.core.detections import Detections
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.datasets.layouts import panda_like_layout
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.dca.policy import RLDCA

    if use_policy:
        part = RLDCA(policy_path or None)
        part.load()
        rp = RePose(RePoseConfig(num_servers=servers, partitioner="rl_dca", policy=str(policy_path or ""),
                                 policy_check=bool(policy_check), policy_check_value=policy_check_value,
                                 search_share=float(search_share)),
                    zoo=ModelZoo.fake(), dca=part)
    else:
        rp = RePose(RePoseConfig(num_servers=servers, partitioner="meanshift"), zoo=ModelZoo.fake())
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "boxes": {},
        "repeats": repeats,
        "policy": "meanshift_only" if not use_policy else str(policy_path or "builtin:ppo"),
        "policy_check": bool(use_policy and policy_check),
        "policy_check_value": policy_check_value if use_policy and policy_check else None,
        "search_share": float(search_share) if use_policy else 0.0,
        "budget_ms": budget_ms,
        "servers": servers,
    }
    for n in sizes:
        layouts = [panda_like_layout(rng, frame_w, frame_h, n_boxes=int(n)) for _ in range(repeats + warmup)]
        times, plan_times, ks, reused = [], [], [], []
        for i, b in enumerate(layouts):
            dets = Detections(b, np.full(len(b), 0.5, np.float32), np.zeros(len(b), np.int32))
            memo: dict = {}
            t0 = time.perf_counter()
            blocks = rp.partition(dets, frame_w, frame_h, budget_ms, memo=memo)
            t1 = time.perf_counter()
            # as the node: the plan's budget is what the partition left of it
            rp.plan_frame(blocks, dets, frame_w, frame_h, budget_ms - (t1 - t0) * 1e3, memo=memo)
            t2 = time.perf_counter()
            if i >= warmup:
                times.append((t1 - t0) * 1e3)
                plan_times.append((t2 - t1) * 1e3)
                ks.append(int(blocks.labels.max()) + 1 if len(blocks.labels) else 0)
                reused.append(rp.last_plan_reused)
        out["boxes"][str(int(n))] = {
            "partition_ms": round(float(np.median(times)), 4),
            "plan_ms": round(float(np.median(plan_times)), 4),
            "frame_ms": round(float(np.median(np.add(times, plan_times))), 4),
            "partition_p90_ms": round(float(np.percentile(times, 90)), 4),
            "plan_p90_ms": round(float(np.percentile(plan_times, 90)), 4),
            "clusters": round(float(np.mean(ks)), 2),
            "plan_reused": round(float(np.mean(reused)), 3),
        }
    return out
