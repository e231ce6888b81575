"""Tests of the layout generators and MOT17 helpers."""
from pathlib import Path

import numpy as np
import pytest

from repose_ros.datasets.layouts import (
    RANDOM_PERSPECTIVE_CONFIG,
    PandaLayoutConfig,
    default_training_source,
    mixed_layout_source,
    mosaic_2x2_layouts,
    panda_like_layout,
    person_height,
    synthetic_mosaic_layout,
)
from repose_ros.datasets.mot import load_mot_boxes, mot_box_frames

MOT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "mot17_mini" / "train"


def test_panda_like_layout_valid_boxes():
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(30):
        b = panda_like_layout(rng)
        assert b.dtype == np.float32 and b.ndim == 2 and b.shape[1] == 4
        assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
        assert np.all(b[:, [0, 2]] >= 0) and np.all(b[:, [0, 2]] <= 3840)
        assert np.all(b[:, [1, 3]] >= 0) and np.all(b[:, [1, 3]] <= 2160)
        sizes.append(len(b))
    assert max(sizes) > 3 * min(sizes)  # varied crowd sizes


def test_panda_like_people_grow_toward_bottom():
    rng = np.random.default_rng(1)
    b = np.concatenate([panda_like_layout(rng) for _ in range(20)])
    cy = (b[:, 1] + b[:, 3]) / 2
    h = b[:, 3] - b[:, 1]
    w = b[:, 2] - b[:, 0]
    top, bottom = h[cy < 400], h[(cy > 1700) & (cy < 2000)]  # avoid the clipped bottom edge
    assert np.median(top) < 60 and np.median(bottom) > 180
    assert np.median(w / h) == pytest.approx(0.4, rel=0.15)
    np.testing.assert_allclose(person_height(np.array([0.0, 1.0])), [20.0, 300.0])


def test_panda_like_layout_deterministic_and_exact_count():
    a = panda_like_layout(np.random.default_rng(5), n_boxes=300)
    b = panda_like_layout(np.random.default_rng(5), n_boxes=300)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 300
    assert len(panda_like_layout(np.random.default_rng(6), n_boxes=7)) == 7
    small = PandaLayoutConfig(n_groups=(1, 1), group_size=(3, 3), n_isolated=(0, 0), n_empty=(0, 0))
    assert len(panda_like_layout(np.random.default_rng(7), config=small, n_boxes=50)) == 50


def test_panda_like_layout_has_empty_regions():
    # a coarse 8x8 grid over the frame: many cells hold no box centre
    rng = np.random.default_rng(2)
    empty = []
    for _ in range(10):
        b = panda_like_layout(rng)
        cx = ((b[:, 0] + b[:, 2]) / 2 / 3840 * 8).astype(int).clip(0, 7)
        cy = ((b[:, 1] + b[:, 3]) / 2 / 2160 * 8).astype(int).clip(0, 7)
        empty.append(64 - len(set(zip(cx.tolist(), cy.tolist()))))
    assert np.median(empty) > 16


def test_random_perspective_varies_person_size():
    medians = []
    for seed in range(12):
        b = panda_like_layout(np.random.default_rng(seed), config=RANDOM_PERSPECTIVE_CONFIG, n_boxes=60)
        cy = (b[:, 1] + b[:, 3]) / 2
        h = b[:, 3] - b[:, 1]
        medians.append(np.median(h / (1 + cy / 2160)))
    assert max(medians) > 1.5 * min(medians)


