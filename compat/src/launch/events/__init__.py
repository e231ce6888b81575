"""Events of the launch API supported by the stand-in."""

from typing import Text

from .. import _compat
from ..event import Event
from . import process  # noqa: F401

__all__ = ['Shutdown', 'process']

__getattr__ = _compat.make_module_getattr(__name__)


class Shutdown(Event):
    """Event asking the launch to shut down (see launch.actions.EmitEvent and Shutdown)."""

    name = 'launch.events.Shutdown'

    def __init__(self, *, reason: Text = 'reason not given', due_to_sigint: bool = False) -> None:
        self.__reason = reason
        self.__due_to_sigint = due_to_sigint

    @property
    def reason(self) -> Text:
        """Getter for the reason."""
        return self.__reason

    @property
    def due_to_sigint(self) -> bool:
        """Return True when the shutdown was caused by SIGINT."""
        return self.__due_to_sigint
