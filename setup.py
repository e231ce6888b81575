"""Python packaging for repose_ros.

colcon builds this ROS package with ament_cmake (see CMakeLists.txt); this file serves
``pip install -e .`` in the set-up environment (tools/setup.sh) and plain-Python users of the
core library. Metadata lives in setup.cfg.
"""
from setuptools import setup

setup()
