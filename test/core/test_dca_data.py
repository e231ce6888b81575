"""Training layouts of RL-DCA: coarse boxes of real frames (cached) and degraded generated layouts."""
import numpy as np
import pytest

from repose_ros.training import dca_data as D


def _fixed(boxes):
    return lambda rng, w, h: np.asarray(boxes, np.float64)


BOXES = [[100, 100, 110, 130], [500, 500, 560, 650], [1000, 200, 1300, 900]]


def test_degraded_source_keeps_by_recall_and_jitters():
    keep_all = D.degraded_source(lambda a: np.ones_like(a), lambda w, h: 1.0, jitter=0.0, draw=_fixed(BOXES))
    b, w, h, gt = keep_all(np.random.default_rng(0))
    np.testing.assert_array_equal(gt, np.asarray(BOXES, np.float32))
    np.testing.assert_array_equal(b, np.asarray(BOXES, np.float32))
    assert (w, h) == (3840, 2160)
    none = D.degraded_source(lambda a: np.zeros_like(a), lambda w, h: 1.0, draw=_fixed(BOXES))
    assert len(none(np.random.default_rng(0))[0]) == 0
    # recall by area (in coarse-input pixels: scale 0.5 -> areas / 4): only the large box survives
    big_only = D.degraded_source(lambda a: (a > 10000).astype(float), lambda w, h: 0.5, jitter=0.0,
                                 draw=_fixed(BOXES))
    np.testing.assert_array_equal(big_only(np.random.default_rng(0))[0], [BOXES[2]])
    jittered = D.degraded_source(lambda a: np.ones_like(a), lambda w, h: 1.0, jitter=0.1, draw=_fixed(BOXES))
    jb = jittered(np.random.default_rng(1))[0]
    assert jb.shape == (3, 4) and not np.array_equal(jb, np.asarray(BOXES, np.float32))
    assert np.all(jb[:, 2] > jb[:, 0]) and np.all(jb[:, 3] > jb[:, 1])
    assert np.abs(jb - np.asarray(BOXES)).max() < 0.6 * 700  # moves scale with the box


def test_degraded_source_follows_recall_on_average():
    src = D.degraded_source(lambda a: np.full_like(a, 0.3), lambda w, h: 1.0, draw=_fixed(BOXES * 100))
    n = np.mean([len(src(np.random.default_rng(s))[0]) for s in range(20)])
    assert 0.25 * 300 < n < 0.35 * 300


def test_mixed_source_draws_by_weight():
    a, b = (np.zeros((1, 4)), 10, 10), (np.ones((2, 4)), 20, 20)
    src = D.mixed_source([(0.8, lambda rng: a), (0.2, [b])])
    rng = np.random.default_rng(0)
    draws = [src(rng)[1] for _ in range(500)]
    assert 0.7 < draws.count(10) / 500 < 0.9
    with pytest.raises(ValueError):
        D.mixed_source([(0.0, [a])])
    with pytest.raises(ValueError):
        D.mixed_source([])


def test_coarse_layouts_are_cached(tmp_path, monkeypatch):
    first = D.coarse_layouts("synthetic", 1, tmp_path, progress=False)
    assert len(first) == 1 and first[0][0].shape[1] == 4 and first[0][1:3] == (3840, 2160)
    assert len(first[0][3]) > 10  # the generated scene's people
    assert len(list(tmp_path.glob("coarse_*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("the detector ran again")

    import repose_ros.datasets.load as ds_load

    monkeypatch.setattr(ds_load, "load_dataset", boom)
    again = D.coarse_layouts("synthetic", 1, tmp_path, progress=False)
    np.testing.assert_array_equal(again[0][0], first[0][0])
    np.testing.assert_array_equal(again[0][3], first[0][3])
    with pytest.raises(AssertionError, match="ran again"):  # other settings: another cache entry
        D.coarse_layouts("synthetic", 1, tmp_path, conf=0.1, progress=False)
