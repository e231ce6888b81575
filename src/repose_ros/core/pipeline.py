"""The whole RE-POSE method in one process: ``RePose(config).process(frame)``.

Stages (each also callable on its own, which is how the ROS nodes use them):

1. :meth:`RePose.coarse` - coarse detection on N equal blocks (N = number of edge servers);
2. :meth:`RePose.partition` - MeanShift clusters of the coarse boxes refined by the RL-DCA
   policy (or MeanShift only, or a uniform grid, for comparisons) -> blocks;
3. :meth:`RePose.plan` - per-block model choice under the latency budget and assignment of
   the blocks to the servers (multiple-choice knapsack, dynamic programming);
4. :meth:`RePose.detect_blocks` - run each block with its model (here serially, batched per
   model; the ROS pipeline runs the servers in parallel) and :func:`fuse` the results.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .blocks import Block, blocks_from_clusters, uniform_grid
from .coarse import coarse_detect
from .detections import Detections
from .detector import ModelZoo
from .fusion import fuse
from .planner import Plan, plan_blocks
from .profiles import Profiles

PARTITIONERS = ("rl_dca", "meanshift", "uniform")


@dataclass
class RePoseConfig:
    """Settings of the method; every field has a working default (see config/repose.yaml)."""

    num_servers: int = 4
    weights: Dict[str, str] = field(default_factory=lambda: {"yolov8s": "builtin:yolov8s-person"})
    device: str = "cpu"
    coarse_model: str = "yolov8s@640"
    coarse_conf: float = 0.05
    coarse_iou: float = 0.5
    conf: float = 0.25
    iou: float = 0.5
    partitioner: str = "rl_dca"
    policy: str = ""
    y_gamma: Optional[float] = None
    bandwidth: Optional[float] = None
    block_margin: int = 32
    block_min_size: int = 64
    uniform_grid: Tuple[int, int] = (2, 2)
    uniform_overlap: float = 0.3
    profile: str = ""
    models: List[str] = field(default_factory=list)
    budget_ms: float = 2000.0
    fusion: str = "nms"
    fusion_iou: float = 0.5

    def __post_init__(self):
        if self.num_servers < 1:
            raise ValueError("num_servers must be >= 1")
        if self.partitioner not in PARTITIONERS:
            raise ValueError(f"partitioner must be one of {PARTITIONERS}, got '{self.partitioner}'")
        if self.budget_ms <= 0:
            raise ValueError("budget_ms must be > 0")
        self.uniform_grid = tuple(int(v) for v in self.uniform_grid)

    @classmethod
    def from_dict(cls, values: dict) -> "RePoseConfig":
        """Build a config from a mapping; unknown keys are an error (typos must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str) -> "RePoseConfig":
        """Read a config from a YAML file (a mapping, optionally under a ``repose:`` key)."""
        import yaml

        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        return cls.from_dict(data.get("repose", data))

    def to_dict(self) -> dict:
        """Return the config as plain types."""
        d = asdict(self)
        d["uniform_grid"] = list(self.uniform_grid)
        return d


@dataclass
class Partition:
    """Result of the partition stage."""

    labels: np.ndarray
    blocks: List[Block]


