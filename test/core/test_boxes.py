"""Tests of repose_ros.core.boxes: overlap matrices, NMS invariants, merge rules."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repose_ros.core import boxes as B

FAST = settings(max_examples=150, deadline=None)


def naive_iou(a, b):
    """Plain-Python IoU of two boxes (reference)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def naive_nms(xyxy, scores, thr):
    """Reference NMS with Python loops (stable score order)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(naive_iou(xyxy[i], xyxy[k]) <= thr for k in keep):
            keep.append(i)
    return keep


@st.composite
def box_sets(draw, max_n=25, n_classes=3):
    """Random boxes on a small canvas (so that overlaps are common), with degenerate ones."""
    n = draw(st.integers(0, max_n))
    rows = draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 30),
                                   st.integers(0, 30)), min_size=n, max_size=n))
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in rows], dtype=np.float64).reshape(-1, 4)
    scores = np.array(draw(st.lists(st.sampled_from([0.1, 0.3, 0.5, 0.5, 0.7, 0.9]) | st.floats(0, 1),
                                    min_size=n, max_size=n)), dtype=np.float64)
    cls = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    return xyxy, scores, cls


# -- areas and overlap matrices ------------------------------------------------------------------
@pytest.mark.parametrize("box, area", [
    ([0, 0, 10, 10], 100.0),
    ([5, 5, 5, 9], 0.0),        # zero width
    ([10, 0, 0, 10], 0.0),      # inverted: clipped to 0
    ([-5, -5, 5, 5], 100.0),
    ([0.5, 0.5, 1.0, 2.5], 1.0),
])
def test_box_area_cases(box, area):
    """Areas of single boxes, degenerate ones included."""
    assert B.box_area(np.array([box]))[0] == pytest.approx(area)


@pytest.mark.parametrize("a, b, iou, ioa, ios", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0, 1.0, 1.0),                # identical
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0, 0.0, 0.0),               # touching edge
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0, 0.0, 0.0),              # disjoint
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150, 0.5, 0.5),           # half overlap
    ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100, 0.04, 1.0),             # b inside a
    ([2, 2, 4, 4], [0, 0, 10, 10], 4 / 100, 1.0, 1.0),              # a inside b
    ([3, 3, 3, 3], [0, 0, 10, 10], 0.0, 0.0, 0.0),                  # degenerate point
    ([3, 3, 3, 3], [3, 3, 3, 3], 0.0, 0.0, 0.0),                    # two degenerate
])
def test_overlap_cases(a, b, iou, ioa, ios):
    """IoU, IoA (over the first box) and IoS on a table of cases."""
    a, b = np.array([a], float), np.array([b], float)
    assert B.box_iou(a, b)[0, 0] == pytest.approx(iou)
    assert B.box_ioa(a, b)[0, 0] == pytest.approx(ioa)
    assert B.box_ios(a, b)[0, 0] == pytest.approx(ios)
    assert B.box_overlap(a, b, "iou")[0, 0] == pytest.approx(iou)
    assert B.box_overlap(a, b, "ios")[0, 0] == pytest.approx(ios)


@FAST
@given(box_sets(), box_sets())
def test_iou_matrix_matches_reference(sa, sb):
    """The vectorised (M, N) IoU equals the plain-Python one, is symmetric and in [0, 1]."""
    a, b = sa[0], sb[0]
    m = B.box_iou(a, b)
    assert m.shape == (len(a), len(b))
    for i, j in itertools.product(range(len(a)), range(len(b))):
        assert m[i, j] == pytest.approx(naive_iou(a[i], b[j]), abs=1e-12)
    np.testing.assert_allclose(B.box_iou(b, a), m.T)
    assert np.all((m >= 0) & (m <= 1 + 1e-12))


@pytest.mark.parametrize("bad", [np.zeros((3,)), np.zeros((2, 5)), np.zeros((2, 2, 4)),
                                 np.array([[0, 0, np.nan, 1]])])
def test_bad_box_arrays_rejected(bad):
    """Malformed box arrays raise ValueError."""
    with pytest.raises(ValueError):
        B.box_iou(bad, np.zeros((1, 4)))


def test_unknown_metric_rejected():
    """An unknown overlap metric is refused by every entry point."""
    a = np.array([[0, 0, 1, 1]], float)
    with pytest.raises(ValueError, match="metric"):
        B.box_overlap(a, a, "giou")
    with pytest.raises(ValueError, match="metric"):
        B.nms(a, np.ones(1), 0.5, metric="giou")


# -- NMS ---------------------------------------------------------------------------------------
NMS_CASES = [
    # (boxes, scores, thr, expected keep)
    ([], [], 0.5, []),
    ([[0, 0, 10, 10]], [0.3], 0.5, [0]),
    ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.3, 0.9], 0.5, [1]),          # overlapping, better second
    ([[0, 0, 10, 10], [20, 0, 30, 10]], [0.3, 0.9], 0.5, [1, 0]),      # disjoint: both, sorted
    ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.5], 0.5, [0]),          # tie: lower index wins
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 1 / 3, [0, 1]),     # IoU == thr: kept
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.33, [0]),         # IoU > thr: suppressed
    ([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10]], [0.9, 0.8, 0.7], 0.1, [0, 1, 2]),  # degenerate
    ([[0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10]], [0.9, 0.8, 0.7], 0.75, [0, 2]),  # chain: 1 gone, so 2 stays
]


@pytest.mark.parametrize("xyxy, scores, thr, expected", NMS_CASES)
def test_nms_cases(xyxy, scores, thr, expected):
    """NMS on a table of small cases, including 0 boxes, ties and degenerate boxes."""
    keep = B.nms(np.array(xyxy, float).reshape(-1, 4), np.array(scores, float), thr)
    assert keep.dtype == np.int64
    assert keep.tolist() == expected


def test_nms_scores_shape_checked():
    """Scores of the wrong length raise ValueError."""
    with pytest.raises(ValueError, match="scores"):
        B.nms(np.zeros((3, 4)), np.zeros(2), 0.5)


def _check_nms_invariants(xyxy, scores, cls, keep, thr):
    keep = list(keep)
    assert len(set(keep)) == len(keep)
    # ordered by score, highest first
    assert all(scores[keep[i]] >= scores[keep[i + 1]] for i in range(len(keep) - 1))
    iou = B.box_iou(xyxy, xyxy)
    same = cls[:, None] == cls[None, :]
    # kept boxes pairwise overlap <= thr within a class
    for i, j in itertools.combinations(keep, 2):
        assert not (same[i, j] and iou[i, j] > thr)
    # every removed box overlaps a kept, not-lower-scoring box of its class above thr
    removed = sorted(set(range(len(scores))) - set(keep))
    for r in removed:
        assert any(same[r, k] and iou[r, k] > thr and scores[k] >= scores[r] for k in keep), r


@FAST
@given(box_sets(), st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.95]))
def test_nms_invariants_and_reference(data, thr):
    """Class-agnostic NMS: invariants, idempotence, equality with the reference loop."""
    xyxy, scores, _ = data
    keep = B.nms(xyxy, scores, thr)
    _check_nms_invariants(xyxy, scores, np.zeros(len(scores), int), keep, thr)
    assert keep.tolist() == naive_nms(xyxy, scores, thr)
    again = B.nms(xyxy[keep], scores[keep], thr)
    assert again.tolist() == list(range(len(keep)))


@FAST
@given(box_sets(), st.sampled_from([0.0, 0.2, 0.5, 0.8]))
def test_batched_nms_invariants(data, thr):
    """Class-aware NMS: invariants per class, equal to running NMS class by class."""
    xyxy, scores, cls = data
    keep = B.batched_nms(xyxy, scores, cls, thr)
    _check_nms_invariants(xyxy, scores, cls, keep, thr)
    per_class = []
    for c in np.unique(cls):
        idx = np.flatnonzero(cls == c)
        per_class.extend(idx[B.nms(xyxy[idx], scores[idx], thr)].tolist())
    assert sorted(keep.tolist()) == sorted(per_class)
    again = B.batched_nms(xyxy[keep], scores[keep], cls[keep], thr)
    assert again.tolist() == list(range(len(keep)))


@pytest.mark.parametrize("offset", [0.0, -5000.0, 30000.0])
def test_batched_nms_offset_trick_is_robust(offset):
    """Identical boxes of different classes survive, also far from the origin or negative."""
    xyxy = np.array([[0, 0, 10, 10]] * 3, float) + offset
    keep = B.batched_nms(xyxy, np.array([0.9, 0.8, 0.7]), np.array([7, -1, 7]), 0.5)
    assert keep.tolist() == [0, 1]


def test_nms_many_boxes_fast_enough():
    """Three thousand random boxes go through NMS in well under a second."""
    import time
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 4000, (3000, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(5, 80, (3000, 2))], axis=1)
    t = time.perf_counter()
    keep = B.batched_nms(xyxy, rng.uniform(0, 1, 3000), rng.integers(0, 5, 3000), 0.5)
    assert time.perf_counter() - t < 1.0
    assert 0 < len(keep) <= 3000


# -- merge rules ----------------------------------------------------------------------------------
def test_merge_nmm_takes_union_and_keeper_score():
    """NMM: a cluster becomes its union box with the keeper's score and class."""
    xyxy = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], float)
    out_b, out_s, out_c = B.merge_boxes(xyxy, np.array([0.6, 0.9, 0.5]), np.array([1, 1, 1]), "nmm", 0.5)
    np.testing.assert_allclose(out_b, [[0, 0, 12, 10], [50, 50, 60, 60]])
    np.testing.assert_allclose(out_s, [0.9, 0.5])
    assert out_c.tolist() == [1, 1]
    assert out_b.dtype == np.float32 and out_s.dtype == np.float32 and out_c.dtype == np.int32


