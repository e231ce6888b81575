"""Health of each pipeline stage from its counters (plain Python; published as /diagnostics by ros.diagnostics).

Each ``*_health`` function takes what a node already counts and returns a :class:`Health`: a
level (OK, WARN, ERROR, as diagnostic_msgs/DiagnosticStatus), a one-line message and key/value
pairs. Levels look at the last reporting window (counts since the previous report, kept by
:class:`Window`) so that one bad minute an hour ago does not keep the node yellow forever; the
totals are reported too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}


@dataclass
class Health:
    """One status: level, message, ordered key/value pairs (values as strings)."""

    level: int
    message: str
    values: List[tuple] = field(default_factory=list)

    def add(self, key: str, value) -> "Health":
        """Append a key/value pair (floats with 1 decimal, sequences comma-separated)."""
        if isinstance(value, float):
            text = f"{value:.1f}"
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        self.values.append((key, text))
        return self


class Window:
    """Counts since the previous report: ``delta(counts)`` returns them and remembers the new totals."""

    def __init__(self):
        self._last: Dict[str, float] = {}

    def delta(self, counts: Mapping[str, float]) -> Dict[str, float]:
        """Return counts[k] - (counts[k] at the previous call) for every key (new keys count from 0)."""
        out = {k: v - self._last.get(k, 0) for k, v in counts.items()}
        self._last = dict(counts)
        return out


class Stall:
    """How long work has been waiting with nothing coming out (a stuck stage: ERROR from ``limit_s``).

    ``seconds(out_total, waiting)``: 0 while the output count moves or nothing waits; otherwise the
    time since it last moved.
    """

    def __init__(self, limit_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.limit_s, self._clock = float(limit_s), clock
        self._last_out, self._since = None, clock()

    def seconds(self, out_total: float, waiting: bool) -> float:
        """Seconds the stage has been stuck (0: not stuck)."""
        now = self._clock()
        if out_total != self._last_out or not waiting:
            self._last_out, self._since = out_total, now
            return 0.0
        return now - self._since


def _stalled(h: "Health", stalled_s: float, limit_s: float, what: str) -> "Health":
    """Make ``h`` an ERROR when the stage has been stuck for ``limit_s`` or more."""
    if stalled_s >= limit_s > 0:
        h.level = ERROR
        h.message = f"stalled: {what} for {stalled_s:.0f} s; " + h.message
    if stalled_s > 0:
        h.add("stalled s", float(stalled_s))
    return h


# camera counters that are no frame's outcome, and frames the node never saw
_CAMERA_INFO = frozenset(("received", "warm_up", "stamp_backwards", "coarse_artefacts"))
_CAMERA_LOST = frozenset(("lost_before_queue", "lost_dds"))
# camera counters of how the coarse stage on the edge (coarse.on_edge) went, not of frames' outcomes:
# a frame with a block unanswered is processed with that block counted empty, one without a live
# server is processed on the camera (degraded, not dropped)
_CAMERA_NOTES = {"coarse_block_missing": "coarse blocks unanswered (counted empty)",
                 "coarse_answer_late": "coarse answers after the timeout",
                 "coarse_here_no_live_server": "frames coarse on the camera (no live server)"}


def camera_handed_on(counts: Mapping[str, int]) -> int:
    """Frames the camera node took and handed on (processed, or dropped with a reason)."""
    return sum(v for k, v in counts.items() if k not in _CAMERA_INFO and k not in _CAMERA_LOST
               and k not in _CAMERA_NOTES)


def camera_health(counts: Mapping[str, int], window: Mapping[str, int], state: str, queued: int,
                  input_reliability: str = "", stalled_s: float = 0.0, stall_limit_s: float = 5.0) -> Health:
    """Judge the camera node: frames in, processed, dropped per reason (before and in the queue), losses.

    WARN: not active, or frames dropped or lost, coarse blocks on the edge unanswered or frames
    coarse on the camera for want of a live server, in the window. ERROR: frames have waited in
    the queue for ``stall_limit_s`` with none handed on (``stalled_s``, see :class:`Stall`). Keys
    ``dropped.<reason>`` list the totals of every drop reason; how the coarse stage on the edge
    went is listed apart (no frame's outcome).
    """
    benign = _CAMERA_INFO | {"processed"} | set(_CAMERA_NOTES)
    drops = {k: v for k, v in counts.items() if k not in benign and v}
    recent = sum(v for k, v in window.items() if k not in benign and v > 0)
    unanswered = max(window.get("coarse_block_missing", 0), 0)
    here = max(window.get("coarse_here_no_live_server", 0), 0)
    level = WARN if state != "active" or recent or unanswered or here else OK
    msg = (f"{state}: {window.get('received', 0)} frames in, {recent} dropped or lost since the last report"
           if state == "active" else f"{state}: takes no frames")
    if state == "active" and unanswered:
        msg += f"; {unanswered} coarse block(s) unanswered (counted empty)"
    if state == "active" and here:
        msg += f"; {here} frame(s) coarse on the camera (no live edge server)"
    h = Health(level, msg).add("state", state).add("frames received", counts.get("received", 0))
    h.add("frames processed", counts.get("processed", 0)).add("queued", queued)
    h.add("coarse artefacts dropped", counts.get("coarse_artefacts", 0))
    for key, label in _CAMERA_NOTES.items():
        if counts.get(key):
            h.add(label, counts[key])
    if input_reliability:
        h.add("input reliability", input_reliability)
    for reason in sorted(drops):
        h.add(f"dropped.{reason}", drops[reason])
    return _stalled(h, stalled_s, stall_limit_s, f"{queued} frame(s) queued, none handed on")


def partition_counts(last_check: Mapping[str, object], last_search: Mapping[str, object]) -> Dict[str, int]:
    """Counter increments for one partition, from ``RePose.last_check`` and ``RePose.last_search``.

    ``policy.scaled``: the scale policy picked a bandwidth other than the configured one;
    ``policy.kept`` / ``policy.reverted``: its check kept that clustering / chose the configured
    bandwidth's; ``search.runs``, ``search.steps``, ``search.plans`` and ``search.cut_by_time``:
    the look-ahead after the policy (``search_share``).
    """
    out: Dict[str, int] = {}
    if last_check and last_check.get("scale", 1.0) != 1.0:
        out["policy.scaled"] = 1
        kept = last_check.get("kept")
        if kept is not None:
            out["policy.kept" if kept else "policy.reverted"] = 1
    if last_search:
        out["search.runs"] = 1
        out["search.steps"] = int(last_search.get("steps", 0))
        out["search.plans"] = int(last_search.get("plans", 0))
        if last_search.get("stopped") == "time":
            out["search.cut_by_time"] = 1
    return out


def partitioner_health(counts: Mapping[str, int], window: Mapping[str, int], state: str, num_servers: int,
                       live: Sequence[int], ratios: Mapping[str, Mapping[str, float]],
                       measured: Mapping[str, Mapping[str, float]]) -> Health:
    """Judge the partitioner: frames planned, live servers, measured latency and ratio per server.

    ERROR: active without a live server (frames are answered with coarse boxes only), or planned
    frames given up as unanswered in the window (``answers.unanswered``: no aggregator answered
    them). WARN: not active, fewer live servers than configured, planning errors in the window, or
    frames planned in the window while nothing subscribed ``plan`` (``plan_no_subscriber``).
    """
    live = sorted(int(s) for s in live)
    lost = window.get("answers.unanswered", 0)
    if state != "active":
        level, msg = WARN, f"{state}: plans no frames"
    elif not live:
        level, msg = ERROR, f"no live edge server of {num_servers}: frames get coarse boxes only"
    else:
        level = WARN if len(live) < num_servers or window.get("plan_error", 0) > 0 else OK
        msg = f"{window.get('frames', 0)} frames planned since the last report; {len(live)}/{num_servers} servers live"
        unheard = window.get("plan_no_subscriber", 0)
        if unheard > 0:
            level, msg = max(level, WARN), msg + f"; {unheard} plan(s) published with no subscriber (no aggregator)"
    if lost > 0:
        level, msg = ERROR, msg + f"; {lost} planned frame(s) got no answer (is the aggregator running?)"
    h = Health(level, msg).add("state", state).add("frames planned", counts.get("frames", 0))
    if "answers.planned" in counts:
        h.add("frames answered", counts.get("answers.answered", 0))
        h.add("frames unanswered", counts.get("answers.unanswered", 0))
        h.add("frames awaiting an answer", counts.get("answers.pending", 0))
        h.add("answers after unanswered_after_s", counts.get("answers.late", 0))
    h.add("live servers", live or "none").add("blocks skipped (budget)", counts.get("blocks_skipped", 0))
    for key in ("no_live_server", "plan_error", "plan_no_subscriber", "inactive", "malformed_coarse",
                "unknown_server_status"):
        if counts.get(key):
            h.add(key, counts[key])
    if counts.get("policy.scaled"):  # what the scale policy and its check did (partition_counts)
        h.add("policy scale other than configured", counts["policy.scaled"])
        h.add("policy scale kept by the check", counts.get("policy.kept", 0))
        h.add("check chose the configured bandwidth", counts.get("policy.reverted", 0))
        h.add("plans reused from the check", counts.get("plan.reused", 0))
    if counts.get("search.runs"):
        h.add("searches after the policy", counts["search.runs"])
        h.add("search steps", counts.get("search.steps", 0)).add("search plans", counts.get("search.plans", 0))
        h.add("searches cut by the time limit", counts.get("search.cut_by_time", 0))
    for sid in sorted(set(ratios) | set(measured), key=lambda s: int(s) if str(s).isdigit() else 0):
        for model, ms in sorted(measured.get(sid, {}).items()):
            h.add(f"server {sid} {model} latency ms", float(ms))
        for model, r in sorted(ratios.get(sid, {}).items()):
            h.add(f"server {sid} {model} measured/predicted", f"{float(r):.2f}")
    return h


def aggregator_health(published: int, degraded: int, window: Mapping[str, int], state: str, pending: int,
                      malformed: int, late: int, recent_reasons: Iterable[str], e2e_ms: Sequence[float],
                      budget_ms: Sequence[float], stalled_s: float = 0.0, stall_limit_s: float = 5.0,
                      swapped: int = 0, dropped: int = 0, answered: int = 0) -> Health:
    """Judge the aggregator: frames answered, degraded (and why), pending, late blocks, latency vs budget.

    ``swapped``: block detections answered by the coarse box instead (too large at their block's
    input; :func:`repose_ros.core.fusion.swap_oversized`), ``dropped``: such detections that no
    coarse box confirmed, dropped; ``answered``: coarse boxes of people too large for every block
    holding them that no block detection answered, published themselves
    (:func:`repose_ros.core.fusion.coarse_answers`); all since start: information, not a fault.

    ``window`` holds the window's ``published`` and ``degraded``; ``e2e_ms`` / ``budget_ms`` the
    window's frames. WARN: not active, degraded frames or frames over budget in the window.
    ERROR: frames have been pending for ``stall_limit_s`` with none published (``stalled_s``).
    """
    over = sum(1 for e, b in zip(e2e_ms, budget_ms) if b > 0 and e > b)
    n_deg = window.get("degraded", 0)
    level = WARN if state != "active" or n_deg or over else OK
    msg = (f"{window.get('published', 0)} frames answered since the last report, {n_deg} degraded, {over} over budget"
           if state == "active" else f"{state}: answers no frames")
    h = Health(level, msg).add("state", state).add("frames answered", published).add("frames degraded", degraded)
    h.add("frames pending", pending).add("late block results", late).add("malformed inputs", malformed)
    h.add("detections swapped for coarse boxes", swapped)
    h.add("oversized detections dropped unconfirmed", dropped)
    h.add("large people answered by their coarse boxes", answered)
    reasons = sorted({r.split(":")[0] for r in recent_reasons if r})
    if reasons:
        h.add("degraded because", reasons)
    if e2e_ms:
        ordered = sorted(e2e_ms)
        h.add("latency p50 ms", float(ordered[len(ordered) // 2]))
        h.add("latency max ms", float(ordered[-1]))
        slack = [b - e for e, b in zip(e2e_ms, budget_ms) if b > 0]
        if slack:
            h.add("budget slack min ms", float(min(slack)))
    return _stalled(h, stalled_s, stall_limit_s, f"{pending} frame(s) pending, none published")


def server_state(state: str, block_publishers: int, answer_subscribers: int = -1) -> str:
    """Return what an edge server's status means to its senders: its state, or "connecting".

    "connecting": active, but its block subscription is matched with no publisher yet, or its
    answer publisher with no subscription (a server or aggregator that has just started or
    restarted; ``ServerStatus.block_publishers`` / ``answer_subscribers`` 0). Blocks sent to it now,
    or its answers to them, would be lost, so the partitioner does not plan for it and clients do
    not count it ready. -1 (not reported) leaves the state as it is.
    """
    return "connecting" if state == "active" and 0 in (block_publishers, answer_subscribers) else state


def edge_health(server_id: int, state: str, done: int, failed: int, expired: int, window: Mapping[str, int],
                latency_ms: Mapping[str, float], slack_ms: Optional[float], block_publishers: int = -1,
                answer_subscribers: int = -1) -> Health:
    """Judge an edge detector: state, blocks run / failed / expired, latency per model, deadline slack.

    ``block_publishers`` and ``answer_subscribers`` (-1: not known) are what its ServerStatus reports;
    an active server with either 0 is "connecting" (:func:`server_state`), as the partitioner sees it.
    WARN: not active (connecting included), or blocks failed or expired in the window.
    """
    state = server_state(state, block_publishers, answer_subscribers)
    bad = window.get("failed", 0) + window.get("expired", 0)
    level = WARN if state != "active" or bad else OK
    if state == "active":
        msg = (f"server {server_id} {state}: {window.get('done', 0)} blocks since the last report, "
               f"{bad} failed or expired")
    elif state == "connecting":
        msg = (f"server {server_id} connecting: active, but no partitioner's block publisher is matched yet"
               if block_publishers == 0 else
               f"server {server_id} connecting: active, but no aggregator's subscription is matched yet")
    else:
        msg = f"server {server_id} {state}: runs no blocks"
    h = Health(level, msg).add("state", state).add("server id", server_id).add("blocks done", done)
    if block_publishers >= 0:
        h.add("block publishers", int(block_publishers))
    h.add("blocks failed", failed).add("blocks expired", expired)
    for model, ms in sorted(latency_ms.items()):
        h.add(f"{model} latency ms", float(ms))
    if slack_ms is not None:
        h.add("deadline slack ms", float(slack_ms))
    return h
