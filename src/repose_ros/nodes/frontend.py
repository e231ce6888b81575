"""Frontend: the camera and partitioner nodes in one process, frames handed over in memory.

This is the default deployment (pipeline.launch.py): the full-resolution frame is received
once from the camera driver and never re-serialised; only the blocks' pixels travel to the
edge detector processes. With ``coarse.on_edge`` the camera sends its coarse blocks to the
partitioner's live servers.
"""
from __future__ import annotations

from repose_ros.ros.executors import run_nodes
from repose_ros.nodes.camera import CameraNode
from repose_ros.nodes.partitioner import PartitionerNode


def build_frontend() -> list:
    """Make the partitioner and the camera that hands it its frames (after ``rclpy.init``)."""
    partitioner = PartitionerNode(standalone=False)
    # The camera takes the partitioner's profile when it is configured after it (autostart, or a
    # lifecycle manager that configures in this order); otherwise it loads the same default itself.
    camera = CameraNode(sink=partitioner.on_coarse, live_servers=partitioner.live_servers,
                        budget_ms=lambda: float(partitioner.p["budget_ms"]),
                        profiles=lambda: partitioner.repose.profiles if partitioner.repose is not None else None)
    return [partitioner, camera]


def main(args=None) -> int:
    """Run camera and partitioner in one process."""
    return run_nodes(build_frontend, args, threads=2)
