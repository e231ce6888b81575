"""``repose eval --record``: the greedy matching of people and detections, and the block entries."""
import numpy as np
import pytest

from repose_ros.core.planner import BlockPlan
from repose_ros.evaluation.record import block_trace, match_people

PEOPLE = np.array([[0, 0, 10, 20], [100, 100, 110, 120]], float)


def test_detections_by_score_find_people_at_iou_half():
    ignore = np.array([[200, 200, 300, 300]], float)
    dets = np.array([[0, 0, 10, 20],        # exact, lower score than the next: comes second
                     [0, 1, 10, 21],        # IoU 0.9, highest score: finds person 0
                     [100, 100, 110, 117],  # IoU 0.85: finds person 1
                     [210, 210, 220, 230],  # inside the ignore region
                     [100, 100, 104, 120],  # IoU 0.4 with person 1: a false positive
                     [500, 500, 510, 510]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.6, 0.5, 0.4])
    found, overlap, fates = match_people(PEOPLE, ignore, dets, scores)
    assert found.tolist() == [1, 2]
    assert overlap == pytest.approx([19 / 21, 0.85])
    assert fates == ["duplicate", "person", "person", "ignore", "false", "false"]


def test_nothing_to_match():
    found, overlap, fates = match_people(PEOPLE, np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0))
    assert found.tolist() == [-1, -1] and overlap.tolist() == [0.0, 0.0] and fates == []
    found, _, fates = match_people(np.zeros((0, 4)), np.zeros((0, 4)), PEOPLE, np.array([0.5, 0.4]))
    assert found.size == 0 and fates == ["false", "false"]
    with pytest.raises(ValueError, match="scores"):
        match_people(PEOPLE, np.zeros((0, 4)), PEOPLE, np.array([0.5]))


def test_block_trace_marks_blocks_that_did_not_run():
    rects = [(0, 0, 320, 160), (320, 0, 1000, 500), (0, 200, 100, 300)]
    plans = [BlockPlan(0, "m@640", 1, 10.0, 0.5, 3, imgsz=640), BlockPlan(1, "m@640", 0, 10.0, 0.5, 3, imgsz=640)]
    out = block_trace(rects, plans, skipped=[1])
    assert [b["ran"] for b in out] == [True, False, False]
    assert out[0] == {"rect": [0.0, 0.0, 320.0, 160.0], "model": "m@640", "imgsz": 640, "scale": 2.0, "server": 1,
                      "ran": True}
    assert out[1]["model"] is None and out[1]["scale"] is None and out[2]["server"] is None
