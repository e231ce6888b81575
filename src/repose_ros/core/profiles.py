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
* ``upscale_gain``: ``{"factors": [1, f2, ...], "bins": [[area_max, [gain per factor]], ...]}``, the
  measured change in AP50:95 of the *same* people when a block is enlarged by each factor, per
  source-object area bin (frame px^2, same bin rule as ``precision``; ``repose profile
  --upscale-study``). With it, a box in a block enlarged by ``s > 1`` counts with the precision of
  its native size plus the gain at ``s`` (interpolated in log ``s``, held past the last factor),
  clipped to [0, 1], where the planner asks for it (``RePoseConfig.plan_upscale_gain``, off by
  default: measured end to end, it helped dense scenes and hurt PANDA-like ones; README); see
  :meth:`Profiles.precision_at`. The ``precision`` curves alone describe a
  person by its area at the input whatever the enlargement, and enlarging does not add the detail a
  person of that size would have natively: the study found mid-sized people (32-64 px) gaining
  nothing past 2x and people larger than 64 px losing from 1.5x, where the curves promise gains.

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

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from repose_ros.core.fusion import area_limit_on
from repose_ros.core.profile_schema import (DEFAULT_SERVER, ModelSpec, ProfileError, check_latency_shapes,
                                            check_models, check_recall, check_stride, check_tables,
                                            check_upscale_cap, check_upscale_gain)
from repose_ros.core.tensor_shapes import ceil_to, effective_imgsz, fit_shape_cost, letterbox_shape
from repose_ros.core.paths import find_config_file

DEFAULT_PROFILE = "profiles/default.yaml"
OPTIONAL_SECTIONS = ("latency_shapes", "recall", "upscale_cap", "upscale_gain", "stride")


