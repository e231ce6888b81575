"""Actions of the launch API supported by the stand-in (others raise NotImplementedError)."""

from .._compat import make_module_getattr
from ._core import AppendEnvironmentVariable
from ._core import EmitEvent
from ._core import GroupAction
from ._include import DeclareLaunchArgument
from ._include import IncludeLaunchDescription
from ._core import LogInfo
from ._core import OpaqueFunction
from ._core import PopEnvironment
from ._core import PopLaunchConfigurations
from ._core import PushEnvironment
from ._core import PushLaunchConfigurations
from ._core import RegisterEventHandler
from ._core import ResetEnvironment
from ._core import ResetLaunchConfigurations
from ._core import SetEnvironmentVariable
from ._core import SetLaunchConfiguration
from ._core import Shutdown
from ._core import TimerAction
from ._core import UnregisterEventHandler
from ._core import UnsetEnvironmentVariable
from ._core import UnsetLaunchConfiguration
from .execute_process import ExecuteProcess

__all__ = [
    'AppendEnvironmentVariable', 'DeclareLaunchArgument', 'EmitEvent', 'ExecuteProcess',
    'GroupAction', 'IncludeLaunchDescription', 'LogInfo', 'OpaqueFunction', 'PopEnvironment',
    'PopLaunchConfigurations', 'PushEnvironment', 'PushLaunchConfigurations',
    'RegisterEventHandler', 'ResetEnvironment', 'ResetLaunchConfigurations',
    'SetEnvironmentVariable', 'SetLaunchConfiguration', 'Shutdown', 'TimerAction',
    'UnregisterEventHandler', 'UnsetEnvironmentVariable', 'UnsetLaunchConfiguration',
]

__getattr__ = make_module_getattr(__name__)
