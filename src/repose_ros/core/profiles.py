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

Optional sections (older profiles without them keep working):

* ``latency_shapes[model_key][server_id]``: measured ``[tensor_h, tensor_w, ms]`` triples, the
  time of one call on a block whose letterboxed tensor (what ultralytics really runs: the long
  side scaled to the input size, the short side padded up to the stride, see
  :func:`letterbox_shape`) had that shape. They make the latency model shape-aware
  (:meth:`Profiles.block_latency`).
* ``recall``: ``{"conf": c, "bins": {model_key: [[area_max, recall], ...]}}``, the measured recall
  at confidence ``c`` per object area (model-input px^2, same bin rule as ``precision``); used to
  estimate the people a coarse pass misses.
* ``upscale_cap``: the largest factor by which a block is enlarged to reach a model's input size
  (measured: where enlarging stops helping). A block smaller than ``imgsz / cap`` runs at
  :func:`effective_imgsz` instead of ``imgsz``. ``None``: no cap (always letterbox to ``imgsz``).

**Shape-aware latency.** The cost of a call grows with the pixels of the tensor the network runs.
Per weights file and server, the points of ``latency_shapes`` (and the square figures of
``latency_ms``, whose tensor is ``imgsz x imgsz``) are fitted by least squares as
``f(A) = a + b * A`` (``A`` = tensor pixels, ``a, b >= 0``). The latency of a block under model
``k`` is ``latency_ms[k][server] * f(A_block) / f(imgsz**2)``: exactly the profiled figure for a
square block, scaled by the fitted shape cost otherwise (so a server's measured correction of
``latency_ms`` carries over to every shape). Without shape points the fit passes through the
square figures alone (``a = 0`` when only one input size is known: cost proportional to pixels).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from repose_ros.core.keys import ModelKeyError, parse_key
from repose_ros.core.paths import find_config_file

DEFAULT_SERVER = "default"
DEFAULT_PROFILE = "profiles/default.yaml"
OPTIONAL_SECTIONS = ("latency_shapes", "recall", "upscale_cap", "stride")


class ProfileError(ValueError):
    """A profile (or a YAML file holding one) is malformed."""


def ceil_to(value: float, stride: int) -> int:
    """Smallest multiple of ``stride`` that is >= ``value``."""
    return int(math.ceil(float(value) / stride - 1e-9)) * int(stride)


def letterbox_shape(block_w: float, block_h: float, imgsz: int, stride: int = 32) -> Tuple[int, int]:
    """Return ``(tensor_h, tensor_w)`` that ultralytics runs for one ``block_w x block_h`` image.

    A single image (or a batch of images of one shape) is letterboxed to a *rectangle*: scaled by
    ``r = imgsz / max(w, h)`` (enlarged too), then the short side is padded up to a multiple of
    the stride; ``imgsz`` itself is first rounded up to the stride. (A batch of mixed shapes is
    padded to the full ``imgsz x imgsz`` square instead; the servers never batch mixed shapes.)
    """
    if not (block_w > 0 and block_h > 0):
        raise ValueError(f"block size must be positive, got {block_w}x{block_h}")
    size = ceil_to(imgsz, stride)
    r = size / float(max(block_w, block_h))
    nw, nh = max(round(block_w * r), 1), max(round(block_h * r), 1)
    return int(nh + (size - nh) % stride), int(nw + (size - nw) % stride)


def effective_imgsz(block_w: float, block_h: float, imgsz: int, upscale_cap: Optional[float] = None,
                    stride: int = 32) -> int:
    """Input size a block really runs at: ``imgsz``, or less where that would enlarge it > ``upscale_cap``.

    With a cap, a block whose long side ``L`` satisfies ``L * cap < imgsz`` runs at
    ``ceil_to(L * cap, stride)`` (at least one stride): native size for ``cap == 1``.
    """
    if upscale_cap is None:
        return int(imgsz)
    longest = float(max(block_w, block_h))
    return int(min(int(imgsz), max(int(stride), ceil_to(longest * float(upscale_cap), stride))))


