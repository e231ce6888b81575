"""RePose.process end to end with a fake detector (no network), and its config."""
import numpy as np
import pytest

from repose_ros.core.detector import FakeDetector, ModelZoo
from repose_ros.core.layouts import panda_like_layout
from repose_ros.core.pipeline import RePose, RePoseConfig
from repose_ros.core.planner_reward import make_planner_value

W, H = 3840, 2160


def _gt(seed=0):
    return panda_like_layout(np.random.default_rng(seed), W, H, n_boxes=120)


@pytest.mark.parametrize("partitioner", ["rl_dca", "meanshift", "uniform"])
def test_process_finds_the_ground_truth(partitioner):
    gt = _gt()
    zoo = ModelZoo.fake(FakeDetector(gt))
    rp = RePose(RePoseConfig(partitioner=partitioner, budget_ms=100000.0), zoo=zoo)
    dets, plan, t = rp.process(np.zeros((H, W, 3), np.uint8))
    assert {"coarse_ms", "partition_ms", "plan_ms", "detect_ms", "parallel_ms", "total_ms"} <= set(t)
    assert plan.feasible
    # The fake detector is perfect on what a block shows: nearly every ground-truth box comes
    # back in frame pixels (a few heavily occluded ones are merged by NMS, a few cut by a block edge).
    from repose_ros.core.boxes import box_iou

    best = box_iou(gt, dets.xyxy).max(axis=1)
    assert (best > 0.5).mean() > 0.95 and (best > 0.9).mean() > 0.9
    if partitioner != "uniform":
        # every coarse box lies inside the block of its cluster
        coarse = rp.last_coarse
        for b in rp.last_partition.blocks:
            for i in b.box_indices:
                x0, y0, x1, y1 = coarse.xyxy[i]
                assert b.rect.x0 <= x0 and b.rect.y0 <= y0 and x1 <= b.rect.x1 and y1 <= b.rect.y1


def test_tight_budget_still_returns_cheapest_plan():
    zoo = ModelZoo.fake(FakeDetector(_gt(1)))
    rp = RePose(RePoseConfig(budget_ms=1.0), zoo=zoo)
    dets, plan, _ = rp.process(np.zeros((H, W, 3), np.uint8))
    assert not plan.feasible and plan.reason
    cheapest = min(rp.models, key=lambda k: rp.profiles.latency(k))
    assert {bp.model_key for bp in plan.blocks} == {cheapest}


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(ValueError, match="unknown config keys"):
        RePoseConfig.from_dict({"budget": 3})
    with pytest.raises(ValueError):
        RePoseConfig(partitioner="kmeans")
    p = tmp_path / "c.yaml"
    p.write_text("repose:\n  budget_ms: 1234\n  num_servers: 2\n")
    c = RePoseConfig.from_yaml(str(p))
    assert (c.budget_ms, c.num_servers) == (1234, 2)


def test_planner_value_prefers_feasible_tight_clusters():
    gt = _gt(2)
    value = make_planner_value(budget_ms=3000.0, servers=4)
    one = value(gt, np.zeros(len(gt), np.int64), W, H)
    from repose_ros.core.clustering import initial_clusters

    many = value(gt, initial_clusters(gt, W, H), W, H)
    assert 0.0 <= one <= 1.0 and 0.0 <= many <= 1.0
    assert many > one  # one frame-sized block shrinks small people; clusters keep them large
    assert make_planner_value(budget_ms=0.5, servers=1)(gt, np.zeros(len(gt), np.int64), W, H) == 0.0
