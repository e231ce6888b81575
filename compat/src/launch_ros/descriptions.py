"""launch_ros.descriptions: parameter descriptions (composable nodes are not supported)."""

from launch._compat import make_module_getattr

from .parameter_descriptions import Parameter
from .parameter_descriptions import ParameterFile
from .parameter_descriptions import ParameterValue

__all__ = ['Parameter', 'ParameterFile', 'ParameterValue']

__getattr__ = make_module_getattr(__name__)
