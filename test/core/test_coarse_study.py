"""`repose coarse-study`: matching, height bins, cached thresholds, the command on the fake back-end."""
import json

import numpy as np
import pytest

from repose_ros.cli.coarse_study import main_coarse_study, parse_study_data
from repose_ros.core.coarse import coarse_detect
from repose_ros.core.detections import Detections
from repose_ros.detectors.fake import FakeDetector
from repose_ros.profiling.coarse_study import (CachedBlocks, RecallCounter, height_bin_labels, matched_ground_truth,
                                               timed_blocks)


def test_matching_is_one_to_one_and_greedy_by_score():
    gt = np.array([[0, 0, 10, 10], [100, 100, 120, 140]], float)
    dets = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [300, 300, 310, 310]], float)
    assert matched_ground_truth(gt, dets, np.array([0.2, 0.9, 0.5])).tolist() == [True, False]
    assert matched_ground_truth(gt, np.zeros((0, 4)), np.zeros(0)).tolist() == [False, False]
    assert matched_ground_truth(gt, dets[:1] + 6, np.ones(1)).tolist() == [False, False]   # IoU < 0.5


def test_recall_counter_bins_by_height():
    assert height_bin_labels([25, 50, float("inf")]) == ["<25", "25-50", ">50"]
    c = RecallCounter()
    gt = np.array([[0, 0, 5, 20], [0, 0, 5, 25], [0, 0, 9, 30], [0, 0, 50, 300]], float)
    c.add(gt, np.array([True, False, True, True]))
    rep = c.report()
    assert rep["overall"] == 0.75 and rep["n_gt"] == 4
    assert rep["by_height"]["<25"] == {"n_gt": 1, "recall": 1.0}
    assert rep["by_height"]["25-50"] == {"n_gt": 2, "recall": 0.5}         # 25 px belongs to 25-50
    assert rep["by_height"][">200"]["recall"] == 1.0
    assert rep["by_height"]["50-100"] == {"n_gt": 0, "recall": None}
    assert RecallCounter().report()["overall"] is None


def test_cached_blocks_equal_a_run_at_the_threshold():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1800, size=(40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 80, size=(40, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0.01, 1.0, 40).astype(np.float32)
    gt = Detections(boxes, scores, np.zeros(40, np.int32))
    fake = FakeDetector(gt)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    per_block, times = timed_blocks(fake, frame, 4, 640, 0.01, 0.5, 300)
    assert len(per_block) == 4 and len(times) == 4 and min(times) >= 0
    cache = CachedBlocks(fake, per_block, 0.01, 300)
    for conf in (0.05, 0.25, 0.6):
        a = coarse_detect(frame, cache, 4, 640, conf=conf).detections
        b = coarse_detect(frame, fake, 4, 640, conf=conf).detections
        assert len(a) == len(b) and np.allclose(np.sort(a.scores), np.sort(b.scores))
    assert cache.reruns == 0
    full = CachedBlocks(fake, per_block, 0.01, 1)       # every non-empty block "hit" max_det: re-run
    coarse_detect(frame, full, 4, 640, conf=0.25, max_det=1)
    assert full.reruns == sum(len(d) >= 1 for d in per_block)
    with pytest.raises(ValueError):
        cache.detect_crops(frame, [(0, 0, 10, 10)], conf=0.05)
    with pytest.raises(ValueError):
        CachedBlocks(fake, per_block, 0.05, 300).detect_crops(frame, [(0, 0, 1, 1)] * 4, conf=0.01)


def test_parse_study_data():
    assert parse_study_data("mot17-collage:/m,mot17-2x2:/m,visdrone:/v,synthetic") == [
        ("mot17-collage", "mot17:/m", "collage"), ("mot17-2x2", "mot17:/m", "2x2"),
        ("visdrone", "visdrone:/v", "none"), ("synthetic", "synthetic", "none")]
    for bad in ("kitti:/x", "visdrone:"):
        with pytest.raises(SystemExit):
            parse_study_data(bad)


def test_command_on_the_fake_backend(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main_coarse_study(["--backend", "fake", "--data", "synthetic", "--frames", "2", "--sizes", "640,1280",
                              "--confs", "0.05,0.25", "--no-progress", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "synthetic: 2 frames" in table and "block ms" in table
    res = json.loads(out.read_text())
    rows = res["data_sets"]["synthetic"]["rows"]
    assert [(r["imgsz"], r["conf"]) for r in rows] == [(640, 0.05), (640, 0.25), (1280, 0.05), (1280, 0.25)]
    assert all(0.5 < r["recall"] <= 1.0 and r["boxes_per_frame"] > 0 for r in rows)
    assert set(rows[0]["recall_by_height"]) == {"<25", "25-50", "50-100", "100-200", ">200"}
    assert res["data_sets"]["synthetic"]["block_shapes"] == [[960, 540]]
    assert res["blocks"] == 4 and res["command"].startswith("repose coarse-study")
    with pytest.raises(SystemExit):
        main_coarse_study(["--backend", "fake", "--data", "synthetic", "--sizes", "16"])
    with pytest.raises(SystemExit):
        main_coarse_study(["--data", "synthetic", "--no-progress"])         # synthetic needs the fake back-end
