"""Actions of launch_ros supported by the stand-in (others raise NotImplementedError)."""

from launch._compat import make_module_getattr

from ._ros_settings import PushROSNamespace
from ._ros_settings import PushRosNamespace
from ._ros_settings import SetParameter
from ._ros_settings import SetParametersFromFile
from ._ros_settings import SetRemap
from ._ros_settings import SetUseSimTime
from .node import Node

__all__ = ['Node', 'PushROSNamespace', 'PushRosNamespace', 'SetParameter',
           'SetParametersFromFile', 'SetRemap', 'SetUseSimTime']

__getattr__ = make_module_getattr(__name__)
