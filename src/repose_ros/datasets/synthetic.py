"""Generated frames, the one home of them (no data needed).

* :func:`synthetic_frames`: annotated PANDA-like scenes for the fake detector (grey images: the
  fake detector reports the people it is told of);
* :func:`blob_scenes` and :func:`blob_grid_frame`: bright figures on a dark background, which
  the ``fake`` back-end (:func:`repose_ros.detectors.backends.bright_blobs`) finds in the pixels:
  PANDA-like scenes for the demo, a moving 3 x 3 grid that gives every edge server work for the
  launched-pipeline tests and the soak run.
"""
from __future__ import annotations

from typing import Iterator, List, Tuple

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.datasets.annotated import EvalFrame
from repose_ros.datasets.mot import TARGET_4K


def synthetic_frames(n_frames: int, seed: int = 0, size: Tuple[int, int] = TARGET_4K,
                     boxes: Tuple[int, int] = (60, 200), ignore_fraction: float = 0.03) -> List[EvalFrame]:
    """Generate PANDA-like scenes for the fake detector (grey images: a real network sees nothing).

    Each frame has a previous frame (the same people moved slightly); a few people are marked
    as ignore regions (the fake detector still reports them). Scores are random per person so
    that the ranking of detections matters.
    """
    from repose_ros.datasets.layouts import panda_like_layout

    w, h = size
    out = []
    for i in range(n_frames):
        rng = np.random.default_rng([int(seed), i])
        base = panda_like_layout(rng, w, h, n_boxes=int(rng.integers(boxes[0], boxes[1] + 1))).astype(np.float64)
        hgt = (base[:, 3] - base[:, 1])[:, None]
        prev = base + rng.normal(0.0, 0.05, base.shape) * hgt
        prev[:, [0, 2]] = np.clip(prev[:, [0, 2]], 0, w)
        prev[:, [1, 3]] = np.clip(prev[:, [1, 3]], 0, h)
        scores = rng.uniform(0.3, 1.0, len(base)).astype(np.float32)
        ign = rng.random(len(base)) < ignore_fraction
        ids = np.zeros(len(base), np.int32)
        out.append(EvalFrame(
            name=f"synthetic/{i:03d}", sequence=f"synthetic{i}", index=1, width=w, height=h,
            gt=base[~ign].astype(np.float32), ignore=base[ign].astype(np.float32),
            load=(lambda: np.full((h, w, 3), 114, np.uint8)),
            load_history=(lambda: np.full((h, w, 3), 114, np.uint8)),
            fake_gt=Detections(base.astype(np.float32), scores, ids),
            fake_history_gt=Detections(prev.astype(np.float32), scores, ids)))
    return out


def blob_scenes(count: int = 6, canvas=(3840, 2160), seed: int = 0) -> Iterator[np.ndarray]:
    """Yield dark frames with bright person-shaped rectangles, growing toward the bottom."""
    rng = np.random.default_rng(seed)
    w, h = canvas
    for _ in range(count):
        img = np.full((h, w, 3), 20, np.uint8)
        for _ in range(int(rng.integers(3, 7))):
            gx, gy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.1, 0.9) * h
            for _ in range(int(rng.integers(3, 15))):
                ph = 20 + 280 * (gy / h) ** 1.5
                pw = 0.4 * ph
                cx, cy = gx + rng.normal(0, 2.5 * pw), gy + rng.normal(0, 0.6 * ph)
                x0, y0 = int(np.clip(cx - pw / 2, 0, w - 2)), int(np.clip(cy - ph / 2, 0, h - 2))
                x1, y1 = int(np.clip(cx + pw / 2, x0 + 2, w)), int(np.clip(cy + ph / 2, y0 + 2, h))
                img[y0:y1, x0:x1] = 230
        yield img


def blob_grid_frame(index: int, width: int = 1920, height: int = 1080, blobs: int = 9) -> np.ndarray:
    """Bright rectangles (the ``fake`` back-end's 'people') on a dark frame, moving slowly with ``index``.

    The rectangles are spread over a 3 x 3 grid so that partitioning yields several blocks and
    every edge server gets work.
    """
    img = np.full((height, width, 3), 15, np.uint8)
    for k in range(blobs):
        gx, gy = k % 3, (k // 3) % 3
        bw, bh = max(4, width // 40), max(8, height // 12)
        x0 = int((gx + 0.2) * width / 3 + (index * 3 + 17 * k) % max(1, width // 6))
        y0 = int((gy + 0.15) * height / 3 + (7 * k) % max(1, height // 12))
        x0, y0 = min(x0, width - bw - 1), min(y0, height - bh - 1)
        img[y0:y0 + bh, x0:x0 + bw] = 240
    return img
