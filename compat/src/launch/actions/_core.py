"""Actions of the launch API other than process execution, launch arguments and includes."""

import os
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text

from .._compat import getter
from .._compat import unsupported
from ..action import Action
from ..conditions import evaluate_condition_expression
from ..event_handler import EventHandler
from ..events import Shutdown as ShutdownEvent
from ..launch_description_entity import LaunchDescriptionEntity
from ..utilities import _perform_pairs
from ..utilities import _substitution_pairs
from ..utilities import normalize_to_list_of_substitutions
from ..utilities import perform_substitutions


class _NameAction(Action):
    """An action on one named item (a launch configuration, an environment variable)."""

    def __init__(self, name, **kwargs) -> None:
        super().__init__(**kwargs)
        self._name_subs = normalize_to_list_of_substitutions(name)

    name = getter('_name_subs', 'Getter for the name, as substitutions.')

    def _name(self, context) -> Text:
        return perform_substitutions(context, self._name_subs)


class _NameValueAction(_NameAction):
    """An action that gives a named item a value (both may be substitutions)."""

    def __init__(self, name, value, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self._value_subs = normalize_to_list_of_substitutions(value)

    value = getter('_value_subs', 'Getter for the value, as substitutions.')

    def _value(self, context) -> Text:
        return perform_substitutions(context, self._value_subs)


class SetLaunchConfiguration(_NameValueAction):
    """Set a launch configuration (name and value may be substitutions)."""

    def execute(self, context) -> None:
        """Set the configuration."""
        context.launch_configurations[self._name(context)] = self._value(context)


class UnsetLaunchConfiguration(_NameAction):
    """Remove a launch configuration if it is set."""

    def execute(self, context) -> None:
        """Remove the configuration."""
        context.launch_configurations.pop(self._name(context), None)


class _ContextCall(Action):
    """An action that calls one method of the launch context (``_METHOD``)."""

    _METHOD = ''

    def execute(self, context) -> None:
        """Call the context's method."""
        getattr(context, self._METHOD)()


def _context_call(name: str, method: str, doc: str) -> type:
    """Return an action class that calls the launch context's ``method``."""
    return type(name, (_ContextCall,), {'_METHOD': method, '__doc__': doc, '__module__': __name__})


PushLaunchConfigurations = _context_call(
    'PushLaunchConfigurations', '_push_launch_configurations',
    'Save the launch configurations; PopLaunchConfigurations restores them.')
PopLaunchConfigurations = _context_call(
    'PopLaunchConfigurations', '_pop_launch_configurations',
    'Restore the launch configurations saved by the matching PushLaunchConfigurations.')
PushEnvironment = _context_call(
    'PushEnvironment', '_push_environment', 'Save the launch environment; PopEnvironment restores it.')
PopEnvironment = _context_call(
    'PopEnvironment', '_pop_environment', 'Restore the environment saved by the matching PushEnvironment.')
ResetEnvironment = _context_call(
    'ResetEnvironment', '_reset_environment',
    'Reset the launch environment to the environment the launch started with.')


class ResetLaunchConfigurations(Action):
    """Clear all launch configurations, then set the given ones (evaluated before clearing)."""

    _compat_argument_role = 'reset'

    def __init__(self, launch_configurations: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._launch_configurations = _substitution_pairs(launch_configurations or {})

    def execute(self, context) -> None:
        """Reset the configurations."""
        kept = _perform_pairs(context, self._launch_configurations)
        context.launch_configurations.clear()
        context.launch_configurations.update(kept)


class SetEnvironmentVariable(_NameValueAction):
    """Set an environment variable for processes started afterwards."""

    def execute(self, context) -> None:
        """Set the variable in the launch environment."""
        context.environment[self._name(context)] = self._value(context)


class UnsetEnvironmentVariable(_NameAction):
    """Remove an environment variable for processes started afterwards."""

    def execute(self, context) -> None:
        """Remove the variable from the launch environment."""
        context.environment.pop(self._name(context), None)


class AppendEnvironmentVariable(_NameValueAction):
    """Append (or prepend) a value to an environment variable, with a separator."""

    def __init__(self, name, value, *, prepend=False, separator=os.pathsep, **kwargs) -> None:
        super().__init__(name, value, **kwargs)
        self._prepend = prepend
        self._separator = normalize_to_list_of_substitutions(separator)

    def execute(self, context) -> None:
        """Update the variable in the launch environment."""
        name = self._name(context)
        value = self._value(context)
        separator = perform_substitutions(context, self._separator)
        prepend = self._prepend
        if not isinstance(prepend, bool):
            prepend = evaluate_condition_expression(
                context, normalize_to_list_of_substitutions(prepend))
        old = context.environment.get(name, '')
        if old:
            value = value + separator + old if prepend else old + separator + value
        context.environment[name] = value


class LogInfo(Action):
    """Log a message at INFO level under the logger name 'launch.user'."""

    def __init__(self, *, msg, **kwargs) -> None:
        super().__init__(**kwargs)
        self._msg = normalize_to_list_of_substitutions(msg)

    msg = getter('_msg', 'Getter for the message (substitutions).')

    def execute(self, context) -> None:
        """Log the message."""
        text = perform_substitutions(context, self._msg)
        service = context._launch_service
        if service is not None:
            service._log('INFO', 'launch.user', text)
        else:
            print('[INFO] [launch.user]: {}'.format(text), flush=True)


class GroupAction(Action):
    """
    Run actions as a group, optionally under a condition.

    With ``scoped=True`` (default) launch configurations and environment changes made inside do
    not leak out; ``forwarding=False`` starts the group with only ``launch_configurations``.
    """

    def __init__(self, actions: Iterable[Action], *, scoped: bool = True, forwarding: bool = True,
                 launch_configurations: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._actions = list(actions)
        self._scoped = scoped
        self._forwarding = forwarding
        self._launch_configurations = launch_configurations or {}

    def get_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the actions of the group."""
        return self._actions

    def describe_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the actions when the group has no condition."""
        return self._actions if self.condition is None else []

    def describe_conditional_sub_entities(self):
        """Return the actions when the group has a condition."""
        return [('Conditionally included', self._actions)] if self.condition is not None else []

    def execute(self, context) -> List[LaunchDescriptionEntity]:
        """Return the actions wrapped in scope push/pop actions."""
        settings = [SetLaunchConfiguration(k, v) for k, v in self._launch_configurations.items()]
        if not self._scoped:
            return settings + self._actions
        if self._forwarding:
            inner = settings + self._actions
        else:
            inner = [ResetLaunchConfigurations(self._launch_configurations)] + self._actions
        return ([PushLaunchConfigurations(), PushEnvironment()] + inner
                + [PopEnvironment(), PopLaunchConfigurations()])


class OpaqueFunction(Action):
    """Call ``function(context, *args, **kwargs)`` and visit the entities it returns."""

    def __init__(self, *, function, args: Optional[Iterable] = None,
                 kwargs: Optional[Dict] = None, **left_over_kwargs) -> None:
        super().__init__(**left_over_kwargs)
        if not callable(function):
            raise TypeError("OpaqueFunction 'function' must be callable, got {!r}".format(function))
        self._function = function
        self._args = list(args) if args is not None else []
        self._kwargs = dict(kwargs) if kwargs is not None else {}

    function = getter('_function', 'Getter for the function.')

    def describe(self) -> Text:
        """Return a short description."""
        return 'OpaqueFunction({})'.format(getattr(self._function, '__name__', self._function))

    def execute(self, context) -> Optional[List[LaunchDescriptionEntity]]:
        """Call the function."""
        result = self._function(context, *self._args, **self._kwargs)
        if result is None:
            return None
        if isinstance(result, LaunchDescriptionEntity):
            return [result]
        return list(result)


class TimerAction(Action):
    """Visit ``actions`` after ``period`` seconds (cancelled on shutdown by default)."""

    def __init__(self, *, period, actions: Iterable[LaunchDescriptionEntity],
                 cancel_on_shutdown=True, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(period, (int, float)):
            period = str(float(period))
        self._period = normalize_to_list_of_substitutions(period)
        self._actions = list(actions)
        self._cancel_on_shutdown = cancel_on_shutdown

    period = getter('_period', 'Getter for the period, as substitutions.')
    actions = getter('_actions', 'Getter for the actions.')

    def describe_conditional_sub_entities(self):
        """Return the actions, run only if the timer fires."""
        return [('after timer', self._actions)]

    def execute(self, context) -> None:
        """Schedule the actions."""
        period = float(perform_substitutions(context, self._period))
        service = context._launch_service
        if service is None:
            raise RuntimeError('TimerAction needs a running launch service')
        service._add_timer(period, self._actions, bool(self._cancel_on_shutdown))


class EmitEvent(Action):
    """Emit an event; the stand-in supports launch.events.Shutdown only."""

    def __init__(self, *, event, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(event, ShutdownEvent):
            raise unsupported('EmitEvent of {} events (only launch.events.Shutdown)'.format(
                type(event).__name__))
        self._event = event

    event = getter('_event', 'Getter for the event.')

    def execute(self, context) -> None:
        """Emit the event."""
        context.emit_event(self._event)


class Shutdown(EmitEvent):
    """Shut the launch down: every running process gets SIGINT, then SIGTERM, then SIGKILL."""

    def __init__(self, *, reason: Text = 'reason not given', **kwargs) -> None:
        super().__init__(event=ShutdownEvent(reason=reason), **kwargs)


class RegisterEventHandler(Action):
    """Register an event handler (OnProcessStart, OnProcessExit, OnShutdown)."""

    def __init__(self, event_handler, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(event_handler, EventHandler):
            raise TypeError('RegisterEventHandler expects an EventHandler, got {!r}'.format(
                event_handler))
        self._event_handler = event_handler

    event_handler = getter('_event_handler', 'Getter for the event handler.')

    def describe_conditional_sub_entities(self):
        """Return the handler's entities, run only if its event happens."""
        entities = self._event_handler.entities
        return [('event handler', entities)] if entities else []

    def execute(self, context) -> None:
        """Register the handler with the running launch."""
        context.register_event_handler(self._event_handler)


class UnregisterEventHandler(Action):
    """Unregister an event handler registered earlier."""

    def __init__(self, event_handler, **kwargs) -> None:
        super().__init__(**kwargs)
        self._event_handler = event_handler

    def execute(self, context) -> None:
        """Unregister the handler."""
        context.unregister_event_handler(self._event_handler)