def fit_shape_cost(points: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    """Fit ``ms = a + b * pixels`` over ``(pixels, ms)`` points, ``a, b >= 0``, in relative error.

    Each point is weighted by ``1 / ms`` (least squares of the *relative* error), so that small
    tensors are fitted as well as large ones. One distinct size: ``a = 0`` (cost proportional to
    pixels through that point).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("need at least one (pixels, ms) point")
    x, y = pts[:, 0], pts[:, 1]

    def through_origin() -> Tuple[float, float]:
        return 0.0, float(np.sum(x / y) / np.sum((x / y) ** 2))

    if len(np.unique(x)) < 2:
        return through_origin()
    design = np.stack([1.0 / y, x / y], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if a < 0:
        return through_origin()
    if b < 0:
        return float(len(y) / np.sum(1.0 / y)), 0.0
    return float(a), float(b)


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


def _finite(value: Any, what: str) -> float:
    """Return ``value`` as a finite float or raise ProfileError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ProfileError(f"{what} must be finite, got {value!r}")
    return v


def _check_bins(bins: Any, what: str) -> List[Tuple[float, float]]:
    """Validate ``[[area_max, value], ...]`` (bounds > 0, strictly increasing; values in [0, 1])."""
    if not isinstance(bins, (list, tuple)) or not bins:
        raise ProfileError(f"{what} must be a non-empty list of [area_max, value]")
    out: List[Tuple[float, float]] = []
    for i, item in enumerate(bins):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ProfileError(f"{what}[{i}] must be [area_max, precision], got {item!r}")
        try:
            bound = float(item[0])
        except (TypeError, ValueError):
            raise ProfileError(f"{what}[{i}]: area bound {item[0]!r} is not a number") from None
        if math.isnan(bound) or bound <= 0:
            raise ProfileError(f"{what}[{i}]: area bound must be > 0, got {item[0]!r}")
        p = _finite(item[1], f"{what}[{i}] precision")
        if not 0.0 <= p <= 1.0:
            raise ProfileError(f"{what}[{i}]: precision must be in [0, 1], got {p}")
        if out and bound <= out[-1][0]:
            raise ProfileError(f"{what}: area bounds must increase strictly ({out[-1][0]} then {bound})")
        out.append((bound, p))
    return out


@dataclass
class Profiles:
    """Latency and precision profile of a set of models (see the module docstring)."""

    models: List[ModelSpec]
    latency_ms: Dict[str, Dict[str, float]]
    precision: Dict[str, List[Tuple[float, float]]]
    meta: Dict[str, Any] = field(default_factory=dict)
    latency_shapes: Dict[str, Dict[str, List[Tuple[int, int, float]]]] = field(default_factory=dict)
    recall: Dict[str, Any] = field(default_factory=dict)
    upscale_cap: Optional[float] = None
    stride: int = 32

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
            precision[k] = _check_bins(self.precision[k], f"precision[{k}]")
        self.models = models
        self.latency_ms = latency
        self.precision = precision
        self._bounds = {k: np.array([b for b, _ in v]) for k, v in precision.items()}
        self._values = {k: np.array([p for _, p in v]) for k, v in precision.items()}
        self._by_key = {m.key: m for m in models}
        self._validate_optional(keys)

    def _validate_optional(self, keys: List[str]) -> None:
        """Check the optional sections (latency_shapes, recall, upscale_cap, stride); fit shape costs."""
        if isinstance(self.stride, bool) or not isinstance(self.stride, (int, np.integer)) or self.stride < 1:
            raise ProfileError(f"stride must be a positive int, got {self.stride!r}")
        self.stride = int(self.stride)
        if self.upscale_cap is not None:
            cap = _finite(self.upscale_cap, "upscale_cap")
            if cap < 1.0:
                raise ProfileError(f"upscale_cap must be >= 1 (1: never enlarge a block), got {cap}")
            self.upscale_cap = cap
        shapes: Dict[str, Dict[str, List[Tuple[int, int, float]]]] = {}
        if not isinstance(self.latency_shapes, dict):
            raise ProfileError("latency_shapes must map model key -> server id -> [[h, w, ms], ...]")
        for k, per_server in self.latency_shapes.items():
            if k not in self._by_key:
                raise ProfileError(f"latency_shapes has an entry for unknown model {k!r}")
            if not isinstance(per_server, dict):
                raise ProfileError(f"latency_shapes[{k}] must map server id -> [[h, w, ms], ...]")
            shapes[k] = {}
            for sid, pts in per_server.items():
                rows = []
                for i, item in enumerate(pts if isinstance(pts, (list, tuple)) else [None]):
                    if not isinstance(item, (list, tuple)) or len(item) != 3:
                        raise ProfileError(f"latency_shapes[{k}][{sid}][{i}] must be [tensor_h, tensor_w, ms], "
                                           f"got {item!r}")
                    th, tw = _finite(item[0], "tensor_h"), _finite(item[1], "tensor_w")
                    ms = _finite(item[2], f"latency_shapes[{k}][{sid}][{i}] ms")
                    if th < 1 or tw < 1 or ms <= 0:
                        raise ProfileError(f"latency_shapes[{k}][{sid}][{i}]: sizes >= 1 and ms > 0 needed, "
                                           f"got {item!r}")
                    rows.append((int(th), int(tw), ms))
                shapes[k][str(sid)] = rows
        self.latency_shapes = shapes
        if not isinstance(self.recall, dict):
            raise ProfileError("recall must be a mapping {conf: c, bins: {model key: [[area_max, recall], ...]}}")
        if self.recall:
            unknown = sorted(set(self.recall) - {"conf", "bins", "definition"})
            if unknown:
                raise ProfileError(f"recall has unknown entries {unknown}")
            conf = _finite(self.recall.get("conf"), "recall.conf")
            bins = self.recall.get("bins")
            if not isinstance(bins, dict) or not bins:
                raise ProfileError("recall.bins must map model key -> [[area_max, recall], ...]")
            checked = {}
            for k, v in bins.items():
                if k not in self._by_key:
                    raise ProfileError(f"recall.bins has an entry for unknown model {k!r}")
                checked[k] = _check_bins(v, f"recall.bins[{k}]")
            self.recall = dict(self.recall, conf=conf, bins=checked)
        self._recall_bounds = {k: np.array([b for b, _ in v]) for k, v in self.recall.get("bins", {}).items()}
        self._recall_values = {k: np.array([r for _, r in v]) for k, v in self.recall.get("bins", {}).items()}
        self._fits: Dict[Tuple[str, str], Tuple[float, float]] = {}  # (model key, server) -> (a, b)

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

        Areas are scaled by ``(input / max(block_w, block_h))**2`` (letterbox; ``input`` is the
        block's :meth:`input_size`, the model's ``imgsz`` unless ``upscale_cap`` limits it) and
        mapped through the profile; 0 boxes give 0.0.
        """
        if not (block_w > 0 and block_h > 0):
            raise ValueError(f"block size must be positive, got {block_w}x{block_h}")
        a = np.asarray(box_areas, dtype=np.float64).reshape(-1)
        if a.size == 0:
            return 0.0
        scale = self.input_size(model_key, block_w, block_h) / float(max(block_w, block_h))
        return float(self.precision_of_area(model_key, a * scale * scale).mean())

    def expected_precision_matrix(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                                  box_areas_per_block: Sequence[Union[Sequence[float], np.ndarray]],
                                  model_keys: Optional[Sequence[str]] = None,
                                  box_weights_per_block: Optional[Sequence[Union[Sequence[float], np.ndarray]]] = None,
                                  reduce: str = "mean") -> np.ndarray:
        """Vectorised :meth:`expected_precision`: ``(n_blocks, n_models)`` matrix.

        With ``box_weights_per_block`` each box counts with its weight; ``reduce="sum"`` returns
        the weighted sum of the boxes' precisions (the expected number of detected objects when
        the weights are objects per box) instead of the weighted mean.
        """
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
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
        if box_weights_per_block is None:
            weights = np.ones(areas.size)
        else:
            if len(box_weights_per_block) != nb:
                raise ValueError(f"need one weight list per block ({nb}), got {len(box_weights_per_block)}")
            wl = [np.asarray(w, dtype=np.float64).reshape(-1) for w in box_weights_per_block]
            if [w.size for w in wl] != counts.tolist():
                raise ValueError("box weights must match the boxes of each block")
            weights = np.concatenate(wl)
        owner = np.repeat(np.arange(nb), counts)
        longest = wh.max(axis=1)
        wsum = np.bincount(owner, weights=weights, minlength=nb)
        for j, k in enumerate(keys):
            sizes = np.array([self.input_size(k, w, h) for w, h in wh], dtype=np.float64)
            scale = sizes / longest
            p = self.precision_of_area(k, areas * (scale * scale)[owner])
            sums = np.bincount(owner, weights=p * weights, minlength=nb)
            out[:, j] = sums if reduce == "sum" else np.divide(sums, wsum, out=np.zeros(nb), where=wsum > 0)
        return out

    # -- shape-aware latency ------------------------------------------------------------------
    def input_size(self, model_key: str, block_w: float, block_h: float) -> int:
        """Input size a ``block_w x block_h`` block runs at under ``model_key`` (see :func:`effective_imgsz`)."""
        return effective_imgsz(block_w, block_h, self.model(model_key).imgsz, self.upscale_cap, self.stride)

    def tensor_shape(self, model_key: str, block_w: float, block_h: float) -> Tuple[int, int]:
        """``(h, w)`` of the tensor the network runs for one such block (:func:`letterbox_shape`)."""
        return letterbox_shape(block_w, block_h, self.input_size(model_key, block_w, block_h), self.stride)

    def shape_fit(self, model_key: str, server_id: str = DEFAULT_SERVER) -> Tuple[float, float]:
        """Return ``(a, b)`` of the shape cost ``a + b * pixels`` of ``model_key`` on a server.

        From the key's own ``latency_shapes`` points on that server when they cover two or more
        tensor sizes, else its points on the ``default`` server; without such points, pooled
        over every key of the same weights (their ``default`` points and square figures).
        """
        sid = str(server_id)
        if (model_key, sid) in self._fits:
            return self._fits[(model_key, sid)]
        own = self.latency_shapes.get(self.model(model_key).key, {})
        fit = None
        for server in (sid, DEFAULT_SERVER):
            pts = [(th * tw, ms) for th, tw, ms in own.get(server, [])]
            if len({a for a, _ in pts}) >= 2:
                fit = fit_shape_cost(pts)
                break
        if fit is None:
            weights = self.model(model_key).weights
            same = [m for m in self.models if m.weights == weights]
            pts = [(th * tw, ms) for m in same
                   for th, tw, ms in self.latency_shapes.get(m.key, {}).get(DEFAULT_SERVER, [])]
            pts += [(float(ceil_to(m.imgsz, self.stride)) ** 2, self.latency_ms[m.key][DEFAULT_SERVER])
                    for m in same]
            fit = fit_shape_cost(pts)
        self._fits[(model_key, sid)] = fit
        return fit

    def reference_key(self, model_key: str, imgsz: int) -> str:
        """Return the key whose figures predict ``model_key`` run at input ``imgsz``.

        That is the key itself, or the key of the same weights whose input size is nearest to
        ``imgsz`` (when the upscale cap runs a small block below the key's size).
        """
        m = self.model(model_key)
        if imgsz == m.imgsz:
            return m.key
        same = [o for o in self.models if o.weights == m.weights]
        return min(same, key=lambda o: (abs(math.log(o.imgsz / float(imgsz))), o.imgsz)).key

    def block_latency(self, model_key: str, block_w: float, block_h: float,
                      server_id: str = DEFAULT_SERVER) -> float:
        """Predicted ms of one call of ``model_key`` on a ``block_w x block_h`` block on ``server_id``.

        ``latency(ref, server_id) * f(tensor pixels) / f(ref_size**2)`` with the shape cost ``f``
        of :meth:`shape_fit`, ``ref`` the :meth:`reference_key` of the block's input size (see
        the module docstring).
        """
        size = self.input_size(model_key, block_w, block_h)
        ref = self.reference_key(model_key, size)
        th, tw = letterbox_shape(block_w, block_h, size, self.stride)
        ref_size = ceil_to(self.model(ref).imgsz, self.stride)
        if th * tw == ref_size * ref_size:
            return self.latency(ref, server_id)  # exactly the profiled figure, no float noise
        a, b = self.shape_fit(ref, server_id)
        square = a + b * ref_size * ref_size
        return self.latency(ref, server_id) * ((a + b * th * tw) / square if square > 0 else 1.0)

    def block_latency_matrix(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                             servers: Sequence[str], model_keys: Optional[Sequence[str]] = None) -> np.ndarray:
        """``(n_blocks, n_models, n_servers)`` array of :meth:`block_latency` (vectorised)."""
        keys = self.model_keys if model_keys is None else list(model_keys)
        wh = np.asarray(block_wh, dtype=np.float64).reshape(-1, 2)
        nb, st = wh.shape[0], self.stride
        out = np.empty((nb, len(keys), len(servers)), dtype=np.float64)
        if nb == 0:
            return out
        if not np.all(wh > 0):
            raise ValueError("block sizes must be positive")
        longest = wh.max(axis=1)
        for j, k in enumerate(keys):
            imgsz = self.model(k).imgsz
            if self.upscale_cap is None:
                size = np.full(nb, imgsz, dtype=np.float64)
            else:
                capped = np.maximum(st, np.ceil(longest * self.upscale_cap / st - 1e-9) * st)
                size = np.minimum(imgsz, capped)
            size = np.ceil(size / st - 1e-9) * st
            r = size / longest
            nw, nh = np.maximum(np.round(wh[:, 0] * r), 1), np.maximum(np.round(wh[:, 1] * r), 1)
            pixels = (nh + np.mod(size - nh, st)) * (nw + np.mod(size - nw, st))
            for eff in np.unique(size):
                sel = size == eff
                ref = self.reference_key(k, int(eff)) if eff != ceil_to(imgsz, st) else k
                ref_size = float(ceil_to(self.model(ref).imgsz, st))
                for s_i, sid in enumerate(servers):
                    a, b = self.shape_fit(ref, str(sid))
                    square = a + b * ref_size * ref_size
                    rel = (a + b * pixels[sel]) / square if square > 0 else np.ones(int(sel.sum()))
                    rel = np.where(pixels[sel] == ref_size * ref_size, 1.0, rel)
                    out[sel, j, s_i] = self.latency(ref, str(sid)) * rel
        return out

    # -- recall -----------------------------------------------------------------------------------
    def has_recall(self, model_key: str) -> bool:
        """Whether the profile holds a measured recall curve for ``model_key``."""
        return model_key in self._recall_bounds

    def recall_of_area(self, model_key: str, areas: Union[Sequence[float], np.ndarray]) -> np.ndarray:
        """Recall at ``recall['conf']`` of objects of ``areas`` (model-input px^2); KeyError without a curve."""
        if model_key not in self._recall_bounds:
            raise KeyError(f"the profile has no recall curve for {model_key!r}")
        a = np.asarray(areas, dtype=np.float64).reshape(-1)
        bounds, values = self._recall_bounds[model_key], self._recall_values[model_key]
        return values[np.minimum(np.searchsorted(bounds, a, side="left"), len(bounds) - 1)]

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Return a YAML-serialisable dict (``meta``, ``models``, ``latency_ms``, ``precision``, options)."""
        out: Dict[str, Any] = {
            "meta": dict(self.meta),
            "models": [m.to_dict() for m in self.models],
            "latency_ms": {k: dict(v) for k, v in self.latency_ms.items()},
            "precision": {k: [[b, p] for b, p in v] for k, v in self.precision.items()},
        }
        if self.latency_shapes:
            out["latency_shapes"] = {k: {sid: [list(p) for p in pts] for sid, pts in v.items()}
                                     for k, v in self.latency_shapes.items()}
        if self.recall:
            out["recall"] = dict(self.recall, bins={k: [[b, r] for b, r in v]
                                                    for k, v in self.recall["bins"].items()})
        if self.upscale_cap is not None:
            out["upscale_cap"] = float(self.upscale_cap)
        if self.stride != 32:
            out["stride"] = self.stride
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Profiles":
        """Build from the dict layout of :meth:`to_dict`; ProfileError when malformed."""
        if not isinstance(data, dict):
            raise ProfileError(f"a profile must be a mapping, got {type(data).__name__}")
        missing = [k for k in ("models", "latency_ms", "precision") if k not in data]
        if missing:
            raise ProfileError(f"profile lacks sections {missing}")
        unknown = sorted(set(data) - {"meta", "models", "latency_ms", "precision", *OPTIONAL_SECTIONS})
        if unknown:
            raise ProfileError(f"profile has unknown sections {unknown}")
        if not isinstance(data["models"], list):
            raise ProfileError("'models' must be a list")
        meta = data.get("meta") or {}
        return cls(list(data["models"]), data["latency_ms"], data["precision"], meta,
                   latency_shapes=data.get("latency_shapes") or {}, recall=data.get("recall") or {},
                   upscale_cap=data.get("upscale_cap"), stride=data.get("stride", 32))

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
