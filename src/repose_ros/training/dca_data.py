"""Training layouts for RL-DCA that look like what the policy sees at run time: coarse boxes.

At run time the partitioner clusters the boxes of the coarse pass (a small input, a low
threshold), which misses most small people and places the boxes it finds with some error. A
policy trained on ground-truth layouts learns on frames it never sees. Two sources here:

* :func:`coarse_layouts`: the coarse boxes of the shipped coarse stage on real annotated frames
  (any ``repose eval`` data set), computed once and cached in an ``.npz`` so that training never
  runs the detector;
* :func:`degraded_source`: generated PANDA-like layouts thinned and jittered like a coarse pass:
  a box is kept with the profile's measured recall of the coarse model at its size (at the
  coarse model's input), and its corners move by a Gaussian share of its size
  (``jitter``, a parameter: the coarse pass's localisation error is not in the profile).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["coarse_layouts", "degraded_source", "mixed_source", "CoarseLayout"]

#: ``(xyxy, frame_w, frame_h, gt)``: one frame's coarse boxes, its size and its annotated people
#: (what the training reward counts; the policy sees only the coarse boxes).
CoarseLayout = Tuple[np.ndarray, int, int, np.ndarray]


def _cache_key(spec: str, n_frames: int, skip: int, mosaic: str, seed: int, coarse_model: str, conf: float,
               servers: int) -> str:
    text = json.dumps(["v2", spec, n_frames, skip, mosaic, seed, coarse_model, conf, servers])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def coarse_layouts(spec: str, n_frames: int, cache_dir: str | Path, skip: int = 0, mosaic: str = "none",
                   seed: int = 0, coarse_model: str = "yolov8s@640", conf: float = 0.05, servers: int = 4,
                   weights: str = "builtin:yolov8s-person", progress: bool = True) -> List[CoarseLayout]:
    """Return the coarse boxes of the shipped coarse stage on frames of a data set (cached).

    Args:
        spec: data set as ``repose eval --dataset`` takes it (``mot17:PATH``, ``visdrone:PATH``).
        n_frames: frames to load (before ``skip``).
        cache_dir: folder of the ``.npz`` cache (its name encodes every argument).
        skip: leave out the first ``skip`` frames (e.g. the ones ``repose eval`` evaluates).
        mosaic: ``none``, ``2x2`` or ``collage`` (MOT data).
        seed: seed of the mosaics / collages.
        coarse_model: coarse model key of the profile (weights name @ input size).
        conf: coarse confidence threshold.
        servers: N, the number of coarse blocks.
        weights: weights of the coarse model.
        progress: show a progress bar while the detector runs.

    Returns:
        ``(xyxy, frame_w, frame_h, gt)`` per frame, frames without coarse boxes included.
    """
    key = _cache_key(spec, n_frames, skip, mosaic, seed, coarse_model, conf, servers)
    cache = Path(cache_dir) / f"coarse_{key}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            sizes = z["sizes"]
            return [(z[f"b{i}"], int(w), int(h), z[f"g{i}"]) for i, (w, h) in enumerate(sizes)]
    from repose_ros.datasets.load import load_dataset
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.core.keys import parse_key

    name = parse_key(coarse_model)[0]
    data = load_dataset(spec, n_frames + skip, mosaic, seed)
    rp = RePose(RePoseConfig(num_servers=servers, coarse_model=coarse_model, coarse_conf=conf,
                             weights={name: weights}, partitioner="meanshift"))
    frames = data.frames[skip:]
    out: List[CoarseLayout] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(frames), desc=f"coarse boxes {spec.split(':')[0]}", unit="frame")
    for f in frames:
        image = f.load()
        det = rp.coarse(image)
        out.append((det.xyxy.astype(np.float32).reshape(-1, 4), int(image.shape[1]), int(image.shape[0]),
                    np.asarray(f.gt, np.float32).reshape(-1, 4)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    cache.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"b{i}": b for i, (b, _, _, _) in enumerate(out)}
    arrays.update({f"g{i}": g for i, (_, _, _, g) in enumerate(out)})
    np.savez_compressed(cache, sizes=np.array([[w, h] for _, w, h, _ in out], np.int64), **arrays)
    return out


def degraded_source(recall_of_area: Callable[[np.ndarray], np.ndarray], coarse_scale: Callable[[int, int], float],
                    frame_w: int = 3840, frame_h: int = 2160, jitter: float = 0.08,
                    draw: Optional[Callable[..., np.ndarray]] = None) -> Callable[[np.random.Generator], CoarseLayout]:
    """Return ``rng -> (xyxy, w, h, gt)``: generated layouts thinned by coarse recall and jittered (``gt``: all).

    Args:
        recall_of_area: recall of the coarse pass at box areas in coarse-input px^2 (e.g.
            ``lambda a: profiles.recall_of_area("yolov8s@640", a)``).
        coarse_scale: ``(frame_w, frame_h) -> scale`` from frame pixels to the coarse input.
        frame_w: frame width.
        frame_h: frame height.
        jitter: standard deviation of each corner's move, as a share of the box's width/height.
        draw: ``(rng, frame_w, frame_h) -> xyxy`` (default: PANDA-like layouts).
    """
    if draw is None:
        from repose_ros.datasets.layouts import panda_like_layout

        draw = panda_like_layout

    def source(rng: np.random.Generator) -> CoarseLayout:
        gt = np.asarray(draw(rng, frame_w, frame_h), np.float64).reshape(-1, 4)
        if not len(gt):
            return gt.astype(np.float32), frame_w, frame_h, gt.astype(np.float32)
        s = coarse_scale(frame_w, frame_h)
        areas = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) * s * s
        keep = rng.random(len(gt)) < np.clip(recall_of_area(areas), 0.0, 1.0)
        b = gt[keep]
        wh = np.tile(b[:, 2:4] - b[:, 0:2], 2)  # (w, h, w, h): the scale of each corner coordinate
        b = b + rng.normal(0.0, jitter, b.shape) * wh
        b[:, [0, 2]] = np.clip(np.sort(b[:, [0, 2]], axis=1), 0, frame_w)
        b[:, [1, 3]] = np.clip(np.sort(b[:, [1, 3]], axis=1), 0, frame_h)
        ok = (b[:, 2] - b[:, 0] >= 2) & (b[:, 3] - b[:, 1] >= 2)
        return b[ok].astype(np.float32), frame_w, frame_h, gt.astype(np.float32)

    return source


def mixed_source(sources: Sequence[Tuple[float, Any]]) -> Callable[[np.random.Generator], CoarseLayout]:
    """Return ``rng -> layout`` drawing from weighted sources (a callable or a list of layouts each)."""
    weights = np.array([w for w, _ in sources], np.float64)
    if not len(weights) or weights.sum() <= 0 or (weights < 0).any():
        raise ValueError("need at least one source with a positive weight")
    p = weights / weights.sum()

    def source(rng: np.random.Generator) -> CoarseLayout:
        i = int(rng.choice(len(p), p=p))
        src = sources[i][1]
        if callable(src):
            return src(rng)
        return src[int(rng.integers(len(src)))]

    return source
