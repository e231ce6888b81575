"""Tests of repose_ros.core.coarse: block grids, one batch per frame, merging across seams."""
import importlib.util
import pathlib

import numpy as np
import pytest

from repose_ros.core.coarse import (CoarseResult, coarse_blocks, coarse_detect, grid_shape, merge_block_detections,
                                    tile_artefact_mask)
from repose_ros.core.detections import Detections
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.weights import WeightsError, resolve_weights

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEQ09 = ROOT.parent / "shared" / "data" / "mot17_mini" / "train" / "MOT17-09-FRCNN"


def _frame(w=1920, h=1080):
    return np.zeros((h, w, 3), np.uint8)


def _sorted(xyxy):
    return sorted(np.asarray(xyxy).round(3).tolist())


# --------------------------------------------------------------------------- grids


@pytest.mark.parametrize("n, shape", [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (1, 5)),
                                      (6, (2, 3)), (7, (1, 7)), (8, (2, 4)), (9, (3, 3)), (12, (3, 4))])
def test_grid_shape_landscape(n, shape):
    """Landscape 16:9 frames get the documented grids (side by side for 2)."""
    assert grid_shape(n, 1920, 1080) == shape
    assert grid_shape(n) == shape                       # default aspect is 16:9


def test_grid_shape_portrait_and_errors():
    """Portrait frames swap rows and columns; bad arguments are refused."""
    assert grid_shape(2, 1080, 1920) == (2, 1)
    assert grid_shape(6, 1080, 1920) == (3, 2)
    assert grid_shape(4, 640, 480) == (2, 2)
    assert grid_shape(4, 8000, 1000) == (1, 4)          # panorama: squarer blocks side by side
    for bad in (0, -3):
        with pytest.raises(ValueError):
            grid_shape(bad)
    with pytest.raises(ValueError):
        grid_shape(2, 0, 100)


@pytest.mark.parametrize("size", [(1920, 1080), (640, 480), (3840, 2160), (1080, 1920), (1001, 777)])
@pytest.mark.parametrize("overlap", [0.0, 0.2])
def test_coarse_blocks_cover_the_frame(size, overlap):
    """For N = 1..8 the N equal blocks lie in the frame and cover every pixel."""
    w, h = size
    for n in range(1, 9):
        rects = coarse_blocks(w, h, n, overlap)
        rows, cols = grid_shape(n, w, h)
        assert len(rects) == n == rows * cols
        assert len({(r.w, r.h) for r in rects}) == 1
        cover = np.zeros((h, w), bool)
        for r in rects:
            assert 0 <= r.x0 < r.x1 <= w and 0 <= r.y0 < r.y1 <= h
            cover[r.y0:r.y1, r.x0:r.x1] = True
        assert cover.all(), (size, n)
        if overlap == 0.0:                               # no real overlap beyond rounding
            assert sum(r.area for r in rects) <= w * h + (w + h) * n


# --------------------------------------------------------------------------- coarse detection (fake)


def test_coarse_detect_one_batch_and_result():
    """All blocks go to the detector in one call; the result holds boxes, timings and blocks."""
    gt = Detections(np.array([[100, 100, 140, 200], [1500, 700, 1540, 800], [1000, 100, 1010, 120]]),
                    [0.9, 0.6, 0.03], [0, 0, 0])
    fake = FakeDetector(gt)
    res = coarse_detect(_frame(), fake, 4, imgsz=480, conf=0.05)
    assert isinstance(res, CoarseResult) and isinstance(res[0], Detections)
    assert fake.calls == [(4, 480)]
    assert res.grid == (2, 2) and len(res.rects) == 4 and len(res.per_block) == 4
    assert _sorted(res.detections.xyxy) == [[100, 100, 140, 200], [1500, 700, 1540, 800]]  # 0.03 < conf
    assert set(res.timings) == {"detect_ms", "merge_ms", "total_ms"}
    assert res.timings["total_ms"] >= res.timings["detect_ms"] >= 0
    with pytest.raises(ValueError):
        coarse_detect(np.zeros((0, 0, 3), np.uint8), fake, 4, 480)


def test_nms_across_overlapping_blocks_removes_duplicates():
    """A person inside the overlap of two blocks is found by both and kept once."""
    gt = np.array([[930, 300, 990, 460]], np.float32)       # within the overlap around x = 960
    fake = FakeDetector(gt)
    res = coarse_detect(_frame(), fake, 2, imgsz=640, overlap=0.2)
    assert sum(len(d) for d in res.per_block) == 2
    assert _sorted(res.detections.xyxy) == [[930, 300, 990, 460]]


