"""``repose bench pipeline``: budget adherence of the launched ROS pipeline beside the in-process core.

Both run the same frames with the same configuration (``config/repose.yaml``, the budget and the
coarse-stage placement given here). In-process, ``RePose.run`` runs every stage in one process and
*measures* the parallel latency of a frame (``timings["parallel_ms"]``: the coarse stage as
deployed, partition, plan, the slowest server's measured time, fusion). The ROS pipeline runs the
frontend, S edge detector processes and the aggregator, fed closed-loop (the next frame is sent
when the previous one is answered), and every ``FrameReport`` says what the frame cost from its
arrival at the camera node to the publication of its detections (``e2e_ms``), against the frame's
budget. Reported per setting: the share of frames within the budget, p50 / p95 latency and their
ratio to the budget, the coarse and detection stages, degraded frames and blocks left out.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import List, Optional

from repose_ros.testing.pipeline_bench import inprocess_run, launched_run, load_params, write_params


MODES = ("camera", "edge")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose bench pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=4, help="frames per setting, after one warm-up frame (default 4)")
    p.add_argument("--servers", default="1,2,4", help="comma-separated edge server counts (default 1,2,4)")
    p.add_argument("--coarse", default="camera",
                   help="where the coarse stage runs, comma-separated: camera, edge (coarse.on_edge) or both "
                        "(default camera)")
    p.add_argument("--backend", choices=["ultralytics", "fake"], default="ultralytics")
    p.add_argument("--budget-ms", type=float, default=None,
                   help="frame budget (default: the partitioner's budget_ms in config/repose.yaml); used by both")
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process RePose.run figures")
    p.add_argument("--transports", default=None,
                   help="FASTDDS_BUILTIN_TRANSPORTS for the pipeline and this client (e.g. LARGE_DATA; "
                        "default: the environment's)")
    p.add_argument("--dds-profile", default="auto",
                   help="Fast DDS profile of the pipeline's processes (launch argument dds_profile: auto, default, shm "
                        "or a path; default: auto, as the launch file)")
    p.add_argument("--client-dds-profile", default="default",
                   help="Fast DDS profile of this client, which plays the camera (default: default, a camera driver "
                        "with Fast DDS's default settings; shm or a path)")
    p.add_argument("--launch-file", default=None,
                   help="path of the pipeline.launch.py to run (default: the installed package's)")
    p.add_argument("--block-transport", choices=["raw", "jpeg", "png"], default=None,
                   help="partitioner blocks.transport for the launched pipeline (default: as config/repose.yaml)")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--plot", help="draw each frame's latency by stage (in process beside launched) to this PNG")
    p.add_argument("--log-dir", default="/tmp", help="where the launch logs and the parameters file go")
    return p


def _fmt(v: Optional[float], spec: str = ".0f") -> str:
    return "-" if v is None else format(v, spec)


def _percent(share: Optional[float]) -> Optional[float]:
    return None if share is None else 100.0 * share


def _latency_text(stats: dict) -> str:
    """``p50 / p95 ms (p50, p95 x budget), within budget %`` of one setting's latency figures."""
    share = stats.get("within_budget_share")
    return (f"p50 {_fmt(stats['p50_ms'])} / p95 {_fmt(stats['p95_ms'])} ms (p50 "
            f"{_fmt(stats.get('p50_over_budget'), '.2f')}, p95 {_fmt(stats.get('p95_over_budget'), '.2f')} x budget), "
            f"within budget {_fmt(_percent(share))} %")


