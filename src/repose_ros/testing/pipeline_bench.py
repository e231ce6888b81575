"""The pieces of ``repose bench pipeline``: the in-process core and the launched pipeline on the same frames.

:func:`inprocess_run` runs :meth:`repose_ros.core.pipeline.RePose.run` with the package's
parameters; :func:`launched_run` drives the launched pipeline closed loop
(:class:`repose_ros.testing.launched.LaunchedPipeline`) and reads each frame's ``FrameReport``;
:func:`latency_summary` puts both in the same figures against the budget.
"""
from __future__ import annotations

import os
import statistics
import tempfile
from typing import Dict, List, Optional

import numpy as np


def latency_summary(values: List[float], budget_ms: float) -> Dict[str, Optional[float]]:
    """Mean, p50, p95 of latencies (ms), their ratio to the budget, and the share within it."""
    if not values:
        return {"n": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "p50_over_budget": None,
                "p95_over_budget": None, "within_budget_share": None}
    p50, p95 = float(np.percentile(values, 50)), float(np.percentile(values, 95))
    return {"n": len(values), "mean_ms": float(statistics.mean(values)), "p50_ms": p50, "p95_ms": p95,
            "p50_over_budget": p50 / budget_ms, "p95_over_budget": p95 / budget_ms,
            "within_budget_share": sum(v <= budget_ms for v in values) / len(values)}


def _mean(values: List[float]) -> Optional[float]:
    """Mean of ``values`` (None when empty)."""
    return float(statistics.mean(values)) if values else None


def load_params() -> dict:
    """Read the package's parameters (config/repose.yaml)."""
    import yaml

    from repose_ros.core.paths import find_config_file

    return yaml.safe_load(find_config_file("repose.yaml").read_text())


def write_params(params: dict, budget: float, folder: str, block_transport: Optional[str] = None) -> str:
    """Write the parameters with the benchmark's budget to a file for the launch; return its path."""
    import copy

    import yaml

    out = copy.deepcopy(params)
    out["/**/partitioner"]["ros__parameters"]["budget_ms"] = float(budget)
    if block_transport:
        out["/**/partitioner"]["ros__parameters"]["blocks.transport"] = block_transport
    fd, path = tempfile.mkstemp(prefix="repose_bench_", suffix=".yaml", dir=folder)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(out, f)
    return path


def inprocess_run(params: dict, frames: list, servers: int, on_edge: bool, budget: float,
                  backend: str = "ultralytics") -> dict:
    """``RePose.run`` on the frames (after a warm-up frame) with the pipeline's configuration.

    Like the launched partitioner, it plans with the latency ratios the servers measured
    (``RePoseConfig.adapt_latency``), so that both fill the budget the same way.
    """
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.detectors.backends import make_zoo

    shared = params["/**"]["ros__parameters"]
    part = params["/**/partitioner"]["ros__parameters"]
    cam = params["/**/camera"]["ros__parameters"]
    models = [m for m in part.get("models", [""]) if m]
    cfg = RePoseConfig(num_servers=servers, budget_ms=budget,
                       budget_reserve_ms=float(part.get("budget_reserve_ms", 10.0)), partitioner=part["partitioner"],
                       block_margin=int(part["block_margin"]), block_min_size=int(part["block_min_size"]),
                       models=models,
                       coarse_model=cam["coarse.model"], coarse_conf=float(cam["coarse.conf"]),
                       coarse_iou=float(cam["coarse.iou"]), conf=float(shared["conf"]), iou=float(shared["iou"]),
                       coarse_artefact_span=float(cam.get("coarse.artefact_span", RePoseConfig.coarse_artefact_span)),
                       coarse_artefact_aspect=float(cam.get("coarse.artefact_aspect",
                                                            RePoseConfig.coarse_artefact_aspect)),
                       coarse_on_edge=on_edge,
                       weights=dict(zip(shared["weights_names"], shared["weights_files"])),
                       # plan with the measured latency ratios, as the partitioner does with ServerStatus
                       adapt_latency=True,
                       latency_margin_sigmas=float(part.get("latency_margin_sigmas", 1.0)),
                       latency_smoothing=float(shared.get("latency_smoothing", 0.3)))
    zoo = make_zoo(backend, shared["weights_names"], shared["weights_files"], shared.get("device", "cpu"),
                   int(shared.get("torch_threads", 0)))
    core = RePose(cfg, zoo=zoo)
    core.run(frames[0])  # warm-up: model loading is not part of a frame's latency
    runs = [core.run(f) for f in frames[1:]]
    t = [r.timings for r in runs]
    return {"servers": servers, "coarse": "edge" if on_edge else "camera",
            "parallel": latency_summary([x["parallel_ms"] for x in t], budget),
            "coarse_ms_mean": _mean([x["coarse_ms"] for x in t]), "detect_ms_mean": _mean([x["detect_ms"] for x in t]),
            "detection_budget_ms_mean": _mean([x["detection_budget_ms"] for x in t]),
            "serial_ms_mean": _mean([x["total_ms"] for x in t]),
            "blocks_run_mean": _mean([len(r.plan.blocks) for r in runs]),
            "blocks_skipped_mean": _mean([len(r.plan.skipped) for r in runs]),
            "frames": [{"coarse": x["coarse_ms"], "partition + plan": x["partition_ms"] + x["plan_ms"],
                        "detectors": x["detect_ms"], "rest": x["fuse_ms"]} for x in t]}