def test_fragment_seen_whole_elsewhere_is_dropped():
    """With overlapping blocks, the cut fragment of a person seen whole by the other block goes."""
    person = np.array([[800, 300, 880, 460]], np.float32)
    res = coarse_detect(_frame(), FakeDetector(person, min_visibility=0.2), 2, imgsz=640, overlap=0.2)
    assert 800 < res.rects[1].x0 < 880 and res.rects[0].x1 > 880   # right block cuts, left sees all
    assert sum(len(d) for d in res.per_block) == 2
    assert _sorted(res.detections.xyxy) == _sorted(person)
    plain = coarse_detect(_frame(), FakeDetector(person, min_visibility=0.2), 2, imgsz=640, overlap=0.2,
                          join_seams=False)
    assert len(plain.detections) == 2                        # IoU of fragment and whole < 0.5


def test_seam_fragments_are_joined():
    """Without overlap, halves of a person cut by a seam (or quarters at a corner) become one box."""
    people = np.array([[930, 100, 990, 300],      # across the vertical seam x = 960 (top row)
                       [300, 480, 360, 600],      # across the horizontal seam y = 540
                       [920, 500, 1000, 620]],    # across both seams (corner)
                      np.float32)
    fake = FakeDetector(people, min_visibility=0.05)
    res = coarse_detect(_frame(), fake, 4, imgsz=640, overlap=0.0)
    assert sum(len(d) for d in res.per_block) == 1 * 2 + 2 + 4
    assert _sorted(res.detections.xyxy) == _sorted(people)
    off = coarse_detect(_frame(), FakeDetector(people, min_visibility=0.05), 4, imgsz=640, join_seams=False)
    assert len(off.detections) == 8                           # fragments overlap by IoU 0: NMS keeps all


def test_seam_join_keeps_distinct_people():
    """Different people touching a seam at different heights, or away from it, are not joined."""
    frame_w, frame_h = 1920, 1080
    rects = coarse_blocks(frame_w, frame_h, 2)
    left = Detections(np.array([[900, 100, 960, 250], [500, 500, 540, 600]]), [0.9, 0.8], [0, 0])
    right = Detections(np.array([[960, 300, 1010, 450], [1100, 500, 1140, 600]]), [0.9, 0.8], [0, 0])
    out = merge_block_detections([left, right], rects, frame_w, frame_h)
    assert len(out) == 4
    # same heights but another class: not joined either
    right2 = Detections(np.array([[960, 100, 1010, 250]]), [0.9], [3])
    assert len(merge_block_detections([left, right2], rects, frame_w, frame_h)) == 3
    # same class and heights: joined
    right3 = Detections(np.array([[960, 105, 1010, 250]]), [0.7], [0])
    out3 = merge_block_detections([left, right3], rects, frame_w, frame_h)
    assert _sorted(out3.xyxy) == [[500, 500, 540, 600], [900, 100, 1010, 250]]
    assert out3.scores.max() == pytest.approx(0.9)
    with pytest.raises(ValueError):
        merge_block_detections([left], rects, frame_w, frame_h)
    assert len(merge_block_detections([Detections.empty()] * 2, rects, frame_w, frame_h)) == 0


# --------------------------------------------------------------------------- tile artefacts


def test_tile_artefact_mask_rule():
    """Full-height boxes at least as wide as tall, and whole-tile boxes, are artefacts; people are not."""
    tile = (0, 0, 960, 540)
    boxes = np.array([[100, 0, 740, 540],     # full height, wider than tall (640 x 540): artefact
                      [0, 0, 960, 540],       # the whole tile: artefact
                      [300, 0, 480, 540],     # full height, a tall person (180 x 540): kept
                      [0, 200, 960, 520],     # full width, not full height (a lying person): kept
                      [100, 40, 740, 540],    # 500 of 540 rows (0.93): artefact
                      [100, 80, 740, 540],    # 460 of 540 rows (0.85): kept
                      [500, 300, 520, 340]],  # a small person: kept
                     np.float32)
    assert tile_artefact_mask(boxes, tile).tolist() == [True, True, False, False, True, False, False]
    # the part inside the tile counts: a box hanging over the tile's top still spans its height
    assert tile_artefact_mask(np.array([[100, -50, 740, 540]]), tile).tolist() == [True]
    # the two thresholds: a stricter span keeps the 0.93 box, a higher aspect keeps 640 x 540
    assert tile_artefact_mask(boxes[4:5], tile, span=0.95).tolist() == [False]
    assert tile_artefact_mask(boxes[:1], tile, aspect=1.5).tolist() == [False]
    assert tile_artefact_mask(boxes[1:2], tile, aspect=1.5).tolist() == [True]   # whole tile either way
    assert not tile_artefact_mask(boxes, tile, span=0.0).any()                 # 0: off
    assert tile_artefact_mask(np.zeros((0, 4)), tile).shape == (0,)


