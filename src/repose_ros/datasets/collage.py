"""PANDA-like 4K collages of MOT17 crops: sparse crowds of small people over a real background."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.datasets.annotated import EvalFrame
from repose_ros.datasets.compose import place_boxes, resize_image, take_round_robin
from repose_ros.datasets.mot import TARGET_4K, MotSequence


@dataclass(frozen=True)
class CollageTile:
    """A crop of a source sequence placed on the canvas: source crop, scale, destination."""

    seq: int
    crop: Tuple[int, int, int, int]
    scale: float
    x: int
    y: int
    w: int
    h: int


@dataclass
class CollageLayout:
    """Tiles of one collage sequence, the background fill, and layout statistics."""

    tiles: List[CollageTile]
    background: np.ndarray
    free_fraction: float
    grid_distance: float


COLLAGE_BANDS = (
    # (scale of a 1080-row frame, number of tiles, crop width fraction range, crop height fraction range)
    ((0.30, 0.38), 4, (1.0, 1.0), (1.0, 1.0)),
    ((0.52, 0.62), 3, (0.72, 0.9), (0.8, 0.92)),
    ((0.85, 0.98), 2, (0.55, 0.75), (0.66, 0.8)),
)
"""Bands of the collage from top to bottom: far (small) people at the top, near ones at the bottom."""

GRID_SPLITS = (2, 3, 4)
"""Regular grids whose lines no collage seam may lie on (within ``seam_tolerance`` pixels)."""


def _seam_distance(tiles: Sequence[CollageTile], canvas_w: int, canvas_h: int) -> float:
    """Smallest distance (px) of a tile edge to a line of a 2x2, 3x3 or 4x4 grid of the canvas."""
    lines_x = [canvas_w * k / n for n in GRID_SPLITS for k in range(1, n)]
    lines_y = [canvas_h * k / n for n in GRID_SPLITS for k in range(1, n)]
    best = math.inf
    for t in tiles:
        for e in (t.x, t.x + t.w):
            if 0 < e < canvas_w:
                best = min(best, min(abs(e - v) for v in lines_x))
        for e in (t.y, t.y + t.h):
            if 0 < e < canvas_h:
                best = min(best, min(abs(e - v) for v in lines_y))
    return best


def _best_crop(boxes: np.ndarray, src_w: int, src_h: int, cw: int, ch: int, rng: np.random.Generator
               ) -> Tuple[int, int, int, int]:
    """Return the ``cw x ch`` window of the source frame holding the most whole boxes."""
    if cw >= src_w and ch >= src_h:
        return 0, 0, src_w, src_h
    xs = np.unique(np.linspace(0, src_w - cw, 6).round().astype(int))
    ys = np.unique(np.linspace(0, src_h - ch, 6).round().astype(int))
    best, best_n = (0, 0, cw, ch), -1.0
    for x in xs:
        for y in ys:
            inside = ((boxes[:, 0] >= x) & (boxes[:, 2] <= x + cw) & (boxes[:, 1] >= y) & (boxes[:, 3] <= y + ch))
            n = float(inside.sum()) + float(rng.uniform(0, 0.5))  # random tie-break
            if n > best_n:
                best, best_n = (int(x), int(y), int(x + cw), int(y + ch)), n
    return best


def _background_patches(seqs: Sequence[MotSequence], rng: np.random.Generator, per_seq: int = 8,
                        margin: int = 24) -> List[np.ndarray]:
    """Crops of the sequences' first frames that hold no annotated box (any class) nearby."""
    patches = []
    for s in seqs:
        img = s.read(0)
        h, w = img.shape[:2]
        mask = np.zeros((h + 1, w + 1), np.int64)
        occ = np.zeros((h, w), np.uint8)
        for x0, y0, x1, y1 in s.all_boxes(s.frame_ids[0]):
            ya, yb = max(0, int(y0) - margin), min(h, int(y1) + margin)
            occ[ya:yb, max(0, int(x0) - margin):min(w, int(x1) + margin)] = 1
        mask[1:, 1:] = occ.cumsum(0).cumsum(1)
        got = 0
        for _ in range(400):
            pw = int(rng.uniform(0.12, 0.3) * w)
            ph = max(16, int(pw * rng.uniform(0.45, 0.7)))
            if pw >= w or ph >= h:
                continue
            x, y = int(rng.integers(0, w - pw)), int(rng.integers(0, h - ph))
            used = mask[y + ph, x + pw] - mask[y, x + pw] - mask[y + ph, x] + mask[y, x]
            if used == 0:
                patches.append(img[y:y + ph, x:x + pw].copy())
                got += 1
                if got >= per_seq:
                    break
    return patches


