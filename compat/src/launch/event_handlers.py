"""Event handlers of the launch API supported by the stand-in."""

from typing import Callable
from typing import List
from typing import Optional

from ._compat import make_module_getattr
from .event_handler import _normalize_entities
from .event_handler import EventHandler
from .events import Shutdown
from .events.process import ProcessExited
from .events.process import ProcessStarted

__all__ = ['EventHandler', 'OnProcessExit', 'OnProcessStart', 'OnShutdown']

__getattr__ = make_module_getattr(__name__)


def _action_matcher(event_type, target_action) -> Callable[[object], bool]:
    if target_action is None:
        return lambda event: isinstance(event, event_type)
    if callable(target_action) and not hasattr(target_action, 'execute'):
        return lambda event: isinstance(event, event_type) and bool(target_action(event.action))
    return lambda event: isinstance(event, event_type) and event.action is target_action


class _CallbackOrEntitiesHandler(EventHandler):
    def __init__(self, *, matcher, handler, handle_once: bool) -> None:
        if callable(handler) and not hasattr(handler, 'visit'):
            self._callback = handler
            entities = None
        else:
            self._callback = None
            entities = _normalize_entities(handler)
        super().__init__(matcher=matcher, entities=entities, handle_once=handle_once)

    def handle(self, event, context) -> Optional[List]:
        """Handle the event: call the callback with (event, context), or return the entities."""
        super().handle(event, context)
        if self._callback is not None:
            result = self._callback(event, context)
            return _normalize_entities(result) or None
        return self.entities or None


class OnProcessStart(_CallbackOrEntitiesHandler):
    """Run entities (or a callback(event, context)) when a process starts."""

    def __init__(self, *, target_action=None, on_start, handle_once: bool = False) -> None:
        super().__init__(matcher=_action_matcher(ProcessStarted, target_action),
                         handler=on_start, handle_once=handle_once)


class OnProcessExit(_CallbackOrEntitiesHandler):
    """Run entities (or a callback(event, context)) when a process exits."""

    def __init__(self, *, target_action=None, on_exit, handle_once: bool = False) -> None:
        super().__init__(matcher=_action_matcher(ProcessExited, target_action),
                         handler=on_exit, handle_once=handle_once)


class OnShutdown(_CallbackOrEntitiesHandler):
    """Run entities (or a callback(event, context)) when the launch begins to shut down."""

    def __init__(self, *, on_shutdown, **kwargs) -> None:
        super().__init__(matcher=lambda event: isinstance(event, Shutdown),
                         handler=on_shutdown, handle_once=kwargs.get('handle_once', False))
