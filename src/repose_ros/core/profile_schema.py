"""The checked layout of a profile: :class:`ModelSpec`, the tables and the optional sections.

Each ``check_*`` function validates one part of a profile as read from YAML and returns it
normalised (floats, int strides, tuples); a malformed part raises :class:`ProfileError` naming it.
:class:`repose_ros.core.profiles.Profiles` runs them on construction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.keys import ModelKeyError, parse_key

DEFAULT_SERVER = "default"


class ProfileError(ValueError):
    """A profile (or a YAML file holding one) is malformed."""


@dataclass(frozen=True)
class ModelSpec:
    """One candidate detector: ``key`` ("<name>@<imgsz>"), weights file, square input size."""

    key: str
    weights: str
    imgsz: int

    def __post_init__(self) -> None:
        if isinstance(self.imgsz, bool) or not isinstance(self.imgsz, (int, np.integer)) or self.imgsz <= 0:
            raise ProfileError(f"model {self.key}: imgsz must be a positive int, got {self.imgsz!r}")
        try:
            _, size = parse_key(self.key)
        except ModelKeyError as exc:
            raise ProfileError(str(exc)) from None
        if size != int(self.imgsz):
            raise ProfileError(f"model {self.key}: key says imgsz {size} but imgsz is {self.imgsz}")
        if not isinstance(self.weights, str) or not self.weights:
            raise ProfileError(f"model {self.key}: weights must be a non-empty string")
        object.__setattr__(self, "imgsz", int(self.imgsz))

    @property
    def name(self) -> str:
        """Model name without the input size (e.g. ``"yolov8s"``)."""
        return parse_key(self.key)[0]

    def to_dict(self) -> Dict[str, Any]:
        """Return a YAML/JSON-serialisable dict."""
        return {"key": self.key, "weights": self.weights, "imgsz": self.imgsz}


def finite_number(value: Any, what: str) -> float:
    """Return ``value`` as a finite float or raise ProfileError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ProfileError(f"{what} must be finite, got {value!r}")
    return v


def area_bound(value: Any, what: str) -> float:
    """Return the area bound ``value`` of the bin ``what`` as a float > 0, or raise ProfileError."""
    try:
        bound = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what}: area bound {value!r} is not a number") from None
    if math.isnan(bound) or bound <= 0:
        raise ProfileError(f"{what}: area bound must be > 0, got {value!r}")
    return bound


def check_bins(bins: Any, what: str) -> List[Tuple[float, float]]:
    """Validate ``[[area_max, value], ...]`` (bounds > 0, strictly increasing; values in [0, 1])."""
    if not isinstance(bins, (list, tuple)) or not bins:
        raise ProfileError(f"{what} must be a non-empty list of [area_max, value]")
    out: List[Tuple[float, float]] = []
    for i, item in enumerate(bins):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ProfileError(f"{what}[{i}] must be [area_max, precision], got {item!r}")
        bound = area_bound(item[0], f"{what}[{i}]")
        p = finite_number(item[1], f"{what}[{i}] precision")
        if not 0.0 <= p <= 1.0:
            raise ProfileError(f"{what}[{i}]: precision must be in [0, 1], got {p}")
        if out and bound <= out[-1][0]:
            raise ProfileError(f"{what}: area bounds must increase strictly ({out[-1][0]} then {bound})")
        out.append((bound, p))
    return out


