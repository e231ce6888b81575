"""Reporting of an evaluation: terminal table, JSON and the latency-accuracy plot."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from repose_ros.evaluation.methods import FAMILIES


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def format_table(methods: Dict[str, Dict[str, Any]]) -> str:
    """Return a Markdown table of the method entries (latencies in seconds)."""
    head = ("| method | mAP50:95 | mAP50 | AP_S | AP_M | AP_L | latency s | parallel s | budget ms | blocks | "
            "feasible |")
    lines = [head, "|" + "---|" * 11]
    for key, m in methods.items():
        lat = m.get("latency_ms")
        par = m.get("parallel_latency_ms")
        lines.append(
            f"| {key} | {_fmt(m.get('map50_95'))} | {_fmt(m.get('map50'))} | {_fmt(m.get('ap_small'))} | "
            f"{_fmt(m.get('ap_medium'))} | {_fmt(m.get('ap_large'))} | "
            f"{_fmt(lat / 1000.0 if lat is not None else None, 2)} | "
            f"{_fmt(par / 1000.0 if par is not None else None, 2)} | "
            f"{_budget(m)} | "
            f"{_fmt(m.get('mean_blocks'), 1)} | {_fmt(m.get('feasible_fraction'), 2)} |")
    return "\n".join(lines)


def _budget(m: Dict[str, Any]) -> str:
    b = m.get("budget_ms")
    return "-" if b is None else f"{b:g}"


def plot_results(methods: Dict[str, Dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Draw mAP50:95 against parallel latency, one curve per method family, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    markers = dict(zip(FAMILIES, ("o", "s", "^", "D", "v", "P", "*")))
    colors = dict(zip(FAMILIES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:olive",
                                 "tab:brown")))
    curves: Dict[Tuple[str, str], List[Tuple[float, float, str]]] = {}
    for k, m in methods.items():
        fam = m.get("family", k.split("@")[0])
        if fam not in FAMILIES or m.get("map50_95") is None or m.get("parallel_latency_ms") is None:
            continue
        setting = m.get("setting", k.split("@", 1)[1])
        group = setting.split("-")[0] if fam == "uniform" else ""  # one curve per grid
        curves.setdefault((fam, group), []).append((m["parallel_latency_ms"] / 1000.0, m["map50_95"], setting))
    styles = ("-", "--", ":", "-.")
    seen: Dict[str, int] = {}
    for (fam, group), pts in sorted(curves.items(), key=lambda kv: (FAMILIES.index(kv[0][0]), kv[0][1])):
        pts.sort()
        n = seen.get(fam, 0)
        seen[fam] = n + 1
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[fam], color=colors[fam],
                ls=styles[n % len(styles)], ms=8 if fam == "rl_dca" else 6, lw=2.2 if fam == "rl_dca" else 1.2,
                label=f"{fam} {group}".strip())
        for x, y, s in pts:
            ax.annotate(s, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points", alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("parallel latency per frame (s, log scale; full_frame and sahi: one device)")
    ax.set_ylabel("mAP50:95")
    ax.set_title(title or "latency-accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path, dpi=110)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Lay out a matplotlib figure, write it to ``path`` (creating folders), close it; return the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def write_json(path: str | os.PathLike, payload: Dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON (creating the folder); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
