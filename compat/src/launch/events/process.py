"""Process events: a process started or exited."""

from typing import Dict
from typing import List
from typing import Optional
from typing import Text

from .._compat import getter
from .._compat import make_module_getattr
from ..event import Event

__all__ = ['ProcessExited', 'ProcessStarted', 'RunningProcessEvent']

__getattr__ = make_module_getattr(__name__)


class RunningProcessEvent(Event):
    """Base of the events about one process of an ExecuteProcess action."""

    def __init__(self, *, action, name: Text, cmd: List[Text], cwd: Optional[Text],
                 env: Optional[Dict[Text, Text]], pid: int) -> None:
        self._action = action
        self._name = name
        self._cmd = cmd
        self._cwd = cwd
        self._env = env
        self._pid = pid

    action = getter('_action', 'Getter for the ExecuteProcess action that started the process.')
    execute_process_action = getter('_action', 'Getter for the ExecuteProcess action (older name).')
    process_name = getter('_name', 'Getter for the process label, e.g. \'talker-1\'.')
    cmd = getter('_cmd', 'Getter for the command line.')
    cwd = getter('_cwd', 'Getter for the working directory.')
    env = getter('_env', 'Getter for the environment.')
    pid = getter('_pid', 'Getter for the process id.')


class ProcessStarted(RunningProcessEvent):
    """A process was started."""

    name = 'launch.events.process.ProcessStarted'


class ProcessExited(RunningProcessEvent):
    """A process exited; ``returncode`` is negative when it was killed by a signal."""

    name = 'launch.events.process.ProcessExited'

    def __init__(self, *, returncode: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self._returncode = returncode

    returncode = getter('_returncode', 'Getter for the exit code.')
