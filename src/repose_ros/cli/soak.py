"""``python -m repose_ros.cli.soak``: run the launched pipeline for minutes and watch its memory.

It starts ``ros2 launch repose_ros pipeline.launch.py`` with the ``fake`` detector back-end
(bright blobs on dark synthetic frames, so no neural network is needed), publishes frames at a
steady camera rate (open loop: the next frame does not wait for the previous answer), samples
the resident memory (RSS) of every pipeline process every few seconds, and prints frames sent,
answered (exactly once), unanswered, degraded and dropped, the latency, and the memory of each
process after warm-up and at the end.

    python -m repose_ros.cli.soak --minutes 10 --rate 5

The module also holds the pieces the fault and soak tests share: :class:`Stream` (an
open-loop client that records what came back for every frame) and small ``/proc`` helpers
(child processes, their role in the pipeline, their RSS) that need no extra package.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

# ---------------------------------------------------------------------------------------------
# /proc helpers (Linux; no psutil needed)


def proc_children(pid: int) -> List[int]:
    """Return the pids of every descendant of ``pid`` (children, grandchildren, ...)."""
    parents: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def proc_cmdline(pid: int) -> List[str]:
    """Return the command line of a process ([] if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_environ(pid: int) -> Dict[str, str]:
    """Return the environment a process was started with ({} if it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            items = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return {}
    return dict(i.split("=", 1) for i in items if "=" in i)


def proc_rss_kb(pid: int) -> Optional[int]:
    """Return the resident set size of a process in KiB (None if it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_state(pid: int) -> str:
    """Return the one-letter state of a process (R, S, T, Z, ...), '' if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2:].split()[0]


def node_role(cmdline: List[str]) -> str:
    """Name a pipeline process by its node: ``frontend``, ``aggregator``, ``edge_detector_<i>``."""
    for i, arg in enumerate(cmdline):
        if arg.startswith("__node:=") and i > 0 and cmdline[i - 1] in ("-r", "--remap"):
            return arg.split(":=", 1)[1]
    for arg in cmdline[:3]:
        base = os.path.basename(arg)
        if base.endswith("_node"):
            return base[:-len("_node")]
    return os.path.basename(cmdline[0]) if cmdline else "?"


def pipeline_processes(launch_pid: int) -> Dict[str, int]:
    """Return ``{role: pid}`` of the node processes started by a ``ros2 launch`` process."""
    out = {}
    for pid in proc_children(launch_pid):
        cmd = proc_cmdline(pid)
        if any(os.path.basename(a).endswith("_node") for a in cmd[:3]):
            out[node_role(cmd)] = pid
    return out


# ---------------------------------------------------------------------------------------------
# synthetic input


def synthetic_frame(index: int, width: int = 1920, height: int = 1080, blobs: int = 9) -> np.ndarray:
    """Bright rectangles (the ``fake`` back-end's 'people') on a dark frame, moving slowly with ``index``.

    The rectangles are spread over a 3 x 3 grid so that partitioning yields several blocks and
    every edge server gets work.
    """
    img = np.full((height, width, 3), 15, np.uint8)
    for k in range(blobs):
        gx, gy = k % 3, (k // 3) % 3
        bw, bh = max(4, width // 40), max(8, height // 12)
        x0 = int((gx + 0.2) * width / 3 + (index * 3 + 17 * k) % max(1, width // 6))
        y0 = int((gy + 0.15) * height / 3 + (7 * k) % max(1, height // 12))
        x0, y0 = min(x0, width - bw - 1), min(y0, height - bh - 1)
        img[y0:y0 + bh, x0:x0 + bw] = 240
    return img


# ---------------------------------------------------------------------------------------------
# open-loop client


@dataclass
class FrameRecord:
    """What is known of one sent frame."""

    index: int
    label: str
    sent: float
    answers: int = 0
    answered_at: Optional[float] = None
    planned_at: Optional[float] = None   # when this client received the frame's plan
    degraded: Optional[bool] = None
    missing: int = 0
    drop_reason: str = ""
    frames_degraded: int = 0
    servers: Optional[tuple] = None
    live: Optional[tuple] = None
    block_servers: Optional[tuple] = None
    missing_ids: tuple = ()

    def missing_servers(self) -> set:
        """Servers whose blocks of this frame were missing (needs the plan and the report)."""
        if not self.block_servers:
            return set()
        return {self.block_servers[b] for b in self.missing_ids if 0 <= b < len(self.block_servers)}


@dataclass
class Stream:
    """A client node: publishes frames at a steady rate and records every answer per frame.

    Frames are keyed by their header stamp (the client's clock), so answers from any
    aggregator instance are matched to the frame they belong to; ``answers`` counts the
    Detection2DArray messages of a frame (exactly one is the contract).
    """

    namespace: str
    input_topic: str
    frames: Dict[tuple, FrameRecord] = field(default_factory=dict)
    status: Dict[int, tuple] = field(default_factory=dict)
    unknown_answers: int = 0
    max_lateness: float = 0.0

    def start(self) -> None:
        """Create the context, the node, the publisher and the subscriptions."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from repose_ros.msg import FramePlan, FrameReport, ServerStatus
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from repose_ros.ros.params import reliable

        ns = "/" + self.namespace.strip("/")
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(f"{self.namespace.strip('/')}_stream_client", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.node.create_subscription(Detection2DArray, f"{ns}/detections", self._on_det, reliable(100))
        self.node.create_subscription(FrameReport, f"{ns}/frame_report", self._on_report, reliable(100))
        self.node.create_subscription(FramePlan, f"{ns}/plan", self._on_plan, reliable(100))
        self.node.create_subscription(ServerStatus, f"{ns}/server_status", self._on_status, reliable(50))
        self.pub = self.node.create_publisher(Image, self.input_topic, reliable(10))
        self._sent = 0

    def close(self) -> None:
        """Destroy the node and its context."""
        import rclpy

        if getattr(self, "node", None) is not None:
            self.node.destroy_node()
            rclpy.try_shutdown(context=self.ctx)
            self.node = None

    # callbacks ---------------------------------------------------------------------------------
    @staticmethod
    def _key(header) -> tuple:
        return (header.stamp.sec, header.stamp.nanosec)

    def _on_det(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is None:
            self.unknown_answers += 1
            return
        rec.answers += 1
        if rec.answered_at is None:
            rec.answered_at = time.monotonic()

    def _on_report(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is not None:
            rec.degraded, rec.missing, rec.drop_reason = bool(msg.degraded), len(msg.missing_block_ids), \
                msg.drop_reason
            rec.missing_ids = tuple(int(b) for b in msg.missing_block_ids)
            rec.frames_degraded = int(msg.frames_degraded)

    def _on_plan(self, msg) -> None:
        rec = self.frames.get(self._key(msg.header))
        if rec is not None:
            rec.planned_at = time.monotonic()
            rec.servers = tuple(sorted({int(b.server_id) for b in msg.blocks}))
            rec.live = tuple(int(s) for s in msg.live_servers)
            rec.block_servers = tuple(int(b.server_id) for b in sorted(msg.blocks, key=lambda b: b.block_id))

    def _on_status(self, msg) -> None:
        self.status[int(msg.server_id)] = (msg.state, time.monotonic())

    # driving -------------------------------------------------------------------------------------
    def spin_for(self, seconds: float) -> None:
        """Process incoming messages for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def wait_ready(self, servers: int, timeout: float = 90.0, alive: Callable[[], bool] = lambda: True) -> float:
        """Wait until the pipeline is ready for this client; return the seconds waited.

        Ready: ``servers`` edge servers report active, the input is subscribed, and the outputs
        have publishers (answers published before that would not reach this client).
        """
        t0 = time.monotonic()
        ns = "/" + self.namespace.strip("/")
        outputs = (f"{ns}/detections", f"{ns}/frame_report", f"{ns}/plan")
        while True:
            self.ex.spin_once(timeout_sec=0.1)
            active = sum(1 for s, _ in self.status.values() if s == "active")
            if (active >= servers and self.pub.get_subscription_count() > 0
                    and all(self.node.count_publishers(t) > 0 for t in outputs)):
                break
            if not alive():
                raise RuntimeError("the pipeline exited while starting")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"pipeline not ready after {timeout:.0f} s (server status {self.status})")
        self.spin_for(1.0)  # let the remaining endpoints match
        return time.monotonic() - t0

    def send(self, frame: np.ndarray, label: str = "") -> tuple:
        """Publish one frame now; return its key."""
        from repose_ros.ros.convert import bgr_to_image

        msg = bgr_to_image(frame)
        msg.header.frame_id = "stream_camera"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        key = self._key(msg.header)
        self.frames[key] = FrameRecord(self._sent, label, time.monotonic())
        self._sent += 1
        self.pub.publish(msg)
        return key

    def send_for(self, seconds: float, rate: float, frame_fn: Callable[[int], np.ndarray], label: str = "",
                 on_tick: Optional[Callable[[], None]] = None) -> List[tuple]:
        """Publish frames at ``rate`` Hz for ``seconds`` (spinning in between); return their keys."""
        keys = []
        t0 = time.monotonic()
        n = max(1, int(round(seconds * rate)))
        frames = [frame_fn(i) for i in range(min(n, 8))]  # a few distinct frames, reused
        for i in range(n):
            due = t0 + i / rate
            while time.monotonic() < due:
                self.ex.spin_once(timeout_sec=min(0.02, max(0.0, due - time.monotonic())))
            self.max_lateness = max(self.max_lateness, time.monotonic() - due)
            keys.append(self.send(frames[i % len(frames)], label))
            if on_tick is not None:
                on_tick()
        return keys

    def drain(self, timeout: float, keys: Optional[List[tuple]] = None) -> bool:
        """Spin until every frame (or every frame of ``keys``) has an answer and a report."""
        keys = list(self.frames) if keys is None else keys
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(self.frames[k].answers and self.frames[k].degraded is not None for k in keys):
                self.spin_for(0.3)  # a duplicate would arrive about now
                return True
            self.ex.spin_once(timeout_sec=0.05)
        return False

    def records(self, label: Optional[str] = None) -> List[FrameRecord]:
        """Frame records in send order (only those with ``label`` if given)."""
        recs = sorted(self.frames.values(), key=lambda r: r.index)
        return [r for r in recs if label is None or r.label == label]


# ---------------------------------------------------------------------------------------------
# the soak run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="duration of the run (default 10)")
    p.add_argument("--rate", type=float, default=5.0, help="camera rate in Hz (default 5)")
    p.add_argument("--servers", type=int, default=2, help="edge detector processes (default 2)")
    p.add_argument("--width", type=int, default=1920, help="frame width (default 1920)")
    p.add_argument("--height", type=int, default=1080, help="frame height (default 1080)")
    p.add_argument("--warmup-s", type=float, default=60.0,
                   help="memory after this many seconds is the reference (default 60)")
    p.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling period (default 5 s)")
    p.add_argument("--namespace", default="soak")
    p.add_argument("--params-file", default=None, help="parameters (default: the package's config/repose.yaml)")
    p.add_argument("--transports", default=None,
                   help="FASTDDS_BUILTIN_TRANSPORTS for every process, e.g. LARGE_DATA (default: the environment's)")
    p.add_argument("--log", default="/tmp/repose_soak_launch.log", help="launch log file")
    p.add_argument("--json", default=None, help="write the figures to this file")
    p.add_argument("--max-growth-mb", type=float, default=20.0,
                   help="exit code 1 when a process's RSS drifts up by more than this between the middle and "
                        "the last third of the run after warm-up (default 20)")
    return p


def _mb(kb: Optional[int]) -> float:
    return (kb or 0) / 1024.0


def main_soak(argv: Optional[List[str]] = None) -> int:
    """Run the soak benchmark; exit code 0 when every frame was answered once and memory stayed bounded."""
    args = _parser().parse_args(argv)
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
        frames = [synthetic_frame(i, args.width, args.height) for i in range(8)]
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
    return _report(args, stream, samples, _lost_before_queue(args.log))


def _lost_before_queue(log_path: str) -> Optional[int]:
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


def _report(args, stream: Stream, samples: List[tuple], lost_dds: Optional[int] = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main_soak())
