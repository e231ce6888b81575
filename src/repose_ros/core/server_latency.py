"""Per-server latency figures for the planner from the edge servers' measured/predicted ratios (no rclpy).

Each edge detector reports, per model key, the smoothed ratio of its measured time for a block to
the profile's prediction for that block (``BlockAssignment.base_latency_ms``, shape-aware). A
ratio is independent of the block's shape, so it corrects every prediction of that model on that
server, unlike an absolute figure averaged over blocks of different shapes.

:func:`server_latencies_from_ratios` turns the reports into ``latency_ms[key][server]`` entries
(the profile's square figures scaled by the ratios); the planner's shape-aware model then scales
them per block. It keeps the spirit of :func:`repose_ros.core.profiles.server_latencies`: a model
the server has not run yet gets an optimistic estimate (the server's median ratio, or the lowest
ratio another server measured for that model, whichever is smaller), because a pessimistic one
would be self-confirming (the planner would avoid the server, which then never measures it).
"""
from __future__ import annotations

import math
import statistics
from typing import Dict, Mapping, Optional, Tuple

RATIO_RANGE: Tuple[float, float] = (1e-3, 1e3)
"""Ratios are clamped to this range (a broken report cannot make a server infinitely fast or slow)."""


def _clamp(r: float) -> float:
    lo, hi = RATIO_RANGE
    return min(hi, max(lo, float(r)))


def effective_ratios(profiled: Mapping[str, Mapping[str, float]], ratios: Mapping[str, Mapping[str, float]],
                     measured: Mapping[str, Mapping[str, float]]) -> Dict[str, Dict[str, float]]:
    """Ratio per server and model key from the servers' reports.

    ``ratios[server][key]``: the reported ratios (> 0). A server that reported none yet (only its
    warm-up ran: a square block at the key's input size, which is what the profile's square
    figure predicts) gets ``measured / profiled`` from its absolute figures ``measured[server][key]``.
    Keys not in ``profiled`` and non-finite or non-positive values are ignored.
    """
    out: Dict[str, Dict[str, float]] = {}
    for sid in set(ratios) | set(measured):
        own = {k: _clamp(r) for k, r in ratios.get(sid, {}).items()
               if k in profiled and math.isfinite(r) and r > 0}
        if not own:
            for k, ms in measured.get(sid, {}).items():
                per = profiled.get(k)
                if per is None or not (math.isfinite(ms) and ms > 0):
                    continue
                base = per.get(sid, per["default"])
                if base > 0:
                    own[k] = _clamp(ms / base)
        if own:
            out[sid] = own
    return out


def ratios_with_margin(ratios: Mapping[str, float], spreads: Mapping[str, float],
                       sigmas: float) -> Dict[str, float]:
    """Return ``ratio + sigmas * spread`` per model key (a key without a usable spread keeps its ratio).

    A server's ratio is a smoothed mean; planning with it fills the budget so that about every
    other frame of a noisy server runs over. ``sigmas`` standard deviations of its block-to-block
    spread on top buy headroom in proportion to how noisy that server has been.
    """
    out = {}
    for key, r in ratios.items():
        spread = spreads.get(key, 0.0)
        ok = math.isfinite(spread) and spread > 0
        out[key] = r + sigmas * spread if ok else r
    return out


def server_latencies_from_ratios(profiled: Mapping[str, Mapping[str, float]],
                                 ratios: Mapping[str, Mapping[str, float]],
                                 measured: Mapping[str, Mapping[str, float]], sid: str) -> Dict[str, float]:
    """Latency per model key (ms, the profile's square-block figure corrected) for server ``sid``.

    ``profiled[key][server or 'default']`` holds the profile's uncorrected figures. With the
    ratios of :func:`effective_ratios`: a model the server has a ratio for gets ``base * ratio``;
    another gets ``base * min(median of the server's ratios (1 without any), ratios other servers
    measured for that model)``.
    """
    eff = effective_ratios(profiled, ratios, measured)
    own = eff.get(sid, {})
    median = statistics.median(own.values()) if own else 1.0
    out: Dict[str, float] = {}
    for key, per in profiled.items():
        base = per.get(sid, per["default"])
        if key in own:
            out[key] = base * own[key]
            continue
        peers = [r[key] for s, r in eff.items() if s != sid and key in r]
        out[key] = base * min([median, *peers])
    return out


class RatioStats:
    """Exponentially weighted mean and standard deviation of a server's measured / predicted ratio per model.

    ``smoothing`` is the weight of the newest ratio (the edge detector's ``latency_smoothing``).
    The mean and the variance are updated in one pass with the same weight, so the spread follows
    the server's recent block-to-block noise.
    """

    def __init__(self, smoothing: float = 0.3):
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.smoothing = float(smoothing)
        self.mean: Dict[str, float] = {}
        self.var: Dict[str, float] = {}

    def add(self, key: str, ratio: float) -> None:
        """Take one block's ratio (ignored unless finite and > 0)."""
        if not (math.isfinite(ratio) and ratio > 0):
            return
        a = self.smoothing
        if key not in self.mean:
            self.mean[key], self.var[key] = float(ratio), 0.0
            return
        d = ratio - self.mean[key]
        self.mean[key] += a * d
        self.var[key] = (1 - a) * (self.var[key] + a * d * d)

    def spread(self, key: str) -> float:
        """Smoothed standard deviation of ``key``'s ratio (0 when unknown)."""
        return math.sqrt(self.var.get(key, 0.0))


class LatencyAdapter:
    """In-process counterpart of the partitioner's use of ServerStatus: plan with measured ratios.

    Keeps the profile as measured (``base``); :meth:`observe` takes a block's measured time on a
    server, :meth:`apply` writes the corrected per-server figures into the planning profile (the
    same :func:`server_latencies_from_ratios` and :func:`ratios_with_margin` as the nodes).
    """

    def __init__(self, profiles, smoothing: float = 0.3, sigmas: float = 1.0):
        import copy

        self.base = copy.deepcopy(profiles)
        self.profiled = {k: dict(v) for k, v in self.base.latency_ms.items()}
        self.smoothing, self.sigmas = float(smoothing), float(sigmas)
        self.stats: Dict[str, RatioStats] = {}

    def observe(self, server_id: str, key: str, block_w: float, block_h: float, ms: float,
                imgsz: Optional[int] = None) -> None:
        """Record one block run: ``ms`` measured against the base profile's prediction for it.

        ``imgsz``: the input size the block ran at (the plan's), default the profile's for that block.
        """
        if key not in self.profiled:
            return
        base_ms = self.base.block_latency(key, block_w, block_h, server_id, imgsz)
        if base_ms > 0:
            self.stats.setdefault(server_id, RatioStats(self.smoothing)).add(key, ms / base_ms)

    def apply(self, profiles) -> None:
        """Write every observed server's corrected latencies into ``profiles.latency_ms``."""
        ratios = {sid: ratios_with_margin(st.mean, {k: st.spread(k) for k in st.mean}, self.sigmas)
                  for sid, st in self.stats.items()}
        for sid in ratios:
            for key, ms in server_latencies_from_ratios(self.profiled, ratios, {}, sid).items():
                profiles.latency_ms[key][sid] = ms
