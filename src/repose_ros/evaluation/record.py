"""What happened to each person, frame by frame: ``repose eval --record PATH`` (JSON Lines).

The mAP of ``repose eval`` says how well a method did; the record says where. One line per frame
and method (in run order) holds:

* ``frame``, ``method`` (the method key, e.g. ``rl_dca@2000``), ``budget_ms``, ``width``, ``height``,
  ``parallel_ms`` (measured);
* ``blocks`` (methods that split the frame): per block its rectangle ``[x0, y0, x1, y1]`` in frame
  pixels, the ``model`` key, the input size ``imgsz`` it ran at, its ``scale`` (model-input pixels
  per frame pixel: above 1 the block was enlarged), the ``server`` and whether it ``ran`` (a block
  the plan left out is answered by its coarse boxes);
* ``coarse`` (RE-POSE): the coarse boxes ``[x0, y0, x1, y1, score]``;
* ``detections``: the published boxes ``[x0, y0, x1, y1, score, fate]``, fate ``person`` (matched),
  ``duplicate`` (overlaps a person another detection matched), ``ignore`` (in an ignore region)
  or ``false``;
* ``people``: per annotated person its ``box``, the index of the detection that ``found`` it (or
  null), that detection's ``iou`` and ``score``, the ``blocks`` that hold its centre (indices into
  ``blocks``) and its best IoU with a coarse box (``coarse_iou``);
* ``counts``: ``people``, how many were ``found``, and the ``detections`` by fate.

Matching (ours, for the record; the metric is pycocotools'): detections by descending score, each
to the unmatched person it overlaps most, if by IoU >= 0.5 (COCO's rule at that threshold). An
unmatched detection is ``ignore`` when an ignore region covers at least half of it, as in the
metric. Coordinates are rounded to 0.1 px and scores to 0.001.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_ioa, box_iou

MATCH_IOU = 0.5
"""IoU at which a detection finds a person in the record."""
FATES = ("person", "duplicate", "ignore", "false")
"""What a published detection was, in the record."""


def match_people(people: np.ndarray, ignore: np.ndarray, xyxy: np.ndarray, scores: np.ndarray,
                 iou: float = MATCH_IOU) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Match detections to people greedily by score.

    Returns ``(found, overlap, fates)``: per person the index of the detection that found it (-1:
    none) and that IoU (0.0: none); per detection its fate (:data:`FATES`).
    """
    people = np.asarray(people, dtype=np.float64).reshape(-1, 4)
    ignore = np.asarray(ignore, dtype=np.float64).reshape(-1, 4)
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(xyxy):
        raise ValueError(f"got {len(xyxy)} boxes and {len(scores)} scores")
    found = np.full(len(people), -1, dtype=np.int64)
    overlap = np.zeros(len(people))
    fates = ["false"] * len(xyxy)
    o = box_iou(xyxy, people) if len(people) and len(xyxy) else np.zeros((len(xyxy), len(people)))
    if len(ignore) and len(xyxy):
        covered = box_ioa(xyxy, ignore).max(axis=1) >= 0.5
    else:
        covered = np.zeros(len(xyxy), dtype=bool)
    for d in np.argsort(-scores, kind="stable"):
        row = np.where(found < 0, o[d], -1.0)
        g = int(np.argmax(row)) if len(people) else -1
        if g >= 0 and row[g] >= iou:
            found[g], overlap[g], fates[d] = int(d), float(row[g]), "person"
        elif covered[d]:
            fates[d] = "ignore"
        elif len(people) and o[d].max() >= iou:
            fates[d] = "duplicate"
    return found, overlap, fates


def _r(values: Sequence[float], digits: int = 1) -> List[float]:
    return [round(float(v), digits) for v in values]


