"""Box layouts for training and benchmarking the partitioner.

Two sources:

* :func:`panda_like_layout` draws a synthetic gigapixel-style people layout (PANDA-like): a few
  crowds of different sizes, some isolated walkers, empty areas, and person height growing
  linearly from the top of the frame to the bottom (a camera looking down on a flat ground
  plane whose horizon lies above the frame).
* MOT17-format ground truth (read by :func:`repose_ros.datasets.mot.mot_box_frames`) and
  :func:`mosaic_2x2_layouts`, which tiles four different 1080p frames into one 3840x2160 layout.

Nothing here reads files; the MOT boxes come from the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from repose_ros.datasets.mot import SizedBoxes

__all__ = [
    "PandaLayoutConfig",
    "panda_like_layout",
    "person_height",
    "mosaic_2x2_layouts",
    "mixed_layout_source",
    "MOSAIC_TILE_CONFIG",
    "RANDOM_PERSPECTIVE_CONFIG",
    "synthetic_mosaic_layout",
    "default_training_source",
]


@dataclass(frozen=True)
class PandaLayoutConfig:
    """Parameters of :func:`panda_like_layout` (all ranges are inclusive ``(low, high)``).

    Attributes:
        n_groups: number of crowds.
        group_size: people per crowd.
        n_isolated: isolated people scattered over the populated band.
        h_top: person height (px) at the top row of the frame.
        h_bottom: person height (px) at the bottom row of the frame.
        aspect: person width / height.
        size_jitter: relative standard deviation of height and of aspect.
        spread: crowd standard deviation per axis, in person heights times ``sqrt(size)``.
        elongation: range of the x/y stretch factor of a crowd (crowds are wider than deep).
        n_empty: number of empty rectangles (buildings, water) from which people are removed.
        empty_frac: range of the side of an empty rectangle as a fraction of the frame side.
        y_range: populated band of the frame (normalised y of person centres).
        min_visible: minimum kept fraction of a box after clipping to the frame.
        ref_height: frame height for which ``h_top`` / ``h_bottom`` are given; heights scale
            with ``frame_h / ref_height``.
        h_top_range: when set, ``h_top`` is drawn uniformly from this range for each layout
            (perspective randomisation).
        h_bottom_range: same for ``h_bottom``.
    """

    n_groups: tuple[int, int] = (1, 8)
    group_size: tuple[int, int] = (3, 60)
    n_isolated: tuple[int, int] = (0, 12)
    h_top: float = 20.0
    h_bottom: float = 300.0
    aspect: float = 0.4
    size_jitter: float = 0.12
    spread: float = 0.4
    elongation: tuple[float, float] = (1.0, 3.0)
    n_empty: tuple[int, int] = (0, 2)
    empty_frac: tuple[float, float] = (0.15, 0.4)
    y_range: tuple[float, float] = (0.03, 0.97)
    min_visible: float = 0.5
    ref_height: float = 2160.0
    h_top_range: tuple[float, float] | None = None
    h_bottom_range: tuple[float, float] | None = None


def person_height(y_norm: np.ndarray, h_top: float = 20.0, h_bottom: float = 300.0) -> np.ndarray:
    """Return the nominal person height (px) at normalised centre y (linear in y).

    Args:
        y_norm: normalised y of the person centre (0 = top, 1 = bottom).
        h_top: height at the top row.
        h_bottom: height at the bottom row.

    Returns:
        Heights in pixels, same shape as ``y_norm``.
    """
    y = np.clip(np.asarray(y_norm, dtype=np.float64), 0.0, 1.0)
    return h_top + (h_bottom - h_top) * y


def _draw_people(
    rng: np.random.Generator, cfg: PandaLayoutConfig, frame_w: int, frame_h: int
) -> np.ndarray:
    """Draw one batch of crowds and isolated people as (N, 4) float64 centre-size rows."""
    hs = frame_h / float(cfg.ref_height)  # scale the pixel heights with the frame height
    h_top = rng.uniform(*cfg.h_top_range) if cfg.h_top_range else cfg.h_top
    h_bottom = rng.uniform(*cfg.h_bottom_range) if cfg.h_bottom_range else cfg.h_bottom
    y0, y1 = cfg.y_range
    rows: list[np.ndarray] = []
    n_groups = int(rng.integers(cfg.n_groups[0], cfg.n_groups[1] + 1))
    for _ in range(n_groups):
        size = int(rng.integers(cfg.group_size[0], cfg.group_size[1] + 1))
        gy = rng.uniform(y0, y1)
        gx = rng.uniform(0.05, 0.95)
        h = person_height(gy, h_top, h_bottom) * hs
        sigma = cfg.spread * h * np.sqrt(size)
        elong = rng.uniform(*cfg.elongation)
        sx = sigma * np.sqrt(elong)
        sy = sigma / np.sqrt(elong)
        cx = gx * frame_w + rng.normal(0.0, sx, size)
        cy = gy * frame_h + rng.normal(0.0, sy, size)
        rows.append(np.stack([cx, cy], axis=1))
    n_iso = int(rng.integers(cfg.n_isolated[0], cfg.n_isolated[1] + 1))
    if n_iso:
        cx = rng.uniform(0.0, frame_w, n_iso)
        cy = rng.uniform(y0 * frame_h, y1 * frame_h, n_iso)
        rows.append(np.stack([cx, cy], axis=1))
    if not rows:
        return np.zeros((0, 4))
    c = np.concatenate(rows, axis=0)
    h = person_height(c[:, 1] / frame_h, h_top, h_bottom) * hs
    h = h * np.exp(rng.normal(0.0, cfg.size_jitter, len(c)))
    w = h * cfg.aspect * np.exp(rng.normal(0.0, cfg.size_jitter, len(c)))
    return np.concatenate([c, w[:, None], h[:, None]], axis=1)


def _to_clipped_xyxy(cwh: np.ndarray, frame_w: int, frame_h: int, min_visible: float) -> np.ndarray:
    """Convert centre-size rows to clipped xyxy, dropping mostly-outside boxes."""
    x0 = cwh[:, 0] - cwh[:, 2] / 2
    y0 = cwh[:, 1] - cwh[:, 3] / 2
    x1 = x0 + cwh[:, 2]
    y1 = y0 + cwh[:, 3]
    raw = np.stack([x0, y0, x1, y1], axis=1)
    clip = raw.copy()
    clip[:, [0, 2]] = np.clip(clip[:, [0, 2]], 0, frame_w)
    clip[:, [1, 3]] = np.clip(clip[:, [1, 3]], 0, frame_h)
    area_raw = (raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])
    area_clip = np.clip(clip[:, 2] - clip[:, 0], 0, None) * np.clip(clip[:, 3] - clip[:, 1], 0, None)
    ok = (area_raw > 0) & (area_clip >= min_visible * area_raw) & (clip[:, 2] - clip[:, 0] >= 1)
    ok &= clip[:, 3] - clip[:, 1] >= 1
    return clip[ok]


def panda_like_layout(
    rng: np.random.Generator,
    frame_w: int = 3840,
    frame_h: int = 2160,
    config: PandaLayoutConfig | None = None,
    n_boxes: int | None = None,
) -> np.ndarray:
    """Draw a synthetic PANDA-like layout of person boxes.

    Crowds are anisotropic Gaussian blobs whose spread grows with the person height at their
    centre and with the square root of their size (constant density per person area). Person
    height follows :func:`person_height` (scaled by ``frame_h / 2160``) with log-normal jitter;
    width is ``aspect`` times the height, jittered. Boxes are clipped to the frame and dropped
    when less than ``min_visible`` of them remains; people inside the random empty rectangles
    are removed.

    Args:
        rng: numpy random generator (the only source of randomness).
        frame_w: frame width in pixels.
        frame_h: frame height in pixels.
        config: layout parameters (default :class:`PandaLayoutConfig`).
        n_boxes: when given, the result has exactly this many boxes: more crowds are drawn until
            there are enough, then a random subset is kept (order shuffled).

    Returns:
        (N, 4) float32 xyxy boxes in pixels (N may be 0 unless ``n_boxes`` is given).
    """
    cfg = config or PandaLayoutConfig()
    empties = []
    for _ in range(int(rng.integers(cfg.n_empty[0], cfg.n_empty[1] + 1))):
        ew = rng.uniform(*cfg.empty_frac) * frame_w
        eh = rng.uniform(*cfg.empty_frac) * frame_h
        ex = rng.uniform(0, frame_w - ew)
        ey = rng.uniform(0, frame_h - eh)
        empties.append((ex, ey, ex + ew, ey + eh))

    def draw() -> np.ndarray:
        cwh = _draw_people(rng, cfg, frame_w, frame_h)
        keep = np.ones(len(cwh), dtype=bool)
        for ex0, ey0, ex1, ey1 in empties:
            inside = (cwh[:, 0] >= ex0) & (cwh[:, 0] < ex1) & (cwh[:, 1] >= ey0) & (cwh[:, 1] < ey1)
            keep &= ~inside
        return _to_clipped_xyxy(cwh[keep], frame_w, frame_h, cfg.min_visible)

    boxes = draw()
    if n_boxes is not None:
        parts = [boxes]
        total = len(boxes)
        tries = 0
        while total < n_boxes:
            more = draw()
            tries += 1
            if len(more) == 0 and tries > 1000:
                empties.clear()  # the empty rectangles swallowed everything: drop them
            parts.append(more)
            total += len(more)
        boxes = np.concatenate(parts, axis=0)
        boxes = boxes[rng.permutation(len(boxes))[:n_boxes]]
    return boxes.astype(np.float32).reshape(-1, 4)


def mosaic_2x2_layouts(
    frames: Sequence[tuple[str, int, SizedBoxes]] | Sequence[SizedBoxes],
    n_layouts: int,
    rng: np.random.Generator,
    tile_w: int = 1920,
    tile_h: int = 1080,
) -> list[np.ndarray]:
    """Tile four different frames' boxes into 2x2 mosaics of ``(2 tile_w) x (2 tile_h)``.

    Each frame's boxes are scaled to the tile size (frames of another resolution, e.g.
    640x480, are stretched to the tile) and shifted into their quadrant. The four frames are
    distinct and come from distinct sequences whenever at least four sequences are given.

    Args:
        frames: entries of :func:`repose_ros.datasets.mot.mot_box_frames` or plain ``(xyxy, frame_w, frame_h)`` tuples.
        n_layouts: number of mosaics to draw.
        rng: random generator choosing the frames.
        tile_w: tile width in pixels.
        tile_h: tile height in pixels.

    Returns:
        List of (N, 4) float32 xyxy layouts for a ``2 tile_w x 2 tile_h`` frame; empty when
        fewer than four frames are given.
    """
    items: list[tuple[str, SizedBoxes]] = []
    for i, fr in enumerate(frames):
        if len(fr) == 3 and isinstance(fr[0], str):
            items.append((fr[0], fr[2]))  # type: ignore[misc]
        else:
            items.append((f"#{i}", fr))  # type: ignore[arg-type]
    if len(items) < 4:
        return []
    seqs = sorted({s for s, _ in items})
    by_seq = {s: [i for i, (t, _) in enumerate(items) if t == s] for s in seqs}
    layouts = []
    for _ in range(n_layouts):
        if len(seqs) >= 4:
            chosen_seqs = rng.choice(len(seqs), size=4, replace=False)
            idx = [int(rng.choice(by_seq[seqs[s]])) for s in chosen_seqs]
        else:
            idx = [int(i) for i in rng.choice(len(items), size=4, replace=False)]
        parts = []
        for q, i in enumerate(idx):
            xyxy, fw, fh = items[i][1]
            b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
            b[:, [0, 2]] *= tile_w / float(fw)
            b[:, [1, 3]] *= tile_h / float(fh)
            b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, tile_w) + (q % 2) * tile_w
            b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, tile_h) + (q // 2) * tile_h
            b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
            parts.append(b)
        layouts.append(np.concatenate(parts, axis=0).astype(np.float32))
    return layouts


def mixed_layout_source(
    mosaics: Sequence[np.ndarray] = (),
    mosaic_prob: float = 0.5,
    frame_w: int = 3840,
    frame_h: int = 2160,
    config: PandaLayoutConfig | None = None,
) -> Callable[[np.random.Generator], np.ndarray]:
    """Return a layout generator ``rng -> xyxy`` mixing PANDA-like layouts and given mosaics.

    Args:
        mosaics: fixed layouts (e.g. from :func:`mosaic_2x2_layouts`) of a ``frame_w x frame_h``
            frame; when empty only synthetic layouts are drawn.
        mosaic_prob: probability of drawing one of ``mosaics``.
        frame_w: frame width of the synthetic layouts.
        frame_h: frame height of the synthetic layouts.
        config: synthetic layout parameters.

    Returns:
        A callable suitable as ``layout_source`` of the RL-DCA environment.
    """
    fixed = [np.asarray(m, dtype=np.float32) for m in mosaics]

    def source(rng: np.random.Generator) -> np.ndarray:
        if fixed and rng.random() < mosaic_prob:
            return fixed[int(rng.integers(len(fixed)))]
        return panda_like_layout(rng, frame_w, frame_h, config)

    return source


#: Synthetic PANDA-like layouts with a random perspective per layout (person height 10-40 px at
#: the top, 150-450 px at the bottom of a 2160-row frame).
RANDOM_PERSPECTIVE_CONFIG = PandaLayoutConfig(h_top_range=(10.0, 40.0), h_bottom_range=(150.0, 450.0))

#: One 1080p tile of :func:`synthetic_mosaic_layout`: a street-level view like the MOT17
#: sequences (camera at head height: fewer people in wide rows around the middle of the tile,
#: person height 20-300 px at the top and 20-600 px at the bottom of the band, so size may
#: barely depend on y or even shrink downwards; strong size jitter for depth along the rows).
MOSAIC_TILE_CONFIG = PandaLayoutConfig(
    n_groups=(0, 3),
    group_size=(2, 15),
    n_isolated=(0, 6),
    ref_height=1080.0,
    h_top_range=(20.0, 300.0),
    h_bottom_range=(20.0, 600.0),
    elongation=(2.0, 6.0),
    size_jitter=0.4,
    y_range=(0.3, 0.8),
    n_empty=(0, 1),
)


def synthetic_mosaic_layout(
    rng: np.random.Generator,
    frame_w: int = 3840,
    frame_h: int = 2160,
    tile_config: PandaLayoutConfig | None = None,
) -> np.ndarray:
    """Draw a 2x2 mosaic of four independent synthetic tiles (no real data needed).

    Mimics :func:`mosaic_2x2_layouts` of MOT17 frames: every quadrant is its own scene with its
    own perspective, so person size is no longer a function of the frame y alone.

    Args:
        rng: random generator.
        frame_w: mosaic width (tiles are ``frame_w // 2`` wide).
        frame_h: mosaic height (tiles are ``frame_h // 2`` high).
        tile_config: layout parameters of a tile (default :data:`MOSAIC_TILE_CONFIG`).

    Returns:
        (N, 4) float32 xyxy boxes in mosaic pixels.
    """
    cfg = tile_config or MOSAIC_TILE_CONFIG
    tw, th = frame_w // 2, frame_h // 2
    parts = []
    for q in range(4):
        b = panda_like_layout(rng, tw, th, cfg).astype(np.float64)
        b[:, [0, 2]] += (q % 2) * tw
        b[:, [1, 3]] += (q // 2) * th
        parts.append(b)
    return np.concatenate(parts, axis=0).astype(np.float32).reshape(-1, 4)


def default_training_source(
    mosaic_prob: float = 0.3, frame_w: int = 3840, frame_h: int = 2160
) -> Callable[[np.random.Generator], np.ndarray]:
    """Return the default RL-DCA training layout generator ``rng -> xyxy`` (synthetic only).

    With probability ``mosaic_prob`` a :func:`synthetic_mosaic_layout`, otherwise a
    :func:`panda_like_layout` with :data:`RANDOM_PERSPECTIVE_CONFIG`.
    """

    def source(rng: np.random.Generator) -> np.ndarray:
        if rng.random() < mosaic_prob:
            return synthetic_mosaic_layout(rng, frame_w, frame_h)
        return panda_like_layout(rng, frame_w, frame_h, RANDOM_PERSPECTIVE_CONFIG)

    source.__name__ = f"synthetic(panda_like_random_perspective+{mosaic_prob:g}*synthetic_mosaic)"
    return source
