"""Accuracy-latency evaluation of RE-POSE against its baselines (``repose eval``), ROS-free.

The evaluation package (``repose eval``), in the order a run uses it:

* :mod:`repose_ros.datasets.load` reads a data-set spec (``mot17:PATH`` as frames, 2x2 mosaics or
  PANDA-like collages; ``visdrone:ROOT``; ``panda:IMAGES_ROOT:JSON``; ``coco:JSON:IMAGES``;
  ``synthetic``). Every frame knows the previous frame of its sequence (the REMIX-style baseline
  plans from earlier frames).
* :mod:`repose_ros.evaluation.methods` runs each method on a frame: full frame at each input size,
  uniform grids with 30% overlap spread over the servers, SAHI (the PyPI library), the REMIX-style
  planner (:mod:`repose_ros.evaluation.remix`) and RE-POSE with each partitioner.
* :mod:`repose_ros.evaluation.metrics` scores them: COCO-style mAP50:95, mAP50, mAP75 and AP by
  object size (pycocotools); ignore regions are ``iscrowd`` boxes (a detection that overlaps one by at
  least the IoU threshold, as intersection over the detection's area, and matches no real object
  counts neither as a hit nor as a false positive).
* This module loops over frames and methods and collects per-method statistics;
  :mod:`repose_ros.evaluation.report` writes the table, JSON and plot.

Latency accounting is the same for every method that splits a frame, and it is measured, never
shared out: each server's blocks run through :mod:`repose_ros.core.serving` (one block per
detector call, as the edge detector node runs them) and every server is timed on its own.
``parallel_latency_ms`` of a frame is the coarse stage as deployed (RE-POSE only: one call on the
camera host, or the slowest coarse block when the coarse stage runs on the edge servers) +
partition + planning + the slowest server's measured time + fusion. ``latency_ms`` is the serial
compute time of all stages in this process. Full-frame inference and SAHI run on one device, as
users run them, so their parallel latency is their latency.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from repose_ros.datasets.annotated import EvalDataset
from repose_ros.evaluation.methods import MethodRunner, MethodSpec
from repose_ros.evaluation.metrics import DetectionEvaluator


@dataclass
class MethodStats:
    """Accumulated results of one method over the frames."""

    spec: MethodSpec
    evaluator: DetectionEvaluator = field(default_factory=DetectionEvaluator)
    latency_ms: List[float] = field(default_factory=list)
    parallel_ms: List[float] = field(default_factory=list)
    infos: List[Dict[str, Any]] = field(default_factory=list)
    server_ms: List[List[float]] = field(default_factory=list)
    coarse_ms: List[float] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """Metrics, mean latencies and plan statistics as the JSON entry of the method."""
        m = self.evaluator.summary()
        out: Dict[str, Any] = {
            "family": self.spec.family, "setting": self.spec.setting,
            "map50_95": m["map50_95"], "map50": m["map50"], "map75": m["map75"],
            "ap_small": m["ap_small"], "ap_medium": m["ap_medium"], "ap_large": m["ap_large"],
            "latency_ms": float(np.mean(self.latency_ms)) if self.latency_ms else None,
            "parallel_latency_ms": float(np.mean(self.parallel_ms)) if self.parallel_ms else None,
            "parallel_latency_p95_ms": float(np.percentile(self.parallel_ms, 95)) if self.parallel_ms else None,
            "latency_measured": True,
            "budget_ms": self.spec.budget_ms, "frames": len(self.latency_ms),
            "n_gt": m["n_gt"], "n_det": m["n_det"],
        }
        if self.server_ms:
            out["server_ms"] = [float(v) for v in np.mean(np.array(self.server_ms, dtype=np.float64), axis=0)]
        if self.coarse_ms:
            out["coarse_ms"] = float(np.mean(self.coarse_ms))
        if self.spec.budget_ms is not None and self.parallel_ms:
            out["within_budget_fraction"] = float(np.mean(np.array(self.parallel_ms) <= self.spec.budget_ms))
            out["p95_over_budget"] = float(np.percentile(self.parallel_ms, 95) / self.spec.budget_ms)
        if self.spec.imgsz is not None:
            out["imgsz"] = self.spec.imgsz
        feas = [i["feasible"] for i in self.infos if "feasible" in i]
        if feas:
            out["feasible_fraction"] = float(np.mean(feas))
        for k in ("blocks", "coverage", "coverage_planned", "skipped", "coarse_boxes", "coarse_artefacts",
                  "planned_makespan_ms",
                  "detect_ms", "detection_budget_ms", "swapped_to_coarse", "dropped_unconfirmed", "answered_by_coarse",
                  "partition_ms", "search_steps", "search_plans", "policy_scale", "policy_kept"):
            vals = [i[k] for i in self.infos if k in i]
            if vals:
                out[f"mean_{k}"] = float(np.mean(vals))
        cands = [i["candidate"] for i in self.infos if "candidate" in i]
        if cands:
            out["candidates"] = {c: cands.count(c) for c in sorted(set(cands))}
        models = [k for i in self.infos for k in i.get("models", [])]
        if models:
            out["block_models"] = {k: models.count(k) for k in sorted(set(models), key=lambda k: (len(k), k))}
        return out


def evaluate(dataset: EvalDataset, runner: MethodRunner, specs: Sequence[MethodSpec],
             progress: Optional[Callable[[str], None]] = None,
             skip: Optional[Dict[str, str]] = None, warmup: bool = True,
             record: Optional[Callable[[Any, MethodSpec, Any], None]] = None) -> Dict[str, MethodStats]:
    """Run every spec on every frame of ``dataset``; return the accumulated stats by method key.

    ``progress(text)`` is called after each (frame, method), ``record(frame, spec, result)`` too
    (``repose eval --record``: :class:`repose_ros.evaluation.record.Recorder`). Before the first frame every
    model is run once untimed (``warmup``); SAHI methods that cannot start then are skipped
    (the reason goes into ``skip``, as for keys already in ``skip``).
    """
    skip = skip if skip is not None else {}
    stats = {s.key: MethodStats(s) for s in specs}
    for n, frame in enumerate(dataset.frames):
        image = frame.load()
        if frame.width <= 0 or frame.height <= 0:
            frame.height, frame.width = image.shape[:2]
        runner.begin_frame(frame)
        if n == 0 and warmup:
            runner.warmup(specs, image, skip)
        for spec in specs:
            if spec.key in skip:
                if progress:
                    progress(spec.key)
                continue
            res = runner.run(spec, image, frame)
            st = stats[spec.key]
            st.evaluator.add_detections(frame.gt, res.detections, frame.ignore, frame.width, frame.height)
            st.latency_ms.append(res.latency_ms)
            st.parallel_ms.append(res.parallel_ms)
            st.infos.append(res.info)
            if res.server_ms:
                st.server_ms.append(list(res.server_ms))
            if res.coarse_ms is not None:
                st.coarse_ms.append(res.coarse_ms)
            if record is not None:
                record(frame, spec, res)
            if progress:
                progress(spec.key)
    return {k: v for k, v in stats.items() if k not in skip}
