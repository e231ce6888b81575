"""Tests of the initial clustering (y stretch and mean shift)."""
import math
import warnings

import numpy as np
import pytest

from repose_ros.core.clustering import (
    bin_seeds,
    compact_labels,
    initial_clusters,
    mean_shift,
    normalized_centers,
    stretch_y,
)


def _boxes_at(centres_px, size=20.0):
    c = np.asarray(centres_px, dtype=np.float32)
    h = size / 2
    return np.concatenate([c - h, c + h], axis=1).astype(np.float32)


def test_stretch_y_endpoints_and_monotone():
    y = np.linspace(0.0, 1.0, 1001)
    for gamma in (0.3, 0.6, 0.9, 1.0):
        t = stretch_y(y, gamma)
        assert t[0] == 0.0 and t[-1] == pytest.approx(1.0)
        assert np.all(np.diff(t) > 0)
        assert np.all((t >= 0) & (t <= 1))


def test_stretch_y_stretches_top_compresses_bottom():
    gamma = 0.6
    top = stretch_y(0.1, gamma) - stretch_y(0.0, gamma)
    bottom = stretch_y(1.0, gamma) - stretch_y(0.9, gamma)
    assert top > 0.1 > bottom
    assert stretch_y(0.5, 1.0) == pytest.approx(0.5)


def test_stretch_y_rejects_bad_gamma():
    with pytest.raises(ValueError):
        stretch_y(0.5, 0.0)
    with pytest.raises(ValueError):
        stretch_y(0.5, 1.5)


def test_normalized_centers():
    b = np.array([[0, 0, 100, 50], [300, 100, 400, 200]], dtype=np.float32)
    c = normalized_centers(b, 400, 200)
    np.testing.assert_allclose(c, [[0.125, 0.125], [0.875, 0.75]])
    cs = normalized_centers(b, 400, 200, gamma=0.5)
    np.testing.assert_allclose(cs[:, 1], np.sqrt([0.125, 0.75]))


def test_bin_seeds_one_per_bin():
    pts = np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 1.0], [1.01, 1.0]])
    seeds = bin_seeds(pts, 0.5)
    assert sorted(map(tuple, seeds)) == [(0.0, 0.0), (1.0, 1.0)]


def test_meanshift_separates_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[500, 400], [3000, 500], [1800, 1700]], dtype=np.float64)
    pts = np.concatenate([c + rng.normal(0, 40, (30, 2)) for c in centres])
    truth = np.repeat(np.arange(3), 30)
    labels = initial_clusters(_boxes_at(pts), 3840, 2160, gamma=1.0, bandwidth=0.1)
    assert labels.min() == 0 and labels.max() == 2
    for k in range(3):  # each blob is exactly one cluster
        assert len(set(labels[truth == k])) == 1
    assert len({labels[truth == k][0] for k in range(3)}) == 3


