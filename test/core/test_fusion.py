"""Tests of repose_ros.core.fusion.fuse."""
import numpy as np
import pytest

from repose_ros.core.detections import Detections
from repose_ros.core.fusion import fuse


def det(rows):
    """Detections from rows ``(x0, y0, x1, y1, score, class)``."""
    a = np.array(rows, float).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(int))


@pytest.mark.parametrize("items", [[], [Detections.empty()], [Detections.empty(), Detections.empty()]])
def test_fuse_empty(items):
    """Nothing in, nothing out."""
    assert len(fuse(items)) == 0


# Two overlapping blocks both see object A (class 0); block 2 also sees B (class 1) on top of A.
BLOCK1 = [(0, 0, 10, 10, 0.8, 0)]
BLOCK2 = [(1, 0, 11, 10, 0.9, 0), (0, 0, 10, 10, 0.6, 1)]


@pytest.mark.parametrize("method, agnostic, expected_boxes, expected_scores", [
    ("nms", False, [[1, 0, 11, 10], [0, 0, 10, 10]], [0.9, 0.6]),
    ("nms", True, [[1, 0, 11, 10]], [0.9]),
    ("nmm", False, [[0, 0, 11, 10], [0, 0, 10, 10]], [0.9, 0.6]),
    ("wbf", False, [[0.9 / 1.7, 0, 10 + 0.9 / 1.7, 10], [0, 0, 10, 10]], [0.9, 0.6]),
])
def test_fuse_methods(method, agnostic, expected_boxes, expected_scores):
    """Duplicates across blocks are merged by the chosen rule, classes kept apart by default."""
    out = fuse([det(BLOCK1), det(BLOCK2)], method=method, iou=0.5, class_agnostic=agnostic)
    np.testing.assert_allclose(out.xyxy, expected_boxes, rtol=1e-5)
    np.testing.assert_allclose(out.scores, expected_scores, rtol=1e-6)


@pytest.mark.parametrize("metric, n_out", [("iou", 2), ("ios", 1)])
def test_fuse_partial_box_at_block_edge(metric, n_out):
    """A partial box from a neighbouring block merges with the full box only under IoS."""
    full = det([(100, 100, 200, 300, 0.9, 0)])
    partial = det([(100, 100, 140, 300, 0.5, 0)])
    assert len(fuse([full, partial], method="nmm", iou=0.6, match_metric=metric)) == n_out


def test_fuse_keeps_distinct_objects_sorted():
    """Far-apart boxes all survive, ordered by score."""
    out = fuse([det([(0, 0, 5, 5, 0.2, 0)]), det([(50, 50, 60, 60, 0.7, 0), (80, 0, 90, 9, 0.4, 2)])])
    assert out.scores.tolist() == pytest.approx([0.7, 0.4, 0.2])
    assert out.class_ids.tolist() == [0, 2, 0]


@pytest.mark.parametrize("kwargs, exc", [
    ({"method": "soft-nms"}, ValueError),
    ({"match_metric": "giou"}, ValueError),
])
def test_fuse_bad_arguments(kwargs, exc):
    """Unknown method or metric raise, even on empty input."""
    with pytest.raises(exc):
        fuse([], **kwargs)


def test_fuse_rejects_non_detections():
    """Items that are not Detections raise TypeError."""
    with pytest.raises(TypeError):
        fuse([np.zeros((1, 4))])


def test_swap_oversized_takes_the_coarse_box_of_an_object_too_large_at_its_blocks_input():
    from repose_ros.core.fusion import swap_oversized

    coarse = det([(100, 100, 300, 600, 0.7, 0), (1000, 100, 1010, 130, 0.3, 0), (100, 100, 300, 600, 0.5, 1)])
    # block 0 runs at 3x: the 200 x 500 person is 600 x 1500 px at the model input; the small one stays
    big = (102, 95, 305, 610, 0.9, 0)
    small = (1000, 101, 1010, 131, 0.4, 0)
    block0 = det([big, small])
    # block 1 runs at 0.5x: the same person is 100 x 250 px there, in range
    block1 = det([(101, 99, 301, 601, 0.8, 0)])
    out, used, n, dropped = swap_oversized([block0, block1], [3.0, 0.5], coarse, 65536.0)
    assert n == 1 and len(used) == 1 and dropped == 0
    np.testing.assert_allclose(used.xyxy, [[100, 100, 300, 600]])  # the same class's coarse box
    np.testing.assert_allclose(out[0].xyxy, [small[:4]])
    assert out[1] is block1
    # below the area nothing is swapped; 0 or inf switch it off; a block answered by coarse boxes is left
    for area, scales in ((2.0e6, [3.0, 0.5]), (0.0, [3.0, 0.5]), (float("inf"), [3.0, 0.5]), (65536.0, [None, 0.5])):
        out, used, n, dropped = swap_oversized([block0, block1], scales, coarse, area)
        assert n == 0 and dropped == 0 and len(used) == 0 and len(out[0]) == 2
    # no coarse box overlaps enough (IoU < 0.5): the block's detection stays
    shifted = det([(100, 100, 300, 600, 0.7, 0)])
    shifted.xyxy[:, 1] += 400
    out, used, n, dropped = swap_oversized([block0], [3.0], shifted, 65536.0)
    assert n == 0 and dropped == 0 and len(out[0]) == 2
    with pytest.raises(ValueError):
        swap_oversized([block0], [3.0, 1.0], coarse, 65536.0)