def test_merge_drops_and_counts_tile_artefacts():
    """merge_block_detections drops each tile's artefacts before merging and counts them; span 0 keeps them."""
    frame_w, frame_h = 1920, 1080
    rects = coarse_blocks(frame_w, frame_h, 4)        # 2 x 2 tiles of 960 x 540
    person = [1200, 600, 1240, 700]
    per_block = [Detections(np.array([[100, 0, 740, 540], [400, 300, 430, 360]]), [0.3, 0.8], [0, 0]),
                 Detections(np.array([[960, 0, 1920, 540]]), [0.35], [0]),   # the whole tile
                 Detections.empty(),
                 Detections(np.array([person]), [0.9], [0])]
    counts = {}
    out = merge_block_detections(per_block, rects, frame_w, frame_h, counts=counts)
    assert _sorted(out.xyxy) == _sorted([[400, 300, 430, 360], person])
    assert counts == {"artefacts": 2}
    kept = merge_block_detections(per_block, rects, frame_w, frame_h, artefact_span=0.0, counts=counts)
    assert len(kept) == 4 and counts == {"artefacts": 2}
    # the same rule in coarse_detect, with the count in its result
    fake = FakeDetector(np.array([[1000, 0, 1900, 540], [400, 300, 430, 360]], np.float32), min_visibility=0.05)
    res = coarse_detect(_frame(), fake, 4, imgsz=640)
    assert res.artefacts == 1 and _sorted(res.detections.xyxy) == [[400, 300, 430, 360]]
    off = coarse_detect(_frame(), fake, 4, imgsz=640, artefact_span=0.0)
    assert off.artefacts == 0 and len(off.detections) == 2


# --------------------------------------------------------------------------- real network


def _have_network() -> bool:
    try:
        resolve_weights("default")
    except WeightsError:
        return False
    return importlib.util.find_spec("ultralytics") is not None


@pytest.mark.skipif(not _have_network(), reason="ultralytics or the builtin weights are not installed")
@pytest.mark.skipif(not (SEQ09 / "img1" / "000001.jpg").is_file(), reason="MOT17-mini data (../shared/data) absent")
def test_coarse_detect_real_frame():
    """Coarse detection with the real network on 4 blocks finds the people of a MOT17 frame."""
    import cv2
    from repose_ros.detectors.ultralytics import UltralyticsDetector
    frame = cv2.imread(str(SEQ09 / "img1" / "000001.jpg"))
    rows = np.loadtxt(SEQ09 / "gt" / "gt.txt", delimiter=",", ndmin=2)
    r = rows[(rows[:, 0] == 1) & (rows[:, 6] == 1) & (rows[:, 7] == 1) & (rows[:, 8] >= 0.5)]
    gt = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
    res = coarse_detect(frame, UltralyticsDetector("default"), 4, imgsz=640, conf=0.05)
    assert res.grid == (2, 2)
    dets = res.detections.filter(min_score=0.25)
    ious = []
    for g in gt:
        ix = np.clip(np.minimum(g[2], dets.xyxy[:, 2]) - np.maximum(g[0], dets.xyxy[:, 0]), 0, None)
        iy = np.clip(np.minimum(g[3], dets.xyxy[:, 3]) - np.maximum(g[1], dets.xyxy[:, 1]), 0, None)
        inter = ix * iy
        union = (g[2] - g[0]) * (g[3] - g[1]) + dets.areas - inter
        ious.append((inter / union).max() if len(dets) else 0.0)
    assert sum(i > 0.5 for i in ious) >= 3, (gt, dets.xyxy)
