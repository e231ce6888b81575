"""The launch context: launch configurations, environment and locals of a running launch."""

import contextlib
import os
from typing import Any
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text

from ._compat import getter
from ._compat import unsupported


class _Locals:
    """Attribute view of the current locals."""

    def __init__(self, values: Dict[Text, Any]) -> None:
        object.__setattr__(self, '_values', values)

    def __getattr__(self, name: Text) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError("context.locals does not contain attribute '{}', it contains: [{}]"
                                 .format(name, ', '.join(self._values))) from None


class LaunchContext:
    """
    Holds the state shared by the entities of a launch: configurations, environment, locals.

    Only the parts ordinary launch files and OpaqueFunctions use are provided; the asyncio
    machinery of the real launch context is not.
    """

    def __init__(self, *, argv: Optional[Iterable[Text]] = None,
                 noninteractive: bool = False) -> None:
        self._argv = list(argv) if argv is not None else []
        self._noninteractive = noninteractive
        self._launch_configurations: Dict[Text, Text] = {}
        self._launch_configurations_stack: List[Dict[Text, Text]] = []
        self._environment: Dict[Text, Text] = dict(os.environ)
        self._environment_stack: List[Dict[Text, Text]] = []
        self._locals: Dict[Text, Any] = {}
        self._locals_stack: List[Dict[Text, Any]] = []
        self._is_shutdown = False
        self._launch_service = None

    argv = getter('_argv', 'Getter for the command line arguments given to the launch.')
    noninteractive = getter('_noninteractive', 'Getter for the noninteractive flag.')

    @property
    def is_shutdown(self) -> bool:
        """Return True once shutdown of the launch has begun."""
        return self._is_shutdown

    launch_configurations = getter(
        '_launch_configurations', 'Getter for the launch configurations (a mutable dict).')

    environment = getter(
        '_environment', 'Getter for the environment given to processes started from now on (a mutable dict).')

    @property
    def locals(self) -> _Locals:
        """Getter for the locals of the entity being visited, as attributes."""
        return _Locals(self._locals)

    @property
    def asyncio_loop(self):
        """Not available in the stand-in."""
        raise unsupported('LaunchContext.asyncio_loop')

    def extend_locals(self, new_locals: Dict[Text, Any]) -> None:
        """Add entries to the current locals."""
        self._locals.update(new_locals)

    def extend_globals(self, new_globals: Dict[Text, Any]) -> None:
        """Add entries visible to every entity visited from now on."""
        for frame in self._locals_stack:
            frame.update(new_globals)
        self._locals.update(new_globals)

    def get_locals_as_dict(self) -> Dict[Text, Any]:
        """Return a copy of the current locals."""
        return dict(self._locals)

    def perform_substitution(self, substitution) -> Text:
        """Evaluate one substitution in this context."""
        return substitution.perform(self)

    def register_event_handler(self, event_handler, append: bool = False) -> None:
        """Register an event handler with the launch service running this context."""
        if self._launch_service is None:
            raise RuntimeError('no launch service is running this context')
        self._launch_service._register_event_handler(event_handler)

    def unregister_event_handler(self, event_handler) -> None:
        """Remove a previously registered event handler."""
        if self._launch_service is not None:
            self._launch_service._unregister_event_handler(event_handler)

    def emit_event(self, event) -> None:
        """Emit an event; the stand-in supports launch.events.Shutdown only."""
        if self._launch_service is None:
            raise RuntimeError('no launch service is running this context')
        self._launch_service._emit_event(event)

    emit_event_sync = emit_event

    def _push_locals(self) -> None:
        self._locals_stack.append(self._locals)
        self._locals = dict(self._locals)

    def _pop_locals(self) -> None:
        self._locals = self._locals_stack.pop()

    @contextlib.contextmanager
    def _scoped_locals(self):
        """Let the entity visited inside the block extend the locals without leaking them."""
        self._push_locals()
        try:
            yield
        finally:
            self._pop_locals()

    @staticmethod
    def _restore(current: Dict, stack: List[Dict], what: Text) -> None:
        if not stack:
            raise RuntimeError('{} stack is empty'.format(what))
        current.clear()
        current.update(stack.pop())

    def _push_launch_configurations(self) -> None:
        self._launch_configurations_stack.append(dict(self._launch_configurations))

    def _pop_launch_configurations(self) -> None:
        self._restore(self._launch_configurations, self._launch_configurations_stack,
                      'launch configurations')

    def _push_environment(self) -> None:
        self._environment_stack.append(dict(self._environment))

    def _pop_environment(self) -> None:
        self._restore(self._environment, self._environment_stack, 'environment')

    def _reset_environment(self) -> None:
        self._environment.clear()
        self._environment.update(os.environ)
