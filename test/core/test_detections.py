"""Tests of repose_ros.core.detections.Detections."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repose_ros.core.detections import Detections


def make(n=3):
    """Three detections of classes 0, 1, 0."""
    xyxy = np.array([[0, 0, 10, 20], [5, 5, 15, 15], [100, 100, 130, 110]], float)[:n]
    return Detections(xyxy, np.array([0.9, 0.5, 0.7])[:n], np.array([0, 1, 0])[:n])


def test_construction_converts_dtypes():
    """Inputs of other numeric dtypes become float32 / int32."""
    d = Detections([[0, 0, 1, 1]], [1], np.array([2.0]))
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (1, 4)
    assert d.scores.dtype == np.float32 and d.class_ids.dtype == np.int32
    assert len(d) == 1 and d.class_ids[0] == 2


@pytest.mark.parametrize("xyxy, scores, cls, match", [
    (np.zeros((2, 3)), np.zeros(2), np.zeros(2), "xyxy must have shape"),
    (np.zeros((2, 4)), np.zeros(3), np.zeros(2), "scores must have shape"),
    (np.zeros((2, 4)), np.zeros(2), np.zeros(1), "class_ids must have shape"),
    (np.zeros((1, 4)), np.zeros(1), np.array([0.5]), "class_ids must be integers"),
    (np.zeros((1, 4)), np.zeros(1), np.array(["a"]), "class_ids must be integers"),
    (np.array([["a", "b", "c", "d"]]), np.zeros(1), np.zeros(1), "xyxy must be numeric"),
    (np.array([[0, 0, np.inf, 1]]), np.zeros(1), np.zeros(1), "finite"),
    (np.zeros((1, 4)), np.array([np.nan]), np.zeros(1), "scores must be finite"),
    (np.array([[10, 0, 5, 1]]), np.zeros(1), np.zeros(1), "x1 >= x0"),
    (np.array([[0, 10, 5, 1]]), np.zeros(1), np.zeros(1), "y1 >= y0"),
    (np.zeros((1, 4)), np.zeros(1), np.array([2 ** 40]), "int32"),
])
def test_bad_input_raises(xyxy, scores, cls, match):
    """Malformed inputs raise a ValueError that names the problem."""
    with pytest.raises(ValueError, match=match):
        Detections(xyxy, scores, cls)


def test_empty_and_concatenate():
    """empty() has the right shapes; concatenate keeps order."""
    e = Detections.empty()
    assert len(e) == 0 and e.xyxy.shape == (0, 4) and e.scores.shape == (0,)
    assert len(Detections.concatenate([])) == 0
    d = Detections.concatenate([make(2), e, make(1)])
    assert len(d) == 3 and d.scores.tolist() == pytest.approx([0.9, 0.5, 0.9])
    assert Detections([], [], []).xyxy.shape == (0, 4)


def test_from_xywh():
    """Top-left + size boxes become corner boxes."""
    d = Detections.from_xywh([[1, 2, 3, 4]], [0.5], [7])
    assert d.xyxy.tolist() == [[1, 2, 4, 6]]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_dict_roundtrip_through_json(n):
    """to_dict is JSON-serialisable and from_dict inverts it (empty sets included)."""
    d = make(n)
    back = Detections.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    assert back.xyxy.shape == (n, 4)


def test_from_dict_missing_key():
    """from_dict names missing keys."""
    with pytest.raises(ValueError, match="scores"):
        Detections.from_dict({"xyxy": [], "class_ids": []})


@pytest.mark.parametrize("index, expected_scores", [
    (np.array([True, False, True]), [0.9, 0.7]),
    (np.array([2, 0]), [0.7, 0.9]),
    ([1], [0.5]),
    (1, [0.5]),
    (np.int64(2), [0.7]),
    (slice(1, None), [0.5, 0.7]),
    ([], []),
    (np.array([False, False, False]), []),
])
def test_getitem(index, expected_scores):
    """Selection by mask, index array, list, int or slice returns Detections."""
    sub = make()[index]
    assert isinstance(sub, Detections)
    assert sub.scores.tolist() == pytest.approx(expected_scores)
    assert sub.xyxy.shape == (len(expected_scores), 4)


@pytest.mark.parametrize("index", [np.array([True, False]), np.array([0.5])])
def test_getitem_bad_index(index):
    """A mask of the wrong length or a float index raises ValueError."""
    with pytest.raises(ValueError):
        make()[index]


def test_select_class_and_filter():
    """select_class with int or list; filter by score and area."""
    d = make()
    assert d.select_class(0).scores.tolist() == pytest.approx([0.9, 0.7])
    assert d.select_class([1, 5]).scores.tolist() == pytest.approx([0.5])
    assert len(d.select_class([])) == 0
    assert d.filter(min_score=0.7).scores.tolist() == pytest.approx([0.9, 0.7])
    assert d.filter(min_area=150).scores.tolist() == pytest.approx([0.9, 0.7])


def test_geometry_and_transforms():
    """wh, areas, centers, shift, scale, clip."""
    d = make()
    assert d.wh[0].tolist() == [10, 20]
    assert d.areas.tolist() == [200, 100, 300]
    assert d.centers[0].tolist() == [5, 10]
    assert d.shift(10, -5).xyxy[0].tolist() == [10, -5, 20, 15]
    assert d.scale(2, 0.5).xyxy[0].tolist() == [0, 0, 20, 10]
    assert d.clip(120, 105).xyxy[2].tolist() == [100, 100, 120, 105]
    assert d.xyxy[2].tolist() == [100, 100, 130, 110]  # transforms do not modify in place
    with pytest.raises(ValueError):
        d.scale(0, 1)


def test_with_nms_class_aware_and_agnostic():
    """with_nms keeps overlapping boxes of other classes unless class-agnostic."""
    d = Detections([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 9]], [0.9, 0.8, 0.7], [0, 1, 0])
    assert d.with_nms(0.5).scores.tolist() == pytest.approx([0.9, 0.8])
    assert d.with_nms(0.5, class_agnostic=True).scores.tolist() == pytest.approx([0.9])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(0, 50), st.floats(0, 50),
                          st.floats(0, 1), st.integers(0, 5)), max_size=20))
def test_roundtrip_property(rows):
    """Any valid set survives to_dict/from_dict and mask selection of everything."""
    d = Detections.from_xywh([r[:4] for r in rows], [r[4] for r in rows], [r[5] for r in rows])
    assert Detections.from_dict(d.to_dict()) == d
    assert d[np.ones(len(d), bool)] == d