@pytest.mark.parametrize("seed", range(8))
def test_meanshift_agrees_with_sklearn(seed):
    from sklearn.cluster import MeanShift

    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    n = int(rng.integers(5, 200))
    centres = rng.random((k, 2))
    pts = centres[rng.integers(0, k, n)] + rng.normal(0, rng.uniform(0.01, 0.05), (n, 2))
    bw = float(rng.uniform(0.08, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MeanShift(bandwidth=bw, bin_seeding=True).fit(pts)
    labels, centers = mean_shift(pts, bw)
    np.testing.assert_array_equal(labels, ref.labels_)
    np.testing.assert_allclose(centers, ref.cluster_centers_, atol=1e-9)


def test_small_inputs():
    assert initial_clusters(np.zeros((0, 4), np.float32), 100, 100).shape == (0,)
    one = initial_clusters(np.array([[1, 1, 5, 5]], np.float32), 100, 100)
    np.testing.assert_array_equal(one, [0])
    near = initial_clusters(np.array([[1, 1, 5, 5], [2, 2, 6, 6]], np.float32), 100, 100)
    np.testing.assert_array_equal(near, [0, 0])
    far = initial_clusters(np.array([[0, 0, 2, 2], [97, 97, 99, 99]], np.float32), 100, 100, bandwidth=0.1)
    assert sorted(far.tolist()) == [0, 1]


def test_every_box_labelled_and_labels_compact():
    rng = np.random.default_rng(3)
    pts = rng.random((300, 2)) * [3840, 2160]
    labels = initial_clusters(_boxes_at(pts), 3840, 2160)
    assert labels.shape == (300,) and labels.min() == 0
    assert set(labels.tolist()) == set(range(labels.max() + 1))


def test_gamma_separates_top_rows():
    # two rows of small boxes near the top, 0.08 of the frame height apart: merged without the
    # stretch at this bandwidth, separated with it.
    xs = np.linspace(1500, 2300, 10)
    pts = np.concatenate([np.stack([xs, np.full(10, 30.0)], 1), np.stack([xs, np.full(10, 200.0)], 1)])
    b = _boxes_at(pts, 10)
    plain = initial_clusters(b, 3840, 2160, gamma=1.0, bandwidth=0.15)
    stretched = initial_clusters(b, 3840, 2160, gamma=0.5, bandwidth=0.15)
    assert plain.max() == 0
    assert stretched.max() == 1 and len(set(stretched[:10])) == 1 and stretched[0] != stretched[-1]


def test_compact_labels():
    np.testing.assert_array_equal(compact_labels(np.array([7, 3, 7, 9])), [0, 1, 0, 2])
    assert compact_labels(np.array([], dtype=int)).shape == (0,)


@pytest.mark.parametrize("seed", range(6))
def test_bin_seeds_fast_path_matches_unique_rows(seed):
    """Two coordinates go through one integer key per bin; the seeds are np.unique of the rows, in its order."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(rng.uniform(-3, 3), rng.uniform(0.01, 3), (int(rng.integers(2, 400)), 2))
    if seed % 2:
        pts = np.round(pts, 1)  # many points per bin
    for bin_size, min_freq in ((0.05, 1), (0.3, 1), (0.3, 3)):
        binned = np.round(pts / bin_size)
        uniq, counts = np.unique(binned, axis=0, return_counts=True)
        want = uniq[counts >= min_freq]
        want = pts if len(want) == len(pts) else want * bin_size
        assert np.array_equal(bin_seeds(pts, bin_size, min_freq), want)
    three = rng.normal(size=(50, 3))  # other dimensions: the row path
    assert bin_seeds(three, 0.5).shape[1] == 3


def testsquared_distances_are_the_broadcast_ones():
    from repose_ros.core.clustering import squared_distances

    rng = np.random.default_rng(3)
    for d in (1, 2, 3):
        a, b = rng.normal(size=(40, d)), rng.normal(size=(7, d))
        assert np.array_equal(squared_distances(a, b), ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    assert squared_distances(np.zeros((0, 2)), np.zeros((3, 2))).shape == (0, 3)


def _modes_one_by_one(centers, intens, bandwidth):
    """The rule :func:`_distinct_modes` implements, centre after centre: rank, keep one unless a kept one is near."""
    order = sorted(range(len(centers)), key=lambda i: (intens[i], *centers[i]), reverse=True)
    kept = []
    for i in order:
        if all(math.sqrt(sum((a - b) ** 2 for a, b in zip(centers[i], centers[j]))) > bandwidth for j in kept):
            kept.append(i)
    return np.asarray(centers, np.float64)[kept].reshape(-1, np.shape(centers)[1])


@pytest.mark.parametrize("seed", range(8))
def test_distinct_modes_keep_what_the_one_by_one_rule_keeps(seed):
    """The fixed point of the vectorised suppression is the ranked, one-at-a-time suppression.

    Twins (seeds converged to one point) and a chain of centres each near the next (every pass
    settles one more link, so it ends centre by centre) are among the cases.
    """
    from repose_ros.core.clustering import _distinct_modes

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    bw = float(rng.uniform(0.03, 0.2))
    centers = rng.random((n, 2))
    intens = rng.integers(1, 8, n)
    twins = rng.random(n) < 0.3
    centers[twins] = centers[rng.integers(0, n, int(twins.sum()))]
    intens[twins] = rng.integers(1, 8, int(twins.sum()))
    if seed % 2:  # a chain: 30 centres 0.6 bandwidth apart, counts falling along it
        chain = np.stack([0.1 + 0.6 * bw * np.arange(30), np.full(30, 0.5)], axis=1)
        centers = np.concatenate([centers, chain])
        intens = np.concatenate([intens, 100 - np.arange(30)])
    got = _distinct_modes(centers.copy(), intens.copy(), bw)
    np.testing.assert_array_equal(got, _modes_one_by_one(centers.tolist(), intens.tolist(), bw))
    if seed % 2:  # every other link of the chain survives
        assert sum(1 for c in got.tolist() if c[1] == 0.5) >= 15
