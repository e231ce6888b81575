"""A reward term for RL-DCA computed from the planner (profiles only, no detector call).

The paper's reward scores clusters by geometry (tightness, size variance, count, spacing), a
proxy for what the blocks are for. :func:`make_planner_value` scores a clustering by what the
planner expects of it instead: turn the clusters into blocks, plan them under the latency
budget on the servers, and return the expected precision per coarse box (in [0, 1]). Plans
that do not fit the budget score 0, so the agent learns to avoid partitions that cannot be
run in time.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np

from repose_ros.core.blocks import blocks_from_clusters
from repose_ros.core.planner import plan_blocks
from repose_ros.core.profiles import Profiles

PlannerValue = Callable[[np.ndarray, np.ndarray, int, int], float]


def make_planner_value(profiles: Optional[Profiles] = None, budget_ms: float = 2000.0,
                       servers: Union[int, Sequence[int]] = 4, margin: int = 32, min_size: int = 64,
                       model_keys: Optional[Sequence[str]] = None) -> PlannerValue:
    """Return ``value(xyxy, labels, frame_w, frame_h) -> float in [0, 1]``.

    The value is the planner's expected number of detected boxes divided by the number of
    boxes (``weight="boxes"``), or 0 when the plan is infeasible or there are no boxes.
    """
    prof = profiles if profiles is not None else Profiles.default()

    def value(xyxy: np.ndarray, labels: np.ndarray, frame_w: int, frame_h: int) -> float:
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if len(xyxy) == 0:
            return 0.0
        blocks = blocks_from_clusters(xyxy, np.asarray(labels), frame_w, frame_h, margin=margin, min_size=min_size)
        areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        plan = plan_blocks(blocks, [areas[b.box_indices] for b in blocks], prof, budget_ms, servers,
                           model_keys=model_keys)
        if not plan.feasible:
            return 0.0
        return float(np.clip(plan.total_value / len(xyxy), 0.0, 1.0))

    return value


def make_plan_value(repose=None, over_budget_weight: float = 1.0) -> Callable[..., float]:
    """Return ``value(xyxy, labels, frame_w, frame_h, budget_ms=3000, servers=4) -> float``.

    The run-time planner's own objective (:meth:`repose_ros.core.pipeline.RePose.plan_value`:
    boxes weighted by the coarse pass's measured recall, blocks the budget cannot cover worth
    their coarse boxes, the profile's shape-aware latencies) divided by the total box weight, so
    that frames with many and few people pay on one scale (about the share of the people the
    plan expects to find). A plan whose makespan exceeds the budget loses
    ``over_budget_weight`` x the relative excess (``makespan / budget - 1``; a parameter: with
    blocks that may be left out, feasible plans never exceed the budget); an infeasible plan is
    worth 0. With ``gt`` (a training layout's annotated people) the value is
    :func:`people_found` instead: the share of the people, missed ones included, the plan is
    expected to find. ``repose``: a :class:`RePose` (default: the default config with a fake model zoo:
    planning never runs a detector).
    """
    if repose is None:
        from repose_ros.detectors.zoo import ModelZoo
        from repose_ros.core.config import RePoseConfig
        from repose_ros.core.pipeline import RePose

        repose = RePose(RePoseConfig(partitioner="meanshift"), zoo=ModelZoo.fake())
    from repose_ros.core.detections import Detections

    # One search memo (RePose.plan) for the layout valued last: an episode values many
    # clusterings of one layout in a row; another layout (or frame size) starts a new memo.
    last: dict = {"key": None, "memo": {}, "det": None}

    def value(xyxy: np.ndarray, labels: np.ndarray, frame_w: int, frame_h: int, budget_ms: float = 3000.0,
              servers: int = 4, gt: Optional[np.ndarray] = None) -> float:
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if len(xyxy) == 0:
            return 0.0
        w, h = int(frame_w), int(frame_h)
        key = (xyxy.tobytes(), w, h)
        if key != last["key"]:
            det = Detections(xyxy, np.ones(len(xyxy), np.float32), np.zeros(len(xyxy), np.int32))
            last.update(key=key, memo={}, det=det)
        det, memo = last["det"], last["memo"]
        part, plan = repose.plan_of(det, np.asarray(labels), w, h, float(budget_ms), list(range(int(servers))),
                                    memo=memo)
        if not plan.feasible:
            return 0.0
        over = max(0.0, plan.makespan_ms / max(float(budget_ms), 1e-9) - 1.0)
        if gt is not None:
            found = people_found(repose, det, part.blocks, plan, np.asarray(gt, np.float64).reshape(-1, 4), w, h)
            return float(found - over_budget_weight * over)
        weights = repose.box_values(det, w, h)[0]
        return float(plan.total_value / max(float(weights.sum()), 1e-9) - over_budget_weight * over)

    return value


def people_found(repose, coarse, blocks, plan, gt: np.ndarray, frame_w: int, frame_h: int) -> float:
    """Return the share of the annotated people ``gt`` a plan is expected to find (training only).

    A person whose box centre lies in a planned block counts with the profile's precision of the
    block's model at the person's size at the model input (the best block when several hold
    it), times a truncation factor: a block that cuts a person's box leaves a detection of the
    visible part only, whose IoU with the whole box is at most the share ``f`` of the box inside
    the block; over the IoU thresholds 0.5-0.95 of AP50:95 such a detection counts about
    ``clip((f - 0.5) / 0.5, 0, 1)`` (our choice; 1 for a box wholly inside). A person the plan
    leaves to the coarse pass (outside every planned block) counts with the coarse model's
    precision when a coarse box matches it (IoU >= 0.5), else 0. Unlike the planner's value,
    which only knows the coarse boxes, this sees the people the coarse pass missed, so a block
    that also covers the neighbourhood of its boxes is paid for the people found there: the
    reward that ``repose train-dca --reward plan`` pays when a layout comes with its annotations.
    """
    from repose_ros.core.boxes import box_iou

    if not len(gt):
        return 0.0
    prof = repose.profiles
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    centres = 0.5 * (gt[:, :2] + gt[:, 2:])
    found = np.zeros(len(gt))
    key = repose.config.coarse_model
    if len(coarse) and key in prof.model_keys:
        matched = box_iou(gt, coarse.xyxy.astype(np.float64)).max(axis=1) >= 0.5
        if matched.any():
            s = repose.coarse_scale(frame_w, frame_h, key)
            found[matched] = prof.precision_at(key, area[matched], s)
    for bp in plan.blocks:
        r = blocks[bp.block_index].rect
        inside = r.contains_points(centres)
        if inside.any():
            g = gt[inside]
            iw = np.clip(np.minimum(g[:, 2], r.x1) - np.maximum(g[:, 0], r.x0), 0, None)
            ih = np.clip(np.minimum(g[:, 3], r.y1) - np.maximum(g[:, 1], r.y0), 0, None)
            kept = np.clip((iw * ih / np.maximum(area[inside], 1e-9) - 0.5) / 0.5, 0.0, 1.0)
            s = (bp.imgsz or prof.input_size(bp.model_key, r.w, r.h)) / float(max(r.w, r.h))  # as it runs
            p = prof.precision_at(bp.model_key, area[inside], s) * kept
            found[inside] = np.maximum(found[inside], p)
    return float(found.mean())
