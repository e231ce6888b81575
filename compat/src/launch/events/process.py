"""Process events: a process started or exited."""

from typing import Dict
from typing import List
from typing import Optional
from typing import Text

from .._compat import make_module_getattr
from ..event import Event

__all__ = ['ProcessExited', 'ProcessStarted', 'RunningProcessEvent']

__getattr__ = make_module_getattr(__name__)


class RunningProcessEvent(Event):
    """Base of the events about one process of an ExecuteProcess action."""

    def __init__(self, *, action, name: Text, cmd: List[Text], cwd: Optional[Text],
                 env: Optional[Dict[Text, Text]], pid: int) -> None:
        self.__action = action
        self.__name = name
        self.__cmd = cmd
        self.__cwd = cwd
        self.__env = env
        self.__pid = pid

    @property
    def action(self):
        """Getter for the ExecuteProcess action that started the process."""
        return self.__action

    @property
    def execute_process_action(self):
        """Getter for the ExecuteProcess action (older name)."""
        return self.__action

    @property
    def process_name(self) -> Text:
        """Getter for the process label, e.g. 'talker-1'."""
        return self.__name

    @property
    def cmd(self) -> List[Text]:
        """Getter for the command line."""
        return self.__cmd

    @property
    def cwd(self) -> Optional[Text]:
        """Getter for the working directory."""
        return self.__cwd

    @property
    def env(self) -> Optional[Dict[Text, Text]]:
        """Getter for the environment."""
        return self.__env

    @property
    def pid(self) -> int:
        """Getter for the process id."""
        return self.__pid


class ProcessStarted(RunningProcessEvent):
    """A process was started."""

    name = 'launch.events.process.ProcessStarted'


class ProcessExited(RunningProcessEvent):
    """A process exited; ``returncode`` is negative when it was killed by a signal."""

    name = 'launch.events.process.ProcessExited'

    def __init__(self, *, returncode: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__returncode = returncode

    @property
    def returncode(self) -> int:
        """Getter for the exit code."""
        return self.__returncode
