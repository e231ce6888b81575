"""Tests of repose_ros.core.blocks: Rect, blocks_from_clusters, uniform_grid."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repose_ros.core.blocks import Block, Rect, blocks_from_clusters, uniform_grid

FAST = settings(max_examples=150, deadline=None)


# -- Rect -----------------------------------------------------------------------------------------
def test_rect_basics():
    """Size properties, tuple and dict forms."""
    r = Rect(10, 20, 40, 30)
    assert (r.w, r.h, r.area) == (30, 10, 300)
    assert r.as_tuple() == (10, 20, 40, 30)
    assert r.to_dict() == {"x0": 10, "y0": 20, "x1": 40, "y1": 30}
    assert Rect(np.int64(1), 2, 3, 4).x0 == 1 and type(Rect(np.int64(1), 2, 3, 4).x0) is int


@pytest.mark.parametrize("args", [(0, 0, -1, 5), (0, 5, 5, 4), (0.5, 0, 1, 1), (True, 0, 1, 1), ("0", 0, 1, 1)])
def test_rect_rejects_bad_values(args):
    """Inverted rects and non-int coordinates raise ValueError."""
    with pytest.raises(ValueError):
        Rect(*args)


@pytest.mark.parametrize("rect, frame, expected", [
    ((-10, -10, 50, 50), (100, 80), (0, 0, 50, 50)),
    ((90, 70, 120, 100), (100, 80), (90, 70, 100, 80)),
    ((10, 10, 20, 20), (100, 80), (10, 10, 20, 20)),
    ((120, 90, 130, 95), (100, 80), (100, 80, 100, 80)),  # fully outside: empty
])
def test_rect_clip(rect, frame, expected):
    """Clipping to the frame."""
    assert Rect(*rect).clip(*frame).as_tuple() == expected


def test_rect_expand():
    """Expanding grows every side; an over-large negative margin raises."""
    assert Rect(10, 10, 20, 30).expand(5).as_tuple() == (5, 5, 25, 35)
    assert Rect(10, 10, 20, 30).expand(-2).as_tuple() == (12, 12, 18, 28)
    with pytest.raises(ValueError):
        Rect(10, 10, 20, 30).expand(-6)


@pytest.mark.parametrize("box, inside", [
    ((0, 0, 10, 10), True),          # exactly the rect (exclusive end == continuous edge)
    ((2.5, 3, 9.9, 9), True),
    ((-0.1, 0, 5, 5), False),
    ((0, 0, 10.01, 10), False),
    ((5, 5, 5, 5), True),            # degenerate point inside
])
def test_contains_box(box, inside):
    """contains_box and contains_boxes agree on a table of boxes."""
    r = Rect(0, 0, 10, 10)
    assert r.contains_box(box) is inside
    assert r.contains_boxes(np.array([box]))[0] == inside


def test_contains_points_is_half_open():
    """A point on the far edge belongs to the next rect of a grid, not to this one."""
    r = Rect(0, 0, 10, 10)
    pts = np.array([[0, 0], [9.99, 9.99], [10, 5], [5, 10], [-0.01, 5]])
    assert r.contains_points(pts).tolist() == [True, True, False, False, False]
    assert r.contains_points(np.zeros((0, 2))).shape == (0,)


# -- blocks_from_clusters ---------------------------------------------------------------------------
def test_single_cluster_with_margin():
    """Hull of the boxes (floor/ceil) plus margin."""
    xyxy = np.array([[100.2, 200.7, 150.0, 260.0], [300, 210, 340.5, 290]])
    (blk,) = blocks_from_clusters(xyxy, np.array([0, 0]), 1000, 800, margin=10, min_size=1)
    assert blk.rect.as_tuple() == (90, 190, 351, 300)
    assert blk.box_indices.tolist() == [0, 1] and blk.label == 0 and blk.n_boxes == 2


@pytest.mark.parametrize("box, frame, margin, min_size, expected", [
    ((0, 0, 10, 10), (1000, 800), 32, 64, (0, 0, 64, 64)),             # clipped then grown right/down
    ((990, 790, 1000, 800), (1000, 800), 32, 64, (936, 736, 1000, 800)),  # grown left/up
    ((500, 400, 510, 410), (1000, 800), 0, 64, (473, 373, 537, 437)),  # symmetric growth
    ((500, 400, 510, 410), (1000, 800), 0, 1, (500, 400, 510, 410)),   # no growth needed
    ((10, 10, 20, 20), (50, 40), 0, 64, (0, 0, 50, 40)),               # never bigger than frame
    ((-20, -20, 30, 30), (1000, 800), 0, 1, (0, 0, 30, 30)),            # box outside frame clipped
])
def test_block_geometry_cases(box, frame, margin, min_size, expected):
    """Margin, clipping, growth to min_size and shifting back into the frame."""
    (blk,) = blocks_from_clusters(np.array([box], float), np.array([0]), *frame, margin=margin,
                                  min_size=min_size)
    assert blk.rect.as_tuple() == expected


def test_noise_own_and_nearest():
    """Noise boxes get their own blocks by default, or join the nearest cluster."""
    xyxy = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [500, 500, 510, 510], [40, 0, 50, 10]], float)
    labels = np.array([3, 3, -1, -1])
    own = blocks_from_clusters(xyxy, labels, 1000, 1000, margin=0, min_size=1)
    assert [b.box_indices.tolist() for b in own] == [[0, 1], [2], [3]]
    assert [b.label for b in own] == [3, -1, -1]
    near = blocks_from_clusters(xyxy, labels, 1000, 1000, margin=0, min_size=1, noise="nearest")
    assert [b.box_indices.tolist() for b in near] == [[0, 1, 2, 3]]
    assert near[0].rect.as_tuple() == (0, 0, 510, 510)
    only_noise = blocks_from_clusters(xyxy[2:], labels[2:], 1000, 1000, noise="nearest")
    assert len(only_noise) == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"xyxy": np.zeros((2, 3)), "labels": np.zeros(2, int)}, "shape"),
    ({"labels": np.zeros(3, int)}, "one entry per box"),
    ({"labels": np.array([0.5, 1.0])}, "integers"),
    ({"labels": np.array([-2, 0])}, ">= -1"),
    ({"frame_w": 0}, "positive"),
    ({"margin": -1}, "margin"),
    ({"margin": 32.5}, "margin must be a whole number"),
    ({"min_size": 64.0}, "min_size must be a whole number"),
    ({"min_size": 0}, "min_size"),
    ({"noise": "drop"}, "noise"),
    ({"margin_height": -0.1}, "margin_height"),
    ({"margin_height": math.inf}, "margin_height"),
])
def test_blocks_from_clusters_validation(kwargs, match):
    """Bad arguments raise ValueError naming the problem."""
    args = {"xyxy": np.array([[0, 0, 5, 5], [6, 6, 9, 9]], float), "labels": np.array([0, 1]),
            "frame_w": 100, "frame_h": 100}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        blocks_from_clusters(**args)


def test_margin_height_grows_each_block_by_its_own_people():
    """margin_height: a cluster of 200 px people gets a 100 px margin, one of 20 px people keeps the fixed 32."""
    tall = [[1000, 1000, 1060, 1200], [1100, 1000, 1160, 1210], [1200, 990, 1260, 1190]]   # median height 200
    small = [[3000, 100, 3010, 120], [3020, 100, 3030, 121]]                             # median height 20.5
    xyxy, labels = np.array(tall + small, float), np.array([0, 0, 0, 1, 1])
    fixed = blocks_from_clusters(xyxy, labels, 3840, 2160, margin=32, min_size=1)
    grown = blocks_from_clusters(xyxy, labels, 3840, 2160, margin=32, min_size=1, margin_height=0.5)
    assert fixed[0].rect.as_tuple() == (968, 958, 1292, 1242)
    assert grown[0].rect.as_tuple() == (900, 890, 1360, 1310)           # 0.5 x 200 = 100 px on every side
    assert grown[1].rect.as_tuple() == fixed[1].rect.as_tuple() == (2968, 68, 3062, 153)
    # a person as tall as the cluster's, centred on the edge of the boxes' hull, now lies wholly inside
    person = np.array([1230, 1090, 1290, 1290], float)                   # centre (1260, 1190): on the hull's right edge
    r = grown[0].rect
    assert r.x0 <= person[0] and r.y0 <= person[1] and person[2] <= r.x1 and person[3] <= r.y1
    f = fixed[0].rect
    assert not (person[2] <= f.x1 and person[3] <= f.y1)
    # a cache of rects per margin is not mixed up between the two settings (the pipeline keys it by both)
    cache: dict = {}
    assert blocks_from_clusters(xyxy, labels, 3840, 2160, margin=32, min_size=1, rects=cache,
                                margin_height=0.5)[0].rect == grown[0].rect


def test_empty_input_gives_no_blocks():
    """No boxes, no blocks."""
    assert blocks_from_clusters(np.zeros((0, 4)), np.zeros(0, int), 100, 100) == []


@st.composite
def clustered_boxes(draw):
    """Frame size, boxes inside it (possibly touching the edges) and labels with noise."""
    fw = draw(st.integers(1, 400))
    fh = draw(st.integers(1, 400))
    n = draw(st.integers(1, 25))
    rows = []
    for _ in range(n):
        x0 = draw(st.floats(0, fw))
        y0 = draw(st.floats(0, fh))
        rows.append([x0, y0, draw(st.floats(x0, fw)), draw(st.floats(y0, fh))])
    labels = draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n))
    return fw, fh, np.array(rows), np.array(labels)


@FAST
@given(clustered_boxes(), st.integers(0, 40), st.integers(1, 128), st.sampled_from(["own", "nearest"]))
def test_every_box_inside_its_block(data, margin, min_size, noise):
    """Every box lies inside the block serving it; blocks stay in the frame at the minimum size."""
    fw, fh, xyxy, labels = data
    blocks = blocks_from_clusters(xyxy, labels, fw, fh, margin=margin, min_size=min_size, noise=noise)
    served = np.concatenate([b.box_indices for b in blocks])
    assert sorted(served.tolist()) == list(range(len(xyxy)))          # each box in exactly one block
    for b in blocks:
        assert isinstance(b, Block)
        r = b.rect
        assert 0 <= r.x0 < r.x1 <= fw and 0 <= r.y0 < r.y1 <= fh
        assert r.w >= min(min_size, fw) and r.h >= min(min_size, fh)
        assert np.all(r.contains_boxes(xyxy[b.box_indices]))
        if noise == "own":
            assert len({int(labels[i]) for i in b.box_indices}) == 1


# -- uniform_grid -------------------------------------------------------------------------------
@pytest.mark.parametrize("w, h, rows, cols, overlap, tile", [
    (1000, 600, 1, 1, 0.3, (1000, 600)),
    (1000, 600, 2, 2, 0.0, (500, 300)),
    (1000, 600, 2, 3, 0.25, (400, 343)),   # 1000 / (1 + 2 * 0.75) = 400; 600 / 1.75 = 342.9
    (7, 5, 3, 4, 0.5, (3, 3)),
])
def test_uniform_grid_cases(w, h, rows, cols, overlap, tile):
    """Tile sizes, first tile at the origin, last tile flush with the far edges."""
    rects = uniform_grid(w, h, rows, cols, overlap)
    assert len(rects) == rows * cols
    assert {(r.w, r.h) for r in rects} == {tile}
    assert rects[0].as_tuple()[:2] == (0, 0)
    assert (rects[-1].x1, rects[-1].y1) == (w, h)


@pytest.mark.parametrize("args", [(0, 10, 1, 1), (10, 10, 0, 1), (10, 10, 1, 1, 1.0), (10, 10, 1, 1, -0.1)])
def test_uniform_grid_validation(args):
    """Bad sizes, counts and overlaps raise ValueError."""
    with pytest.raises(ValueError):
        uniform_grid(*args)


@FAST
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 6), st.integers(1, 6), st.floats(0, 0.9))
def test_uniform_grid_covers_every_pixel(w, h, rows, cols, overlap):
    """Every pixel is covered; tiles equal, inside the frame, row-major, overlap close to asked."""
    rects = uniform_grid(w, h, rows, cols, overlap)
    cover = np.zeros((h, w), dtype=np.int32)
    for r in rects:
        assert 0 <= r.x0 < r.x1 <= w and 0 <= r.y0 < r.y1 <= h
        cover[r.y0:r.y1, r.x0:r.x1] += 1
    assert cover.min() >= 1
    assert len({(r.w, r.h) for r in rects}) == 1
    grid = [rects[i * cols:(i + 1) * cols] for i in range(rows)]          # row-major
    xs = [r.x0 for r in grid[0]]
    ys = [row[0].y0 for row in grid]
    assert xs == sorted(xs) and ys == sorted(ys)
    assert all([r.x0 for r in row] == xs and {r.y0 for r in row} == {row[0].y0} for row in grid)
    if cols > 1 and rects[0].w < w:
        realised = rects[0].x1 - rects[1].x0
        assert abs(realised - overlap * rects[0].w) <= 2


def test_kernel_share_is_the_gaussian_mass_inside_the_rect():
    """sigma = spread x box height; product of the per-axis shares; spread 0: the centre decides."""
    from repose_ros.core.blocks import kernel_share

    box = np.array([[490.0, 480.0, 510.0, 520.0]])         # centre (500, 500), height 40
    huge = Rect(0, 0, 10000, 10000)
    assert kernel_share(box, huge, 1.0)[0] == pytest.approx(1.0)
    half = Rect(500, 0, 10000, 10000)                         # cut through the centre on x
    assert kernel_share(box, half, 1.0)[0] == pytest.approx(0.5)
    quarter = Rect(500, 500, 10000, 10000)
    assert kernel_share(box, quarter, 2.0)[0] == pytest.approx(0.25)
    # +-1 sigma (40 px) on both axes: 0.6827 ** 2
    one_sigma = Rect(460, 460, 540, 540)
    assert kernel_share(box, one_sigma, 1.0)[0] == pytest.approx(0.682689 ** 2, rel=1e-5)
    # a wider spread puts less of it inside the same rect
    assert kernel_share(box, one_sigma, 2.0)[0] < kernel_share(box, one_sigma, 1.0)[0]
    np.testing.assert_array_equal(kernel_share(np.vstack([box, box + 1000]), one_sigma, 0.0), [1.0, 0.0])
    assert kernel_share(np.zeros((0, 4)), huge, 1.0).shape == (0,)


def test_kernel_share_whole_counts_only_people_that_fit():
    """whole: the rect loses half the box's size on each side that is not the frame's edge."""
    from repose_ros.core.blocks import kernel_share

    box = np.array([[490.0, 480.0, 510.0, 520.0]])         # 20 x 40 px, centre (500, 500)
    rect = Rect(460, 460, 540, 540)
    shrunk = Rect(470, 480, 530, 520)                         # 10 px off x, 20 px off y
    for spread in (0.5, 1.0, 2.0):
        assert kernel_share(box, rect, spread, whole=True)[0] == pytest.approx(kernel_share(box, shrunk, spread)[0])
        assert kernel_share(box, rect, spread, whole=True)[0] < kernel_share(box, rect, spread)[0]
    # the frame's own edges cut nobody: a block flush with them keeps those sides
    corner = Rect(0, 0, 540, 540)
    assert kernel_share(box, corner, 1.0, whole=True, frame_size=(540, 540))[0] == pytest.approx(
        kernel_share(box, corner, 1.0)[0])
    assert kernel_share(box, corner, 1.0, whole=True)[0] == pytest.approx(
        kernel_share(box, Rect(0, 0, 530, 520), 1.0)[0])                      # no frame size: only 0 is an edge
    # a block too small for the person holds none of them; spread 0: the centre must lie in the shrunk rect
    assert kernel_share(box, Rect(495, 495, 505, 505), 1.0, whole=True)[0] == 0.0
    assert kernel_share(box, Rect(480, 470, 520, 530), 0.0, whole=True)[0] == 1.0
    assert kernel_share(box, Rect(495, 470, 520, 530), 0.0, whole=True)[0] == 0.0


def test_kernel_share_takes_one_rect_per_box():
    """An (N, 4) array of rects gives each box the share inside its own rect, as one call per rect does."""
    from repose_ros.core.blocks import kernel_share

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 900, (12, 2))
    boxes = np.hstack([xy, xy + rng.uniform(5, 80, (12, 2))])
    rects = [Rect(*map(int, sorted(rng.integers(0, 1000, 2)) * 2)) for _ in range(12)]
    rects = [Rect(r.x0, r.x0 // 2, r.x1, r.x1 // 2 + 40) for r in rects]
    for spread in (0.0, 0.5, 2.0):
        got = kernel_share(boxes, np.array([r.as_tuple() for r in rects]), spread)
        want = [kernel_share(boxes[i:i + 1], r, spread)[0] for i, r in enumerate(rects)]
        np.testing.assert_array_equal(got, want)


@settings(max_examples=80, deadline=None)
@given(clustered_boxes(), st.integers(0, 40), st.integers(1, 128), st.sampled_from(["own", "nearest"]))
def test_blocks_match_a_cluster_by_cluster_hull(data, margin, min_size, noise):
    """Each block is the integer hull of its own boxes (plus margin, clipped, grown), in label order.

    The rect cache changes nothing.
    """
    fw, fh, xyxy, labels = data
    blocks = blocks_from_clusters(xyxy, labels, fw, fh, margin=margin, min_size=min_size, noise=noise)
    cache: dict = {}
    for _ in range(2):  # the second call answers from the cache
        again = blocks_from_clusters(xyxy, labels, fw, fh, margin=margin, min_size=min_size, noise=noise, rects=cache)
        assert [(b.rect, b.box_indices.tolist(), b.label) for b in again] == \
            [(b.rect, b.box_indices.tolist(), b.label) for b in blocks]
    b = np.asarray(xyxy, np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, fw)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, fh)
    b[:, 2] = np.maximum(b[:, 2], b[:, 0])
    b[:, 3] = np.maximum(b[:, 3], b[:, 1])
    labels = np.asarray(labels)
    clusters = sorted(set(labels.tolist()) - {-1})
    assert [blk.label for blk in blocks][:len(clusters)] == clusters
    for blk in blocks:
        if noise == "own" or blk.label == -1:
            want = np.flatnonzero(labels == blk.label) if blk.label >= 0 else blk.box_indices
            assert blk.box_indices.tolist() == sorted(want.tolist())
        h = b[blk.box_indices]
        x0 = max(math.floor(h[:, 0].min()) - margin, 0)
        y0 = max(math.floor(h[:, 1].min()) - margin, 0)
        x1 = min(math.ceil(h[:, 2].max()) + margin, fw)
        y1 = min(math.ceil(h[:, 3].max()) + margin, fh)
        r = blk.rect
        assert r.x0 <= x0 and r.y0 <= y0 and r.x1 >= x1 and r.y1 >= y1  # the hull, maybe grown
        if x1 - x0 >= min_size:
            assert (r.x0, r.x1) == (x0, x1)
        if y1 - y0 >= min_size:
            assert (r.y0, r.y1) == (y0, y1)
        for lo, hi, got_lo, got_hi, limit in ((x0, x1, r.x0, r.x1, fw), (y0, y1, r.y0, r.y1, fh)):
            target = min(max(hi - lo, min_size), limit)  # grown to min_size, never beyond the frame
            assert got_hi - got_lo == target and 0 <= got_lo and got_hi <= limit
            start = lo - (target - (hi - lo)) // 2  # symmetric growth where the frame leaves room
            if 0 <= start and start + target <= limit:
                assert got_lo == start
