"""The project's benchmark goals, judged on the method entries ``repose eval`` measured.

Acceptance logic of the issues, kept out of the library (``evaluation`` only measures).
Every check returns ``{"goal", "met", "detail"}``; ``met`` is None where the data needed for it
were not run. "At equal or lower latency" compares a RE-POSE point (``rl_dca`` at some budget)
with the best point of the other family whose measured parallel latency is not higher.

Sets (``kind``): ``sparse`` (MOT17 collage, VisDrone people), ``dense`` (MOT17 2x2 mosaics).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

Point = Tuple[str, float, float]  # (method key, parallel latency ms, mAP50:95)


def points(methods: Dict[str, Dict[str, Any]], family: str, setting_filter: Optional[Callable[[str], bool]] = None
           ) -> List[Point]:
    """``(key, parallel latency, mAP50:95)`` of every measured entry of ``family``."""
    out = []
    for k, m in methods.items():
        if m.get("family", k.split("@")[0]) != family:
            continue
        if m.get("map50_95") is None or m.get("parallel_latency_ms") is None:
            continue
        if setting_filter is not None and not setting_filter(m.get("setting", k.split("@", 1)[-1])):
            continue
        out.append((k, float(m["parallel_latency_ms"]), float(m["map50_95"])))
    return sorted(out, key=lambda p: p[1])


def best_at_most(pts: List[Point], latency: float) -> Optional[Point]:
    """Return the most accurate point of ``pts`` whose latency is at most ``latency``."""
    c = [p for p in pts if p[1] <= latency]
    return max(c, key=lambda p: p[2]) if c else None


def ratio_goal(goal: str, rl: List[Point], other: List[Point], factor: float, margin: float = 0.0) -> Dict[str, Any]:
    """Every RE-POSE point that has a comparison point reaches ``factor`` x its mAP (minus ``margin``)."""
    rows, verdicts = [], []
    for k, lat, m in rl:
        b = best_at_most(other, lat)
        if b is None:
            rows.append(f"{k} ({lat / 1000:.2f} s): nothing as fast")
            continue
        ok = m >= factor * b[2] - margin - 1e-12
        verdicts.append(ok)
        ratio = f"{m / b[2]:.2f}x" if b[2] > 0 else "inf"
        rows.append(f"{k} {m:.3f} at {lat / 1000:.2f} s vs {b[0]} {b[2]:.3f} at {b[1] / 1000:.2f} s: {ratio}")
    return {"goal": goal, "met": all(verdicts) if verdicts else None, "detail": "; ".join(rows)}


def budget_goal(methods: Dict[str, Dict[str, Any]], factor: float = 1.1) -> Dict[str, Any]:
    """p95 of the measured per-frame parallel latency <= ``factor`` x the budget, for every RE-POSE budget."""
    rows, verdicts = [], []
    for k, m in methods.items():
        if m.get("family") != "rl_dca" or m.get("budget_ms") is None or m.get("parallel_latency_p95_ms") is None:
            continue
        r = m["parallel_latency_p95_ms"] / m["budget_ms"]
        verdicts.append(r <= factor)
        rows.append(f"{k}: p95 {m['parallel_latency_p95_ms']:.0f} ms = {r:.2f}x budget")
    return {"goal": f"p95 parallel latency <= {factor:g}x budget", "met": all(verdicts) if verdicts else None,
            "detail": "; ".join(rows)}


def goal_checks(methods: Dict[str, Dict[str, Any]], kind: str = "sparse", native_width: Optional[int] = 3840
                ) -> List[Dict[str, Any]]:
    """Judge the goals of the measured-latency issue (and the RL-DCA issue) for a set of ``kind``.

    The moonshot compares with full frame at the frames' native width (``native_width``: 3840 for
    the 4K sets); it is not judged where the frames have no single native width (None) or no full
    frame was run at it: a full frame at 3840 on 2K frames is an upscale, not native.
    """
    rl = points(methods, "rl_dca")
    if not rl:
        return [{"goal": "RE-POSE (rl_dca) measured", "met": None, "detail": "rl_dca was not run"}]
    uni, full, remix = points(methods, "uniform"), points(methods, "full_frame"), points(methods, "remix")
    out: List[Dict[str, Any]] = []
    if kind == "sparse":
        if uni:
            out.append(ratio_goal(">= 1.25x best uniform tiling at equal or lower latency", rl, uni, 1.25))
        if remix:
            out.append(ratio_goal(">= REMIX-style at equal or lower latency", rl, remix, 1.0))
        if full:
            out.append(ratio_goal(">= 1.25x best full frame at equal or lower latency", rl, full, 1.25))
        sahi = points(methods, "sahi", lambda s: s.endswith("-nms"))
        if sahi:
            best = max(sahi, key=lambda p: p[2])
            fast = [p for p in rl if p[1] <= best[1] / 2.0]
            out.append({"goal": ">= best SAHI (NMS merging) at <= half its latency",
                        "met": any(p[2] >= best[2] for p in fast),
                        "detail": f"SAHI {best[0]} {best[2]:.3f} at {best[1] / 1000:.1f} s; rl_dca within half: "
                                  + (", ".join(f"{k} {m:.3f}" for k, _, m in fast) or "none")})
        native = [p for p in full if native_width and p[0].endswith(f"@{int(native_width)}")]
        if native:
            n = native[0]
            fast = [p for p in rl if p[1] <= n[1] / 4.0]
            out.append({"goal": f"moonshot: >= full frame at native {int(native_width)} at <= 1/4 of its latency",
                        "met": any(p[2] >= n[2] for p in fast),
                        "detail": f"{n[0]} {n[2]:.3f} at {n[1] / 1000:.1f} s; rl_dca within a quarter: "
                                  + (", ".join(f"{k} {m:.3f}" for k, _, m in fast) or "none")})
    elif kind == "dense" and uni:
        out.append(ratio_goal(">= uniform tiling at equal latency (within 0.005)", rl, uni, 1.0, margin=0.005))
    out.append(budget_goal(methods))
    for fam, need in (("meanshift", 0.005 if kind == "sparse" else 0.0), ("greedy", 0.0)):
        other = {m.get("setting"): m for m in methods.values() if m.get("family") == fam}
        if not other:
            continue
        rows, verdicts = [], []
        for k, m in methods.items():
            if m.get("family") != "rl_dca" or m.get("map50_95") is None:
                continue
            o = other.get(m.get("setting"))
            if o is None or o.get("map50_95") is None:
                continue
            verdicts.append(m["map50_95"] >= o["map50_95"] + need - 1e-12)
            p = m.get("paired") or {}
            ci = (f" (diff {p['diff']:+.3f}, {p['level'] * 100:g}% interval [{p['low']:+.3f}, {p['high']:+.3f}])"
                  if fam == p.get("vs", "").split("@")[0] and p.get("low") is not None else "")
            rows.append(f"{k} {m['map50_95']:.3f} vs {o['map50_95']:.3f}{ci}")
        label = f"rl_dca >= {fam} + {need:g} at every budget" if need else f"rl_dca >= {fam} at every budget"
        out.append({"goal": label, "met": all(verdicts) if verdicts else None, "detail": "; ".join(rows)})
    return out
