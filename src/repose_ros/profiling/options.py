"""The options of one ``repose profile`` run, with the defaults of the command line resolved."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass
class ProfileOptions:
    """What ``repose profile`` was asked to do, with every default resolved (see its ``--help``).

    Args:
        keys: model keys ``<name>@<imgsz>``; parsed: ``(name, imgsz)`` of each key.
        specs: ``--data`` specs (``mot17:PATH``, ``visdrone:PATH``, ``synthetic``); counts: frames per spec.
        bounds: area-bin upper bounds (model-input px^2, last ``inf``).
        data_auto: the data were ``auto`` (the shared folders), for the message when none exist.
        command: the command line written to ``meta.command``.
    """

    keys: List[str]
    parsed: List[Tuple[str, int]]
    specs: List[str]
    counts: List[int]
    bounds: List[float]
    scales: List[float]
    repeats: int = 9
    warmup: int = 2
    min_gt: int = 10
    backend: str = "ultralytics"
    device: str = "cpu"
    threads: Optional[int] = None
    class_map: str = "auto"
    weights: List[str] = field(default_factory=list)
    server_id: str = "default"
    min_visibility: float = 0.3
    metric: str = "ap50_95"
    recall_conf: float = 0.05
    conf: float = 0.01
    precision_from: Optional[str] = None
    update: Optional[str] = None
    note: str = ""
    seed: int = 0
    shapes: bool = True
    makespan_check: int = 0
    makespan_budgets: List[float] = field(default_factory=lambda: [1000.0, 2000.0, 4000.0])
    curve_shape: str = "unimodal"
    keep_models: bool = False
    latency_only: bool = False
    skip_latency: bool = False
    missing_latency_out: Optional[str] = None
    pool: bool = False
    upscale_study: bool = False
    upscale_factors: List[float] = field(default_factory=lambda: [1.0, 1.5, 2.0, 3.0, 4.0])
    upscale_sizes: List[int] = field(default_factory=lambda: [640])
    upscale_anchors: int = 3
    upscale_small_area: float = 1024.0
    upscale_min_gain: float = 0.01
    out: str = "profile.yaml"
    plot: Optional[str] = None
    progress: bool = True
    data_auto: bool = False
    command: str = "repose profile"