def test_swap_oversized_drops_an_oversized_detection_no_coarse_box_confirms_when_asked():
    from repose_ros.core.fusion import swap_oversized

    coarse = det([(100, 100, 300, 600, 0.7, 0)])
    person = (102, 95, 305, 610, 0.9, 0)      # confirmed by the coarse box: swapped
    clutter = (1200, 300, 1500, 900, 0.3, 0)  # 900 x 1800 px at 3x, nothing there in the coarse pass
    other_class = (101, 99, 301, 601, 0.6, 1)  # overlaps the coarse box, but another class: unconfirmed
    small = (1000, 101, 1010, 131, 0.4, 0)    # 30 x 90 px at 3x: not oversized, never dropped
    block = det([person, clutter, other_class, small])
    out, used, n, dropped = swap_oversized([block, block], [3.0, None], coarse, 65536.0, drop_unmatched=True)
    assert n == 1 and dropped == 2 and len(used) == 1
    np.testing.assert_allclose(out[0].xyxy, [small[:4]])
    assert out[1] is block  # a block answered by coarse boxes is left as it is
    out, used, n, dropped = swap_oversized([block], [3.0], coarse, 65536.0)  # default: unconfirmed ones stay
    assert n == 1 and dropped == 0 and len(out[0]) == 3
    # without coarse boxes there is nothing to confirm against; with the area off nothing is oversized
    for c, area in ((det([]), 65536.0), (coarse, 0.0)):
        out, used, n, dropped = swap_oversized([block], [3.0], c, area, drop_unmatched=True)
        assert n == 0 and dropped == 0 and len(out[0]) == 4


@pytest.mark.parametrize("area,on", [(65536.0, True), (1e-3, True), (0.0, False), (-1.0, False),
                                     (float("inf"), False), (float("nan"), False), (None, False)])
def test_area_limit_on_is_one_rule_for_fusion_and_planner(area, on):
    from repose_ros.core.fusion import area_limit_on

    assert area_limit_on(area) is on


def _boxes(*rows, score=0.7, cls=0):
    xyxy = np.array(rows, np.float32).reshape(-1, 4)
    return Detections(xyxy, np.full(len(xyxy), score, np.float32), np.full(len(xyxy), cls, np.int32))


def test_coarse_answers_publishes_large_people_no_block_answered():
    from repose_ros.core.fusion import coarse_answers

    # a tall person (100 x 300 px) and a small one (10 x 30 px); one block over both, run at 2x
    coarse = _boxes((100, 100, 200, 400), (500, 100, 510, 130))
    rect, area = [(0, 0, 1000, 1000)], 65536.0
    got = coarse_answers([Detections.empty()], rect, [2.0], coarse, area)
    assert got.xyxy.tolist() == [[100, 100, 200, 400]]  # 120000 px^2 at the input; the small one fits
    # a block detection of the same person (IoU >= 0.5) answers for it
    assert len(coarse_answers([_boxes((105, 95, 200, 410))], rect, [2.0], coarse, area)) == 0
    # a fragment of it (the upper third) does not, nor does a detection of another class
    assert len(coarse_answers([_boxes((100, 100, 200, 200))], rect, [2.0], coarse, area)) == 1
    assert len(coarse_answers([_boxes((100, 100, 200, 400), cls=1)], rect, [2.0], coarse, area)) == 1
    # another block holds it at a size it handles: that block answers, or misses it like anyone else
    two = rect + [(50, 50, 450, 450)]
    assert len(coarse_answers([Detections.empty()] * 2, two, [2.0, 1.0], coarse, area)) == 0
    # a block that ran no model (scale None) and a box outside every block hold nothing
    assert len(coarse_answers([Detections.empty()], rect, [None], coarse, area)) == 0
    assert len(coarse_answers([Detections.empty()], [(600, 600, 900, 900)], [4.0], coarse, area)) == 0
    # off, or nothing to answer
    assert len(coarse_answers([Detections.empty()], rect, [2.0], coarse, 0.0)) == 0
    assert len(coarse_answers([Detections.empty()], rect, [2.0], Detections.empty(), area)) == 0
    with pytest.raises(ValueError, match="rectangles"):
        coarse_answers([], rect, [2.0, 1.0], coarse, area)
