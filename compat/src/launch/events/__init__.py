"""Events of the launch API supported by the stand-in."""

from typing import Text

from .._compat import getter
from .._compat import make_module_getattr
from ..event import Event
from . import process  # noqa: F401

__all__ = ['Shutdown', 'process']

__getattr__ = make_module_getattr(__name__)


class Shutdown(Event):
    """Event asking the launch to shut down (see launch.actions.EmitEvent and Shutdown)."""

    name = 'launch.events.Shutdown'

    def __init__(self, *, reason: Text = 'reason not given', due_to_sigint: bool = False) -> None:
        self._reason = reason
        self._due_to_sigint = due_to_sigint

    reason = getter('_reason', 'Getter for the reason.')
    due_to_sigint = getter('_due_to_sigint', 'Return True when the shutdown was caused by SIGINT.')
