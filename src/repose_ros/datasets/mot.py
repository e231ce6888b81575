"""MOT17-style sequences: finding them, their annotated frames and 2x2 mosaics of four 1080p frames."""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.datasets.annotated import MOT_IGNORE_CLASSES, EvalFrame
from repose_ros.core.boxes import box_array


TARGET_4K = (3840, 2160)

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class MotSequence:
    """A MOT sequence: ground-truth rows and image paths in frame order."""

    name: str
    rows: np.ndarray
    images: List[Path]
    frame_ids: List[int]
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.images)

    def boxes(self, frame_id: int, min_visibility: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(gt, ignore)`` xyxy of ``frame_id``.

        Ground truth: ``conf == 1`` and ``class == 1`` with visibility >= ``min_visibility``;
        ignore: classes 2, 7, 8, 12 and pedestrians below the visibility threshold.
        """
        _, gt, ignore = self.tracks(frame_id, min_visibility)
        return gt, ignore

    def tracks(self, frame_id: int, min_visibility: float = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(track ids, gt xyxy, ignore xyxy)`` of ``frame_id`` (ground truth and ignore as :meth:`boxes`)."""
        r = self.rows[self.rows[:, 0] == frame_id] if self.rows.size else np.zeros((0, 9))
        if len(r) == 0:
            return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)
        xyxy = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
        ped = (r[:, 6] == 1) & (r[:, 7] == 1)
        vis = r[:, 8] if r.shape[1] > 8 else np.ones(len(r))
        gt = ped & (vis >= min_visibility)
        ign = np.isin(r[:, 7], MOT_IGNORE_CLASSES) | (ped & ~gt)
        return r[gt, 1].astype(np.int64), xyxy[gt].astype(np.float32), xyxy[ign].astype(np.float32)

    def all_boxes(self, frame_id: int) -> np.ndarray:
        """Return every annotated box of ``frame_id`` (any class, any flag)."""
        r = self.rows[self.rows[:, 0] == frame_id] if self.rows.size else np.zeros((0, 9))
        return np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1).reshape(-1, 4)

    def read(self, index: int) -> np.ndarray:
        """Read image ``index`` (0-based position in the sequence) as BGR."""
        import cv2

        img = cv2.imread(str(self.images[index]), cv2.IMREAD_COLOR)
        if img is None:
            raise IOError(f"cannot read {self.images[index]}")
        return img


def find_mot_sequences(root: str | os.PathLike) -> List[MotSequence]:
    """Load every MOT sequence (``gt/gt.txt`` + ``img1/``) under ``root`` or ``root/train``."""
    base = Path(root).expanduser()
    out: List[MotSequence] = []
    for folder in (base, base / "train"):
        if not folder.is_dir():
            continue
        for d in sorted(p for p in folder.iterdir() if p.is_dir()):
            gt, img_dir = d / "gt" / "gt.txt", d / "img1"
            if not gt.is_file() or not img_dir.is_dir():
                continue
            rows = np.loadtxt(gt, delimiter=",", ndmin=2, dtype=np.float64)
            if rows.size and rows.shape[1] < 8:
                raise ValueError(f"{gt}: expected at least 8 columns, got {rows.shape[1]}")
            imgs = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXT and p.stem.isdigit())
            if not imgs:
                continue
            size = _seqinfo_size(d)
            if size is None:
                import cv2

                probe = cv2.imread(str(imgs[0]), cv2.IMREAD_COLOR)
                if probe is None:
                    continue
                size = (probe.shape[1], probe.shape[0])
            out.append(MotSequence(d.name, rows, imgs, [int(p.stem) for p in imgs], size[0], size[1]))
    return out


def _seqinfo_size(seq_dir: Path) -> Optional[Tuple[int, int]]:
    from repose_ros.datasets.layouts import read_seqinfo

    return read_seqinfo(seq_dir)


def _take_round_robin(groups: Sequence[Sequence[Any]], n: int) -> List[Any]:
    """Take items of ``groups`` in turn (first of each, then second of each ...), up to ``n``."""
    out: List[Any] = []
    depth = 0
    while len(out) < n and any(depth < len(g) for g in groups):
        for g in groups:
            if depth < len(g) and len(out) < n:
                out.append(g[depth])
        depth += 1
    return out


def mot_frames(seqs: Sequence[MotSequence], n_frames: int, min_visibility: float = 0.0) -> List[EvalFrame]:
    """Frames of the sequences as they are (frame 2 onwards, so that each has a previous frame)."""
    groups = []
    for s in seqs:
        items = []
        for i in range(1 if len(s) > 1 else 0, len(s)):
            gt, ign = s.boxes(s.frame_ids[i], min_visibility)
            items.append(EvalFrame(
                name=f"{s.name}/{s.frame_ids[i]:06d}", sequence=s.name, index=i, width=s.width,
                height=s.height, gt=gt, ignore=ign, load=(lambda s=s, i=i: s.read(i)),
                load_history=(lambda s=s, i=i: s.read(i - 1)) if i > 0 else None))
        groups.append(items)
    return _take_round_robin(groups, n_frames)


