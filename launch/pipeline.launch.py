"""Launch the RE-POSE pipeline: frontend (camera + partitioner), N edge detectors, aggregator.

    ros2 launch repose_ros pipeline.launch.py input_topic:=/camera/image_raw num_servers:=4

dds_profile:=auto (the default) gives the pipeline's processes (not the camera driver) the shipped
Fast DDS profile config/fastdds/shm_large.xml (large shared-memory segments for same-host traffic,
UDPv4 kept for discovery, other hosts and processes without the profile; 100 ms heartbeats), unless
the environment already chose a profile file, FASTDDS_BUILTIN_TRANSPORTS or another RMW, or
/dev/shm is smaller than 512 MiB (a container's default).

Detections come out on /<namespace>/detections (vision_msgs/Detection2DArray).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from repose_ros.ros.dds_profile import choose_profile, profile_env
from repose_ros.ros.launch_params import write_overrides


def _nodes(context):
    ns = LaunchConfiguration("namespace").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context)
    n = int(LaunchConfiguration("num_servers").perform(context))
    compressed = LaunchConfiguration("compressed").perform(context).lower() in ("1", "true", "yes")
    backend = LaunchConfiguration("backend").perform(context)
    input_topic = LaunchConfiguration("input_topic").perform(context)
    log_level = LaunchConfiguration("log_level").perform(context)
    coarse_on_edge = LaunchConfiguration("coarse_on_edge").perform(context).lower()
    autostart = LaunchConfiguration("autostart").perform(context).lower() == "true"
    shared = {"num_servers": n, "backend": backend, "autostart": autostart}
    frontend = dict(shared, compressed=compressed)
    if coarse_on_edge in ("true", "false"):  # "": as params_file says
        frontend["coarse.on_edge"] = coarse_on_edge == "true"
    image_remap = ("image_raw/compressed", input_topic) if compressed else ("image_raw", input_topic)
    # Only the launched node processes get the profile's variables (launch_ros passes additional_env
    # on to ExecuteProcess); default: no variable is set, the environment's settings apply.
    dds_choice = LaunchConfiguration("dds_profile").perform(context)
    dds_path, why = choose_profile(dds_choice)
    dds_env = profile_env(dds_path)
    dds_note = LogInfo(msg=f"dds_profile {dds_choice}: {dds_path or 'environment settings'}"
                           + (f" ({why})" if why else ""))
    common = dict(namespace=ns, output="screen", arguments=["--ros-args", "--log-level", log_level])
    if dds_env:
        common["additional_env"] = dds_env

    def params(overrides):
        # The launch arguments win over every entry of params_file, also node-specific ones.
        return [params_file, write_overrides(params_file, overrides)]

    actions = [
        dds_note,
        # Camera and partitioner share one process: the full frame is never re-serialised.
        Node(package="repose_ros", executable="frontend_node",
             parameters=params(frontend), remappings=[image_remap], **common),
        Node(package="repose_ros", executable="aggregator_node", name="aggregator",
             parameters=params({"autostart": autostart}), **common),
    ]
    for i in range(n):
        actions.append(Node(package="repose_ros", executable="edge_detector_node", name=f"edge_detector_{i}",
                            parameters=params(dict(shared, server_id=i)), **common))
    return actions


def generate_launch_description():
    """Declare the launch arguments and the pipeline's processes."""
    default_params = os.path.join(get_package_share_directory("repose_ros"), "config", "repose.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="repose", description="Namespace of every node and topic"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML file with the parameters of every node"),
        DeclareLaunchArgument("num_servers", default_value="4", description="Number of edge detector processes"),
        DeclareLaunchArgument("input_topic", default_value="/camera/image_raw",
                              description="Camera topic (sensor_msgs/Image, or CompressedImage with compressed)"),
        DeclareLaunchArgument("compressed", default_value="false", choices=["true", "false"],
                              description="Subscribe to sensor_msgs/CompressedImage"),
        DeclareLaunchArgument("backend", default_value="ultralytics", choices=["ultralytics", "fake"],
                              description="Detector backend (fake: bright blobs, for tests)"),
        DeclareLaunchArgument("coarse_on_edge", default_value="", choices=["", "true", "false"],
                              description="Run the coarse stage's N blocks on the N edge servers instead of in "
                              "the frontend (camera parameter coarse.on_edge; empty: as params_file says)"),
        DeclareLaunchArgument("autostart", default_value="true", choices=["true", "false"],
                              description="Bring every node to active on start (false: they stay unconfigured "
                              "until a lifecycle manager drives them)"),
        DeclareLaunchArgument("dds_profile", default_value="auto",
                              description="Fast DDS XML profile of the pipeline's processes: auto (shm unless the "
                              "environment names a profile file, FASTDDS_BUILTIN_TRANSPORTS or another RMW, or "
                              "/dev/shm is under 512 MiB), default (the environment's settings), shm "
                              "(config/fastdds/shm_large.xml: large shared-memory segments, UDPv4 kept, 100 ms "
                              "heartbeats) or the path of a profile file"),
        DeclareLaunchArgument("log_level", default_value="info",
                              choices=["debug", "info", "warn", "error", "fatal"], description="Log level"),
        OpaqueFunction(function=_nodes),
    ])
