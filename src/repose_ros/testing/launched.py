"""Drive a launched pipeline from Python: start it, feed frames, collect answers, stop it.

Used by ``repose demo`` and ``repose bench pipeline``; a frame is sent, and the call returns
when its Detection2DArray and FrameReport have arrived (closed loop), so the measured wall
time is the pipeline's latency for that frame.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from repose_ros.core.environ import temporary_environ
from repose_ros.core.health import server_state


@dataclass
class Answer:
    """What came back for one frame."""

    detections: object
    report: object
    debug_image: Optional[object]
    wall_ms: float
    plan: Optional[object] = None       # its FramePlan (with ``watch_blocks``)
    blocks: Optional[list] = None       # its BlockDetections, in arrival order (with ``watch_blocks``)


class LaunchedPipeline:
    """``ros2 launch repose_ros pipeline.launch.py`` in a subprocess, plus a client node."""

    def __init__(self, servers: int, backend: str = "ultralytics", namespace: str = "repose",
                 log_path: Optional[str] = None, extra_args: Optional[List[str]] = None,
                 input_topic: str = "/repose_client/image_raw", launch_file: Optional[str] = None,
                 client_env: Optional[Dict[str, str]] = None, watch_blocks: bool = False):
        self.servers = servers
        # client_env: environment of this process's own DDS participant only (e.g. a Fast DDS profile
        # for the client that plays the camera); the launch does not inherit it.
        self.client_env = dict(client_env or {})
        # watch_blocks: also collect each frame's FramePlan and BlockDetections (stage times per server).
        self.watch_blocks = watch_blocks
        self.ns = "/" + namespace.strip("/")
        self.input_topic = input_topic
        # launch_file: a path instead of the installed package's pipeline.launch.py (e.g. a checkout's).
        target = [launch_file] if launch_file else ["repose_ros", "pipeline.launch.py"]
        self.cmd = ["ros2", "launch", *target, f"namespace:={namespace}",
                    f"input_topic:={input_topic}", f"num_servers:={servers}", f"backend:={backend}",
                    *(extra_args or [])]
        self.log_path = log_path
        self._log = None
        self.proc: Optional[subprocess.Popen] = None
        self.node = self.ex = self.ctx = None

    def __enter__(self) -> "LaunchedPipeline":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the launch and the client node (does not wait)."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from repose_ros.msg import FrameReport, ServerStatus
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        from repose_ros.ros.params import reliable

        self._log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        with temporary_environ(self.client_env):  # read by the DDS participant the client node creates
            self.ctx = rclpy.Context()
            rclpy.init(context=self.ctx)
            self.node = rclpy.create_node("repose_client", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.results, self.reports, self.debug, self.active = {}, {}, {}, {}
        n = self.node
        n.create_subscription(Detection2DArray, f"{self.ns}/detections",
                              lambda m: self.results.setdefault(_key(m.header), m), reliable(10))
        n.create_subscription(FrameReport, f"{self.ns}/frame_report",
                              lambda m: self.reports.setdefault(_key(m.header), m), reliable(10))
        n.create_subscription(Image, f"{self.ns}/debug_image",
                              lambda m: self.debug.setdefault(_key(m.header), m), reliable(4))
        n.create_subscription(ServerStatus, f"{self.ns}/server_status",
                              lambda m: self.active.__setitem__(m.server_id,
                                                                server_state(m.state, m.block_publishers,
                                                                             m.answer_subscribers)),
                              reliable(20))
        self.pub = n.create_publisher(Image, self.input_topic, reliable(2))
        self.plans, self.block_answers = {}, {}
        if self.watch_blocks:
            from repose_ros.msg import BlockDetections, FramePlan

            n.create_subscription(FramePlan, f"{self.ns}/plan",
                                  lambda m: self.plans.setdefault(_key(m.header), m), reliable(10))
            n.create_subscription(BlockDetections, f"{self.ns}/block_detections",
                                  lambda m: self.block_answers.setdefault(_key(m.header), []).append(m), reliable(200))

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Wait until every edge server is active and connected, the input has a subscriber and the outputs a publisher.

        Returns the seconds waited. Answers published before the outputs are matched would not reach
        this client, and plans published before the aggregator subscribes reach no aggregator, hence
        the last conditions.
        """
        t0 = time.monotonic()
        outputs = [f"{self.ns}/detections", f"{self.ns}/frame_report"]
        if self.watch_blocks:  # a frame's stages need its plan and every server's answers
            outputs.append(f"{self.ns}/plan")
        while (sum(s == "active" for s in self.active.values()) < self.servers
               or self.pub.get_subscription_count() == 0
               or not all(self.node.count_publishers(t) > 0 for t in outputs)
               or (self.watch_blocks and self.node.count_publishers(f"{self.ns}/block_detections") < self.servers)
               # the aggregator's plan subscription (and this client's own when it watches the blocks)
               or self.node.count_subscribers(f"{self.ns}/plan") < (2 if self.watch_blocks else 1)):
            self.ex.spin_once(timeout_sec=0.2)
            if self.proc.poll() is not None:
                raise RuntimeError(f"the pipeline exited early (code {self.proc.returncode}); see {self.log_path}")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"edge servers not active after {timeout:.0f} s ({self.active}); "
                                   f"see {self.log_path}")
        time.sleep(1.0)
        self.ex.spin_once(timeout_sec=0.1)
        return time.monotonic() - t0

    def send(self, frame: np.ndarray, timeout: float = 180.0, want_debug: bool = False) -> Optional[Answer]:
        """Publish one frame and wait for its answer; None if nothing came within ``timeout``."""
        from repose_ros.ros.convert import bgr_to_image

        msg = bgr_to_image(frame)
        msg.header.frame_id = "repose_client"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        key = _key(msg.header)
        sent = time.monotonic()
        self.pub.publish(msg)
        while (key not in self.results or key not in self.reports) and time.monotonic() - sent < timeout:
            self.ex.spin_once(timeout_sec=0.02)
        wall = (time.monotonic() - sent) * 1000.0
        if key not in self.results:
            return None
        if want_debug:
            t = time.monotonic()
            while key not in self.debug and time.monotonic() - t < 3.0:
                self.ex.spin_once(timeout_sec=0.05)
        if self.watch_blocks:  # the plan and the block answers reach this client on their own topics
            t = time.monotonic()
            while not self._blocks_complete(key) and time.monotonic() - t < 2.0:
                self.ex.spin_once(timeout_sec=0.02)
        return Answer(self.results.pop(key), self.reports.pop(key, None), self.debug.pop(key, None), wall,
                      self.plans.pop(key, None), self.block_answers.pop(key, None))

    def _blocks_complete(self, key: tuple) -> bool:
        """Whether the frame's plan and an answer for each of its planned blocks have arrived."""
        plan = self.plans.get(key)
        if plan is None:
            return False
        answered = {int(b.block_id) for b in self.block_answers.get(key, []) if not b.coarse}
        return {int(b.block_id) for b in plan.blocks} <= answered

    def close(self) -> None:
        """Stop the client and the launch (SIGINT, then SIGTERM / SIGKILL)."""
        import rclpy

        if self.node is not None:
            self.node.destroy_node()
            rclpy.try_shutdown(context=self.ctx)
            self.node = None
        if self.proc is not None:
            stop_process_group(self.proc)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()


def _key(header) -> tuple:
    return (header.stamp.sec, header.stamp.nanosec)


def stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGINT a process group (like Ctrl-C), then SIGTERM / SIGKILL it if needed."""
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