class RePose:
    """RE-POSE in one process; stages are public so that the ROS nodes can call them."""

    def __init__(self, config: Optional[RePoseConfig] = None, zoo: Optional[ModelZoo] = None,
                 profiles: Optional[Profiles] = None, dca=None):
        self.config = config or RePoseConfig()
        c = self.config
        self.zoo = zoo if zoo is not None else ModelZoo(c.weights, device=c.device)
        self.profiles = profiles if profiles is not None else (
            Profiles.load(c.profile) if c.profile else Profiles.default())
        self.models = list(c.models) if c.models else [m.key for m in self.profiles.models]
        missing = [m for m in self.models if m not in self.profiles.latency_ms]
        if missing:
            raise ValueError(f"models {missing} have no latency profile")
        self._dca = dca

    @property
    def dca(self):
        """The RL-DCA refiner (policy loaded on first use)."""
        if self._dca is None:
            from .rl_dca import RLDCA

            self._dca = RLDCA(self.config.policy or None)
        return self._dca

    # stages --------------------------------------------------------------------------------
    def coarse(self, frame: np.ndarray) -> Detections:
        """Coarse detection on N equal blocks, low threshold, NMS across blocks."""
        c = self.config
        det, imgsz = self.zoo.get(c.coarse_model)
        result = coarse_detect(frame, det, c.num_servers, imgsz=imgsz, conf=c.coarse_conf, iou=c.coarse_iou)
        return result[0] if isinstance(result, tuple) else result

    def partition(self, coarse: Detections, frame_w: int, frame_h: int) -> Partition:
        """Cluster the coarse boxes and turn each cluster into a block."""
        c = self.config
        if c.partitioner == "uniform":
            rects = uniform_grid(frame_w, frame_h, c.uniform_grid[0], c.uniform_grid[1], c.uniform_overlap)
            labels = np.full(len(coarse), -1, np.int64)
            blocks = [Block(r, _inside(coarse.centers, r)) for r in rects]
            return Partition(labels, blocks)
        if len(coarse) == 0:
            return Partition(np.zeros(0, np.int64), [])
        from .clustering import initial_clusters

        kwargs = {}
        if c.y_gamma is not None:
            kwargs["gamma"] = c.y_gamma
        if c.bandwidth is not None:
            kwargs["bandwidth"] = c.bandwidth
        labels = initial_clusters(coarse.xyxy, frame_w, frame_h, **kwargs)
        if c.partitioner == "rl_dca":
            labels = self.dca.refine(coarse.xyxy, frame_w, frame_h, labels)
        blocks = blocks_from_clusters(coarse.xyxy, labels, frame_w, frame_h, margin=c.block_margin,
                                      min_size=c.block_min_size)
        return Partition(np.asarray(labels), blocks)

    def plan(self, blocks: Sequence[Block], coarse: Detections, budget_ms: Optional[float] = None,
             servers: Optional[Sequence[int]] = None) -> Plan:
        """Choose a model per block and a server per block under the latency budget."""
        areas = coarse.areas if len(coarse) else np.zeros(0, np.float32)
        box_areas = [areas[b.box_indices] if len(b.box_indices) else np.zeros(0, np.float32) for b in blocks]
        srv = list(servers) if servers is not None else list(range(self.config.num_servers))
        return plan_blocks(list(blocks), box_areas, self.profiles,
                           budget_ms if budget_ms is not None else self.config.budget_ms, srv,
                           model_keys=self.models)

    def detect_blocks(self, frame: np.ndarray, blocks: Sequence[Block], plan: Plan
                      ) -> Tuple[List[Detections], Dict[int, float]]:
        """Run every block with its planned model, batched per model.

        Returns the detections per block and the measured time per server (ms); a batch's time
        is shared equally among its blocks.
        """
        per_block: List[Optional[Detections]] = [None] * len(blocks)
        server_ms: Dict[int, float] = {}
        by_model: Dict[str, List] = {}
        for bp in plan.blocks:
            by_model.setdefault(bp.model_key, []).append(bp)
        for key, bps in by_model.items():
            rects = [blocks[bp.block_index].rect for bp in bps]
            t0 = time.perf_counter()
            dets = self.zoo.detect_crops(key, frame, [(r.x0, r.y0, r.x1, r.y1) for r in rects],
                                         conf=self.config.conf, iou=self.config.iou)
            ms = (time.perf_counter() - t0) * 1000.0
            for bp, d in zip(bps, dets):
                per_block[bp.block_index] = d
                server_ms[bp.server_id] = server_ms.get(bp.server_id, 0.0) + ms / len(bps)
        return [d if d is not None else Detections.empty() for d in per_block], server_ms

    def process(self, frame: np.ndarray, budget_ms: Optional[float] = None
                ) -> Tuple[Detections, Plan, Dict[str, float]]:
        """Run the whole method on one BGR frame; return (detections, plan, timings in ms)."""
        h, w = frame.shape[:2]
        t = {}
        t0 = time.perf_counter()
        coarse = self.coarse(frame)
        t1 = time.perf_counter()
        part = self.partition(coarse, w, h)
        t2 = time.perf_counter()
        plan = self.plan(part.blocks, coarse, budget_ms)
        t3 = time.perf_counter()
        dets, server_ms = self.detect_blocks(frame, part.blocks, plan)
        t4 = time.perf_counter()
        fused = fuse(dets, method=self.config.fusion, iou=self.config.fusion_iou) if dets else Detections.empty()
        t5 = time.perf_counter()
        t["coarse_ms"] = (t1 - t0) * 1000.0
        t["partition_ms"] = (t2 - t1) * 1000.0
        t["plan_ms"] = (t3 - t2) * 1000.0
        t["detect_ms"] = (t4 - t3) * 1000.0
        t["fuse_ms"] = (t5 - t4) * 1000.0
        t["total_ms"] = (t5 - t0) * 1000.0
        # Servers run in parallel: the coarse stage is split over them too.
        t["parallel_ms"] = (t["coarse_ms"] / self.config.num_servers + t["partition_ms"] + t["plan_ms"]
                            + max(server_ms.values(), default=0.0) + t["fuse_ms"])
        self.last_partition = part
        self.last_coarse = coarse
        return fused, plan, t


def _inside(centers: np.ndarray, rect) -> np.ndarray:
    if len(centers) == 0:
        return np.zeros(0, np.int64)
    m = (centers[:, 0] >= rect.x0) & (centers[:, 0] < rect.x1) & (centers[:, 1] >= rect.y0) & (centers[:, 1] < rect.y1)
    return np.nonzero(m)[0]
