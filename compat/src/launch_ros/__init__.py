"""
Stand-in for the ROS 2 ``launch_ros`` package (subset), for machines without ROS 2.

Supported: actions.Node, PushRosNamespace, SetParameter, SetParametersFromFile, SetRemap,
SetUseSimTime; substitutions.FindPackageShare, FindPackagePrefix, ExecutableInPackage;
parameter_descriptions.ParameterValue, ParameterFile. Other names of the real API raise
NotImplementedError. See compat/README.md.
"""

from launch._compat import make_module_getattr

from . import actions  # noqa: F401
from . import descriptions  # noqa: F401
from . import parameter_descriptions  # noqa: F401
from . import substitutions  # noqa: F401

__all__ = ['actions', 'descriptions', 'parameter_descriptions', 'substitutions']

REPOSE_COMPAT = True

__getattr__ = make_module_getattr(__name__)
