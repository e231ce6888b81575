"""The soak run: the launched pipeline for minutes at a steady camera rate, its answers and its memory.

:func:`run_soak` starts ``ros2 launch repose_ros pipeline.launch.py`` with the ``fake`` back-end,
streams synthetic frames (:class:`repose_ros.testing.stream.Stream`), samples every process's
resident memory, and :func:`soak_report` prints and returns the verdict (exit code).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from repose_ros.testing.procfs import pipeline_processes, proc_rss_kb
from repose_ros.datasets.synthetic import blob_grid_frame
from repose_ros.testing.stream import Stream


def _mb(kb: Optional[int]) -> float:
    return (kb or 0) / 1024.0


def run_soak(args) -> int:
    """Run the soak benchmark with the options of ``repose soak`` (``args``); return its exit code.

    0 when every frame was answered exactly once and no process's memory kept growing.
    """
    from repose_ros.testing.launched import stop_process_group

    if args.transports:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = args.transports  # inherited by the launch and its nodes
    ns = args.namespace.strip("/")
    input_topic = f"/{ns}_camera/image_raw"
    cmd = ["ros2", "launch", "repose_ros", "pipeline.launch.py", f"namespace:={ns}", f"input_topic:={input_topic}",
           f"num_servers:={args.servers}", "backend:=fake", "log_level:=warn"]
    if args.params_file:
        cmd.append(f"params_file:={args.params_file}")
    print(f"[soak] {' '.join(cmd)}  (log {args.log})", flush=True)
    log = open(args.log, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stream = Stream(ns, input_topic)
    samples: List[tuple] = []  # (seconds since start, {role: rss_kb})
    try:
        stream.start()
        ready = stream.wait_ready(args.servers, timeout=180.0, alive=lambda: proc.poll() is None)
        roles = pipeline_processes(proc.pid)
        print(f"[soak] ready in {ready:.1f} s; processes: "
              + ", ".join(f"{r} (pid {p})" for r, p in sorted(roles.items())), flush=True)
        frames = [blob_grid_frame(i, args.width, args.height) for i in range(8)]
        t_start = time.monotonic()
        next_sample = [t_start]

        def sample() -> None:
            now = time.monotonic()
            if now >= next_sample[0]:
                next_sample[0] += args.sample_s
                rss = {r: proc_rss_kb(p) for r, p in roles.items()}
                samples.append((now - t_start, rss))
                if len(samples) % max(1, int(60 / args.sample_s)) == 1:
                    done = sum(1 for r in stream.frames.values() if r.answers)
                    print(f"[soak] t={now - t_start:5.0f} s  sent {len(stream.frames)}  answered {done}  "
                          f"RSS total {sum(_mb(v) for v in rss.values()):.0f} MB", flush=True)

        stream.send_for(args.minutes * 60.0, args.rate, lambda i: frames[i % len(frames)], "soak", on_tick=sample)
        print(f"[soak] camera lateness: at most {stream.max_lateness * 1000:.0f} ms behind schedule", flush=True)
        stream.drain(30.0)
        sample_end = {r: proc_rss_kb(p) for r, p in roles.items()}
        samples.append((time.monotonic() - t_start, sample_end))
    finally:
        stream.close()
        stop_process_group(proc)
        log.close()
    return soak_report(args, stream, samples, lost_before_queue(args.log))


def lost_before_queue(log_path: str) -> Optional[int]:
    """Frames the camera saw DDS drop before its input queue (from its warnings in the launch log)."""
    import re

    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return None
    counts = [int(m) for m in re.findall(r"lost before the input queue \((\d+) so far\)", text)]
    return max(counts, default=0)


def rss_drift_mb(samples: List[tuple], warmup_s: float) -> Dict[str, Optional[float]]:
    """Per process: mean RSS (MB) of the last third of the samples after warm-up minus that of the middle third.

    ``samples`` are ``(seconds, {role: rss_kb})``. None for a process with fewer than three
    samples after warm-up. A process whose memory is bounded has a drift near 0 however much it
    grew while warming up; a leak shows as a drift that grows with the length of the run.
    """
    after = [s for t, s in samples if t >= warmup_s]
    roles = sorted({r for s in after for r in s})
    out: Dict[str, Optional[float]] = {}
    n = len(after) // 3
    for r in roles:
        if n < 1:
            out[r] = None
            continue
        mid = [_mb(s.get(r)) for s in after[n:2 * n]]
        last = [_mb(s.get(r)) for s in after[len(after) - n:]]
        out[r] = round(statistics.fmean(last) - statistics.fmean(mid), 1)
    return out


def soak_report(args, stream: Stream, samples: List[tuple], lost_dds: Optional[int] = None) -> int:
    """Print the figures of a soak run (and write ``args.json``); return its exit code.

    0 when every frame was answered exactly once and memory stayed bounded, else 1.
    """
    recs = stream.records()
    sent = len(recs)
    once = sum(1 for r in recs if r.answers == 1)
    dup = sum(1 for r in recs if r.answers > 1)
    lost = sum(1 for r in recs if r.answers == 0)
    degraded = sum(1 for r in recs if r.degraded)
    dropped = sum(1 for r in recs if r.drop_reason.startswith("queue_full"))
    lat = [(r.answered_at - r.sent) * 1000.0 for r in recs if r.answered_at is not None]
    warm = next((s for t, s in samples if t >= args.warmup_s), samples[0][1] if samples else {})
    end = samples[-1][1] if samples else {}
    peak = {r: max((s.get(r) or 0) for _, s in samples) for r in end} if samples else {}
    drift = rss_drift_mb(samples, args.warmup_s)
    figures = {
        "minutes": args.minutes, "rate_hz": args.rate, "servers": args.servers,
        "frame": f"{args.width}x{args.height}", "frames_sent": sent, "answered_once": once,
        "answered_twice_or_more": dup, "unanswered": lost, "degraded": degraded, "queue_drops": dropped,
        "lost_before_input_queue": lost_dds, "camera_max_lateness_ms": round(stream.max_lateness * 1000.0, 1),
        "transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT"),
        "latency_ms_p50": statistics.median(lat) if lat else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat else None,
        "warmup_s": args.warmup_s,
        "rss_mb": {r: {"warmup": round(_mb(warm.get(r)), 1), "end": round(_mb(end.get(r)), 1),
                       "peak": round(_mb(peak.get(r)), 1),
                       "growth_after_warmup": round(_mb(end.get(r)) - _mb(warm.get(r)), 1),
                       "drift_last_third": drift.get(r)} for r in sorted(end)},
        "rss_samples": [(round(t, 1), {r: round(_mb(v), 1) for r, v in s.items()}) for t, s in samples],
    }
    print(f"[soak] {sent} frames sent at {args.rate:g} Hz over {args.minutes:g} min "
          f"({args.width}x{args.height}, {args.servers} edge servers)")
    print(f"[soak] answered exactly once {once}, more than once {dup}, unanswered {lost}; "
          f"degraded {degraded} (of which queue drops {dropped})")
    if lost_dds:
        print(f"[soak] the camera counted {lost_dds} frames lost by DDS before its input queue (history qos.depth "
              f"overflowed while the frontend fell behind); those cannot be answered")
    if lat:
        print(f"[soak] latency p50 {figures['latency_ms_p50']:.0f} ms, p95 {figures['latency_ms_p95']:.0f} ms")
    print(f"[soak] RSS (MB) after {args.warmup_s:g} s warm-up -> end (peak); drift = mean of the last third "
          "of the run after warm-up minus mean of the middle third:")
    for role, m in figures["rss_mb"].items():
        d = m["drift_last_third"]
        print(f"[soak]   {role:<18} {m['warmup']:7.1f} -> {m['end']:7.1f}  ({m['peak']:.1f})  "
              f"growth {m['growth_after_warmup']:+.1f}  drift {'-' if d is None else f'{d:+.1f}'}")
    total_w = sum(m["warmup"] for m in figures["rss_mb"].values())
    total_e = sum(m["end"] for m in figures["rss_mb"].values())
    print(f"[soak]   {'total':<18} {total_w:7.1f} -> {total_e:7.1f}  growth {total_e - total_w:+.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    # Bounded memory: no upward trend once the buffers have filled (the growth right after warm-up
    # includes DDS histories and allocator pools reaching their working size).
    grew = [r for r, m in figures["rss_mb"].items()
            if m["drift_last_third"] is not None and m["drift_last_third"] > args.max_growth_mb]
    if grew:
        print(f"[soak] memory still growing by more than {args.max_growth_mb:g} MB between the middle and the "
              f"last third of the run: {', '.join(grew)}")
    return 0 if (lost == 0 and dup == 0 and not grew and sent > 0) else 1
