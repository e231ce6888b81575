"""MOT17-format data, the one reader: ``gt.txt`` rows, ``seqinfo.ini``, sequences, frames, 2x2 mosaics.

:func:`find_mot_sequences` loads sequences (:class:`MotSequence`) for evaluation and profiling;
:func:`mot_box_frames` lists annotated boxes only (partitioner layouts, no image read).
"""
from __future__ import annotations

import configparser
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from repose_ros.datasets.annotated import MOT_IGNORE_CLASSES, EvalFrame
from repose_ros.datasets.compose import place_boxes, resize_image, take_round_robin


TARGET_4K = (3840, 2160)

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")

#: A frame's boxes with its size: ``(xyxy float32 (N, 4), frame_w, frame_h)``.
SizedBoxes = Tuple[np.ndarray, int, int]


def read_mot_gt(path: str | os.PathLike, min_columns: int = 8) -> np.ndarray:
    """Read a MOT ``gt.txt`` (frame, id, x, y, w, h, conf, class, visibility) as float64 rows."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    if rows.size and rows.shape[1] < min_columns:
        raise ValueError(f"{path}: expected at least {min_columns} columns, got {rows.shape[1]}")
    return rows


def rows_xyxy(rows: np.ndarray) -> np.ndarray:
    """Boxes ``(N, 4)`` xyxy of MOT ground-truth rows (columns 2-5 hold x, y, w, h)."""
    return np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], axis=1).reshape(-1, 4)


def mot_boxes(rows: np.ndarray, frame_id: int, min_visibility: float = 0.0
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(track ids, gt xyxy, ignore xyxy)`` of ``frame_id`` in MOT ground-truth ``rows``.

    Ground truth: ``conf == 1`` and ``class == 1`` with visibility (column 9, when present) at
    least ``min_visibility``; ignore: classes 2, 7, 8, 12 and the pedestrians below the
    visibility threshold.
    """
    r = rows[rows[:, 0] == frame_id] if rows.size else np.zeros((0, 9))
    if len(r) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)
    xyxy = rows_xyxy(r)
    ped = (r[:, 6] == 1) & (r[:, 7] == 1)
    vis = r[:, 8] if r.shape[1] > 8 else np.ones(len(r))
    gt = ped & (vis >= min_visibility)
    ign = np.isin(r[:, 7], MOT_IGNORE_CLASSES) | (ped & ~gt)
    return r[gt, 1].astype(np.int64), xyxy[gt].astype(np.float32), xyxy[ign].astype(np.float32)


def read_seqinfo(seq_dir: str | os.PathLike) -> tuple[int, int] | None:
    """Return ``(width, height)`` from a MOT ``seqinfo.ini``, or None when unavailable."""
    ini = Path(seq_dir) / "seqinfo.ini"
    if not ini.is_file():
        return None
    cp = configparser.ConfigParser()
    cp.read(ini)
    try:
        return int(cp["Sequence"]["imWidth"]), int(cp["Sequence"]["imHeight"])
    except (KeyError, ValueError):
        return None


def load_mot_boxes(seq_dir: str | os.PathLike, gt_only: bool = True) -> dict[int, np.ndarray]:
    """Read MOT17-format ground truth as pedestrian boxes per frame.

    Args:
        seq_dir: a sequence folder (holding ``gt/gt.txt``) or the ``gt.txt`` file itself.
        gt_only: keep only rows with ``conf == 1`` and ``class == 1`` (pedestrians); when
            false, every row is returned.

    Returns:
        Mapping 1-based frame number -> (N, 4) float32 xyxy boxes in pixels. Frames without a
        kept box are absent.

    Raises:
        FileNotFoundError: if the ground-truth file does not exist.
    """
    p = Path(seq_dir)
    gt = p if p.is_file() else p / "gt" / "gt.txt"
    if not gt.is_file():
        raise FileNotFoundError(f"no MOT ground truth at {gt}")
    data = read_mot_gt(gt, min_columns=8 if gt_only else 6)
    if data.size == 0:
        return {}
    if gt_only:
        data = data[(data[:, 6] == 1) & (data[:, 7] == 1)]
    out: dict[int, np.ndarray] = {}
    frames = data[:, 0].astype(np.int64)
    for f in np.unique(frames):
        out[int(f)] = rows_xyxy(data[frames == f]).astype(np.float32)
    return out


