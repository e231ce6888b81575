"""Profile files: the provenance header, writing, refitting stored raw numbers, keeping earlier models."""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union


from repose_ros.profiling.fitting import fit_curve


PLACEHOLDER_LATENCY_MS = 1.0e6
"""Latency written for models that have no measured latency (only into --missing-latency-out files)."""


def inside_config(path: Path) -> bool:
    """Whether ``path`` lies in the repository's (or the installed package's) ``config/`` folder."""
    dirs = []
    root = os.environ.get("REPOSE_ROOT")
    dirs.append((Path(root) if root else Path(__file__).resolve().parents[3]) / "config")
    try:
        from repose_ros.core.paths import find_config_file
        from repose_ros.core.profiles import DEFAULT_PROFILE
        dirs.append(find_config_file(DEFAULT_PROFILE).resolve().parents[1])
    except Exception:  # noqa: BLE001 - no installed config: only the checkout's folder counts
        pass
    target = path.expanduser().resolve()
    return any(target == d.resolve() or d.resolve() in target.parents for d in dirs)


def placeholder_keys(profile) -> List[str]:
    """Model keys whose latency in ``profile`` is a placeholder (``meta.latency.placeholder_keys``)."""
    lat = profile.meta.get("latency") if isinstance(profile.meta, dict) else None
    keys = lat.get("placeholder_keys", []) if isinstance(lat, dict) else []
    return [str(k) for k in keys] if isinstance(keys, list) else []


def _wrap(prefix: str, text: str, indent: str = "#     ") -> List[str]:
    import textwrap
    return textwrap.wrap(text, width=110, initial_indent=prefix, subsequent_indent=indent) or [prefix.rstrip()]


def _shape_text(pre: Dict[str, Any]) -> str:
    shape = pre.get("curve_shape", "monotone")
    text = ("fitted rising then (for very large objects) falling, unimodal," if shape == "unimodal"
            else "made non-decreasing")
    refit = pre.get("refit")
    if isinstance(refit, dict):
        text += f" (fitted again on {refit.get('date')} from the stored raw numbers, meta.precision.refit)"
    return text


def profile_header(prof) -> str:
    """Comment block for the top of a profile YAML: how each section was obtained (from its meta)."""
    meta = prof.meta
    lat = meta.get("latency", {}) if isinstance(meta.get("latency"), dict) else {}
    pre = meta.get("precision", {}) if isinstance(meta.get("precision"), dict) else {}
    lines = ["# Latency-precision profile of repose_ros, written by `repose profile` (repose_ros/cli/profile.py).",
             "# Regenerate it on the machines that run the edge servers: latency depends on the hardware.",
             *_wrap("# This run: ", f"{meta.get('date')} on {meta.get('host')} ({meta.get('device')}); "
                    f"{meta.get('command')}", "#   "),
             "#", "# How each section was obtained (details in meta):"]
    if lat.get("placeholder_keys"):
        lines += _wrap("#   latency_ms: ", f"PLACEHOLDER ({PLACEHOLDER_LATENCY_MS:g} ms, NOT measured) for "
                       f"{', '.join(lat['placeholder_keys'])}; the others as below. Do not deploy this file.")
    lat_text = str(lat.get("source") or ("measured by this run: " + str(lat.get("definition", "see meta.latency"))))
    if lat.get("kept_from"):
        lat_text = f"kept unchanged from {lat['kept_from']} ({lat_text})"
    lines += _wrap("#   latency_ms: ", lat_text)
    if prof.latency_shapes:
        lines += _wrap("#   latency_shapes: ", "measured shape points, kept with the latency section "
                       "(see meta.latency)")
    src = str(pre.get("source", ""))
    if src == "measured" or src.startswith("measured,"):
        how = ("one curve per weights file (pooled over its input sizes)" if pre.get("pooled")
               else "one curve per input size")
        lines += _wrap("#   precision: ", f"{pre.get('metric')} (COCO-style) per model-input area bin (px^2; bin i "
                       f"covers (bound[i-1], bound[i]]), {how}, measured on {', '.join(pre.get('data_sets', []))} "
                       f"({pre.get('frames')} frames x rescale factors {pre.get('scales')}); {_shape_text(pre)} in "
                       f"area, bins with < {pre.get('min_gt')} ground-truth boxes filled from neighbours; raw "
                       "per-bin numbers in meta.precision.raw")
        if src != "measured":
            lines += _wrap("#     ", src)
    else:
        lines += _wrap("#   precision: ", src or "see meta.precision")
    if prof.recall:
        rec = meta.get("recall", {}) if isinstance(meta.get("recall"), dict) else {}
        lines += _wrap("#   recall: ", str(rec.get("source") or prof.recall.get("definition")
                                           or f"recall at conf {prof.recall.get('conf')}"))
    if prof.upscale_cap is not None:
        up = meta.get("upscale", {}) if isinstance(meta.get("upscale"), dict) else {}
        lines += _wrap("#   upscale_cap: ", str(up.get("source") or "see meta.upscale") + "; rule: "
                       + str(up.get("rule", "see meta.upscale")))
    if prof.upscale_gain:
        lines += _wrap("#   upscale_gain: ", str(prof.upscale_gain.get("source") or "see meta.upscale") + "; "
                       + str(prof.upscale_gain.get("definition", "")))
    kept = meta.get("kept_models")
    if isinstance(kept, dict) and kept.get("keys"):
        refit = " (precision fitted again since, see precision)" if isinstance(pre.get("refit"), dict) else ""
        lines += _wrap("#   kept models: ", f"{', '.join(kept['keys'])}: every section {kept.get('source')}{refit}; "
                       "the sections above describe the other models (details in meta.kept_models)")
    check = meta.get("makespan_check")
    if isinstance(check, dict) and check.get("median_abs_error") is not None:
        lines += _wrap("#   makespan check: ", f"planned vs measured slowest server on {check.get('frames')}: "
                       f"median |error| {100 * check['median_abs_error']:.1f}% over {check.get('n')} plans "
                       "(meta.makespan_check)")
    lines += ["# Format: see the module docstring of repose_ros.core.profiles.", ""]
    return "\n".join(lines)


