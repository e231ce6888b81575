"""Annotated frames to evaluate on: :class:`EvalFrame` and :class:`EvalDataset`.

Data-set readers (:mod:`repose_ros.datasets.load`, :mod:`repose_ros.datasets.visdrone`) produce
them; the evaluation runs methods on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from repose_ros.core.detections import Detections

#: MOT17 classes whose boxes are ignore regions, not people to find (person on vehicle, static person,
#: distractor, reflection).
MOT_IGNORE_CLASSES = (2, 7, 8, 12)


@dataclass
class EvalFrame:
    """One annotated frame to evaluate.

    ``load()`` returns the BGR image; ``load_history()`` (None when there is none) returns the
    previous frame of the same sequence, which only the REMIX-style baseline looks at.
    ``fake_gt`` / ``fake_history_gt`` hold what the fake detector sees (synthetic scenes).
    """

    name: str
    sequence: str
    index: int
    width: int
    height: int
    gt: np.ndarray
    ignore: np.ndarray
    load: Callable[[], np.ndarray]
    load_history: Optional[Callable[[], np.ndarray]] = None
    fake_gt: Optional[Detections] = None
    fake_history_gt: Optional[Detections] = None
    info: Dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalDataset:
    """Frames of one data set with a description and notes for the report."""

    spec: str
    description: str
    frames: List[EvalFrame]
    fake: bool = False
    notes: List[str] = field(default_factory=list)
    info: Dict[str, Any] = field(default_factory=dict)
    title: str = ""
