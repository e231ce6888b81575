"""Plan generator (III-B): one detector model and one edge server per block under a budget.

**Problem.** Block ``b`` must get exactly one model ``m`` (multiple-choice knapsack). The value
of a choice is ``weight_b * P[b, m]``, ``P`` being the expected precision of the block under the
model (:meth:`Profiles.expected_precision`, eq. 17-18). ``weight="boxes"`` (default) sets
``weight_b`` to the number of boxes of the block, so the objective is the expected number of
boxes detected: a block holding 50 people counts more than one holding a single person.
``weight="uniform"`` sets ``weight_b = 1``, the plain sum of per-block precisions of eq. (20).

**Single budget, exact (:func:`solve_mckp`).** Dynamic programming over a discretised budget.
Costs are rounded *up* to multiples of ``resolution`` and the capacity *down* (with a 1e-9
tolerance for float noise; the true cost of the answer is then re-checked), so the returned
solution always fits with the true costs. ``dp[c]`` is the best value with total cost at most
``c``; each block is one vectorised step over all cells (``dp[c - cost_m] + value_m``, max over
models), its row kept for backtracking, which recovers each block's model as the first whose sum
equals the cell's value. Models of a block that can never win that maximum (another costs no
more and is worth more) are left out first. Among optimal plans the one of least discrete cost
is returned. The result is optimal for the rounded costs, hence exact
when the costs are multiples of the resolution.

**Several servers (:func:`plan_blocks`).** Servers run in parallel and may differ in speed;
a plan must keep each server's summed latency within ``budget_ms``. The approach:

1. Each model gets an aggregate cost, the harmonic mean of its latencies over the servers
   (``S / sum_s 1 / lat[m, s]``; equal to the latency when the servers are identical), so that
   ``S * budget`` is the parallel capacity in those units. Models slower than the budget on
   every server are excluded. The DP above runs with capacity ``S * budget_ms``.
2. Blocks are assigned to servers longest-first, each to the server where it would finish
   earliest (LPT / earliest-finish-time).
3. While some server exceeds the budget, one block on an overloaded server is downgraded (to
   a model cheaper on that server and in aggregate cost) and step 2 is repeated. The downgrade
   taken is, if some single downgrade removes its server's whole excess, the one among those
   that loses the least value; otherwise the one that loses the least value per millisecond
   saved. As every downgrade lowers a block's aggregate cost, this ends after at most
   ``blocks x (models - 1)`` downgrades.

**Guarantee.** The final per-server loads are recomputed from the profile's true latencies and
``feasible`` is True only if every load is ``<= budget_ms``: a plan that says feasible never
exceeds the budget on any server. With one server the plan is feasible exactly when the
cheapest model on every block fits, and it is the DP optimum whenever the rounded problem is
feasible. With several servers a feasible assignment can be missed (bin packing is NP-hard);
the plan is then reported infeasible. An infeasible plan is the cheapest one reached (the
cheapest model on every block when nothing fits), with ``feasible=False`` and a ``reason``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.core.blocks import Block, Rect
from repose_ros.core.fusion import area_limit_on
from repose_ros.core.profiles import Profiles

ServerId = Union[int, str]
WEIGHTS = ("boxes", "uniform")
_MAX_DP_CELLS = 16_000_000  # float64 cells of the DP table: 128 MB at most
_EPS = 1e-9


@dataclass
class MCKPResult:
    """Solution of one multiple-choice knapsack: chosen option per item, value, true cost."""

    choice: np.ndarray
    value: float
    cost: float
    feasible: bool


def _discretise(costs: np.ndarray, resolution: float) -> np.ndarray:
    """Round costs up to whole multiples of ``resolution`` (``-1`` marks a forbidden option)."""
    out = np.full(costs.shape, -1, dtype=np.int64)
    ok = np.isfinite(costs)
    # The tolerance absorbs float noise such as 0.6 / 0.1 = 5.999...; solve_mckp re-checks the
    # true cost of its answer, so a cost rounded down by this tolerance can never slip through.
    out[ok] = np.maximum(np.ceil(costs[ok] / resolution - _EPS), 0).astype(np.int64)
    return out


def solve_mckp(values: np.ndarray, costs: np.ndarray, capacity: float,
               resolution: float = 1.0) -> MCKPResult:
    """Solve ``max sum values[b, choice_b]`` s.t. ``sum costs[b, choice_b] <= capacity`` by DP.

    ``values`` and ``costs`` are ``(B, M)``; an infinite cost forbids that option. Costs are
    rounded up to multiples of ``resolution`` (see the module docstring), so the returned
    choice never exceeds ``capacity`` with the true costs when ``feasible``. When nothing
    fits, returns the cheapest option per item with ``feasible=False``.
    """
    v, c = _mckp_arrays(values, costs, capacity, resolution)
    n_items, n_opts = v.shape
    if n_items == 0:
        return MCKPResult(np.zeros(0, dtype=np.int64), 0.0, 0.0, True)
    if n_opts == 0:
        raise ValueError("every item needs at least one option")
    cheapest = np.argmin(c, axis=1)

    def infeasible() -> MCKPResult:
        idx = np.arange(n_items)
        return MCKPResult(cheapest.astype(np.int64), float(v[idx, cheapest].sum()),
                          float(c[idx, cheapest].sum()), False)

    dc = _discretise(c, resolution)
    allowed = dc >= 0
    if not np.all(allowed.any(axis=1)):
        return infeasible()
    cap = math.floor(capacity / resolution + _EPS) if math.isfinite(capacity) else None
    top = int(np.where(allowed, dc, 0).max(axis=1).sum())  # beyond this, everything fits
    if cap is None or cap > top:
        cap = top
    if int(np.where(allowed, dc, np.iinfo(np.int64).max).min(axis=1).sum()) > cap:
        return infeasible()
    width = cap + 1
    if n_items * width > _MAX_DP_CELLS:
        raise ValueError(f"DP table too large ({n_items} x {width} cells); use a coarser resolution")

    useful = _useful_options(v, dc, width)
    return _backtrack(_dp_table(v, dc, width, useful), v, c, dc, useful, cap, capacity) or infeasible()


def _mckp_arrays(values: np.ndarray, costs: np.ndarray, capacity: float,
                 resolution: float) -> Tuple[np.ndarray, np.ndarray]:
    """Check the inputs of :func:`solve_mckp`; return values and costs as float arrays."""
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(costs, dtype=np.float64)
    if v.ndim != 2 or c.shape != v.shape:
        raise ValueError(f"values and costs must be (B, M) arrays of one shape, got {v.shape}, {c.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    if np.any(np.isnan(c)) or np.any(c < 0):
        raise ValueError("costs must be >= 0 (inf forbids an option)")
    if not resolution > 0 or not math.isfinite(resolution):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    if math.isnan(capacity) or capacity < 0:
        raise ValueError(f"capacity must be >= 0, got {capacity}")
    return v, c


def _useful_options(v: np.ndarray, k: np.ndarray, width: int) -> np.ndarray:
    """``(B, M)`` mask of the options :func:`_dp_table` can choose for each item.

    An option outside ``[0, width)`` never fits. An option ``m`` is never chosen when another
    ``m'`` of the same item costs no more and is worth more, or is worth as much and comes first
    (ties go to the first option): at every cell ``dp[c - k_m'] + v_m' >= dp[c - k_m] + v_m``
    since ``dp`` never decreases. Leaving such options out changes nothing but the work.
    """
    n_opts = v.shape[1]
    fits = (k >= 0) & (k < width)
    earlier = np.tri(n_opts, k=-1, dtype=bool)  # [m, m']: m' comes before m
    no_dearer = k[:, None, :] <= k[:, :, None]  # [b, m, m']: m' costs no more than m
    better = (v[:, None, :] > v[:, :, None]) | ((v[:, None, :] == v[:, :, None]) & earlier)
    beaten = (no_dearer & better & fits[:, None, :]).any(axis=2)
    return fits & ~beaten


def _dp_table(v: np.ndarray, dc: np.ndarray, width: int, useful: np.ndarray) -> np.ndarray:
    """Fill the DP over the items: ``table[b + 1, c]`` the best value of items ``0..b`` at discrete cost <= ``c``.

    ``table[0]`` is all zeros (no item yet); ``table[b + 1, c] = max_m table[b, c - k_m] + v_m``
    over the options ``useful`` marks (:func:`_useful_options`). :func:`_backtrack` recovers the
    options from the table.
    """
    n_items = v.shape[0]
    table = np.empty((n_items + 1, width), dtype=np.float64)
    table[0] = 0.0
    tmp = np.empty(width, dtype=np.float64)
    for b in range(n_items):
        dp, nxt = table[b], table[b + 1]
        nxt.fill(-np.inf)
        for m in np.flatnonzero(useful[b]):
            k = int(dc[b, m])
            n = width - k
            np.add(dp[:n], v[b, m], out=tmp[:n])
            np.maximum(nxt[k:], tmp[:n], out=nxt[k:])
    return table


def _backtrack(table: np.ndarray, v: np.ndarray, c: np.ndarray, dc: np.ndarray, useful: np.ndarray, cap: int,
               capacity: float) -> Optional[MCKPResult]:
    """Recover the least-cost optimal plan from the DP table; None when no plan fits ``capacity``.

    At each item the option taken is the first (in option order) whose ``table[b, cell - k_m] + v_m``
    equals the cell's value: the same float sum the DP took its maximum of, so equality is exact,
    and the first option wins ties.
    """
    n_items = v.shape[0]
    idx = np.arange(n_items)
    dp = table[n_items]
    while cap >= 0 and np.isfinite(dp[cap]):
        best = dp[cap]
        # Least-cost optimal plan: the first cell that reaches the optimum (dp is monotone).
        cell = int(np.argmax(dp[:cap + 1] >= best - 1e-12 * max(1.0, abs(best))))
        start = cell
        picked = np.empty(n_items, dtype=np.int64)
        for b in range(n_items - 1, -1, -1):
            here = table[b + 1, cell]
            m = next(int(m) for m in np.flatnonzero(useful[b])
                     if dc[b, m] <= cell and table[b, cell - dc[b, m]] + v[b, m] == here)
            picked[b] = m
            cell -= int(dc[b, m])
        cost = float(c[idx, picked].sum())
        if cost <= capacity:
            return MCKPResult(picked, float(v[idx, picked].sum()), cost, True)
        cap = start - 1  # only float noise gets here: retry below the offending cell
    return None


def brute_force_mckp(values: np.ndarray, costs: np.ndarray,
                     capacity: float) -> Tuple[Optional[Tuple[int, ...]], float]:
    """Exhaustive MCKP for small instances: ``(best choice or None, best value or -inf)``.

    Uses the true costs (no rounding); the first best choice in lexicographic order wins.
    """
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(costs, dtype=np.float64)
    n_items, n_opts = v.shape
    if n_opts ** n_items > 2_000_000:
        raise ValueError("instance too large for brute force")
    best: Optional[Tuple[int, ...]] = None
    best_value = -math.inf
    idx = np.arange(n_items)
    for combo in itertools.product(range(n_opts), repeat=n_items):
        pick = np.array(combo, dtype=np.int64)
        if c[idx, pick].sum() <= capacity:
            value = float(v[idx, pick].sum())
            if value > best_value:
                best, best_value = tuple(combo), value
    return best, best_value


@dataclass
class BlockPlan:
    """Decision for one block: model, server and what the profile expects of it."""

    block_index: int
    model_key: str
    server_id: ServerId
    expected_latency_ms: float
    expected_precision: float
    n_boxes: int
    imgsz: int = 0  # input size the block runs at (the key's, or less under the profile's upscale cap)

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class Plan:
    """A frame's plan: one :class:`BlockPlan` per block (in block order) and per-server loads."""

    blocks: List[BlockPlan]
    server_load_ms: Dict[ServerId, float]
    makespan_ms: float
    total_value: float
    feasible: bool
    reason: str = ""
    budget_ms: float = math.inf
    weight: str = "boxes"
    stats: Dict[str, Any] = field(default_factory=dict)
    skipped: List[int] = field(default_factory=list)  # blocks left out (answered by their coarse boxes)

    def blocks_on(self, server_id: ServerId) -> List[BlockPlan]:
        """Block plans assigned to ``server_id``."""
        return [bp for bp in self.blocks if bp.server_id == server_id]

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-serialisable dict (server ids become strings as JSON keys)."""
        return {
            "blocks": [bp.to_dict() for bp in self.blocks],
            "server_load_ms": {str(k): float(v) for k, v in self.server_load_ms.items()},
            "makespan_ms": float(self.makespan_ms),
            "total_value": float(self.total_value),
            "feasible": bool(self.feasible),
            "reason": self.reason,
            "budget_ms": float(self.budget_ms),
            "weight": self.weight,
            "stats": dict(self.stats),
            "skipped": list(self.skipped),
        }


def _block_wh(block: Union[Block, Rect, Sequence[float]]) -> Tuple[float, float]:
    """Width and height of a Block, a Rect or a ``(w, h)`` pair."""
    if isinstance(block, Block):
        block = block.rect
    if isinstance(block, Rect):
        return float(block.w), float(block.h)
    w, h = block
    return float(w), float(h)


def _assign(model_of: np.ndarray, lat: np.ndarray, agg: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """LPT / earliest-finish assignment; returns (server index per block, load per server).

    ``lat`` is ``(B, M, S)`` (latency of block b under model m on server s), ``agg`` ``(B, M)``.
    """
    n_blocks, n_servers = model_of.shape[0], lat.shape[2]
    load = np.zeros(n_servers, dtype=np.float64)
    server_of = np.zeros(n_blocks, dtype=np.int64)
    for b in sorted(range(n_blocks), key=lambda i: (-agg[i, model_of[i]], i)):
        finish = load + lat[b, model_of[b]]
        s = int(np.argmin(finish))
        server_of[b] = s
        load[s] = finish[s]
    return server_of, load


def _per_block(lat: np.ndarray, agg: np.ndarray, usable: np.ndarray, n_blocks: int
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast per-model ``(M, S)`` / ``(M,)`` tables to the per-block ``(B, M, S)`` / ``(B, M)`` layout."""
    if lat.ndim == 2:
        lat = np.broadcast_to(lat[None], (n_blocks,) + lat.shape)
    if agg.ndim == 1:
        agg = np.broadcast_to(agg[None], (n_blocks, agg.shape[0]))
    if usable.ndim == 1:
        usable = np.broadcast_to(usable[None], (n_blocks, usable.shape[0]))
    return lat, agg, usable


def _repair(model_of: np.ndarray, values: np.ndarray, lat: np.ndarray, agg: np.ndarray,
            usable: np.ndarray, budget: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Assign, then downgrade blocks on overloaded servers until all fit or nothing is left.

    ``lat`` is ``(B, M, S)`` or ``(M, S)``, ``agg`` and ``usable`` ``(B, M)`` or ``(M,)``. A
    downgrade that alone removes its server's excess is preferred (least value lost among
    those); otherwise the one losing the least value per millisecond saved is taken.
    """
    model_of = model_of.copy()
    lat, agg, usable = _per_block(lat, agg, usable, model_of.shape[0])
    downgrades = 0
    while True:
        server_of, load = _assign(model_of, lat, agg)
        excess = load - budget
        if not np.any(excess > 0):
            return model_of, server_of, load, downgrades
        best: Optional[Tuple[bool, float, float, int, int]] = None
        for b in np.flatnonzero(excess[server_of] > 0):
            m, s = model_of[b], server_of[b]
            saved = lat[b, m, s] - lat[b, :, s]
            ok = usable[b] & (saved > 0) & (agg[b] < agg[b, m])
            for m2 in np.flatnonzero(ok):
                loss = values[b, m] - values[b, m2]
                enough = bool(saved[m2] >= excess[s])
                key = (not enough, loss if enough else loss / saved[m2], -saved[m2], int(b), int(m2))
                if best is None or key < best:
                    best = key
        if best is None:
            return model_of, server_of, load, downgrades
        model_of[best[3]] = best[4]
        downgrades += 1


def _normalise_servers(servers: Union[int, Sequence[ServerId]]) -> List[ServerId]:
    """Turn a server count or a list of ids into a list of unique ids."""
    if isinstance(servers, (int, np.integer)) and not isinstance(servers, bool):
        if servers < 1:
            raise ValueError(f"need at least one server, got {servers}")
        return list(range(int(servers)))
    ids = list(servers)
    if not ids:
        raise ValueError("need at least one server")
    if len({str(s) for s in ids}) != len(ids):
        raise ValueError(f"server ids must be unique, got {ids}")
    return ids


def _block_rows(profiles: Profiles, wh: np.ndarray, box_areas_per_block: Sequence[Any],
                box_weights_per_block: Optional[Sequence[Any]], keys: Sequence[str], sids: Sequence[str],
                shape_aware: bool, cap: Optional[Tuple[float, Sequence[Any]]] = None,
                enlarge: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block and model: ``(prec, lat, imgsz)``, what :func:`plan_blocks` needs of the profile.

    ``prec`` (B, M) the expected precision, ``lat`` (B, M, S) the latency on each server,
    ``imgsz`` (B, M) the input size the block runs at. None of it depends on the budget.
    ``cap``: ``(area, values per block)`` of :meth:`Profiles.expected_precision_matrix`; ``enlarge``:
    per-block enlargement limits (:meth:`Profiles.input_sizes`).
    """
    cap_area, cap_values = cap if cap is not None else (None, None)
    prec = profiles.expected_precision_matrix(wh, box_areas_per_block, keys, box_weights_per_block,
                                              cap_area=cap_area, cap_values_per_block=cap_values, enlarge=enlarge)
    if shape_aware:
        lat = profiles.block_latency_matrix(wh, sids, keys, enlarge=enlarge)  # (B, M, S)
    else:
        lat = np.repeat(profiles.latency_matrix(sids, keys)[None], len(wh), axis=0)
    imgsz = profiles.input_sizes(wh, keys, enlarge)
    return prec, lat, imgsz


def _memo_rows(memo: Dict[Any, Any], profiles: Profiles, wh: np.ndarray, box_areas_per_block: Sequence[Any],
               box_weights_per_block: Optional[Sequence[Any]], keys: Sequence[str], sids: Sequence[str],
               shape_aware: bool, cap: Optional[Tuple[float, Sequence[Any]]] = None,
               enlarge: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_block_rows`, each block's rows kept in ``memo`` under its size, boxes, weights, cap values and limit.

    Only blocks not in ``memo`` are computed (in one vectorised call). Valid while the
    profile's figures do not change: the caller owns ``memo`` and drops it after one search.
    """
    tag = (tuple(keys), tuple(sids), bool(shape_aware), None if cap is None else float(cap[0]))
    names = []
    for b, (w, h) in enumerate(wh):
        areas = np.asarray(box_areas_per_block[b], np.float64).reshape(-1).tobytes()
        weights = None if box_weights_per_block is None else \
            np.asarray(box_weights_per_block[b], np.float64).reshape(-1).tobytes()
        capped = None if cap is None else np.asarray(cap[1][b], np.float64).reshape(-1).tobytes()
        limit = None if enlarge is None else float(enlarge[b])
        names.append((tag, float(w), float(h), areas, weights, capped, limit))
    missing = [b for b, name in enumerate(names) if name not in memo]
    if missing:
        rows = _block_rows(profiles, wh[missing], [box_areas_per_block[b] for b in missing],
                           None if box_weights_per_block is None else [box_weights_per_block[b] for b in missing],
                           keys, sids, shape_aware,
                           None if cap is None else (cap[0], [cap[1][b] for b in missing]),
                           None if enlarge is None else enlarge[missing])
        for i, b in enumerate(missing):
            memo[names[b]] = tuple(r[i] for r in rows)
    got = [memo[name] for name in names]
    return tuple(np.stack([g[j] for g in got]) for j in range(3))  # type: ignore[return-value]


def _option_matrices(wh: np.ndarray, prec: np.ndarray, lat: np.ndarray,
                     box_areas_per_block: Sequence[Any], box_weights_per_block: Optional[Sequence[Any]],
                     weight: str, budget: float,
                     skip_values: Optional[Sequence[float]]) -> Tuple[np.ndarray, ...]:
    """Per block and option: ``(values, lat, agg, usable)`` of :func:`plan_blocks`.

    ``values`` (B, M') the plan value, ``lat`` (B, M', S) the latency on each server, ``agg``
    (B, M') their harmonic mean (the DP's cost), ``usable`` whether some server runs the option
    within the budget. With ``skip_values`` option M (leave the block out) is appended.
    """
    n_blocks, n_servers = len(wh), lat.shape[2]
    if box_weights_per_block is None:
        n_boxes = np.array([np.size(a) for a in box_areas_per_block], dtype=np.float64)
    else:
        n_boxes = np.array([float(np.sum(w)) for w in box_weights_per_block], dtype=np.float64)
    values = prec * (n_boxes[:, None] if weight == "boxes" else 1.0)
    agg = n_servers / (1.0 / lat).sum(axis=2)  # harmonic mean over servers, (B, M)
    # Where every server has the same latency use it exactly: 1 / (1 / 3.0) is 3.0000000000000004,
    # and that float noise would make an exactly fitting plan look over budget to the DP.
    agg = np.where(lat.max(axis=2) == lat.min(axis=2), lat[:, :, 0], agg)
    usable = lat.min(axis=2) <= budget
    if skip_values is not None:  # option M: leave the block out
        values = np.concatenate([values, np.asarray(skip_values, np.float64).reshape(-1, 1)], axis=1)
        lat = np.concatenate([lat, np.zeros((n_blocks, 1, n_servers))], axis=1)
        agg = np.concatenate([agg, np.zeros((n_blocks, 1))], axis=1)
        usable = np.concatenate([usable, np.ones((n_blocks, 1), bool)], axis=1)
    return values, lat, agg, usable


def plan_blocks(blocks: Sequence[Union[Block, Rect, Sequence[float]]],
                box_areas_per_block: Sequence[Union[Sequence[float], np.ndarray]],
                profiles: Profiles, budget_ms: float,
                servers: Union[int, Sequence[ServerId]] = 1, *, weight: str = "boxes",
                resolution_ms: float = 1.0, model_keys: Optional[Sequence[str]] = None,
                box_weights_per_block: Optional[Sequence[Union[Sequence[float], np.ndarray]]] = None,
                skip_values: Optional[Sequence[float]] = None, shape_aware: bool = True,
                memo: Optional[Dict[Any, Any]] = None, cap_area: Optional[float] = None,
                cap_values_per_block: Optional[Sequence[Union[Sequence[float], np.ndarray]]] = None,
                enlarge_per_block: Optional[Sequence[float]] = None) -> Plan:
    """Choose a model and a server for every block (see the module docstring).

    ``blocks`` are Blocks, Rects or ``(w, h)`` pairs; ``box_areas_per_block[b]`` holds the
    frame-pixel areas of the boxes block ``b`` serves. ``servers`` is a count (ids ``0 ..
    S-1``) or a list of ids; the profile's latency of a server is looked up by ``str(id)``,
    falling back to "default". ``model_keys`` restricts the candidate models (default: all).

    Latency of a block is shape-aware (:meth:`Profiles.block_latency`: the tensor the network
    really runs for that block) unless ``shape_aware=False`` (one figure per model, a square
    input). ``box_weights_per_block`` weights each box (for example the objects a coarse box
    stands for, given the coarse pass's recall); the value of a block under ``weight="boxes"``
    is then the weighted sum of its boxes' precisions. ``skip_values`` (one per block) adds the
    option to leave a block out at no latency and that value (its coarse boxes answer for it):
    the plan then always fits, and the left-out blocks are listed in ``Plan.skipped``.

    ``memo`` (a dict the caller keeps across calls) holds what each block needs of the profile,
    so that a search planning many partitions that share most blocks computes each block once;
    it must be dropped when the profile's figures change (e.g. after a latency adaptation).

    ``cap_area`` and ``cap_values_per_block`` (one precision per box, NaN for none): a box larger
    than ``cap_area`` px^2 at a model's input counts with its cap value instead of the profile's
    precision, since fusion answers it by the coarse box of the same person
    (:meth:`Profiles.expected_precision_matrix`). Off unless both are given and ``cap_area`` > 0.

    ``enlarge_per_block`` (one factor per block, inf for none): the most a block may be enlarged to
    reach a model's input, on top of the profile's ``upscale_cap``; a model whose input would enlarge
    it more runs it at the limit instead (:meth:`Profiles.input_sizes`), with that size's latency and
    precision.
    """
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {WEIGHTS}, got {weight!r}")
    budget = float(budget_ms)
    if math.isnan(budget) or budget < 0:
        raise ValueError(f"budget_ms must be >= 0, got {budget_ms}")
    if len(box_areas_per_block) != len(blocks):
        raise ValueError(f"need one area list per block ({len(blocks)}), got {len(box_areas_per_block)}")
    if skip_values is not None and len(skip_values) != len(blocks):
        raise ValueError(f"need one skip value per block ({len(blocks)}), got {len(skip_values)}")
    ids = _normalise_servers(servers)
    keys = profiles.model_keys if model_keys is None else [profiles.model(k).key for k in model_keys]
    if not keys:
        raise ValueError("no candidate models")
    n_blocks, n_servers, n_models = len(blocks), len(ids), len(keys)
    if n_blocks == 0:
        return Plan([], {s: 0.0 for s in ids}, 0.0, 0.0, True, "", budget, weight)
    wh = np.array([_block_wh(b) for b in blocks], dtype=np.float64).reshape(-1, 2)
    sids = [str(s) for s in ids]
    cap = None
    if cap_values_per_block is not None and area_limit_on(cap_area):
        if len(cap_values_per_block) != n_blocks:
            raise ValueError(f"need one cap value list per block ({n_blocks}), got {len(cap_values_per_block)}")
        cap = (float(cap_area), cap_values_per_block)
    enlarge = None
    if enlarge_per_block is not None:
        enlarge = np.asarray(enlarge_per_block, dtype=np.float64).reshape(-1)
        if len(enlarge) != n_blocks:
            raise ValueError(f"need one enlargement limit per block ({n_blocks}), got {len(enlarge)}")
        if np.any(enlarge <= 0):
            raise ValueError("enlargement limits must be > 0")
    if memo is None:
        prec, lat, imgsz = _block_rows(profiles, wh, box_areas_per_block, box_weights_per_block, keys, sids,
                                       shape_aware, cap, enlarge)
    else:
        prec, lat, imgsz = _memo_rows(memo, profiles, wh, box_areas_per_block, box_weights_per_block, keys, sids,
                                      shape_aware, cap, enlarge)
    values, lat, agg, usable = _option_matrices(wh, prec, lat, box_areas_per_block, box_weights_per_block,
                                                weight, budget, skip_values)
    reasons: List[str] = []
    res = None
    if usable.any(axis=1).all():
        costs = np.where(usable, agg, np.inf)
        res = solve_mckp(values, costs, n_servers * budget, resolution_ms)
        start = res.choice if res.feasible else np.argmin(np.where(usable, agg, np.inf), axis=1)
        if not res.feasible:
            reasons.append("the DP found no plan within the total capacity")
    else:
        start = np.argmin(lat.min(axis=2), axis=1)
        reasons.append(f"no model runs within {budget:g} ms on any server "
                       f"(fastest: {keys[int(start[0])]} at {lat[:, :n_models].min():g} ms)")
    model_of, server_of, load, downgrades = _repair(start, values, lat, agg, usable, budget)
    feasible = bool(np.all(load <= budget))
    if not feasible:
        worst = int(np.argmax(load))
        reasons.append(f"server {ids[worst]} needs {load[worst]:g} ms > budget {budget:g} ms "
                       "even after downgrading; cheapest reachable plan returned")
    idx = np.arange(n_blocks)
    run = [int(b) for b in idx if model_of[b] < n_models]
    counts = [int(np.size(a)) for a in box_areas_per_block]
    plans = [BlockPlan(b, keys[int(model_of[b])], ids[int(server_of[b])],
                       float(lat[b, model_of[b], server_of[b]]), float(prec[b, model_of[b]]), counts[b],
                       int(imgsz[b, model_of[b]]))
             for b in run]
    stats = {"dp_value": None if res is None or not res.feasible else res.value,
             "downgrades": downgrades, "resolution_ms": float(resolution_ms), "shape_aware": bool(shape_aware)}
    return Plan(plans, {s: float(load[i]) for i, s in enumerate(ids)}, float(load.max()),
                float(values[idx, model_of].sum()), feasible, "" if feasible else "; ".join(reasons),
                budget, weight, stats, [int(b) for b in idx if model_of[b] >= n_models])