def _sequence_dirs(root: str | os.PathLike) -> list[Path]:
    """Return the candidate sequence folders under ``root`` and ``root/train``, each folder's sorted.

    A MOT data set is laid out either way (``.../mot17_mini/train/MOT17-05-FRCNN`` or the sequences
    directly under the root); what a folder must hold is for the caller to check. A missing root
    gives an empty list.
    """
    base = Path(root).expanduser()
    return [d for folder in (base, base / "train") if folder.is_dir()
            for d in sorted(p for p in folder.iterdir() if p.is_dir())]


def mot_box_frames(root: str | os.PathLike, min_boxes: int = 1) -> list[tuple[str, int, SizedBoxes]]:
    """List every annotated frame of the MOT sequences under ``root``: boxes only, for layouts.

    Args:
        root: a folder holding sequence folders (each with ``gt/gt.txt`` and ``seqinfo.ini``)
            or a ``train`` folder of them (:func:`_sequence_dirs`, as :func:`find_mot_sequences`
            reads them); a missing folder gives an empty list.
        min_boxes: skip frames with fewer pedestrian boxes.

    Returns:
        List of ``(sequence name, frame number, (xyxy, frame_w, frame_h))``, sorted.
    """
    out: list[tuple[str, int, SizedBoxes]] = []
    for seq in _sequence_dirs(root):
        size = read_seqinfo(seq)
        if size is None or not (seq / "gt" / "gt.txt").is_file():
            continue
        for f, xyxy in sorted(load_mot_boxes(seq).items()):
            if len(xyxy) >= min_boxes:
                out.append((seq.name, f, (xyxy, size[0], size[1])))
    return out


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
        return mot_boxes(self.rows, frame_id, min_visibility)

    def all_boxes(self, frame_id: int) -> np.ndarray:
        """Return every annotated box of ``frame_id`` (any class, any flag)."""
        r = self.rows[self.rows[:, 0] == frame_id] if self.rows.size else np.zeros((0, 9))
        return rows_xyxy(r)

    def read(self, index: int) -> np.ndarray:
        """Read image ``index`` (0-based position in the sequence) as BGR."""
        import cv2

        img = cv2.imread(str(self.images[index]), cv2.IMREAD_COLOR)
        if img is None:
            raise IOError(f"cannot read {self.images[index]}")
        return img


def find_mot_sequences(root: str | os.PathLike) -> List[MotSequence]:
    """Load every MOT sequence (``gt/gt.txt`` + ``img1/``) under ``root`` or ``root/train``."""
    out: List[MotSequence] = []
    for d in _sequence_dirs(root):
        gt, img_dir = d / "gt" / "gt.txt", d / "img1"
        if not gt.is_file() or not img_dir.is_dir():
            continue
        rows = read_mot_gt(gt)
        imgs = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXT and p.stem.isdigit())
        if not imgs:
            continue
        size = read_seqinfo(d)
        if size is None:
            import cv2

            probe = cv2.imread(str(imgs[0]), cv2.IMREAD_COLOR)
            if probe is None:
                continue
            size = (probe.shape[1], probe.shape[0])
        out.append(MotSequence(d.name, rows, imgs, [int(p.stem) for p in imgs], size[0], size[1]))
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
    return take_round_robin(groups, n_frames)


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
                canvas[y:y + th, x:x + tw] = resize_image(s.read(t), tw, th)
            return canvas

        items = []
        for t in range(1 if length > 1 else 0, length):
            gts, igns = [], []
            for q, s in enumerate(quads):
                gt, ign = s.boxes(s.frame_ids[t], min_visibility)
                sx, sy = tw / float(s.width), th / float(s.height)
                a, b = place_boxes(gt, ign, (0, 0, s.width, s.height), sx, sy, (q % 2) * tw, (q // 2) * th)
                gts.append(a)
                igns.append(b)
            name = "+".join(f"{s.name}/{s.frame_ids[t]:06d}" for s in quads)
            items.append(EvalFrame(
                name=f"mosaic{g}:{name}", sequence=f"mosaic{g}", index=t, width=2 * tw, height=2 * th,
                gt=np.concatenate(gts), ignore=np.concatenate(igns), load=(lambda t=t, f=load: f(t)),
                load_history=(lambda t=t, f=load: f(t - 1)) if t > 0 else None,
                info={"sources": [s.name for s in quads]}))
        groups.append(items)
    return take_round_robin(groups, n_frames)
