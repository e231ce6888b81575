"""Annotated frames as model inputs: what ``repose profile`` measures precision on.

Frames (:class:`FrameSample`) come from MOT sequences, VisDrone-DET or a generator; each is
shown to a model as one letterboxed input at a scale (:func:`make_model_input`), and
:class:`repose_ros.evaluation.area_bins.AreaBinEvaluator` accumulates COCO-style AP50:95 and
recall per bin of object area at the model input. Used by :mod:`repose_ros.profiling.run` and
:mod:`repose_ros.profiling.upscale`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from repose_ros.datasets.compose import clip_visible


LETTERBOX_GREY = 114


# --------------------------------------------------------------------------- data


@dataclass
class FrameSample:
    """One annotated frame: image (BGR) and boxes in frame pixels."""

    name: str
    image: np.ndarray
    gt: np.ndarray                    # (G, 4) xyxy pedestrians to evaluate
    ignore: np.ndarray                # (I, 4) xyxy ignore regions
    extra: Dict[str, Any] = field(default_factory=dict)


def load_mot_samples(root: Path, max_frames: int, min_visibility: float) -> List[FrameSample]:
    """Pick up to ``max_frames`` annotated frames, spread round-robin over the sequences.

    Sequences come from :func:`repose_ros.datasets.mot.find_mot_sequences`; consecutive frames are
    nearly identical, so every other annotated frame of a sequence is taken first.
    """
    import cv2

    from repose_ros.datasets.compose import take_round_robin
    from repose_ros.datasets.mot import find_mot_sequences

    queues = []
    for s in find_mot_sequences(root):
        annotated = set()
        if s.rows.size:
            ped = (s.rows[:, 6] == 1) & (s.rows[:, 7] == 1)
            annotated = set(np.unique(s.rows[ped, 0]).astype(int).tolist())
        order = sorted((i for i, f in enumerate(s.frame_ids) if f in annotated), key=lambda i: s.frame_ids[i])
        queues.append([(s, i) for i in order[::2] + order[1::2]])
    out: List[FrameSample] = []
    for s, i in take_round_robin(queues, max_frames):
        img = cv2.imread(str(s.images[i]), cv2.IMREAD_COLOR)
        if img is None:
            continue
        gt, ign = s.boxes(s.frame_ids[i], min_visibility)
        out.append(FrameSample(f"{s.name}/{s.frame_ids[i]:06d}", img, gt, ign))
    return out


def load_visdrone_samples(root: Path, max_frames: int) -> List[FrameSample]:
    """Read up to ``max_frames`` VisDrone-DET frames (persons; ignore regions) with the shared reader.

    :func:`repose_ros.datasets.visdrone.visdrone_frames` (the reader ``repose eval`` uses), frames at
    native resolution in its deterministic scene-round-robin order.
    """
    from repose_ros.datasets.visdrone import visdrone_frames
    out = []
    for f in visdrone_frames(root, max_frames):
        out.append(FrameSample(f"visdrone/{f.name}", f.load(), f.gt.astype(np.float32).reshape(-1, 4),
                               f.ignore.astype(np.float32).reshape(-1, 4)))
    return out


def synthetic_samples(n_frames: int, seed: int, frame_w: int = 1920,
                      frame_h: int = 1080) -> List[FrameSample]:
    """Generate frames for the fake back-end with :func:`repose_ros.datasets.synthetic.synthetic_frames`.

    PANDA-like layouts of 20 to 80 people, no ignore regions, on a grey image.
    """
    from repose_ros.datasets.synthetic import synthetic_frames

    return [FrameSample(f.name, f.load(), f.gt, f.ignore)
            for f in synthetic_frames(n_frames, seed, (frame_w, frame_h), boxes=(20, 80), ignore_fraction=0.0)]


# --------------------------------------------------------------------------- model inputs


@dataclass
class ModelInput:
    """An ``imgsz x imgsz`` model input cut from a rescaled frame, with its boxes."""

    image: np.ndarray
    scale: float                       # model-input pixels per frame pixel
    gt: np.ndarray                     # (G, 4) input-pixel boxes to evaluate
    ignore: np.ndarray                 # (I, 4) input-pixel ignore regions (incl. cut boxes)


def make_model_input(sample: FrameSample, imgsz: int, scale: float, rng: np.random.Generator,
                     min_inside: float = 0.5) -> ModelInput:
    """Rescale ``sample`` by ``scale`` and cut an ``imgsz`` square around a random person.

    The window covers ``imgsz / scale`` frame pixels per side; where it exceeds the frame the
    input is padded with the letterbox grey. Boxes less than ``min_inside`` inside the window
    become ignore regions. Resizing uses bilinear interpolation, as ultralytics' letterbox does.
    """
    import cv2
    fh, fw = sample.image.shape[:2]
    side = imgsz / scale
    if len(sample.gt):
        cx, cy = sample.gt[int(rng.integers(len(sample.gt)))].reshape(2, 2).mean(axis=0)
    else:
        cx, cy = rng.uniform(0, fw), rng.uniform(0, fh)

    def start(c: float, length: int) -> float:
        if side >= length:                       # window larger than the frame: centre the frame
            return (length - side) / 2.0
        return float(math.floor(np.clip(c - side / 2.0, 0, length - side)))

    wx0, wy0 = start(cx, fw), start(cy, fh)
    fx0, fy0 = int(max(0, math.floor(wx0))), int(max(0, math.floor(wy0)))
    fx1, fy1 = int(min(fw, math.ceil(wx0 + side))), int(min(fh, math.ceil(wy0 + side)))
    canvas = np.full((imgsz, imgsz, 3), LETTERBOX_GREY, np.uint8)
    ox, oy = max(0, int(round((fx0 - wx0) * scale))), max(0, int(round((fy0 - wy0) * scale)))
    tw = max(1, min(imgsz - ox, int(round((fx1 - fx0) * scale))))
    th = max(1, min(imgsz - oy, int(round((fy1 - fy0) * scale))))
    region = sample.image[fy0:fy1, fx0:fx1]
    interp = cv2.INTER_LINEAR
    canvas[oy:oy + th, ox:ox + tw] = cv2.resize(region, (tw, th), interpolation=interp)
    sx, sy = tw / max(fx1 - fx0, 1), th / max(fy1 - fy0, 1)

    def to_input(b: np.ndarray) -> np.ndarray:
        b = b.astype(np.float64).reshape(-1, 4)
        return np.stack([(b[:, 0] - fx0) * sx + ox, (b[:, 1] - fy0) * sy + oy,
                         (b[:, 2] - fx0) * sx + ox, (b[:, 3] - fy0) * sy + oy], axis=1)

    visible = (float(ox), float(oy), float(ox + tw), float(oy + th))   # the frame's part of the input
    gt_in, frac = clip_visible(to_input(sample.gt), visible)
    ign_in, ifrac = clip_visible(to_input(sample.ignore), visible)
    keep = frac >= min_inside
    cut = (frac > 0) & ~keep
    ignore = np.concatenate([gt_in[cut], ign_in[ifrac > 0]]).astype(np.float32)
    return ModelInput(canvas, float(math.sqrt(sx * sy)), gt_in[keep].astype(np.float32),
                      ignore.reshape(-1, 4))
