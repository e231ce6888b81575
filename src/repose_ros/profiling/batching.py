"""Batching on an edge server: same-shape blocks of a frame in one forward pass, or one call each.

An edge detector runs every block in its own detector call (:func:`repose_ros.core.serving.run_block`).
When the plan sends a server ``k`` blocks of one model and one shape, they could run as one batch
instead. :func:`measure_batching` measures both on this machine, per model key, block shape and
``k``: ``k`` calls of ``run_block`` (what the node does) against one
``zoo.detect_crops(key, image, k rects)`` (one batch through the same detector), the two taking
turns call by call, each the median of ``repeats`` timed rounds after ``warmup`` untimed ones. A
``ratio`` (batch / one call each) below 1 is what batching would save.

A batch keeps each block's detections only when its crops have one size (ultralytics letterboxes
a batch of different sizes to a square instead of each block's own rectangle).
:func:`batchable_blocks` counts, in real plans, the blocks that share server, model, input size
and crop size with another block of their frame: what per-server batching could batch at all.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.serving import BlockJob, run_block
from repose_ros.profiling.latency import frame_at_least

DEFAULT_BLOCKS = ((640, 360), (640, 640), (960, 540), (320, 320))
"""Block sizes ``(w, h)`` measured by default (16:9 and square, at common input sizes)."""


def _rects(frame: np.ndarray, w: int, h: int, k: int) -> List[Tuple[int, int, int, int]]:
    """``k`` different ``w x h`` rectangles inside ``frame`` (spread along its diagonal)."""
    fh, fw = frame.shape[:2]
    out = []
    for i in range(k):
        t = i / max(1, k - 1)
        x0, y0 = int(t * (fw - w)), int(t * (fh - h))
        out.append((x0, y0, x0 + w, y0 + h))
    return out


def measure_batching(zoo: Any, keys: Sequence[str], frame: np.ndarray,
                     blocks: Sequence[Tuple[int, int]] = DEFAULT_BLOCKS, ks: Sequence[int] = (2, 4),
                     repeats: int = 5, warmup: int = 1, conf: float = 0.25, iou: float = 0.5,
                     progress: Optional[Callable[[int], None]] = None) -> List[Dict[str, Any]]:
    """Time ``k`` single-block calls against one batch of ``k`` blocks; one row per key, block and ``k``.

    Args:
        zoo: a :class:`repose_ros.detectors.zoo.ModelZoo`.
        frame: the BGR image the blocks are cut from (enlarged when a block does not fit).
        blocks: block sizes ``(w, h)`` (letterboxed to each key's input size, as the servers run them).
        ks: numbers of blocks per batch.
        progress: called with 1 after every timed round.

    Returns:
        Rows ``{key, block: [w, h], k, single_ms, batch_ms, ratio}`` (``single_ms``: the ``k`` calls
        together; medians).
    """
    rows = []
    for key in keys:
        for w, h in blocks:
            image = frame_at_least(frame, w, h)
            for k in ks:
                rects = _rects(image, w, h, int(k))
                jobs = [BlockJob(i, r, key) for i, r in enumerate(rects)]
                single, batch = [], []
                for round_ in range(warmup + repeats):
                    t0 = time.perf_counter()
                    for job in jobs:
                        run_block(zoo, image, job, conf, iou)
                    t1 = time.perf_counter()
                    zoo.detect_crops(key, image, rects, conf=conf, iou=iou)
                    t2 = time.perf_counter()
                    if round_ >= warmup:
                        single.append((t1 - t0) * 1000.0)
                        batch.append((t2 - t1) * 1000.0)
                        if progress is not None:
                            progress(1)
                s, b = statistics.median(single), statistics.median(batch)
                rows.append({"key": key, "block": [int(w), int(h)], "k": int(k), "single_ms": round(s, 2),
                             "batch_ms": round(b, 2), "ratio": round(b / s, 3) if s > 0 else None})
    return rows


def batch_groups(blocks: Sequence[Any], plan: Any) -> Dict[Tuple, int]:
    """Return ``{(server, model key, input size, crop w, crop h): blocks}`` of one frame's plan.

    ``blocks`` are the frame's :class:`repose_ros.core.blocks.Block` list, ``plan`` its
    :class:`repose_ros.core.planner.Plan` (blocks left out are not run, so not counted).
    """
    groups: Dict[Tuple, int] = {}
    for bp in plan.blocks:
        rect = blocks[bp.block_index].rect
        key = (bp.server_id, bp.model_key, int(bp.imgsz), rect.w, rect.h)
        groups[key] = groups.get(key, 0) + 1
    return groups


def batchable_blocks(make_core: Callable[[int], Any], frames: Sequence[np.ndarray], servers: Sequence[int],
                     budgets: Sequence[float], progress: Optional[Callable[[int], None]] = None
                     ) -> List[Dict[str, Any]]:
    """Plan ``frames`` as the pipeline does and count the blocks a per-server batch could take together.

    ``make_core(S)`` returns a :class:`repose_ros.core.pipeline.RePose` for ``S`` servers; each
    frame's coarse stage runs once per ``S`` and is planned at every budget (the frame's whole
    budget, as ``RePose.run`` takes it). Returns rows ``{servers, budget_ms, frames, blocks,
    batchable}``: ``batchable`` is the number of run blocks that share server, model, input
    size and crop size with at least one other block of their frame.
    """
    rows = []
    for n_servers in servers:
        core = make_core(int(n_servers))
        stages = []
        for frame in frames:
            h, w = frame.shape[:2]
            stages.append((core.coarse_stage(frame, model_key=core.coarse_key(w, h, None)), w, h))
        for budget in budgets:
            blocks = batchable = 0
            for stage, w, h in stages:
                key = stage.model_key or None
                detect_budget = core.detection_budget(stage.ms, budget)
                part = core.partition(stage.detections, w, h, detect_budget, coarse_key=key)
                part, plan = core.plan_frame(part, stage.detections, w, h, detect_budget, coarse_key=key)
                blocks += len(plan.blocks)
                batchable += sum(n for n in batch_groups(part.blocks, plan).values() if n > 1)
                if progress is not None:
                    progress(1)
            rows.append({"servers": int(n_servers), "budget_ms": float(budget), "frames": len(stages),
                         "blocks": blocks, "batchable": batchable})
    return rows


def format_batching(rows: Sequence[Dict[str, Any]]) -> str:
    """Return a table of :func:`measure_batching` rows."""
    lines = [f"{'model':>14} {'block':>9} {'k':>2} {'k calls ms':>10} {'1 batch ms':>10} {'ratio':>6}"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['key']:>14} {r['block'][0]:>4}x{r['block'][1]:<4} {r['k']:>2} {r['single_ms']:>10.1f} "
                     f"{r['batch_ms']:>10.1f} {ratio:>6}")
    return "\n".join(lines)