def _fill_background(patches: Sequence[np.ndarray], seqs: Sequence[MotSequence], canvas_w: int, canvas_h: int,
                     rng: np.random.Generator, blur_sigma: float = 2.5) -> np.ndarray:
    """Cover the canvas with people-free patches (jittered cells), blurred to hide small details.

    Cells are an 8x8 grid of the canvas with jittered sizes; ``blur_sigma`` is for a 2160-row
    canvas and scales with the canvas height.
    """
    import cv2

    blur_sigma = max(0.5, blur_sigma * canvas_h / 2160.0)

    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    if not patches:  # no person-free patch: a strongly blurred, dimmed frame
        base = resize_image(seqs[0].read(0), canvas_w, canvas_h)
        return cv2.GaussianBlur(base, (0, 0), 25)
    cell_w, cell_h = max(8, canvas_w // 8), max(8, canvas_h // 8)
    y = 0
    while y < canvas_h:
        ch = int(cell_h * rng.uniform(0.8, 1.2))
        x = -int(rng.integers(0, cell_w // 2))
        while x < canvas_w:
            cw = int(cell_w * rng.uniform(0.8, 1.3))
            p = resize_image(patches[int(rng.integers(len(patches)))], cw, ch)
            if rng.random() < 0.5:
                p = p[:, ::-1]
            xa, xb = max(x, 0), min(x + cw, canvas_w)
            yb = min(y + ch, canvas_h)
            canvas[y:yb, xa:xb] = p[:yb - y, xa - x:xb - x]
            x += cw
        y += ch
    return cv2.GaussianBlur(canvas, (0, 0), blur_sigma)


def collage_layout(seqs: Sequence[MotSequence], rng: np.random.Generator, canvas: Tuple[int, int] = TARGET_4K,
                   seam_tolerance: Optional[float] = None, min_free: float = 0.3, tries: int = 300,
                   bands: Sequence[Tuple[Any, ...]] = COLLAGE_BANDS) -> CollageLayout:
    """Draw a PANDA-like collage layout of MOT frames (see :func:`mot_collage`).

    Bands from top to bottom hold frames scaled so that people grow from the top of the canvas
    to the bottom (scales are relative to a frame of half the canvas height); tiles are placed
    with random gaps, redrawn until no tile edge lies within ``seam_tolerance`` pixels (default
    48 px on a 2160-row canvas, scaled) of a 2x2, 3x3 or 4x4 grid line and at least
    ``min_free`` of the canvas is outside every tile (that area shows people-free background
    patches). If no draw keeps that distance, the draw that comes
    closest is used (:attr:`CollageLayout.grid_distance` tells).
    """
    cw_, ch_ = canvas
    if seam_tolerance is None:
        seam_tolerance = 48.0 * ch_ / 2160.0
    ref = seqs[0]
    best: Optional[Tuple[float, List[CollageTile]]] = None
    for _ in range(tries):
        tiles: List[CollageTile] = []
        band_specs = []
        for (s_lo, s_hi), n, (fw_lo, fw_hi), (fh_lo, fh_hi) in bands:
            order = rng.permutation(len(seqs))
            chosen = [int(order[i % len(seqs)]) for i in range(n)]
            scale = rng.uniform(s_lo, s_hi)
            specs = []
            for si in chosen:
                s = seqs[si]
                f = scale * (ch_ / 2.0) / s.height * rng.uniform(0.95, 1.05)
                cwid = int(round(s.width * rng.uniform(fw_lo, fw_hi)))
                chgt = int(round(s.height * rng.uniform(fh_lo, fh_hi)))
                specs.append((si, f, cwid, chgt, int(round(cwid * f)), int(round(chgt * f))))
            band_specs.append(specs)
        heights = [max(sp[5] for sp in specs) for specs in band_specs]
        spare_y = ch_ - sum(heights)
        widths_ok = all(sum(sp[4] for sp in specs) < cw_ for specs in band_specs)
        if spare_y <= 0 or not widths_ok:
            continue
        gaps_y = rng.dirichlet(np.ones(len(heights) + 1)) * spare_y
        y = gaps_y[0]
        for bi, specs in enumerate(band_specs):
            spare_x = cw_ - sum(sp[4] for sp in specs)
            gaps_x = rng.dirichlet(np.ones(len(specs) + 1)) * spare_x
            x = gaps_x[0]
            for k, (si, f, cwid, chgt, tw, th) in enumerate(specs):
                ty = int(round(y + rng.uniform(0, heights[bi] - th)))
                # crop position is chosen once the geometry is accepted (below)
                tiles.append(CollageTile(si, (0, 0, cwid, chgt), float(f), int(round(x)), ty, tw, th))
                x += tw + gaps_x[k + 1]
            y += heights[bi] + gaps_y[bi + 1]
        covered = sum(t.w * t.h for t in tiles) / float(cw_ * ch_)
        dist = _seam_distance(tiles, cw_, ch_)
        if 1.0 - covered < min_free:
            continue
        if best is None or dist > best[0]:
            best = (dist, tiles)
        if dist >= seam_tolerance:
            break
    if best is None:
        raise ValueError("could not draw a collage layout; the bands do not fit the canvas")
    dist, tiles = best
    placed = []
    for t in tiles:
        s = seqs[t.seq]
        crop = _best_crop(s.boxes(s.frame_ids[0])[0], s.width, s.height, t.crop[2], t.crop[3], rng)
        placed.append(CollageTile(t.seq, crop, t.scale, t.x, t.y, t.w, t.h))
    tiles = placed
    background = _fill_background(_background_patches(seqs, rng), [ref], cw_, ch_, rng)
    free = 1.0 - sum(t.w * t.h for t in tiles) / float(cw_ * ch_)
    return CollageLayout(tiles, background, float(free), float(dist))


def _render_collage(layout: CollageLayout, seqs: Sequence[MotSequence], t: int) -> np.ndarray:
    canvas = layout.background.copy()
    for tile in layout.tiles:
        s = seqs[tile.seq]
        x0, y0, x1, y1 = tile.crop
        canvas[tile.y:tile.y + tile.h, tile.x:tile.x + tile.w] = resize_image(s.read(t)[y0:y1, x0:x1], tile.w, tile.h)
    return canvas


def _collage_boxes(layout: CollageLayout, seqs: Sequence[MotSequence], t: int,
                   min_visibility: float) -> Tuple[np.ndarray, np.ndarray]:
    gts, igns = [np.zeros((0, 4), np.float32)], [np.zeros((0, 4), np.float32)]
    for tile in layout.tiles:
        s = seqs[tile.seq]
        gt, ign = s.boxes(s.frame_ids[t], min_visibility)
        sx = tile.w / float(tile.crop[2] - tile.crop[0])
        sy = tile.h / float(tile.crop[3] - tile.crop[1])
        a, b = place_boxes(gt, ign, tile.crop, sx, sy, tile.x, tile.y)
        gts.append(a)
        igns.append(b)
    return np.concatenate(gts), np.concatenate(igns)


def mot_collage(seqs: Sequence[MotSequence], n_frames: int, seed: int = 0, canvas: Tuple[int, int] = TARGET_4K,
                min_visibility: float = 0.0, n_layouts: Optional[int] = None) -> List[EvalFrame]:
    """PANDA-like 4K collages of MOT frames, seeded and deterministic.

    Each collage sequence has its own layout (:func:`collage_layout`): frames scaled so that
    people grow from the top of the canvas to the bottom, placed so that no seam lies on a
    regular grid, at least 30% of the canvas free of people and filled with blurred crops of
    box-free regions of the frames. Its t-th collage shows the t-th frame of every tile's
    sequence, so consecutive collages are consecutive video frames. Boxes cut by a crop edge
    (less than half inside) become ignore regions.
    """
    if not seqs:
        return []
    n_layouts = n_layouts or max(1, n_frames)
    groups = []
    for g in range(n_layouts):
        rng = np.random.default_rng([int(seed), g])
        layout = collage_layout(seqs, rng, canvas)
        length = min(len(seqs[t.seq]) for t in layout.tiles)
        items = []
        for t in range(1 if length > 1 else 0, length):
            gt, ign = _collage_boxes(layout, seqs, t, min_visibility)
            items.append(EvalFrame(
                name=f"collage{g}/t{t + 1}", sequence=f"collage{g}", index=t, width=canvas[0], height=canvas[1],
                gt=gt, ignore=ign, load=(lambda t=t, lay=layout: _render_collage(lay, seqs, t)),
                load_history=(lambda t=t, lay=layout: _render_collage(lay, seqs, t - 1)) if t > 0 else None,
                info={"free_fraction": layout.free_fraction, "grid_distance": layout.grid_distance,
                      "tiles": len(layout.tiles)}))
        groups.append(items)
    return take_round_robin(groups, n_frames)
