"""Frontend: the camera and partitioner nodes in one process, frames handed over in memory.

This is the default deployment (pipeline.launch.py): the full-resolution frame is received
once from the camera driver and never re-serialised; only the blocks' pixels travel to the
edge detector processes. With ``coarse.on_edge`` the camera sends its coarse blocks to the
partitioner's live servers.
"""
from __future__ import annotations

import rclpy
from rclpy.executors import MultiThreadedExecutor

from ..ros.params import spin_node
from .camera import CameraNode
from .partitioner import PartitionerNode


def main(args=None) -> None:
    """Run camera and partitioner in one process."""
    rclpy.init(args=args)
    partitioner = PartitionerNode(standalone=False)
    camera = CameraNode(sink=partitioner.on_coarse, live_servers=partitioner.live_servers,
                        budget_ms=lambda: float(partitioner.p["budget_ms"]), profiles=partitioner.repose.profiles)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(partitioner)
    executor.add_node(camera)
    spin_node(None, executor)