def _per_box(per_block: Sequence[Any], counts: np.ndarray, what: str, name: str) -> np.ndarray:
    """Concatenate one float array per block after checking it has one entry per box of its block."""
    if len(per_block) != len(counts):
        raise ValueError(f"need one {what} per block ({len(counts)}), got {len(per_block)}")
    arrays = [np.asarray(v, dtype=np.float64).reshape(-1) for v in per_block]
    if [a.size for a in arrays] != counts.tolist():
        raise ValueError(f"{name} must match the boxes of each block")
    return np.concatenate(arrays)


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
    upscale_gain: Dict[str, Any] = field(default_factory=dict)
    #: Whether :meth:`precision_at` uses ``upscale_gain`` (not part of the file: the planner's choice,
    #: ``RePoseConfig.plan_upscale_gain``; see :meth:`with_upscale_gain`).
    apply_upscale_gain: bool = False

    def __post_init__(self) -> None:
        self.validate()

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Check and normalise the profile in place; raise ProfileError naming the problem."""
        if not isinstance(self.meta, dict):
            raise ProfileError(f"meta must be a mapping, got {type(self.meta).__name__}")
        models = check_models(self.models)
        keys = [m.key for m in models]
        self.latency_ms, self.precision = check_tables(keys, self.latency_ms, self.precision)
        self.models = models
        self._bounds = {k: np.array([b for b, _ in v]) for k, v in self.precision.items()}
        self._values = {k: np.array([p for _, p in v]) for k, v in self.precision.items()}
        self._by_key = {m.key: m for m in models}
        self.stride = check_stride(self.stride)
        self.upscale_cap = check_upscale_cap(self.upscale_cap)
        self.upscale_gain = check_upscale_gain(self.upscale_gain)
        if self.upscale_gain:
            self._gain_bounds = np.array([b for b, _ in self.upscale_gain["bins"]])
            self._gain_table = np.array([g for _, g in self.upscale_gain["bins"]], dtype=np.float64)
            self._gain_logf = np.log(np.asarray(self.upscale_gain["factors"], dtype=np.float64))
        self.latency_shapes = check_latency_shapes(self.latency_shapes, self._by_key)
        self.recall = check_recall(self.recall, self._by_key)
        self._recall_bounds = {k: np.array([b for b, _ in v]) for k, v in self.recall.get("bins", {}).items()}
        self._recall_values = {k: np.array([r for _, r in v]) for k, v in self.recall.get("bins", {}).items()}
        self._fits: Dict[Tuple[str, str], Tuple[float, float]] = {}  # (model key, server) -> (a, b)
        self._references: Dict[Tuple[str, int, int], Tuple[str, float]] = {}  # (key, input, stride) -> (ref, its input)

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

    def upscale_gain_of(self, areas: Union[Sequence[float], np.ndarray],
                        scales: Union[float, Sequence[float], np.ndarray]) -> np.ndarray:
        """Measured precision change of boxes of ``areas`` (frame px^2) enlarged by ``scales`` (``upscale_gain``).

        Per area bin, linear in log factor between the measured factors; 0 at or below 1, the last
        factor's gain above it; 0 everywhere without the section (whether or not it is applied).
        """
        a = np.asarray(areas, dtype=np.float64).reshape(-1)
        s = np.broadcast_to(np.asarray(scales, dtype=np.float64).reshape(-1), a.shape)
        if not self.upscale_gain or a.size == 0:
            return np.zeros(a.shape)
        row = np.minimum(np.searchsorted(self._gain_bounds, a, side="left"), len(self._gain_bounds) - 1)
        logf = self._gain_logf
        x = np.clip(np.log(np.maximum(s, 1.0)), 0.0, logf[-1])
        j = np.clip(np.searchsorted(logf, x, side="right") - 1, 0, len(logf) - 2)
        t = (x - logf[j]) / (logf[j + 1] - logf[j])
        return self._gain_table[row, j] * (1.0 - t) + self._gain_table[row, j + 1] * t

    def precision_at(self, model_key: str, areas: Union[Sequence[float], np.ndarray],
                     scales: Union[float, Sequence[float], np.ndarray]) -> np.ndarray:
        """Precision of boxes of ``areas`` (frame px^2) in blocks resized by ``scales`` (input px per frame px).

        The profile's curve at the area at the input (:meth:`precision_of_area`), except for an
        enlarged box (scale > 1) when the profile has ``upscale_gain`` and applies it
        (:meth:`with_upscale_gain`): then the curve at the box's native area plus the measured gain
        of that enlargement, clipped to [0, 1].
        """
        a = np.asarray(areas, dtype=np.float64).reshape(-1)
        s = np.broadcast_to(np.asarray(scales, dtype=np.float64).reshape(-1), a.shape)
        p = self.precision_of_area(model_key, a * s * s)
        if self.upscale_gain and self.apply_upscale_gain:
            up = s > 1.0
            if up.any():
                native = self.precision_of_area(model_key, a[up])
                p[up] = np.clip(native + self.upscale_gain_of(a[up], s[up]), 0.0, 1.0)
        return p

    def with_upscale_gain(self, apply: bool = True) -> "Profiles":
        """Return a copy whose :meth:`precision_at` applies ``upscale_gain`` (or not); self when that is so already."""
        if bool(apply) == self.apply_upscale_gain:
            return self
        return dataclasses.replace(self, apply_upscale_gain=bool(apply))

    def expected_precision(self, model_key: str, block_w: float, block_h: float,
                           box_areas: Union[Sequence[float], np.ndarray]) -> float:
        """Mean precision of boxes (areas in frame pixels^2) of a ``block_w x block_h`` block.

        Areas are scaled by ``(input / max(block_w, block_h))**2`` (letterbox; ``input`` is the
        block's :meth:`input_size`, the model's ``imgsz`` unless ``upscale_cap`` limits it) and
        mapped through the profile (:meth:`precision_at`); 0 boxes give 0.0.
        """
        if not (block_w > 0 and block_h > 0):
            raise ValueError(f"block size must be positive, got {block_w}x{block_h}")
        a = np.asarray(box_areas, dtype=np.float64).reshape(-1)
        if a.size == 0:
            return 0.0
        scale = self.input_size(model_key, block_w, block_h) / float(max(block_w, block_h))
        return float(self.precision_at(model_key, a, scale).mean())

    def expected_precision_matrix(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                                  box_areas_per_block: Sequence[Union[Sequence[float], np.ndarray]],
                                  model_keys: Optional[Sequence[str]] = None,
                                  box_weights_per_block: Optional[Sequence[Union[Sequence[float], np.ndarray]]] = None,
                                  reduce: str = "mean", cap_area: Optional[float] = None,
                                  cap_values_per_block: Optional[Sequence[Union[Sequence[float], np.ndarray]]] = None,
                                  enlarge: Optional[Union[Sequence[float], np.ndarray]] = None) -> np.ndarray:
        """Vectorised :meth:`expected_precision`: ``(n_blocks, n_models)`` matrix.

        With ``box_weights_per_block`` each box counts with its weight; ``reduce="sum"`` returns
        the weighted sum of the boxes' precisions (the expected number of detected objects when
        the weights are objects per box) instead of the weighted mean.

        With ``cap_area`` (px^2 at the model input) and ``cap_values_per_block`` (one precision per
        box, NaN for none) a box larger than ``cap_area`` at a model's input counts with its cap
        value instead of the profile's precision: fusion answers such a box by the coarse pass's
        box of the same person (:func:`repose_ros.core.fusion.swap_oversized`).

        ``enlarge``: per-block enlargement limits (:meth:`input_sizes`), the blocks' input sizes
        then as the planner runs them.
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
        weights = np.ones(areas.size) if box_weights_per_block is None else \
            _per_box(box_weights_per_block, counts, "weight list", "box weights")
        fallback = None
        if cap_values_per_block is not None and area_limit_on(cap_area):
            fallback = _per_box(cap_values_per_block, counts, "cap value list", "cap values")
            has_fallback = np.isfinite(fallback)
        owner = np.repeat(np.arange(nb), counts)
        longest = wh.max(axis=1)
        wsum = np.bincount(owner, weights=weights, minlength=nb)
        all_sizes = self.input_sizes(wh, keys, enlarge).astype(np.float64)
        for j, k in enumerate(keys):
            scale = all_sizes[:, j] / longest
            p = self.precision_at(k, areas, scale[owner])
            if fallback is not None:
                at_input = areas * (scale * scale)[owner]
                p = np.where(has_fallback & (at_input > cap_area), fallback, p)
            sums = np.bincount(owner, weights=p * weights, minlength=nb)
            out[:, j] = sums if reduce == "sum" else np.divide(sums, wsum, out=np.zeros(nb), where=wsum > 0)
        return out

    # -- shape-aware latency ------------------------------------------------------------------
    def input_size(self, model_key: str, block_w: float, block_h: float) -> int:
        """Input size a ``block_w x block_h`` block runs at under ``model_key`` (see :func:`effective_imgsz`)."""
        return effective_imgsz(block_w, block_h, self.model(model_key).imgsz, self.upscale_cap, self.stride)

    def input_sizes(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                    model_keys: Optional[Sequence[str]] = None,
                    enlarge: Optional[Union[Sequence[float], np.ndarray]] = None) -> np.ndarray:
        """Vectorised :meth:`input_size`: ``(n_blocks, n_models)`` int64 array.

        ``enlarge`` (one factor per block, inf or NaN for none) limits each block's enlargement
        further than the profile's ``upscale_cap``: the smaller of the two applies.
        """
        keys = self.model_keys if model_keys is None else list(model_keys)
        wh = np.asarray(block_wh, dtype=np.float64).reshape(-1, 2)
        imgsz = np.array([self.model(k).imgsz for k in keys], dtype=np.int64).reshape(1, -1)
        cap = np.full(wh.shape[0], np.inf if self.upscale_cap is None else float(self.upscale_cap))
        if enlarge is not None:
            limit = np.asarray(enlarge, dtype=np.float64).reshape(-1)
            if limit.shape != cap.shape:
                raise ValueError(f"need one enlargement limit per block ({cap.size}), got {limit.size}")
            cap = np.fmin(cap, limit)  # NaN: no limit
        if not np.isfinite(cap).any():
            return np.repeat(imgsz, wh.shape[0], axis=0)
        st = int(self.stride)
        # The same float operations as effective_imgsz, so that both agree to the pixel.
        with np.errstate(invalid="ignore"):
            capped = np.ceil(wh.max(axis=1) * cap / st - 1e-9) * st
        capped = np.where(np.isfinite(capped), capped, float(imgsz.max())).astype(np.int64)
        return np.minimum(imgsz, np.maximum(st, capped)[:, None])

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
                      server_id: str = DEFAULT_SERVER, imgsz: Optional[int] = None) -> float:
        """Predicted ms of one call of ``model_key`` on a ``block_w x block_h`` block on ``server_id``.

        ``latency(ref, server_id) * f(tensor pixels) / f(ref_size**2)`` with the shape cost ``f``
        of :meth:`shape_fit`, ``ref`` the :meth:`reference_key` of the block's input size (see
        the module docstring). ``imgsz``: the input size the block runs at when a plan chose it
        (``BlockPlan.imgsz``, which a per-block enlargement limit may have lowered); default
        :meth:`input_size`.
        """
        size = int(imgsz) if imgsz else self.input_size(model_key, block_w, block_h)
        ref = self.reference_key(model_key, size)
        th, tw = letterbox_shape(block_w, block_h, size, self.stride)
        ref_size = ceil_to(self.model(ref).imgsz, self.stride)
        if th * tw == ref_size * ref_size:
            return self.latency(ref, server_id)  # exactly the profiled figure, no float noise
        a, b = self.shape_fit(ref, server_id)
        square = a + b * ref_size * ref_size
        return self.latency(ref, server_id) * ((a + b * th * tw) / square if square > 0 else 1.0)

    def block_latency_matrix(self, block_wh: Union[Sequence[Sequence[float]], np.ndarray],
                             servers: Sequence[str], model_keys: Optional[Sequence[str]] = None,
                             enlarge: Optional[Union[Sequence[float], np.ndarray]] = None) -> np.ndarray:
        """``(n_blocks, n_models, n_servers)`` array of :meth:`block_latency` (vectorised).

        ``enlarge``: per-block enlargement limits of :meth:`input_sizes`.
        """
        keys = self.model_keys if model_keys is None else list(model_keys)
        wh = np.asarray(block_wh, dtype=np.float64).reshape(-1, 2)
        nb, st = wh.shape[0], self.stride
        out = np.empty((nb, len(keys), len(servers)), dtype=np.float64)
        if nb == 0:
            return out
        if not np.all(wh > 0):
            raise ValueError("block sizes must be positive")
        size = np.ceil(self.input_sizes(wh, keys, enlarge) / st - 1e-9) * st  # (B, M), the tensor's long side
        r = size / wh.max(axis=1)[:, None]
        nw, nh = np.maximum(np.round(wh[:, :1] * r), 1), np.maximum(np.round(wh[:, 1:] * r), 1)
        pixels = (nh + np.mod(size - nh, st)) * (nw + np.mod(size - nw, st))
        sids = [str(s) for s in servers]
        # One row of figures per distinct (model, input size) pair, looked up for every block at once.
        span = int(size.max()) + 1
        pairs, inv = np.unique(np.arange(len(keys))[None, :] * span + size.astype(np.int64), return_inverse=True)
        refs = [self._reference(keys[int(c) // span], int(c) % span) for c in pairs]
        coef = {ref: self._shape_coefficients(ref, sids) for ref, _ in set(refs)}
        row = inv.reshape(size.shape)  # (B, M): each block's pair
        a, b, lat = (np.stack([coef[ref][i] for ref, _ in refs])[row] for i in range(3))  # (B, M, S) each
        ref_size = np.array([rs for _, rs in refs])[row][:, :, None]
        square = a + b * ref_size * ref_size  # the same float operations as block_latency
        pix = pixels[:, :, None]
        rel = (a + b * pix) / np.where(square > 0, square, 1.0)
        out[:] = lat * np.where((pix == ref_size * ref_size) | (square <= 0), 1.0, rel)
        return out

    def _reference(self, model_key: str, eff: int) -> Tuple[str, float]:
        """``(ref, ref_size)``: the :meth:`reference_key` of ``model_key`` at the stride-rounded input ``eff``.

        The key itself at its own size; ``ref_size`` is ref's input rounded to the stride. Kept per
        key, size and stride (the models of a profile do not change).
        """
        st = self.stride
        name = (model_key, eff, st)
        if name not in self._references:
            own = eff == ceil_to(self.model(model_key).imgsz, st)
            ref = model_key if own else self.reference_key(model_key, eff)
            self._references[name] = (ref, float(ceil_to(self.model(ref).imgsz, st)))
        return self._references[name]

    def _shape_coefficients(self, ref: str, servers: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per server: ``(a, b, latency)`` of ``ref``, the shape cost :meth:`shape_fit` and the profiled figure.

        The latencies are read afresh: a partitioner adapts them to what the servers measure.
        """
        fits = np.array([self.shape_fit(ref, sid) for sid in servers], dtype=np.float64).reshape(-1, 2)
        return fits[:, 0], fits[:, 1], np.array([self.latency(ref, sid) for sid in servers], dtype=np.float64)

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
        if self.upscale_gain:
            out["upscale_gain"] = dict(self.upscale_gain, factors=list(self.upscale_gain["factors"]),
                                       bins=[[b, list(g)] for b, g in self.upscale_gain["bins"]])
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
                   upscale_cap=data.get("upscale_cap"), stride=data.get("stride", 32),
                   upscale_gain=data.get("upscale_gain") or {})

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
