"""Latency-precision profiles of the detector models (input of the plan generator, III-B).

A profile lists the candidate models (:class:`ModelSpec`, key ``"<name>@<imgsz>"``) and, per
model,

* ``latency_ms[model_key][server_id]``: time of one call of the model on one block (already
  resized to the model's input size) on that server; the entry ``"default"`` is required and is
  used for servers that are not listed;
* ``precision[model_key]``: bins ``[(area_upper_bound, precision), ...]`` with strictly
  increasing upper bounds, areas in square pixels *of the model input*.

Precision mapping (the paper's precision function of the resized area, eq. 17-18): a
**piecewise-constant** lookup. Bin ``i`` covers areas in ``(bound[i-1], bound[i]]`` (the first
bin starts at 0); areas above the last bound take the last bin's precision (write ``.inf`` as
the last bound to make that explicit). Step bins were chosen over interpolation because the
profile generator measures precision per area bin, and a lookup is exact for what was measured.

Resize (eq. 17): a block of ``w x h`` pixels is letterboxed into a square ``imgsz`` input, so
``scale = imgsz / max(w, h)`` (also when that enlarges the block) and a box of area ``a`` becomes
``a * scale**2``. The expected precision of a block is the mean of the mapped precisions of its
boxes (eq. 18); a block with no boxes has expected precision 0.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from repose_ros.core.paths import find_config_file

DEFAULT_SERVER = "default"
DEFAULT_PROFILE = "profiles/default.yaml"
_KEY_RE = re.compile(r"^(?P<name>[^@\s]+)@(?P<imgsz>[0-9]+)$")


class ProfileError(ValueError):
    """A profile (or a YAML file holding one) is malformed."""


def make_key(name: str, imgsz: int) -> str:
    """Return the model key ``"<name>@<imgsz>"``."""
    return f"{name}@{int(imgsz)}"


def parse_key(key: str) -> Tuple[str, int]:
    """Split a model key ``"<name>@<imgsz>"`` into ``(name, imgsz)``; ProfileError if malformed."""
    m = _KEY_RE.match(str(key))
    if not m:
        raise ProfileError(f"model key {key!r} is not of the form '<name>@<imgsz>' (e.g. 'yolov8s@640')")
    return m.group("name"), int(m.group("imgsz"))


@dataclass(frozen=True)
class ModelSpec:
    """One candidate detector: ``key`` ("<name>@<imgsz>"), weights file, square input size."""

    key: str
    weights: str
    imgsz: int

    def __post_init__(self) -> None:
        _, size = parse_key(self.key)
        if isinstance(self.imgsz, bool) or not isinstance(self.imgsz, (int, np.integer)) or self.imgsz <= 0:
            raise ProfileError(f"model {self.key}: imgsz must be a positive int, got {self.imgsz!r}")
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


def _finite(value: Any, what: str) -> float:
    """Return ``value`` as a finite float or raise ProfileError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ProfileError(f"{what} must be finite, got {value!r}")
    return v


