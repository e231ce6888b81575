"""Which planned frames got an answer: the partitioner's count of frames nobody answered.

The aggregator answers every frame whose plan reaches it, but a frame planned while no aggregator
runs (killed, restarting, not yet discovered) is answered by nobody, and the aggregator cannot
count what it never received. The sender of the plans can: :class:`AnswerLedger` remembers each
planned frame until its ``FrameReport`` comes back and gives a frame up as *unanswered* once its
deadline has passed by ``grace_s``. A report that arrives after that moves the frame from
*unanswered* to *answered* and counts it as *late*, so ``planned == answered + unanswered +
pending`` holds at every moment.

Plain Python (no rclpy); keys are whatever identifies a frame to the caller, e.g.
``(session_id, frame_seq)``; times are seconds on one clock.
"""
from __future__ import annotations

import collections
import heapq
from typing import Dict, Hashable, List


class AnswerLedger:
    """Frames planned and not yet answered, given up ``grace_s`` after their deadline.

    Args:
        grace_s: how long after a frame's deadline its answer may still come (the aggregator's
            deadline slack, transport and a busy reader's queue).
        max_pending: frames remembered at most; beyond, the oldest are given up at once (a
            stream whose answers stopped must not grow memory without bound).
        max_given_up: given-up frames remembered to recognise a late answer.
    """

    def __init__(self, grace_s: float = 5.0, max_pending: int = 4096, max_given_up: int = 4096) -> None:
        if grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if max_pending < 1 or max_given_up < 0:
            raise ValueError("max_pending must be >= 1 and max_given_up >= 0")
        self.grace_s = float(grace_s)
        self.max_pending = int(max_pending)
        self._pending: Dict[Hashable, float] = {}  # key -> time it is given up; insertion order = plan order
        self._heap: List[tuple] = []  # (give-up time, order, key); stale entries are skipped
        self._order = 0
        self._given_up: "collections.OrderedDict[Hashable, None]" = collections.OrderedDict()
        self._max_given_up = int(max_given_up)
        self.counts = collections.Counter(planned=0, answered=0, unanswered=0, late=0)

    @property
    def pending(self) -> int:
        """Frames planned whose answer has not come and whose time is not up."""
        return len(self._pending)

    def planned(self, key: Hashable, deadline_s: float) -> List[Hashable]:
        """Remember a frame planned now; return the frames given up to make room (usually none).

        A key planned again while pending (a duplicate) keeps its first entry and is not counted.
        """
        if key in self._pending:
            return []
        self.counts["planned"] += 1
        self._given_up.pop(key, None)
        until = float(deadline_s) + self.grace_s
        self._pending[key] = until
        heapq.heappush(self._heap, (until, self._order, key))
        self._order += 1
        if len(self._heap) > 4 * self.max_pending + 64:  # answered frames whose time is not up (a paused clock)
            self._heap = [e for e in self._heap if self._pending.get(e[2]) == e[0]]
            heapq.heapify(self._heap)
        dropped = []
        while len(self._pending) > self.max_pending:
            oldest = next(iter(self._pending))
            self._give_up(oldest)
            dropped.append(oldest)
        return dropped

    def answered(self, key: Hashable) -> str:
        """Note a frame's answer; return ``"answered"``, ``"late"`` (given up before) or ``"unknown"``.

        ``"unknown"``: a frame this ledger never planned (planned by an earlier process, or
        answered twice); it changes no count.
        """
        if self._pending.pop(key, None) is not None:
            self.counts["answered"] += 1
            return "answered"
        if key in self._given_up:
            del self._given_up[key]
            self.counts["unanswered"] -= 1
            self.counts["answered"] += 1
            self.counts["late"] += 1
            return "late"
        return "unknown"

    def overdue(self, now_s: float) -> List[Hashable]:
        """Give up every frame whose deadline passed ``grace_s`` before ``now_s``; return their keys."""
        out = []
        while self._heap and self._heap[0][0] <= now_s:
            until, _, key = heapq.heappop(self._heap)
            if self._pending.get(key) == until:
                self._give_up(key)
                out.append(key)
        if not self._pending:
            self._heap.clear()
        return out

    def _give_up(self, key: Hashable) -> None:
        del self._pending[key]
        self.counts["unanswered"] += 1
        if self._max_given_up:
            self._given_up[key] = None
            while len(self._given_up) > self._max_given_up:
                self._given_up.popitem(last=False)