def test_synthetic_mosaic_layout():
    rng = np.random.default_rng(0)
    quads = set()
    for _ in range(10):
        m = synthetic_mosaic_layout(rng)
        assert m.dtype == np.float32 and m.shape[1] == 4
        assert np.all(m[:, [0, 2]] <= 3840) and np.all(m[:, [1, 3]] <= 2160)
        cx, cy = (m[:, 0] + m[:, 2]) / 2, (m[:, 1] + m[:, 3]) / 2
        quads |= {(int(x >= 1920), int(y >= 1080)) for x, y in zip(cx, cy)}
        # no box crosses a tile border
        assert not np.any((m[:, 0] < 1920) & (m[:, 2] > 1920))
        assert not np.any((m[:, 1] < 1080) & (m[:, 3] > 1080))
    assert len(quads) == 4
    src = default_training_source(mosaic_prob=0.5)
    a = [src(np.random.default_rng(s)) for s in range(6)]
    b = [src(np.random.default_rng(s)) for s in range(6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def _write_seq(root: Path, name: str, rows, w=1920, h=1080):
    seq = root / name
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimWidth={w}\nimHeight={h}\n")
    return seq


def test_load_mot_boxes_filters_ground_truth(tmp_path):
    seq = _write_seq(tmp_path, "S1", [
        (1, 1, 10, 20, 30, 40, 1, 1, 1.0),
        (1, 2, 100, 200, 10, 20, 0, 1, 1.0),  # conf 0: ignored
        (1, 3, 50, 60, 5, 5, 1, 7, 1.0),  # static person: not ground truth
        (2, 1, 11, 21, 30, 40, 1, 1, 0.5),
    ])
    boxes = load_mot_boxes(seq)
    assert sorted(boxes) == [1, 2]
    np.testing.assert_allclose(boxes[1], [[10, 20, 40, 60]])
    assert boxes[1].dtype == np.float32
    assert len(load_mot_boxes(seq / "gt" / "gt.txt", gt_only=False)[1]) == 3
    with pytest.raises(FileNotFoundError):
        load_mot_boxes(tmp_path / "missing")


def test_mot_frames_missing_root_is_empty(tmp_path):
    assert mot_box_frames(tmp_path / "nothing") == []


def test_mot_frames_read_a_train_folder_as_repose_eval_does(tmp_path):
    _write_seq(tmp_path / "train", "S0", [(1, 1, 100, 100, 10, 20, 1, 1, 1.0)], 1920, 1080)
    _write_seq(tmp_path / "train", "S1", [(1, 1, 5, 5, 10, 20, 1, 1, 1.0), (2, 1, 5, 5, 10, 20, 1, 1, 1.0)], 640, 480)
    from_root, from_train = mot_box_frames(tmp_path), mot_box_frames(tmp_path / "train")
    assert [(s, f) for s, f, _ in from_root] == [(s, f) for s, f, _ in from_train] == [("S0", 1), ("S1", 1), ("S1", 2)]
    assert from_root[2][2][1:] == (640, 480)


def test_mosaic_shifts_and_scales(tmp_path):
    for i, size in enumerate([(1920, 1080)] * 3 + [(640, 480)]):
        _write_seq(tmp_path, f"S{i}", [(1, 1, 100, 100, 10, 20, 1, 1, 1.0)], *size)
    frames = mot_box_frames(tmp_path)
    assert len(frames) == 4 and frames[3][2][1:] == (640, 480)
    mos = mosaic_2x2_layouts(frames, 3, np.random.default_rng(0))
    assert len(mos) == 3
    for m in mos:
        assert m.shape == (4, 4)
        cx, cy = (m[:, 0] + m[:, 2]) / 2, (m[:, 1] + m[:, 3]) / 2
        quads = {(int(x >= 1920), int(y >= 1080)) for x, y in zip(cx, cy)}
        assert len(quads) == 4  # one frame per quadrant
        assert np.all(m[:, 2] <= 3840) and np.all(m[:, 3] <= 2160)
    # the 640x480 frame is scaled by 3 x 2.25
    scaled = [b for m in mos for b in m if (b[2] - b[0]) == pytest.approx(30.0)]
    assert scaled and scaled[0][3] - scaled[0][1] == pytest.approx(45.0)
    assert mosaic_2x2_layouts(frames[:3], 1, np.random.default_rng(0)) == []


def test_mixed_layout_source():
    fixed = [np.array([[1, 1, 2, 2]], np.float32)]
    src = mixed_layout_source(fixed, mosaic_prob=1.0)
    np.testing.assert_array_equal(src(np.random.default_rng(0)), fixed[0])
    synth = mixed_layout_source((), mosaic_prob=1.0)(np.random.default_rng(0))
    assert synth.shape[1] == 4


@pytest.mark.skipif(not MOT_ROOT.is_dir(), reason="MOT17 mini data not present")
def test_real_mot17_mini():
    frames = mot_box_frames(MOT_ROOT)
    assert len(frames) >= 4
    mos = mosaic_2x2_layouts(frames, 2, np.random.default_rng(0))
    assert all(len(m) > 0 for m in mos)