@dataclass
class Profiles:
    """Latency and precision profile of a set of models (see the module docstring)."""

    models: List[ModelSpec]
    latency_ms: Dict[str, Dict[str, float]]
    precision: Dict[str, List[Tuple[float, float]]]
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Check and normalise the profile in place; raise ProfileError naming the problem."""
        if not isinstance(self.meta, dict):
            raise ProfileError(f"meta must be a mapping, got {type(self.meta).__name__}")
        if not self.models:
            raise ProfileError("a profile needs at least one model")
        models = []
        for m in self.models:
            if isinstance(m, dict):
                try:
                    m = ModelSpec(m["key"], m["weights"], m["imgsz"])
                except KeyError as exc:
                    raise ProfileError(f"model entry {m!r} lacks {exc}") from None
            if not isinstance(m, ModelSpec):
                raise ProfileError(f"models must be ModelSpec entries, got {m!r}")
            models.append(m)
        keys = [m.key for m in models]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ProfileError(f"duplicate model keys: {dup}")
        for name, table in (("latency_ms", self.latency_ms), ("precision", self.precision)):
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
            per_server = self.latency_ms[k]
            if not isinstance(per_server, dict):
                raise ProfileError(f"latency_ms[{k}] must map server id -> ms, got {per_server!r}")
            if DEFAULT_SERVER not in per_server:
                raise ProfileError(f"latency_ms[{k}] needs a '{DEFAULT_SERVER}' entry")
            latency[k] = {}
            for sid, v in per_server.items():
                ms = _finite(v, f"latency_ms[{k}][{sid}]")
                if ms <= 0:
                    raise ProfileError(f"latency_ms[{k}][{sid}] must be > 0, got {v!r}")
                latency[k][str(sid)] = ms
        precision: Dict[str, List[Tuple[float, float]]] = {}
        for k in keys:
            bins = self.precision[k]
            if not isinstance(bins, (list, tuple)) or not bins:
                raise ProfileError(f"precision[{k}] must be a non-empty list of [area_max, precision]")
            out = []
            for i, item in enumerate(bins):
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise ProfileError(f"precision[{k}][{i}] must be [area_max, precision], got {item!r}")
                try:
                    bound = float(item[0])
                except (TypeError, ValueError):
                    raise ProfileError(f"precision[{k}][{i}]: area bound {item[0]!r} is not a number") from None
                if math.isnan(bound) or bound <= 0:
                    raise ProfileError(f"precision[{k}][{i}]: area bound must be > 0, got {item[0]!r}")
                p = _finite(item[1], f"precision[{k}][{i}] precision")
                if not 0.0 <= p <= 1.0:
                    raise ProfileError(f"precision[{k}][{i}]: precision must be in [0, 1], got {p}")
                if out and bound <= out[-1][0]:
                    raise ProfileError(f"precision[{k}]: area bounds must increase strictly "
                                       f"({out[-1][0]} then {bound})")
                out.append((bound, p))
            precision[k] = out
        self.models = models
        self.latency_ms = latency
        self.precision = precision
        self._bounds = {k: np.array([b for b, _ in v]) for k, v in precision.items()}
        self._values = {k: np.array([p for _, p in v]) for k, v in precision.items()}
        self._by_key = {m.key: m for m in models}

    # -- queries -------------------------------------------------------------------------------
    @property
    def model_keys(self) -> List[str]:
        """Model keys in profile order."""
        return [m.key for m in self.models]

    def model(self, key: str) -> ModelSpec:
        """Return the ModelSpec of ``key`` (KeyError naming the known keys if absent)."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"unknown model {key!r}; profile has {self.model_keys}") from None

    def latency(self, model_key: str, server_id: str = DEFAULT_SERVER) -> float:
        """Latency in ms of one call of ``model_key`` on ``server_id`` (falls back to "default")."""
        per = self.latency_ms[self.model(model_key).key]
        return per.get(str(server_id), per[DEFAULT_SERVER])

    def latency_matrix(self, servers: Sequence[str], model_keys: Optional[Sequence[str]] = None) -> np.ndarray:
        """Return ``(n_models, n_servers)`` latencies in ms."""
        keys = self.model_keys if model_keys is None else list(model_keys)
        return np.array([[self.latency(k, s) for s in servers] for k in keys], dtype=np.float64)

    def precision_of_area(self, model_key: str, areas: Union[Sequence[float], np.ndarray]) -> np.ndarray:
        """Map areas in model-input pixels^2 through the step profile of ``model_key``."""
        self.model(model_key)
        a = np.asarray(areas, dtype=np.float64).reshape(-1)
        bounds, values = self._bounds[model_key], self._values[model_key]
        idx = np.minimum(np.searchsorted(bounds, a, side="left"), len(bounds) - 1)
        return values[idx]

    def expected_precision(self, model_key: str, block_w: float, block_h: float,
                           box_areas: Union[Sequence[float], np.ndarray]) -> float:
        """Mean precision of boxes (areas in frame pixels^2) of a ``block_w x block_h`` block.

        Areas are scaled by ``(imgsz / max(block_w, block_h))**2`` (letterbox) and mapped
        through the profile; 0 boxes give 0.0.
        """
        if not (block_w > 0 and block_h > 0):
            raise ValueError(f"block size must be positive, got {block_w}x{block_h}")
        a = np.asarray(box_areas, dtype=np.float64).reshape(-1)
        if a.size == 0:
            return 0.0
        scale = self.model(model_key).imgsz / float(max(block_w, block_h))
        return float(self.precision_of_area(model_key, a * scale * scale).mean())

    def expected_precision_matrix(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                                  box_areas_per_block: Sequence[Union[Sequence[float], np.ndarray]],
                                  model_keys: Optional[Sequence[str]] = None) -> np.ndarray:
        """Vectorised :meth:`expected_precision`: ``(n_blocks, n_models)`` matrix."""
        keys = self.model_keys if model_keys is None else list(model_keys)
        wh = np.asarray(block_wh, dtype=np.float64).reshape(-1, 2)
        nb = wh.shape[0]
        if len(box_areas_per_block) != nb:
            raise ValueError(f"need one area list per block ({nb}), got {len(box_areas_per_block)}")
        if nb and not np.all(wh > 0):
            raise ValueError("block sizes must be positive")
        arrays = [np.asarray(a, dtype=np.float64).reshape(-1) for a in box_areas_per_block]
        counts = np.array([a.size for a in arrays], dtype=np.int64)
        out = np.zeros((nb, len(keys)), dtype=np.float64)
        if counts.sum() == 0:
            return out
        areas = np.concatenate(arrays)
        owner = np.repeat(np.arange(nb), counts)
        longest = wh.max(axis=1)
        for j, k in enumerate(keys):
            scale = self.model(k).imgsz / longest
            p = self.precision_of_area(k, areas * (scale * scale)[owner])
            sums = np.bincount(owner, weights=p, minlength=nb)
            out[:, j] = np.divide(sums, counts, out=np.zeros(nb), where=counts > 0)
        return out

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Return a YAML-serialisable dict (``meta``, ``models``, ``latency_ms``, ``precision``)."""
        return {
            "meta": dict(self.meta),
            "models": [m.to_dict() for m in self.models],
            "latency_ms": {k: dict(v) for k, v in self.latency_ms.items()},
            "precision": {k: [[b, p] for b, p in v] for k, v in self.precision.items()},
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Profiles":
        """Build from the dict layout of :meth:`to_dict`; ProfileError when malformed."""
        if not isinstance(data, dict):
            raise ProfileError(f"a profile must be a mapping, got {type(data).__name__}")
        missing = [k for k in ("models", "latency_ms", "precision") if k not in data]
        if missing:
            raise ProfileError(f"profile lacks sections {missing}")
        unknown = sorted(set(data) - {"meta", "models", "latency_ms", "precision"})
        if unknown:
            raise ProfileError(f"profile has unknown sections {unknown}")
        if not isinstance(data["models"], list):
            raise ProfileError("'models' must be a list")
        meta = data.get("meta") or {}
        return cls(list(data["models"]), data["latency_ms"], data["precision"], meta)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Profiles":
        """Load a YAML profile; ProfileError (with the path) when malformed."""
        path = Path(path)
        with path.open("r", encoding="utf-8") as fh:
            try:
                data = yaml.safe_load(fh)
            except yaml.YAMLError as exc:
                raise ProfileError(f"{path}: not valid YAML ({exc})") from None
        try:
            return cls.from_dict(data)
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None

    def save(self, path: Union[str, Path]) -> Path:
        """Write the profile as YAML (creating parent folders); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            yaml.safe_dump(self.to_dict(), fh, sort_keys=False, default_flow_style=None)
        return path

    @classmethod
    def default(cls) -> "Profiles":
        """Load the package's ``config/profiles/default.yaml`` (see ``paths.find_config_file``)."""
        return cls.load(find_config_file(DEFAULT_PROFILE))


def server_latencies(profiled: Dict[str, Dict[str, float]], measured: Dict[str, Dict[str, float]],
                     sid: str) -> Dict[str, float]:
    """Latency per model key for server ``sid``, for the planner.

    ``profiled[key][server or 'default']`` holds the profile's figures, ``measured[server][key]``
    the latest figures each server reported. A model the server measured keeps its figure. For
    one it has not run yet, the estimate is optimistic: the profile's figure scaled by the
    server's median measured/profiled ratio, or the fastest figure another server measured for
    that model, whichever is smaller. A pessimistic estimate would be self-confirming (the
    planner avoids the server, so it never measures that model), an optimistic one is corrected
    by the server's next report once it has run a block.
    """
    own = measured.get(sid, {})
    base = {k: per.get(sid, per["default"]) for k, per in profiled.items()}
    ratios = [ms / base[k] for k, ms in own.items() if k in base and base[k] > 0]
    factor = min(1e3, max(1e-3, statistics.median(ratios))) if ratios else 1.0
    out = {}
    for key in profiled:
        if key in own:
            out[key] = own[key]
            continue
        peers = [m[key] for s, m in measured.items() if s != sid and key in m]
        out[key] = min([base[key] * factor, *peers])
    return out