def test_merge_wbf_is_score_weighted_mean():
    """WBF: the cluster box is the score-weighted mean of its members."""
    xyxy = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], float)
    out_b, out_s, _ = B.merge_boxes(xyxy, np.array([0.75, 0.25]), np.zeros(2, int), "wbf", 0.5)
    np.testing.assert_allclose(out_b, [[0.5, 0, 10.5, 10]])
    np.testing.assert_allclose(out_s, [0.75])


@pytest.mark.parametrize("method", ["nms", "nmm", "wbf"])
@pytest.mark.parametrize("agnostic, n_out", [(False, 2), (True, 1)])
def test_merge_respects_classes(method, agnostic, n_out):
    """Overlapping boxes of different classes merge only when class-agnostic."""
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
    out_b, _, out_c = B.merge_boxes(xyxy, np.array([0.9, 0.8]), np.array([0, 1]), method, 0.5,
                                    class_agnostic=agnostic)
    assert len(out_b) == n_out
    assert out_c[0] == 0


@pytest.mark.parametrize("metric, n_out", [("iou", 2), ("ios", 1)])
def test_merge_ios_matches_partial_box(metric, n_out):
    """A box cut by a block edge (inside the full box) matches under IoS but not under IoU."""
    xyxy = np.array([[0, 0, 100, 100], [0, 0, 30, 100]], float)
    out_b, _, _ = B.merge_boxes(xyxy, np.array([0.9, 0.6]), np.zeros(2, int), "nms", 0.5, metric)
    assert len(out_b) == n_out


