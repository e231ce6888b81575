"""Track ids for fused detections: ultralytics' ByteTrack or BoT-SORT on each frame's final boxes.

The trackers run on what the pipeline publishes (the fused full-frame detections), one frame
after the other. A :class:`Tracker` gives every detection of a frame the id of the track it
continues (or starts), or -1 where no track takes it (a low-score box that starts nothing).

Degraded frames (a block missing, answered by coarse boxes) still go through the tracker: a
person absent from one frame keeps its id as long as it comes back within ``track_buffer``
frames, so ids survive a degraded frame. Frames must come in capture order; a frame older than
the last one tracked is not tracked (:meth:`Tracker.update` returns None), since feeding it
would corrupt the motion model.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Optional

import numpy as np

from repose_ros.core.detections import Detections

TRACKERS = ("bytetrack", "botsort")


@dataclass
class TrackerConfig:
    """Tracker settings (the meaning of ultralytics' tracker YAML files; these are its defaults).

    ``method``: bytetrack or botsort (BoT-SORT here without re-identification; its global motion
    compensation, ``gmc_method``, needs the frame and is off where there is none).
    """

    method: str = "bytetrack"
    track_high_thresh: float = 0.25   # first association: boxes at least this confident
    track_low_thresh: float = 0.1     # second association: the rest down to this
    new_track_thresh: float = 0.25    # an unmatched box this confident starts a track
    track_buffer: int = 30            # frames a lost track is kept (ids survive this many missing frames)
    match_thresh: float = 0.8         # association cost limit (1 - IoU, fused with the score)
    fuse_score: bool = True
    gmc_method: str = "none"          # botsort: sparseOptFlow | orb | sift | ecc | none
    proximity_thresh: float = 0.5     # botsort
    appearance_thresh: float = 0.8    # botsort (re-identification, unused)

    def __post_init__(self):
        if self.method not in TRACKERS:
            raise ValueError(f"tracking method must be one of {', '.join(TRACKERS)}; got {self.method!r}")
        if not 0.0 <= self.track_low_thresh <= self.track_high_thresh <= 1.0:
            raise ValueError("tracker thresholds must satisfy 0 <= track_low_thresh <= track_high_thresh <= 1")
        if self.track_buffer < 1:
            raise ValueError("track_buffer must be at least 1 frame")


class _Boxes:
    """The results interface the ultralytics trackers read: conf, cls, xywh, xyxy, len, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray):
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.asarray(cls, np.float32).reshape(-1)

    @property
    def xywh(self) -> np.ndarray:
        x0, y0, x1, y1 = self.xyxy.T
        return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> "_Boxes":
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


def _make(cfg: TrackerConfig):
    args = SimpleNamespace(**{f.name: getattr(cfg, f.name) for f in fields(cfg)},
                           tracker_type=cfg.method, with_reid=False, model="auto")
    if cfg.method == "bytetrack":
        from ultralytics.trackers.byte_tracker import BYTETracker

        return BYTETracker(args)
    from ultralytics.trackers.bot_sort import BOTSORT

    return BOTSORT(args)


class Tracker:
    """One track-id stream (one camera); see the module docstring."""

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or TrackerConfig()
        self._tracker = _make(self.config)
        self._last_key = None
        self.frames = 0
        self.out_of_order = 0

    @property
    def last_key(self):
        """Key of the last frame tracked (None: none yet)."""
        return self._last_key

    def reset(self) -> None:
        """Forget every track (a new camera session); ids start again from 1."""
        self._tracker = _make(self.config)
        self._last_key = None

    def update(self, dets: Detections, key=None, frame: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """Track one frame; return an int64 id per detection (-1: no track), or None for an out-of-order frame.

        Args:
            dets: the frame's final detections (full-frame pixels).
            key: anything ordered by capture (frame number, stamp): a frame whose key is not
                after the previous one is not tracked.
            frame: the image (BoT-SORT's motion compensation uses it when ``gmc_method`` is set).
        """
        if key is not None and self._last_key is not None and key <= self._last_key:
            self.out_of_order += 1
            return None
        if key is not None:
            self._last_key = key
        ids = np.full(len(dets), -1, np.int64)
        boxes = _Boxes(dets.xyxy, dets.scores, dets.class_ids)
        img = frame if (frame is not None and self.config.gmc_method != "none") else None
        out = self._tracker.update(boxes, img)
        self.frames += 1
        for row in np.asarray(out).reshape(-1, 8):
            idx = int(row[7])
            if 0 <= idx < len(ids):
                ids[idx] = int(row[4])
        return ids


def track_metrics(frames, ignore_iou: float = 0.5, match_iou: float = 0.5) -> dict:
    """IDF1, MOTA and identity switches of track ids against ground truth (py-motmetrics).

    Args:
        frames: per frame ``(gt_ids, gt_xyxy, hyp_ids, hyp_xyxy, ignore_xyxy)``; hypotheses with a
            negative id (untracked) are left out.
        ignore_iou: a hypothesis overlapping an ignore box (MOT classes 2, 7, 8, 12) this much, and
            no ground-truth box as much, is left out (neither a hit nor a false positive).
        match_iou: a hypothesis matches a ground-truth box from this IoU on.

    Returns:
        ``{"idf1", "mota", "idp", "idr", "num_switches", "num_false_positives", "num_misses",
        "num_objects", "frames"}``.
    """
    import motmetrics as mm

    from repose_ros.core.boxes import box_iou

    acc = mm.MOTAccumulator(auto_id=True)
    for gt_ids, gt_xyxy, hyp_ids, hyp_xyxy, ign_xyxy in frames:
        gt_xyxy = np.asarray(gt_xyxy, np.float64).reshape(-1, 4)
        hyp_xyxy = np.asarray(hyp_xyxy, np.float64).reshape(-1, 4)
        hyp_ids = np.asarray(hyp_ids, np.int64).reshape(-1)
        keep = hyp_ids >= 0
        ign_xyxy = np.asarray(ign_xyxy, np.float64).reshape(-1, 4)
        if len(ign_xyxy) and keep.any():
            on_ignore = box_iou(hyp_xyxy, ign_xyxy).max(axis=1) >= ignore_iou
            on_gt = (box_iou(hyp_xyxy, gt_xyxy).max(axis=1) >= match_iou) if len(gt_xyxy) else np.zeros(len(keep), bool)
            keep &= ~(on_ignore & ~on_gt)
        hyp_xyxy, hyp_ids = hyp_xyxy[keep], hyp_ids[keep]

        # 1 - IoU, no match (NaN) below match_iou (motmetrics' own iou_matrix needs numpy < 2)
        iou = box_iou(gt_xyxy, hyp_xyxy) if len(gt_xyxy) and len(hyp_xyxy) else np.zeros((len(gt_xyxy), len(hyp_xyxy)))
        dist = np.where(iou >= match_iou, 1.0 - iou, np.nan)
        acc.update([int(i) for i in gt_ids], [int(i) for i in hyp_ids], dist)
    names = ["idf1", "mota", "idp", "idr", "num_switches", "num_false_positives", "num_misses", "num_objects"]
    summary = mm.metrics.create().compute(acc, metrics=names, name="all")
    out = {k: float(summary[k].iloc[0]) for k in names}
    out["frames"] = len(frames)
    return out
