"""Precision and recall curves from raw per-area-bin numbers: isotonic or unimodal step fits."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple


PRIOR_PRECISION = ((16, 0.02), (64, 0.15), (256, 0.45), (1024, 0.7), (4096, 0.82), (16384, 0.88),
                   (math.inf, 0.9))


def _fill_untrusted(n: int, trusted: Sequence[int], fitted: Sequence[float]) -> List[float]:
    """Spread fitted values of the trusted bins over all ``n`` bins (see :func:`monotone_bins`)."""
    out = [0.0] * n
    for i, v in zip(trusted, fitted):
        out[i] = v
    first, last = trusted[0], trusted[-1]
    for i in range(n):
        if i < first:
            out[i] = 0.0 if i < 2 else out[first]
        elif i > last:
            out[i] = out[last]
        elif i not in trusted:                         # gap between trusted bins: previous value
            out[i] = out[i - 1]
    return [round(float(v), 4) for v in out]


def monotone_bins(values: Sequence[Optional[float]], weights: Sequence[int], min_count: int) -> List[float]:
    """Turn raw per-bin values into a non-decreasing step profile.

    Bins with fewer than ``min_count`` ground-truth boxes are not trusted: below the first
    trusted bin they get 0.0 when the bin is one of the two smallest (objects of a few pixels), else
    the first trusted value; above the last trusted bin they get the last trusted value. Trusted
    values are made non-decreasing by weighted pool-adjacent-violators (isotonic regression).
    """
    n = len(values)
    trusted = [i for i in range(n) if values[i] is not None and weights[i] >= min_count]
    if not trusted:
        raise ValueError("no area bin has enough ground truth to measure precision")
    fitted, _ = _pava([float(values[i]) for i in trusted], [float(weights[i]) for i in trusted])
    return _fill_untrusted(n, trusted, fitted)


def _pava(values: Sequence[float], weights: Sequence[float]) -> Tuple[List[float], float]:
    """Weighted non-decreasing least-squares fit (pool adjacent violators) and its weighted squared error."""
    blocks: List[List[float]] = []        # [value, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    fitted: List[float] = []
    for v, _w, c in blocks:
        fitted.extend([v] * int(c))
    err = sum(w * (f - v) ** 2 for f, v, w in zip(fitted, values, weights))
    return fitted, float(err)


def unimodal_bins(values: Sequence[Optional[float]], weights: Sequence[int], min_count: int) -> List[float]:
    """Turn raw per-bin values into a step profile that rises with area, then may fall.

    Like :func:`monotone_bins` (the same trust rule and filling of untrusted bins), but the
    trusted values are fitted by weighted *unimodal* regression: non-decreasing up to a peak and
    non-increasing after it, the peak chosen for the least weighted squared error. A detector
    trained at 640 loses precision on objects far larger than it was trained on (measured: the
    largest area bin, objects over ~256 px at the model input, drops at every input size that sees
    enough of them), and the planner must see that, or it enlarges blocks of large people past the
    point where it helps.
    """
    n = len(values)
    trusted = [i for i in range(n) if values[i] is not None and weights[i] >= min_count]
    if not trusted:
        raise ValueError("no area bin has enough ground truth to measure precision")
    vals = [float(values[i]) for i in trusted]
    ws = [float(weights[i]) for i in trusted]
    best: Optional[Tuple[float, List[float]]] = None
    for k in range(1, len(vals) + 1):              # [0, k) rises, [k, end) falls
        up, e1 = _pava(vals[:k], ws[:k])
        down_rev, e2 = _pava(vals[k:][::-1], ws[k:][::-1])
        if best is None or e1 + e2 < best[0] - 1e-12:
            best = (e1 + e2, up + down_rev[::-1])
    assert best is not None
    return _fill_untrusted(n, trusted, best[1])


CURVE_SHAPES = ("unimodal", "monotone")


def fit_curve(rows: Sequence[Dict[str, Any]], metric: str, min_gt: int, shape: str = "unimodal") -> List[float]:
    """Raw per-bin ``rows`` (:meth:`AreaBinEvaluator.summary` layout) -> step values (unimodal or isotonic)."""
    fit = unimodal_bins if shape == "unimodal" else monotone_bins
    return fit([r[metric] for r in rows], [r["n_gt"] for r in rows], min_gt)
