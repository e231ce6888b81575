"""The ``ros2`` command of the repose_ros stand-ins, and the launch runner behind ``ros2 launch``."""
