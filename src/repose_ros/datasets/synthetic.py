"""Synthetic annotated scenes for the fake detector (no data needed)."""
from __future__ import annotations

from typing import List, Tuple

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