@FAST
@given(box_sets(), st.sampled_from(["nms", "nmm", "wbf"]), st.sampled_from(["iou", "ios"]))
def test_merge_output_properties(data, method, metric):
    """Merged output: sorted by score, one entry per cluster, boxes well-formed."""
    xyxy, scores, cls = data
    clusters = B.greedy_clusters(xyxy, scores, 0.5, metric, class_ids=cls)
    assert sorted(np.concatenate(clusters).tolist() if clusters else []) == list(range(len(scores)))
    out_b, out_s, out_c = B.merge_boxes(xyxy, scores, cls, method, 0.5, metric)
    assert len(out_b) == len(clusters)
    assert np.all(np.diff(out_s) <= 0)
    assert np.all(out_b[:, 2] >= out_b[:, 0] - 1e-4) and np.all(out_b[:, 3] >= out_b[:, 1] - 1e-4)
    if method == "nms":
        keep = B.batched_nms(xyxy, scores, cls, 0.5, metric)
        np.testing.assert_allclose(out_b, xyxy[keep].astype(np.float32))


def test_merge_unknown_method_rejected():
    """An unknown merge method raises ValueError."""
    with pytest.raises(ValueError, match="merge method"):
        B.merge_boxes(np.zeros((1, 4)), np.ones(1), np.zeros(1, int), "soft")