def frame_compute_ms(answer) -> Optional[float]:
    """Return what the frame's own work took in the launched pipeline (ms); None without its plan and blocks.

    The coarse stage, partition and plan (``FramePlan``), then the slowest server's summed detector
    time (``BlockDetections.inference_ms`` of the frame's blocks): what ``RePose.run`` measures as the
    parallel latency of the same plan, less fusion. ``FrameReport.e2e_ms`` minus this is what the
    pipeline adds: conversions, queues, the blocks' and answers' trips, fusion and waiting.
    """
    stages = frame_stages(answer)
    return None if stages is None else stages["coarse"] + stages["partition + plan"] + stages["detectors"]


STAGES = ("coarse", "partition + plan", "detectors", "rest")
"""Stages of a frame's latency in the benchmark's per-frame records and plot (``rest``: fusion in
process; in the launched pipeline, everything it adds beyond the frame's own work)."""


def frame_stages(answer) -> Optional[Dict[str, float]]:
    """Return a launched frame's :data:`STAGES` in ms (see :func:`frame_compute_ms`), or None."""
    plan, blocks = answer.plan, answer.blocks
    if plan is None or answer.report is None:
        return None
    per_server: Dict[int, float] = {}
    for b in blocks or []:
        if not b.coarse:
            per_server[b.server_id] = per_server.get(b.server_id, 0.0) + float(b.inference_ms)
    if int(plan.num_blocks) and len(per_server) < len({b.server_id for b in plan.blocks}):
        return None  # a server's answers did not all come back: nothing to compare
    out = {"coarse": float(plan.coarse_ms), "partition + plan": float(plan.partition_ms + plan.plan_ms),
           "detectors": max(per_server.values(), default=0.0)}
    out["rest"] = float(answer.report.e2e_ms) - sum(out.values())
    return out


def overhead_summary(answers: list) -> Dict[str, Optional[float]]:
    """p50 / p95 / mean of ``e2e_ms - frame_compute_ms`` over the answered frames, and its share of e2e."""
    pairs = [(float(a.report.e2e_ms), frame_compute_ms(a)) for a in answers]
    pairs = [(e, c) for e, c in pairs if c is not None]
    if not pairs:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None, "mean_share_of_e2e": None}
    extra = [e - c for e, c in pairs]
    return {"n": len(extra), "p50_ms": float(np.percentile(extra, 50)), "p95_ms": float(np.percentile(extra, 95)),
            "mean_ms": float(statistics.mean(extra)),
            "mean_share_of_e2e": float(statistics.mean(x / e for x, (e, _) in zip(extra, pairs) if e > 0))}


