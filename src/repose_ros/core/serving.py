"""What one edge server does with its blocks: the one code path of the node and of the evaluation.

An edge detector node receives its blocks one message at a time and runs each block in its own
call of the detector (ultralytics then letterboxes the block to a rectangle: the long side to
the model's input size, the short side padded to the stride). The in-process evaluation and
:meth:`repose_ros.core.pipeline.RePose.detect_blocks` run every server's blocks through the same
functions, one block per call, and time each server on its own, so that the parallel latency
they report is the slowest server's *measured* time, not a share of a batch.

* :func:`run_block`: one block, one detector call, its wall time.
* :func:`run_server`: a server's blocks in order; per-block results and the server's total.
* :func:`run_servers`: every server of a plan, each timed separately.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.detections import Detections

Rect4 = Tuple[int, int, int, int]


@dataclass(frozen=True)
class BlockJob:
    """One block for a server: ``rect`` (x0, y0, x1, y1) of the image it is cut from, its model.

    ``imgsz`` is the input size the plan chose (0: the model key's own); ``index`` is the
    caller's id of the block (its index in the plan).
    """

    index: int
    rect: Rect4
    model_key: str
    imgsz: int = 0


@dataclass
class BlockRun:
    """Result of one block: detections in the coordinates of the image the rect is cut from."""

    index: int
    detections: Detections
    ms: float
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the detector ran without an error."""
        return not self.error


@dataclass
class ServerRun:
    """A server's blocks: per-block results (in the order run) and the measured total in ms."""

    server_id: Any
    blocks: List[BlockRun] = field(default_factory=list)
    total_ms: float = 0.0


def run_block(zoo: Any, image: np.ndarray, job: BlockJob, conf: float, iou: float,
              max_det: int = 300) -> BlockRun:
    """Run one block with its model in one detector call and time the call.

    ``zoo`` is a :class:`repose_ros.detectors.zoo.ModelZoo` (anything with its
    ``detect_crops(key, image, rects, conf, iou, max_det, imgsz)``). Errors are not raised: the
    result carries the message and no detections, so that a server answers every block.
    """
    t0 = time.perf_counter()
    try:
        dets = zoo.detect_crops(job.model_key, image, [job.rect], conf=conf, iou=iou, max_det=max_det,
                                imgsz=job.imgsz or None)[0]
        error = ""
    except Exception as exc:  # noqa: BLE001 - reported per block, as the node does
        dets, error = Detections.empty(), f"{type(exc).__name__}: {exc}"
    return BlockRun(job.index, dets, (time.perf_counter() - t0) * 1000.0, error)


def run_server(zoo: Any, image: np.ndarray, jobs: Sequence[BlockJob], conf: float, iou: float,
               server_id: Any = 0, max_det: int = 300) -> ServerRun:
    """Run a server's blocks one after another, one call each, as its node does; time the whole."""
    out = ServerRun(server_id)
    t0 = time.perf_counter()
    for job in jobs:
        out.blocks.append(run_block(zoo, image, job, conf, iou, max_det))
    out.total_ms = (time.perf_counter() - t0) * 1000.0
    return out


def run_servers(zoo: Any, image: np.ndarray, jobs_by_server: Dict[Any, Sequence[BlockJob]], conf: float,
                iou: float, max_det: int = 300) -> Dict[Any, ServerRun]:
    """Run every server's blocks (servers one after the other here, each timed on its own)."""
    return {sid: run_server(zoo, image, jobs, conf, iou, sid, max_det) for sid, jobs in jobs_by_server.items()}


def slowest_ms(runs: Dict[Any, ServerRun]) -> float:
    """Return the measured time of the slowest server (0 without servers): the parallel detection stage."""
    return max((r.total_ms for r in runs.values()), default=0.0)


def collect(runs: Dict[Any, ServerRun], n_blocks: int) -> List[Detections]:
    """Return the detections per block index (empty for a block that no server ran or that failed)."""
    out: List[Optional[Detections]] = [None] * n_blocks
    for run in runs.values():
        for b in run.blocks:
            out[b.index] = b.detections
    return [d if d is not None else Detections.empty() for d in out]