def main_bench_pipeline(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; prints one line per setting and optionally writes JSON."""
    args = _parser().parse_args(argv)
    from repose_ros.datasets.demo import demo_frames

    modes = [m.strip() for m in args.coarse.replace("both", ",".join(MODES)).split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"--coarse: unknown placement(s) {bad}; use camera, edge or both")
    servers = [int(s) for s in args.servers.split(",")]
    if args.transports:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = args.transports  # inherited by the launch and its nodes
    # The client node plays the camera; its profile reaches only its own participant (not the launch).
    from repose_ros.ros.dds_profile import choose_profile, profile_env, resolve_profile

    client_env = profile_env(resolve_profile(args.client_dds_profile))
    # A bad path fails here, before anything starts; the launch resolves auto the same way, in the same environment.
    pipeline_profile, auto_why = choose_profile(args.dds_profile)
    params = load_params()
    budget = args.budget_ms or float(params["/**/partitioner"]["ros__parameters"]["budget_ms"])
    path = write_params(params, budget, args.log_dir, args.block_transport)
    frames, what = demo_frames(args.frames + 1, prefer_clip=args.backend != "fake")
    results = {"input": what, "backend": args.backend, "budget_ms": budget, "frames": args.frames,
               "transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT"),
               "dds_profile": args.dds_profile, "client_dds_profile": args.client_dds_profile, "settings": {}}
    if auto_why:
        results["dds_profile_auto"] = f"{'shm' if pipeline_profile else 'default'} ({auto_why})"
    try:
        for mode in modes:
            on_edge = mode == "edge"
            for s in servers:
                name = f"{s} servers, coarse on {mode}"
                if not args.no_inprocess:
                    ip = inprocess_run(params, frames, s, on_edge, budget, args.backend)
                    results["settings"][f"inprocess@{s}/{mode}"] = ip
                    par = ip["parallel"]
                    print(f"in-process RePose.run, {name}: parallel {_latency_text(par)}; coarse "
                          f"{_fmt(ip['coarse_ms_mean'])} ms, detection {_fmt(ip['detect_ms_mean'])} ms of "
                          f"{_fmt(ip['detection_budget_ms_mean'])} ms; blocks run "
                          f"{_fmt(ip['blocks_run_mean'], '.1f')}, left out {_fmt(ip['blocks_skipped_mean'], '.1f')}",
                          flush=True)
                ros = launched_run(path, frames, s, on_edge, budget, args.backend, args.dds_profile, args.log_dir,
                                   args.launch_file, client_env)
                if not args.no_inprocess and ros["e2e"]["p50_ms"] is not None and ip["parallel"]["p50_ms"]:
                    ros["e2e_p50_over_inprocess_p50"] = ros["e2e"]["p50_ms"] / ip["parallel"]["p50_ms"]
                    ros["client_wall_p50_over_inprocess_p50"] = ros["client_wall"]["p50_ms"] / ip["parallel"]["p50_ms"]
                results["settings"][f"ros@{s}/{mode}"] = ros
                e2e = ros["e2e"]
                print(f"ROS pipeline, {name}: {ros['answered']}/{ros['sent']} answered; "
                      f"e2e {_latency_text(e2e)}; "
                      f"coarse {_fmt(ros['coarse_ms_mean'])} ms, detection {_fmt(ros['detect_ms_mean'])} ms; "
                      f"degraded {ros['degraded']}; blocks sent {_fmt(ros['blocks_sent_mean'], '.1f')}, left out "
                      f"{_fmt(ros['blocks_skipped_mean'], '.1f')}; client wall p50 / p95 "
                      f"{_fmt(ros['client_wall']['p50_ms'])} / {_fmt(ros['client_wall']['p95_ms'])} ms; "
                      f"added by the pipeline (e2e - coarse, partition, plan, slowest server's inference) p50 / p95 "
                      f"{_fmt(ros['overhead']['p50_ms'])} / {_fmt(ros['overhead']['p95_ms'])} ms "
                      f"({_fmt(_percent(ros['overhead']['mean_share_of_e2e']), '.1f')} % of e2e); "
                      f"p50 / in-process p50: e2e {_fmt(ros.get('e2e_p50_over_inprocess_p50'), '.2f')}, client wall "
                      f"{_fmt(ros.get('client_wall_p50_over_inprocess_p50'), '.2f')}", flush=True)
    finally:
        os.unlink(path)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.plot:
        from repose_ros.testing.pipeline_bench import plot_frames

        print(f"plot: {plot_frames(results, args.plot)}")
    return 0