def launched_run(param_path: str, frames: list, servers: int, on_edge: bool, budget: float,
                 backend: str = "ultralytics", dds_profile: str = "auto", log_dir: str = "/tmp",
                 launch_file: Optional[str] = None, client_env: Optional[Dict[str, str]] = None) -> dict:
    """Run the launched pipeline closed loop; the figures come from each frame's FrameReport.

    ``dds_profile`` is the launch argument; ``client_env`` the DDS environment of the client that
    plays the camera (empty: a default camera).
    """
    from repose_ros.testing.launched import LaunchedPipeline

    mode = "edge" if on_edge else "camera"
    extra = [f"params_file:={param_path}", f"coarse_on_edge:={'true' if on_edge else 'false'}",
             f"dds_profile:={dds_profile}"]
    with LaunchedPipeline(servers, backend, namespace=f"bench{servers}{mode}",
                          log_path=f"{log_dir}/repose_bench_{servers}_{mode}.log", extra_args=extra,
                          launch_file=launch_file, client_env=client_env, watch_blocks=True) as pipe:
        pipe.wait_ready()
        pipe.send(frames[0])  # warm-up
        answers = [pipe.send(f) for f in frames[1:]]
    got = [a for a in answers if a is not None and a.report is not None]
    reps = [a.report for a in got]
    return {"servers": servers, "coarse": mode, "sent": len(answers), "answered": len(got),
            "e2e": latency_summary([float(r.e2e_ms) for r in reps], budget),
            "overhead": overhead_summary(got),
            "client_wall": latency_summary([a.wall_ms for a in got], budget),
            "within_budget_reported": sum(bool(r.within_budget) for r in reps),
            "client_wall_ms_mean": _mean([a.wall_ms for a in got]),
            "coarse_ms_mean": _mean([float(r.coarse_ms) for r in reps]),
            "detect_ms_mean": _mean([float(r.detect_ms) for r in reps]),
            "degraded": sum(bool(r.degraded) for r in reps),
            "degraded_reasons": sorted({r.drop_reason for r in reps if r.degraded}),
            "blocks_sent_mean": _mean([float(r.blocks_expected) for r in reps]),
            "blocks_skipped_mean": _mean([float(r.blocks_skipped) for r in reps]),
            "frames": [frame_stages(a) for a in got]}


def plot_frames(results: dict, path: str) -> str:
    """Draw every frame's latency by stage, in process beside launched, one panel per setting; write ``path``.

    ``results`` is what ``repose bench pipeline`` writes (``settings`` with ``inprocess@S/mode`` and
    ``ros@S/mode`` entries holding per-frame :data:`STAGES`); the frame budget is a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k.split("@", 1)[1] for k in results["settings"]},
                   key=lambda n: (n.split("/")[1], int(n.split("/")[0])))
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False, sharey=True)
    colours = dict(zip(STAGES, ("#4c72b0", "#8172b2", "#55a868", "#c44e52")))
    for ax, name in zip(axes[0], names):
        for offset, kind in ((-0.2, "inprocess"), (0.2, "ros")):
            frames = results["settings"].get(f"{kind}@{name}", {}).get("frames", [])
            for i, f in enumerate(frames):
                if f is None:
                    continue
                bottom = 0.0
                for stage in STAGES:
                    label = "rest (launched: what the pipeline adds)" if stage == "rest" else stage
                    ax.bar(i + offset, f[stage], 0.38, bottom=bottom, color=colours[stage],
                           hatch="" if kind == "ros" else "//", edgecolor="white", linewidth=0.3,
                           label=label if i == 0 and kind == "ros" else None)
                    bottom += f[stage]
        ax.axhline(results["budget_ms"], color="black", linestyle="--", linewidth=1)
        n = max(len(results["settings"].get(f"{k}@{name}", {}).get("frames", [])) for k in ("inprocess", "ros"))
        ax.set_xticks(range(n))
        servers, mode = name.split("/")
        ax.set_title(f"{servers} edge server(s), coarse on {mode}\nleft: in process (hatched), right: launched")
        ax.set_xlabel("frame")
    axes[0][0].set_ylabel("ms (dashed: budget)")
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
