"""What the stages of :class:`repose_ros.core.pipeline.RePose` hand on: coarse stage, partition, frame run."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from repose_ros.core.blocks import Block
from repose_ros.core.detections import Detections
from repose_ros.core.planner import Plan
from repose_ros.core.serving import ServerRun


@dataclass
class Partition:
    """Result of the partition stage."""

    labels: np.ndarray
    blocks: List[Block]


@dataclass
class CoarseStage:
    """Result of the coarse stage: merged boxes and the stage's measured time as deployed.

    ``ms``: on the camera host, the one call over all N blocks plus the merge; on the edge
    servers (``on_edge``), the slowest server's block plus the merge. ``block_ms``: measured
    time of each block's call (on the edge) or of the one call (camera). ``model_key``: the
    coarse model that ran ("": ``config.coarse_model``). ``artefacts``: tile artefacts dropped
    before the merge (:func:`repose_ros.core.coarse.tile_artefact_mask`).
    """

    detections: Detections
    ms: float
    block_ms: List[float] = field(default_factory=list)
    on_edge: bool = False
    merge_ms: float = 0.0
    model_key: str = ""
    artefacts: int = 0

    @property
    def serial_ms(self) -> float:
        """Compute time of the stage if one device did all of it (every block, then the merge)."""
        return self.ms if not self.on_edge else sum(self.block_ms) + self.merge_ms


@dataclass
class FrameRun:
    """Everything :meth:`RePose.run` measured and decided for one frame."""

    detections: Detections
    plan: Plan
    timings: Dict[str, float]
    coarse: CoarseStage
    partition: Partition
    servers: Dict[int, ServerRun]