def _transform(xyxy: np.ndarray, ox: float, oy: float, sx: float, sy: float, dx: float, dy: float) -> np.ndarray:
    """Map boxes: subtract the crop origin, scale, add the destination offset."""
    b = box_array(xyxy).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - ox) * sx + dx
    b[:, [1, 3]] = (b[:, [1, 3]] - oy) * sy + dy
    return b


def _clip_visible(xyxy: np.ndarray, region: Tuple[float, float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to ``region``; return the clipped boxes and the fraction of each box kept."""
    x0, y0, x1, y1 = region
    b = box_array(xyxy)
    c = b.copy()
    c[:, [0, 2]] = np.clip(c[:, [0, 2]], x0, x1)
    c[:, [1, 3]] = np.clip(c[:, [1, 3]], y0, y1)
    area = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    inside = np.prod(np.clip(c[:, 2:] - c[:, :2], 0, None), axis=1)
    return c, np.divide(inside, area, out=np.zeros_like(area), where=area > 0)


def _place_boxes(gt: np.ndarray, ignore: np.ndarray, crop: Tuple[int, int, int, int], sx: float, sy: float,
                 dx: float, dy: float, min_inside: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Move a source frame's boxes into a canvas tile; boxes mostly cut off become ignore regions."""
    x0, y0, x1, y1 = crop
    g, frac = _clip_visible(gt, crop)
    i, ifrac = _clip_visible(ignore, crop)
    keep = frac >= min_inside
    cut = (frac > 0) & ~keep
    gt_out = _transform(g[keep], x0, y0, sx, sy, dx, dy)
    ign_out = _transform(np.concatenate([g[cut], i[ifrac > 0]]), x0, y0, sx, sy, dx, dy)
    return gt_out.astype(np.float32), ign_out.astype(np.float32)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if img.shape[1] == w and img.shape[0] == h:
        return img
    interp = cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (int(w), int(h)), interpolation=interp)


def mot_mosaic_2x2(seqs: Sequence[MotSequence], n_frames: int, seed: int = 0,
                   tile: Tuple[int, int] = (1920, 1080), min_visibility: float = 0.0) -> List[EvalFrame]:
    """2x2 mosaics of four different frames (each resized to ``tile``) with their boxes shifted.

    A mosaic sequence takes the t-th frame of four sequences (distinct when there are at least
    four); consecutive t give consecutive mosaics, so each mosaic (from t = 2) has a previous
    one. Frames are taken round-robin over the mosaic sequences, then over t.
    """
    if not seqs:
        return []
    rng = np.random.default_rng(seed)
    tw, th = tile
    if len(seqs) >= 4:
        combos = [list(c) for c in itertools.combinations(range(len(seqs)), 4)]
        combos = [combos[i] for i in rng.permutation(len(combos))]
    else:
        combos = [list(rng.choice(len(seqs), size=4, replace=True)) for _ in range(4)]
    groups: List[List[EvalFrame]] = []
    for g, combo in enumerate(combos):
        order = [combo[i] for i in rng.permutation(4)]
        quads = [seqs[i] for i in order]
        length = min(len(s) for s in quads)

        def load(t: int, quads: List[MotSequence] = quads) -> np.ndarray:
            canvas = np.zeros((2 * th, 2 * tw, 3), np.uint8)
            for q, s in enumerate(quads):
                x, y = (q % 2) * tw, (q // 2) * th
                canvas[y:y + th, x:x + tw] = _resize(s.read(t), tw, th)
            return canvas

        items = []
        for t in range(1 if length > 1 else 0, length):
            gts, igns = [], []
            for q, s in enumerate(quads):
                gt, ign = s.boxes(s.frame_ids[t], min_visibility)
                sx, sy = tw / float(s.width), th / float(s.height)
                a, b = _place_boxes(gt, ign, (0, 0, s.width, s.height), sx, sy, (q % 2) * tw, (q // 2) * th)
                gts.append(a)
                igns.append(b)
            name = "+".join(f"{s.name}/{s.frame_ids[t]:06d}" for s in quads)
            items.append(EvalFrame(
                name=f"mosaic{g}:{name}", sequence=f"mosaic{g}", index=t, width=2 * tw, height=2 * th,
                gt=np.concatenate(gts), ignore=np.concatenate(igns), load=(lambda t=t, f=load: f(t)),
                load_history=(lambda t=t, f=load: f(t - 1)) if t > 0 else None,
                info={"sources": [s.name for s in quads]}))
        groups.append(items)
    return _take_round_robin(groups, n_frames)
