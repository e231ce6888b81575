"""Collect the blocks of each frame and decide when a frame is complete (ROS-free).

The aggregator node feeds :class:`FrameAssembler` with frame plans and block results as they
arrive, and polls it with the current time. A frame is released exactly once:

* when every planned block has arrived (complete), or
* when its deadline has passed (degraded): the missing blocks are replaced by the coarse
  detections that lie inside them, so the output never loses the coarse stage's objects, or
* at once, when its plan says it has no blocks (nothing to detect, or a dropped frame).

Blocks the plan left out (``skipped_rects``: the budget could not cover them) are answered by the
coarse detections inside them; that is the plan, not a degradation. With the frame size known,
the blocks' detections are fused by :func:`repose_ros.core.fusion.fuse_blocks` (fragments cut by
block edges dropped first), as in the in-process pipeline.

Results for unknown or already released frames are counted and ignored, so a late block can
never produce a second output for the same frame. Memory is bounded by ``max_pending``: at most
that many frames wait for blocks, and results that overtook their plan are kept for at most
that many frames (``max_early_per_frame`` results each); when more arrive the oldest are
forgotten, so results whose plan never comes (e.g. sent to an aggregator that was restarted)
cannot crowd out those of new frames.

Frames are identified by ``(session, frame_seq)``: the camera numbers frames from 0 in every run
and names each run with a session id, so a restarted camera's frames are new frames, not repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from repose_ros.core.detections import Detections
from repose_ros.core.fusion import DEFAULT_MAX_INPUT_AREA, answer_oversized, fuse, fuse_blocks


@dataclass
class PendingFrame:
    """What is known of one frame while its blocks are outstanding."""

    frame_seq: int
    num_blocks: int
    deadline: float
    coarse: Detections
    block_rects: List[tuple]
    context: object = None
    drop_reason: str = ""
    results: Dict[int, Detections] = field(default_factory=dict)
    failed: Dict[int, str] = field(default_factory=dict)
    session: int = 0
    skipped_rects: List[tuple] = field(default_factory=list)
    frame_size: Optional[Tuple[int, int]] = None
    block_scales: List[Optional[float]] = field(default_factory=list)


@dataclass
class FrameOutcome:
    """A released frame: fused detections and what happened to its blocks."""

    frame_seq: int
    detections: Detections
    blocks_expected: int
    blocks_received: int
    missing_block_ids: List[int]
    degraded: bool
    drop_reason: str
    context: object = None
    session: int = 0


FrameKey = Tuple[int, int]
"""``(session, frame_seq)``."""


@dataclass
class AssemblerStats:
    """Counters since start."""

    released: int = 0
    degraded: int = 0
    late_results: int = 0
    unknown_results: int = 0
    evicted: int = 0
    swapped_to_coarse: int = 0
    dropped_unconfirmed: int = 0
    answered_by_coarse: int = 0


class FrameAssembler:
    """Match block results to frame plans; release each frame exactly once."""

    def __init__(self, fusion_method: str = "nms", fusion_iou: float = 0.5, max_pending: int = 64,
                 released_memory: int = 4096, max_early_per_frame: int = 64,
                 max_input_area: float = DEFAULT_MAX_INPUT_AREA, drop_unconfirmed: bool = True,
                 answer_oversized: bool = True):
        self.fusion_method = fusion_method
        self.fusion_iou = fusion_iou
        self.max_input_area = max_input_area
        self.drop_unconfirmed = drop_unconfirmed
        self.answer_oversized = answer_oversized
        self.max_pending = max_pending
        self.max_early_per_frame = max_early_per_frame
        self._pending: Dict[FrameKey, PendingFrame] = {}   # in arrival order of the plans
        self._early: Dict[FrameKey, list] = {}
        self._released: Dict[FrameKey, None] = {}
        self._released_memory = released_memory
        self.stats = AssemblerStats()

    @property
    def pending(self) -> int:
        """Number of frames waiting for blocks."""
        return len(self._pending)

    def next_deadline(self) -> Optional[float]:
        """Return the earliest deadline of the frames waiting for blocks (None when none waits).

        :meth:`poll` releases nothing before it, so a caller can sleep until then.
        """
        return min((f.deadline for f in self._pending.values()), default=None)

    def add_plan(self, frame_seq: int, num_blocks: int, deadline: float, coarse: Detections,
                 block_rects: Optional[List[tuple]] = None, drop_reason: str = "",
                 context: object = None, session: int = 0, skipped_rects: Optional[List[tuple]] = None,
                 frame_size: Optional[Tuple[int, int]] = None,
                 block_scales: Optional[List[Optional[float]]] = None) -> List[FrameOutcome]:
        """Register a frame; returns frames released as a consequence (this one or evicted ones).

        ``block_rects`` are the (x0, y0, x1, y1) of the blocks sent to servers, ``skipped_rects``
        those of the blocks the plan left out, ``frame_size`` (w, h) enables fragment dropping.
        ``block_scales`` (one per block rect: model-input pixels per frame pixel, None for a block
        answered by coarse boxes) enables swapping oversized detections for coarse boxes
        (:func:`repose_ros.core.fusion.swap_oversized`, ``max_input_area``), dropping those that
        no coarse box confirms (``drop_unconfirmed``) and publishing the coarse boxes of large people
        no block detection answers (``answer_oversized``; :func:`repose_ros.core.fusion.answer_oversized`).
        """
        out: List[FrameOutcome] = []
        key = (session, frame_seq)
        if key in self._pending or key in self._released:
            return out
        rects = list(block_rects or [])
        if len(rects) != num_blocks:
            raise ValueError(f"frame {frame_seq}: {num_blocks} blocks but {len(rects)} rectangles")
        scales = list(block_scales or [])
        if scales and len(scales) != num_blocks:
            raise ValueError(f"frame {frame_seq}: {num_blocks} blocks but {len(scales)} scales")
        self._pending[key] = PendingFrame(frame_seq, num_blocks, deadline, coarse, rects, context, drop_reason,
                                          session=session, skipped_rects=list(skipped_rects or []),
                                          frame_size=frame_size, block_scales=scales)
        for args in self._early.pop(key, []):
            self._add(key, *args)
        if num_blocks == 0 or self._complete(self._pending[key]):
            out.append(self._release(key))
        while len(self._pending) > self.max_pending:
            self.stats.evicted += 1
            out.append(self._release(next(iter(self._pending))))  # the plan that arrived first
        return out

    def add_result(self, frame_seq: int, block_id: int, detections: Optional[Detections],
                   error: str = "", session: int = 0) -> List[FrameOutcome]:
        """Register the result of one block (``detections=None`` with ``error`` for a failed block)."""
        key = (session, frame_seq)
        if key in self._released:
            self.stats.late_results += 1
            return []
        if key not in self._pending:
            # The result overtook its plan (different topics): keep it briefly, forgetting the
            # oldest such frame when too many wait (their plan may never come).
            early = self._early.get(key)
            if early is None:
                while len(self._early) >= self.max_pending:
                    self.stats.unknown_results += len(self._early.pop(next(iter(self._early))))
                early = self._early[key] = []
            if len(early) >= self.max_early_per_frame:
                self.stats.unknown_results += 1
                return []
            early.append((block_id, detections, error))
            return []
        self._add(key, block_id, detections, error)
        frame = self._pending[key]
        return [self._release(key)] if self._complete(frame) else []

    def poll(self, now: float) -> List[FrameOutcome]:
        """Release every frame whose deadline is at or before ``now`` (earliest deadline first)."""
        due = sorted((f.deadline, i, key) for i, (key, f) in enumerate(self._pending.items()) if f.deadline <= now)
        return [self._release(key) for _, _, key in due]

    def flush(self) -> List[FrameOutcome]:
        """Release everything still pending (shutdown), in the order the plans arrived."""
        return [self._release(key) for key in list(self._pending)]

    def _add(self, key: FrameKey, block_id, detections, error) -> None:
        frame = self._pending[key]
        if not 0 <= block_id < frame.num_blocks or block_id in frame.results or block_id in frame.failed:
            self.stats.unknown_results += 1
            return
        if detections is None:
            frame.failed[block_id] = error or "failed"
        else:
            frame.results[block_id] = detections

    @staticmethod
    def _complete(frame: PendingFrame) -> bool:
        return len(frame.results) + len(frame.failed) >= frame.num_blocks

    def _release(self, key: FrameKey) -> FrameOutcome:
        frame = self._pending.pop(key)
        self._released[key] = None
        while len(self._released) > self._released_memory:
            self._released.pop(next(iter(self._released)))
        missing = [b for b in range(frame.num_blocks) if b not in frame.results]
        done = sorted(frame.results)
        parts = [frame.results[b] for b in done]
        rects = [frame.block_rects[b] for b in done]
        if frame.block_scales and parts:
            parts, coarse_in, swapped, dropped, answered = answer_oversized(
                parts, rects, [frame.block_scales[b] for b in done], frame.coarse, self.max_input_area,
                drop_unmatched=self.drop_unconfirmed, answer=self.answer_oversized)
            self.stats.swapped_to_coarse += swapped
            self.stats.dropped_unconfirmed += dropped
            self.stats.answered_by_coarse += answered
            if len(coarse_in):
                parts.append(coarse_in)
                rects.append((0, 0, 1 << 30, 1 << 30))  # coarse boxes: seen on the whole frame, never cut
        if frame.num_blocks == 0 and not frame.skipped_rects:
            parts.append(frame.coarse)
            rects.append((0, 0, 1 << 30, 1 << 30))
        elif missing or frame.skipped_rects:
            parts.append(_coarse_inside(frame.coarse, [frame.block_rects[b] for b in missing] + frame.skipped_rects))
            rects.append((0, 0, 1 << 30, 1 << 30))  # coarse boxes: seen on the whole frame, never cut
        if not parts:
            fused = Detections.empty()
        elif frame.frame_size is not None:
            fused = fuse_blocks(parts, rects, frame.frame_size[0], frame.frame_size[1], method=self.fusion_method,
                                iou=self.fusion_iou)
        else:
            fused = fuse(parts, method=self.fusion_method, iou=self.fusion_iou)
        degraded = bool(missing) or bool(frame.drop_reason)
        self.stats.released += 1
        self.stats.degraded += int(degraded)
        return FrameOutcome(frame.frame_seq, fused, frame.num_blocks, len(frame.results), missing, degraded,
                            frame.drop_reason, frame.context, frame.session)


def _coarse_inside(coarse: Detections, rects: List[tuple]) -> Detections:
    """Coarse detections whose centre lies inside any of the rectangles (x0, y0, x1, y1)."""
    if len(coarse) == 0 or not rects:
        return Detections.empty()
    c = coarse.centers
    r = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
    inside = ((c[:, None, 0] >= r[None, :, 0]) & (c[:, None, 0] < r[None, :, 2])
              & (c[:, None, 1] >= r[None, :, 1]) & (c[:, None, 1] < r[None, :, 3])).any(axis=1)
    return coarse[inside]