def write_profile(prof, path: Union[str, Path]) -> Path:
    """Save ``prof`` as YAML (:meth:`Profiles.save`) with :func:`profile_header` on top; return the path."""
    path = prof.save(path)
    body = path.read_text(encoding="utf-8")
    path.write_text(profile_header(prof) + body, encoding="utf-8")
    return path


def load_sources(paths: Sequence[Optional[str]]) -> List[Tuple[str, Any]]:
    """Load the profiles at ``paths`` that exist, once each: ``(path, Profiles)`` in the given order."""
    from repose_ros.core.profiles import Profiles
    out, seen = [], set()
    for p in paths:
        if p and Path(p).is_file() and str(Path(p).resolve()) not in seen:
            seen.add(str(Path(p).resolve()))
            out.append((p, Profiles.load(p)))
    return out


def refit_profile(path: str, out: str, shape: str, raw_from: Optional[str] = None) -> Path:
    """Fit the precision curves of profile ``path`` again from stored raw per-bin numbers; write ``out``.

    Raw rows come from ``meta.precision.raw`` of ``path``, else ``meta.kept_models.precision_raw``,
    else ``meta.precision.raw`` of ``raw_from`` (same bins and metric required). Every raw row
    used is stored in the output's ``meta.precision.raw``, so that it can be fitted again.
    """
    from repose_ros.core.profiles import Profiles

    prof = Profiles.load(path)
    pre = prof.meta.setdefault("precision", {})
    metric, bins, min_gt = pre.get("metric", "ap50_95"), pre.get("bins"), int(pre.get("min_gt", 10))
    sources: Dict[str, str] = {}
    raw: Dict[str, Any] = {}
    kept_raw = (prof.meta.get("kept_models") or {}).get("precision_raw") or {}
    other = Profiles.load(raw_from).meta.get("precision", {}) if raw_from else {}
    if other and (other.get("metric") != metric or other.get("bins") != bins):
        raise SystemExit(f"--raw-from {raw_from}: its metric/bins differ from {path}'s")
    for key in prof.model_keys:
        for label, table in ((path, pre.get("raw") or {}), (f"{path} (kept models)", kept_raw),
                             (str(raw_from), other.get("raw") or {})):
            if key in table:
                raw[key], sources[key] = table[key], label
                break
        else:
            raise SystemExit(f"--refit: no raw per-bin numbers for {key} (give --raw-from FILE)")
        fitted = fit_curve(raw[key], metric, min_gt, shape)
        prof.precision[key] = [(float(b), float(v)) for b, v in zip(bins, fitted)]
    pre["raw"] = raw
    pre["refit"] = {"date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                    "shape": shape, "min_gt": min_gt, "raw_sources": sources,
                    "note": "curves fitted again from the raw per-bin numbers, no detector run"}
    pre["curve_shape"] = shape
    prof.validate()
    return write_profile(prof, out)


def keep_models(prof, prev, prev_path: str) -> List[str]:
    """Copy ``prev``'s models that ``prof`` lacks into ``prof`` (in place), with their provenance.

    Latency, shape points, precision and (when measured at the same confidence) recall are kept
    as they are; ``meta.kept_models`` names them with the earlier run's date, command and
    precision data. Models are ordered by name and input size. Returns the kept keys.
    """
    from repose_ros.core.profile_schema import ModelSpec

    kept = [m for m in prev.models if m.key not in prof.model_keys]
    if not kept:
        return []
    same_recall = prof.recall and prev.recall and float(prof.recall["conf"]) == float(prev.recall["conf"])
    for m in kept:
        prof.latency_ms[m.key] = dict(prev.latency_ms[m.key])
        prof.precision[m.key] = [tuple(b) for b in prev.precision[m.key]]
        if m.key in prev.latency_shapes:
            prof.latency_shapes[m.key] = dict(prev.latency_shapes[m.key])
        if same_recall and prev.has_recall(m.key):
            prof.recall["bins"][m.key] = [list(b) for b in prev.recall["bins"][m.key]]
    prof.models = sorted(list(prof.models) + [ModelSpec(m.key, m.weights, m.imgsz) for m in kept],
                         key=lambda m: (m.name, m.imgsz))
    pm = prev.meta if isinstance(prev.meta, dict) else {}
    prev_raw = (pm.get("precision") or {}).get("raw") or {}
    prev_raw = {**((pm.get("kept_models") or {}).get("precision_raw") or {}), **prev_raw}
    prof.meta["kept_models"] = {
        "keys": [m.key for m in kept],
        "precision_raw": {m.key: prev_raw[m.key] for m in kept if m.key in prev_raw},
        "source": f"kept unchanged from {prev_path} (profile dated {pm.get('date')})",
        "command": pm.get("command"),
        "latency": {k: v for k, v in (pm.get("latency") or {}).items() if k != "per_model"},
        "latency_per_model": {m.key: (pm.get("latency") or {}).get("per_model", {}).get(m.key) for m in kept},
        "precision": {k: v for k, v in (pm.get("precision") or {}).items()
                      if k not in ("raw", "raw_by_data", "raw_pooled_by_weights")},
    }
    prof.validate()
    return [m.key for m in kept]