def frame_record(frame: Any, key: str, budget_ms: Optional[float], result: Any) -> Dict[str, Any]:
    """One line of the record: ``frame`` (an :class:`EvalFrame`), the method's ``key`` and its ``FrameResult``."""
    dets = result.detections
    xyxy = np.asarray(dets.xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(dets.scores, dtype=np.float64).reshape(-1)
    people = np.asarray(frame.gt, dtype=np.float64).reshape(-1, 4)
    found, overlap, fates = match_people(people, frame.ignore, xyxy, scores)
    trace = result.trace
    blocks = list(trace.get("blocks", []))
    coarse = np.asarray(trace.get("coarse", np.zeros((0, 5))), dtype=np.float64).reshape(-1, 5)
    rects = np.array([b["rect"] for b in blocks], dtype=np.float64).reshape(-1, 4)
    cx, cy = (people[:, 0] + people[:, 2]) / 2.0, (people[:, 1] + people[:, 3]) / 2.0
    holds = ((cx[:, None] >= rects[None, :, 0]) & (cx[:, None] < rects[None, :, 2])
             & (cy[:, None] >= rects[None, :, 1]) & (cy[:, None] < rects[None, :, 3]))
    c_iou = box_iou(people, coarse[:, :4]).max(axis=1) if len(coarse) and len(people) else np.zeros(len(people))
    person_rows = []
    for g in range(len(people)):
        d = int(found[g])
        person_rows.append({"box": _r(people[g]), "found": d if d >= 0 else None,
                            "iou": round(float(overlap[g]), 3) if d >= 0 else None,
                            "score": round(float(scores[d]), 3) if d >= 0 else None,
                            "blocks": [int(b) for b in np.flatnonzero(holds[g])],
                            "coarse_iou": round(float(c_iou[g]), 3) if "coarse" in trace else None})
    counts = {"people": len(people), "found": int((found >= 0).sum()),
              "detections": {f: fates.count(f) for f in FATES}}
    return {"frame": frame.name, "method": key, "budget_ms": budget_ms, "width": int(frame.width),
            "height": int(frame.height), "parallel_ms": round(float(result.parallel_ms), 1),
            "blocks": blocks, "coarse": [_r(c[:4]) + [round(float(c[4]), 3)] for c in coarse],
            "detections": [_r(b) + [round(float(s), 3), f] for b, s, f in zip(xyxy, scores, fates)],
            "people": person_rows, "counts": counts}


def block_entry(rect: Sequence[float], model: Optional[str] = None, imgsz: Optional[int] = None,
                server: Any = None) -> Dict[str, Any]:
    """One block of a record line; without a ``model`` the block did not run."""
    x0, y0, x1, y1 = (float(v) for v in rect)
    side = max(x1 - x0, y1 - y0)
    size = int(imgsz) if model is not None and imgsz else None
    return {"rect": _r((x0, y0, x1, y1)), "model": model, "imgsz": size,
            "scale": round(size / side, 3) if size and side > 0 else None,
            "server": server if model is not None else None, "ran": model is not None}


def block_trace(rects: Sequence[Any], plans: Sequence[Any], skipped: Sequence[int] = ()) -> List[Dict[str, Any]]:
    """Return the ``blocks`` of a record line: ``rects`` (``(x0, y0, x1, y1)``), ``plans`` (``BlockPlan``s).

    A block without a plan entry, or listed in ``skipped``, did not run.
    """
    left_out = set(skipped)
    by_block = {int(p.block_index): p for p in plans if int(p.block_index) not in left_out}
    return [block_entry(r, by_block[i].model_key, by_block[i].imgsz, by_block[i].server_id) if i in by_block
            else block_entry(r) for i, r in enumerate(rects)]


class Recorder:
    """Writes the record, one JSON line per (frame, method); use as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lines = 0
        self._fh: Any = None

    def __enter__(self) -> "Recorder":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", encoding="utf-8")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __call__(self, frame: Any, spec: Any, result: Any) -> None:
        """Record one method's result on one frame."""
        if self._fh is None:
            raise RuntimeError("the recorder is not open (use it as a context manager)")
        line = frame_record(frame, spec.key, spec.budget_ms, result)
        self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.lines += 1
