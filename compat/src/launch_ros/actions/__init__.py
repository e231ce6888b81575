"""Actions of launch_ros supported by the stand-in (others raise NotImplementedError)."""

from launch._compat import make_module_getattr

from ._ros_settings import PushRosNamespace
from ._ros_settings import SetParameter
from ._ros_settings import SetParametersFromFile
from ._ros_settings import SetRemap
from ._ros_settings import SetUseSimTime
from .node import Node

# Humble's names. PushROSNamespace (Iron and later; Humble has only PushRosNamespace) comes from
# __getattr__ so that REPOSE_COMPAT_DISTRO=humble can refuse it.
__all__ = ['Node', 'PushRosNamespace', 'SetParameter', 'SetParametersFromFile', 'SetRemap',
           'SetUseSimTime']

__getattr__ = make_module_getattr(__name__, newer={
    'PushROSNamespace': (lambda: PushRosNamespace,
                         'Iron and later; Humble has only PushRosNamespace'),
})
