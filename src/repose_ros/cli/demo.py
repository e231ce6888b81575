"""``repose demo``: launch the ROS 2 pipeline and feed it the built-in default input.

It starts ``ros2 launch repose_ros pipeline.launch.py`` as separate processes, waits until
every edge detector reports active, publishes each demo frame (4K) on the pipeline's input
topic, prints the per-frame result from ``/repose/detections`` and ``/repose/frame_report``,
saves the annotated debug images, prints a latency summary and shuts the pipeline down.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=4, help="number of 4K frames to send (default 4)")
    p.add_argument("--servers", type=int, default=4, help="edge detector processes (default 4)")
    p.add_argument("--backend", choices=["auto", "ultralytics", "fake"], default="auto",
                   help="detector back-end; auto: ultralytics on the demo clip, fake on generated scenes")
    p.add_argument("--budget-ms", type=float, default=None, help="latency budget per frame (ms)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each frame's answer")
    p.add_argument("--out", default=None, help="folder for debug images and results.json "
                   "(default .cache/demo/out)")
    p.add_argument("--namespace", default="repose")
    return p


def main_demo(argv: Optional[List[str]] = None) -> int:
    """Run the demo; exit code 0 when every frame got exactly one answer."""
    args = _parser().parse_args(argv)
    import numpy as np
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from repose_ros.msg import FrameReport, ServerStatus
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from ..core.demo_data import demo_frames
    from ..ros.convert import bgr_to_image, image_to_bgr
    from ..ros.params import reliable

    root = Path(os.environ.get("REPOSE_ROOT", Path.cwd()))
    out_dir = Path(args.out) if args.out else root / ".cache" / "demo" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, what = demo_frames(args.frames, prefer_clip=args.backend != "fake")
    backend = args.backend if args.backend != "auto" else ("fake" if "generated" in what else "ultralytics")
    print(f"[demo] input: {what}; backend {backend}; {args.servers} edge servers", flush=True)

    ns = "/" + args.namespace.strip("/")
    in_topic = "/repose_demo/image_raw"
    launch_log = out_dir / "launch.log"
    cmd = ["ros2", "launch", "repose_ros", "pipeline.launch.py", f"namespace:={args.namespace}",
           f"input_topic:={in_topic}", f"num_servers:={args.servers}", f"backend:={backend}"]
    print(f"[demo] {' '.join(cmd)}  (log: {launch_log})", flush=True)
    log_f = open(launch_log, "w")
    launch = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT, start_new_session=True)

    rclpy.init()
    node = rclpy.create_node("repose_demo")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    results, reports, debug, active = {}, {}, {}, {}
    node.create_subscription(Detection2DArray, f"{ns}/detections",
                             lambda m: results.setdefault(_key(m.header), m), reliable(10))
    node.create_subscription(FrameReport, f"{ns}/frame_report",
                             lambda m: reports.setdefault(_key(m.header), m), reliable(10))
    node.create_subscription(Image, f"{ns}/debug_image", lambda m: debug.setdefault(_key(m.header), m), reliable(4))
    node.create_subscription(ServerStatus, f"{ns}/server_status",
                             lambda m: active.__setitem__(m.server_id, m.state), reliable(20))
    pub = node.create_publisher(Image, in_topic, reliable(2))
    rc = 1
    rows = []
    try:
        t0 = time.monotonic()
        while sum(s == "active" for s in active.values()) < args.servers or pub.get_subscription_count() == 0:
            ex.spin_once(timeout_sec=0.2)
            if launch.poll() is not None:
                raise RuntimeError(f"the pipeline exited early (code {launch.returncode}); see {launch_log}")
            if time.monotonic() - t0 > 300:
                raise RuntimeError(f"edge servers not active after 300 s ({active}); see {launch_log}")
        time.sleep(1.0)
        ex.spin_once(timeout_sec=0.1)
        print(f"[demo] pipeline ready in {time.monotonic() - t0:.1f} s", flush=True)
        for i, frame in enumerate(frames):
            msg = bgr_to_image(frame)
            msg.header.frame_id = "demo_camera"
            msg.header.stamp = node.get_clock().now().to_msg()
            key = _key(msg.header)
            sent = time.monotonic()
            pub.publish(msg)
            while (key not in results or key not in reports) and time.monotonic() - sent < args.timeout:
                ex.spin_once(timeout_sec=0.05)
            wall = (time.monotonic() - sent) * 1000.0
            det, rep = results.get(key), reports.get(key)
            if det is None:
                print(f"[demo] frame {i}: NO ANSWER within {args.timeout:.0f} s", flush=True)
                rows.append({"frame": i, "answered": False})
                continue
            t_dbg = time.monotonic()
            while key not in debug and time.monotonic() - t_dbg < 3.0:
                ex.spin_once(timeout_sec=0.05)
            if key in debug:
                import cv2

                cv2.imwrite(str(out_dir / f"frame_{i:03d}.png"), image_to_bgr(debug[key]))
            scores = [d.results[0].hypothesis.score for d in det.detections if d.results]
            row = {"frame": i, "answered": True, "detections": len(det.detections),
                   "blocks": int(rep.blocks_expected) if rep else None,
                   "blocks_received": int(rep.blocks_received) if rep else None,
                   "degraded": bool(rep.degraded) if rep else None, "latency_ms": round(wall, 1),
                   "mean_score": round(float(np.mean(scores)), 3) if scores else None}
            rows.append(row)
            print(f"[demo] frame {i}: {row['detections']} people, {row['blocks_received']}/{row['blocks']} blocks"
                  f"{' DEGRADED' if row['degraded'] else ''}, latency {wall:.0f} ms", flush=True)
        answered = [r for r in rows if r.get("answered")]
        lat = [r["latency_ms"] for r in answered]
        summary = {"input": what, "backend": backend, "servers": args.servers, "frames_sent": len(frames),
                   "frames_answered": len(answered),
                   "latency_ms": {"mean": round(statistics.mean(lat), 1), "p50": round(statistics.median(lat), 1),
                                  "max": round(max(lat), 1)} if lat else None,
                   "frames": rows}
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2))
        print(f"[demo] {len(answered)}/{len(frames)} frames answered; latency "
              + (f"mean {summary['latency_ms']['mean']:.0f} ms, median {summary['latency_ms']['p50']:.0f} ms, "
                 f"max {summary['latency_ms']['max']:.0f} ms" if lat else "n/a"), flush=True)
        print(f"[demo] annotated frames and results.json in {out_dir}", flush=True)
        rc = 0 if len(answered) == len(frames) else 1
    except (KeyboardInterrupt, RuntimeError) as exc:
        print(f"[demo] stopped: {exc}", file=sys.stderr, flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        _stop(launch)
        log_f.close()
    return rc


def _key(header) -> tuple:
    return (header.stamp.sec, header.stamp.nanosec)


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGINT the launch (like Ctrl-C), then SIGTERM / SIGKILL its process group if needed."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
