"""Stand-ins for ROS 2 launch, launch_ros and the ros2 command (see compat/README.md)."""
from setuptools import setup

setup()