def check_models(models: Sequence[Any]) -> List[ModelSpec]:
    """Return the model entries (ModelSpec or ``{key, weights, imgsz}`` mappings) as ModelSpec, keys unique."""
    if not models:
        raise ProfileError("a profile needs at least one model")
    out = []
    for m in models:
        if isinstance(m, dict):
            try:
                m = ModelSpec(m["key"], m["weights"], m["imgsz"])
            except KeyError as exc:
                raise ProfileError(f"model entry {m!r} lacks {exc}") from None
        if not isinstance(m, ModelSpec):
            raise ProfileError(f"models must be ModelSpec entries, got {m!r}")
        out.append(m)
    keys = [m.key for m in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ProfileError(f"duplicate model keys: {dup}")
    return out


def check_tables(keys: Sequence[str], latency_ms: Any, precision: Any
                 ) -> Tuple[Dict[str, Dict[str, float]], Dict[str, List[Tuple[float, float]]]]:
    """Return ``(latency_ms, precision)`` checked: one entry per model key, a default server, valid bins."""
    for name, table in (("latency_ms", latency_ms), ("precision", precision)):
        if not isinstance(table, dict):
            raise ProfileError(f"{name} must be a mapping from model key, got {type(table).__name__}")
        missing = [k for k in keys if k not in table]
        extra = [k for k in table if k not in keys]
        if missing:
            raise ProfileError(f"{name} lacks entries for models {missing}")
        if extra:
            raise ProfileError(f"{name} has entries for unknown models {extra}")
    latency: Dict[str, Dict[str, float]] = {}
    for k in keys:
        per_server = latency_ms[k]
        if not isinstance(per_server, dict):
            raise ProfileError(f"latency_ms[{k}] must map server id -> ms, got {per_server!r}")
        if DEFAULT_SERVER not in per_server:
            raise ProfileError(f"latency_ms[{k}] needs a '{DEFAULT_SERVER}' entry")
        latency[k] = {}
        for sid, v in per_server.items():
            ms = finite_number(v, f"latency_ms[{k}][{sid}]")
            if ms <= 0:
                raise ProfileError(f"latency_ms[{k}][{sid}] must be > 0, got {v!r}")
            latency[k][str(sid)] = ms
    return latency, {k: check_bins(precision[k], f"precision[{k}]") for k in keys}


def check_stride(stride: Any) -> int:
    """Return the network stride as a positive int."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ProfileError(f"stride must be a positive int, got {stride!r}")
    return int(stride)


def check_upscale_cap(cap: Any) -> Optional[float]:
    """Return ``upscale_cap`` as a float >= 1, or None (no cap)."""
    if cap is None:
        return None
    value = finite_number(cap, "upscale_cap")
    if value < 1.0:
        raise ProfileError(f"upscale_cap must be >= 1 (1: never enlarge a block), got {value}")
    return value


def check_upscale_gain(section: Any) -> Dict[str, Any]:
    """Return the ``upscale_gain`` section (``{factors, bins: [(area_max, gains)]}``, or ``{}``) checked.

    ``factors``: strictly increasing enlargement factors, the first 1; ``bins``: per source-object
    area bin (frame px^2, same bin rule as ``precision``) one precision change per factor, each in
    [-1, 1], 0 at factor 1. ``definition`` and ``source`` may say how it was measured.
    """
    if not isinstance(section, dict):
        raise ProfileError("upscale_gain must be a mapping {factors: [...], bins: [[area_max, [gain, ...]], ...]}")
    if not section:
        return {}
    unknown = sorted(set(section) - {"factors", "bins", "definition", "source"})
    if unknown:
        raise ProfileError(f"upscale_gain has unknown entries {unknown}")
    raw = section.get("factors")
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:
        raise ProfileError("upscale_gain.factors must list at least two factors, the first 1")
    factors = [finite_number(f, f"upscale_gain.factors[{i}]") for i, f in enumerate(raw)]
    if factors[0] != 1.0 or any(b <= a for a, b in zip(factors, factors[1:])):
        raise ProfileError(f"upscale_gain.factors must start at 1 and increase strictly, got {factors}")
    bins = section.get("bins")
    if not isinstance(bins, (list, tuple)) or not bins:
        raise ProfileError("upscale_gain.bins must be a non-empty list of [area_max, [gain per factor]]")
    out: List[Tuple[float, Tuple[float, ...]]] = []
    for i, item in enumerate(bins):
        what = f"upscale_gain.bins[{i}]"
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[1], (list, tuple)):
            raise ProfileError(f"{what} must be [area_max, [gain per factor]], got {item!r}")
        bound = area_bound(item[0], what)
        if out and bound <= out[-1][0]:
            raise ProfileError(f"upscale_gain.bins: area bounds must increase strictly ({out[-1][0]} then {bound})")
        if len(item[1]) != len(factors):
            raise ProfileError(f"{what}: needs one gain per factor ({len(factors)}), got {len(item[1])}")
        gains = tuple(finite_number(g, f"{what} gain") for g in item[1])
        if any(abs(g) > 1.0 for g in gains) or gains[0] != 0.0:
            raise ProfileError(f"{what}: gains must lie in [-1, 1] and be 0 at factor 1, got {list(gains)}")
        out.append((bound, gains))
    return dict(section, factors=tuple(factors), bins=out)


def check_latency_shapes(shapes: Any, known: Mapping[str, Any]) -> Dict[str, Dict[str, List[Tuple[int, int, float]]]]:
    """Return ``latency_shapes`` (model key -> server id -> ``[(tensor_h, tensor_w, ms)]``) of ``known`` keys."""
    out: Dict[str, Dict[str, List[Tuple[int, int, float]]]] = {}
    if not isinstance(shapes, dict):
        raise ProfileError("latency_shapes must map model key -> server id -> [[h, w, ms], ...]")
    for k, per_server in shapes.items():
        if k not in known:
            raise ProfileError(f"latency_shapes has an entry for unknown model {k!r}")
        if not isinstance(per_server, dict):
            raise ProfileError(f"latency_shapes[{k}] must map server id -> [[h, w, ms], ...]")
        out[k] = {}
        for sid, pts in per_server.items():
            rows = []
            for i, item in enumerate(pts if isinstance(pts, (list, tuple)) else [None]):
                if not isinstance(item, (list, tuple)) or len(item) != 3:
                    raise ProfileError(f"latency_shapes[{k}][{sid}][{i}] must be [tensor_h, tensor_w, ms], "
                                       f"got {item!r}")
                th, tw = finite_number(item[0], "tensor_h"), finite_number(item[1], "tensor_w")
                ms = finite_number(item[2], f"latency_shapes[{k}][{sid}][{i}] ms")
                if th < 1 or tw < 1 or ms <= 0:
                    raise ProfileError(f"latency_shapes[{k}][{sid}][{i}]: sizes >= 1 and ms > 0 needed, "
                                       f"got {item!r}")
                rows.append((int(th), int(tw), ms))
            out[k][str(sid)] = rows
    return out


def check_recall(recall: Any, known: Mapping[str, Any]) -> Dict[str, Any]:
    """Return the ``recall`` section (``{conf, bins: {key: [(area_max, recall)]}}``, or ``{}``) of ``known`` keys."""
    if not isinstance(recall, dict):
        raise ProfileError("recall must be a mapping {conf: c, bins: {model key: [[area_max, recall], ...]}}")
    if not recall:
        return recall
    unknown = sorted(set(recall) - {"conf", "bins", "definition"})
    if unknown:
        raise ProfileError(f"recall has unknown entries {unknown}")
    conf = finite_number(recall.get("conf"), "recall.conf")
    bins = recall.get("bins")
    if not isinstance(bins, dict) or not bins:
        raise ProfileError("recall.bins must map model key -> [[area_max, recall], ...]")
    checked = {}
    for k, v in bins.items():
        if k not in known:
            raise ProfileError(f"recall.bins has an entry for unknown model {k!r}")
        checked[k] = check_bins(v, f"recall.bins[{k}]")
    return dict(recall, conf=conf, bins=checked)
