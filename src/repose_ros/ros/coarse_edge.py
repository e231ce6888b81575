"""Coarse stage on the edge servers: collect the N coarse blocks' answers of a frame (no rclpy).

With ``coarse.on_edge`` the camera node's worker thread sends coarse block ``i`` of a frame to an
edge server and waits, with a timeout, for the answers; the answers arrive in a subscription
callback on the executor's threads. :class:`CoarseCollector` is the meeting point: the worker
opens a frame (``open``), the callback adds answers (``add``), and ``wait`` returns when every
block has answered or the timeout has passed. The executor is never blocked; answers for frames
no longer waited for are counted and dropped.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

from repose_ros.core.blocks import Rect
from repose_ros.core.coarse import DEFAULT_ARTEFACT_ASPECT, DEFAULT_ARTEFACT_SPAN, merge_block_detections
from repose_ros.core.detections import Detections


@dataclass
class CoarseAnswer:
    """One coarse block's answer: detections (frame pixels) or the error the server reported."""

    detections: Optional[Detections]
    error: str = ""
    server_id: int = -1


@dataclass
class _Pending:
    n_blocks: int
    answers: Dict[int, CoarseAnswer] = field(default_factory=dict)


class CoarseCollector:
    """Pending coarse frames: blocks sent, answers received; thread-safe."""

    def __init__(self):
        self._cv = threading.Condition()
        self._pending: Dict[Hashable, _Pending] = {}
        self.late = 0        # answers for frames no longer waited for (after the timeout)
        self.unexpected = 0  # answers with a block id out of range, or a second answer for a block
        self._closed = False

    def open(self, key: Hashable, n_blocks: int) -> None:
        """Start waiting for ``n_blocks`` answers of frame ``key`` (call before sending the blocks)."""
        with self._cv:
            self._pending[key] = _Pending(int(n_blocks))

    def add(self, key: Hashable, block_id: int, answer: CoarseAnswer) -> bool:
        """Register one answer; False (and counted) when nobody waits for it."""
        with self._cv:
            p = self._pending.get(key)
            if p is None:
                self.late += 1
                return False
            if not 0 <= block_id < p.n_blocks or block_id in p.answers:
                self.unexpected += 1
                return False
            p.answers[block_id] = answer
            if len(p.answers) >= p.n_blocks:
                self._cv.notify_all()
            return True

    def wait(self, key: Hashable, timeout_s: float) -> List[Optional[CoarseAnswer]]:
        """Wait until every block of ``key`` has answered or ``timeout_s`` has passed; forget the frame.

        Returns one entry per block: its answer, or None for a block that did not answer in time.
        """
        end = time.monotonic() + max(0.0, timeout_s)
        with self._cv:
            p = self._pending.get(key)
            if p is None:
                return []
            while len(p.answers) < p.n_blocks and not self._closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            self._pending.pop(key, None)
            return [p.answers.get(i) for i in range(p.n_blocks)]

    def close(self) -> None:
        """Wake every waiting thread (shutdown): their missing blocks count as not answered."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    @property
    def pending(self) -> int:
        """Frames currently waited for."""
        with self._cv:
            return len(self._pending)


def merge_coarse_answers(answers: Sequence[Optional[CoarseAnswer]], rects: Sequence[Rect], sent_to: Sequence[int],
                         frame_w: int, frame_h: int, iou: float, artefact_span: float = DEFAULT_ARTEFACT_SPAN,
                         artefact_aspect: float = DEFAULT_ARTEFACT_ASPECT,
                         counts: Optional[Dict[str, int]] = None) -> Tuple[Detections, List[str]]:
    """Merge the answers to a frame's coarse blocks into full-frame detections.

    Returns ``(merged, missing)``: a block without an answer (None) or with an error counts as
    empty, and ``missing`` names each such block, its server and why. Tile artefacts are dropped
    and counted as :func:`repose_ros.core.coarse.merge_block_detections` does.
    """
    per_block, missing = [], []
    for i, a in enumerate(answers):
        if a is None or a.detections is None:
            missing.append(f"{i} (server {sent_to[i]}: {a.error if a is not None else 'no answer'})")
            per_block.append(Detections.empty())
        else:
            per_block.append(a.detections)
    return merge_block_detections(per_block, rects, frame_w, frame_h, iou=iou, artefact_span=artefact_span,
                                  artefact_aspect=artefact_aspect, counts=counts), missing
