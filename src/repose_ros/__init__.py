"""RE-POSE for ROS 2.

``repose_ros.core`` holds the ROS-free algorithm (coarse detection, RL-DCA partitioning,
planning, fusion); ``repose_ros.nodes`` holds thin rclpy adapters; ``repose_ros.msg`` holds
the generated interfaces.
"""
# The generated interfaces (repose_ros.msg) may be installed in another site-packages folder
# than this source tree (editable install in the set-up environment): let Python look for
# submodules in every ``repose_ros`` folder on sys.path.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
