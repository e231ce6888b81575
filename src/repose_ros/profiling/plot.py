"""The profile plot: latency against input size and precision against model-input area."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from repose_ros.evaluation.report import save_figure


def plot_profile(profiles, latency_detail: Dict[str, Dict[str, Any]], path: str,
                 raw: Optional[Dict[str, List[Dict[str, Any]]]] = None, metric: str = "ap50") -> Path:
    """Draw latency versus imgsz and precision versus model-input area (dots: raw ``metric``) into a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    by_name: Dict[str, List[Tuple[int, float]]] = {}
    for m in profiles.models:
        by_name.setdefault(m.name, []).append((m.imgsz, profiles.latency(m.key)))
    for name, pts in by_name.items():
        pts.sort()
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    ax1.set_xlabel("model input size (px)")
    ax1.set_ylabel("latency per block (ms, median)")
    ax1.set_title("latency")
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    for m in profiles.models:
        bins = profiles.precision[m.key]
        finite = [b for b, _ in bins if math.isfinite(b)]
        top = finite[-1] * 4 if finite else 1e5
        edges = [bins[0][0] / 4 if math.isfinite(bins[0][0]) else 1.0]
        edges += [b if math.isfinite(b) else top for b, _ in bins]
        ax2.stairs([p for _, p in bins], edges, label=m.key)
        if raw and m.key in raw:
            pts = [(r["area_max"] if math.isfinite(r["area_max"]) else top, r.get(metric))
                   for r in raw[m.key]]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax2.plot([p[0] for p in pts], [p[1] for p in pts], ".", alpha=0.5)
    ax2.set_xscale("log")
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("object area in model-input pixels^2 (bin upper bound)")
    ax2.set_ylabel("precision (profile)")
    ax2.set_title(f"precision vs area (steps: profile; dots: raw {metric})")
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=7)
    return save_figure(fig, path, dpi=100)
