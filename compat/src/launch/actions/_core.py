"""Actions of the launch API other than process execution."""

from collections.abc import Mapping
import os
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text

from .._compat import unsupported
from ..action import Action
from ..launch_description import LaunchDescription
from ..launch_description_entity import LaunchDescriptionEntity
from ..launch_description_source import LaunchDescriptionSource
from ..utilities import normalize_to_list_of_substitutions
from ..utilities import perform_substitutions


def _describe(subs) -> Text:
    return ' + '.join(s.describe() for s in subs)


class DeclareLaunchArgument(Action):
    """
    Declare a launch argument: its name, optional default, description and allowed values.

    When executed, the argument's launch configuration is set from the default unless it was
    given (on the command line or by an including launch file); a required argument that was
    not given is an error, as is a value outside ``choices``.
    """

    def __init__(self, name: Text, *, default_value=None, description: Optional[Text] = None,
                 choices: Optional[Iterable[Text]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(name, str):
            raise TypeError("DeclareLaunchArgument 'name' must be str, got {!r}".format(name))
        self.__name = name
        self.__default_value = (None if default_value is None
                                else normalize_to_list_of_substitutions(default_value))
        self.__choices = None
        if choices is not None:
            self.__choices = list(choices)
            if not self.__choices or not all(isinstance(c, str) for c in self.__choices):
                raise TypeError("'choices' of argument '{}' must be a non-empty list of str"
                                .format(name))
            from ..substitutions import TextSubstitution
            if self.__default_value is not None and all(
                    isinstance(s, TextSubstitution) for s in self.__default_value):
                default_text = ''.join(s.text for s in self.__default_value)
                if default_text not in self.__choices:
                    raise RuntimeError(
                        "Provided default_value '{}' is not any of the provided choices: {}"
                        .format(default_text, ', '.join(self.__choices)))
        if description is None:
            description = ('One of: ' + str(self.__choices) if self.__choices is not None
                           else 'no description given')
        elif self.__choices is not None:
            description = description + ' Valid choices are: ' + str(self.__choices)
        self.__description = description
        self._conditionally_included = False

    @property
    def name(self) -> Text:
        """Getter for the name."""
        return self.__name

    @property
    def default_value(self):
        """Getter for the default value (list of substitutions) or None when required."""
        return self.__default_value

    @property
    def description(self) -> Text:
        """Getter for the description."""
        return self.__description

    @property
    def choices(self) -> Optional[List[Text]]:
        """Getter for the allowed values, or None."""
        return self.__choices

    def describe(self) -> Text:
        """Return a short description."""
        return "DeclareLaunchArgument('{}')".format(self.__name)

    def execute(self, context) -> None:
        """Set the launch configuration from the default when it was not given; check it."""
        if self.__name not in context.launch_configurations:
            if self.__default_value is None:
                raise RuntimeError(
                    "Required launch argument '{}' (description: '{}') was not provided".format(
                        self.__name, self.__description))
            context.launch_configurations[self.__name] = perform_substitutions(
                context, self.__default_value)
        value = context.launch_configurations[self.__name]
        if self.__choices is not None and value not in self.__choices:
            raise RuntimeError("Argument '{}' provided value '{}' is not valid. Valid options are: {}"
                               .format(self.__name, value, ', '.join(self.__choices)))
        return None


class _NameAction(Action):
    """An action on one named item (a launch configuration, an environment variable)."""

    def __init__(self, name, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__name = normalize_to_list_of_substitutions(name)

    @property
    def name(self):
        """Getter for the name, as substitutions."""
        return self.__name

    def _name(self, context) -> Text:
        return perform_substitutions(context, self.__name)


class _NameValueAction(_NameAction):
    """An action that gives a named item a value (both may be substitutions)."""

    def __init__(self, name, value, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.__value = normalize_to_list_of_substitutions(value)

    @property
    def value(self):
        """Getter for the value, as substitutions."""
        return self.__value

    def _value(self, context) -> Text:
        return perform_substitutions(context, self.__value)


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


class PushLaunchConfigurations(Action):
    """Save the launch configurations; PopLaunchConfigurations restores them."""

    def execute(self, context) -> None:
        """Save the configurations."""
        context._push_launch_configurations()


class PopLaunchConfigurations(Action):
    """Restore the launch configurations saved by the matching PushLaunchConfigurations."""

    def execute(self, context) -> None:
        """Restore the configurations."""
        context._pop_launch_configurations()


class PushEnvironment(Action):
    """Save the launch environment; PopEnvironment restores it."""

    def execute(self, context) -> None:
        """Save the environment."""
        context._push_environment()


class PopEnvironment(Action):
    """Restore the environment saved by the matching PushEnvironment."""

    def execute(self, context) -> None:
        """Restore the environment."""
        context._pop_environment()


class ResetEnvironment(Action):
    """Reset the launch environment to the environment the launch started with."""

    def execute(self, context) -> None:
        """Reset the environment."""
        context._reset_environment()


class ResetLaunchConfigurations(Action):
    """Clear all launch configurations, then set the given ones (evaluated before clearing)."""

    def __init__(self, launch_configurations: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__launch_configurations = [
            (normalize_to_list_of_substitutions(k), normalize_to_list_of_substitutions(v))
            for k, v in (launch_configurations or {}).items()]

    def execute(self, context) -> None:
        """Reset the configurations."""
        kept = {perform_substitutions(context, k): perform_substitutions(context, v)
                for k, v in self.__launch_configurations}
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
        self.__prepend = prepend
        self.__separator = normalize_to_list_of_substitutions(separator)

    def execute(self, context) -> None:
        """Update the variable in the launch environment."""
        name = self._name(context)
        value = self._value(context)
        separator = perform_substitutions(context, self.__separator)
        prepend = self.__prepend
        if not isinstance(prepend, bool):
            from ..conditions import evaluate_condition_expression
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
        self.__msg = normalize_to_list_of_substitutions(msg)

    @property
    def msg(self):
        """Getter for the message (substitutions)."""
        return self.__msg

    def execute(self, context) -> None:
        """Log the message."""
        text = perform_substitutions(context, self.__msg)
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
        self.__actions = list(actions)
        self.__scoped = scoped
        self.__forwarding = forwarding
        self.__launch_configurations = launch_configurations or {}

    def get_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the actions of the group."""
        return self.__actions

    def describe_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the actions when the group has no condition."""
        return self.__actions if self.condition is None else []

    def describe_conditional_sub_entities(self):
        """Return the actions when the group has a condition."""
        return [('Conditionally included', self.__actions)] if self.condition is not None else []

    def execute(self, context) -> List[LaunchDescriptionEntity]:
        """Return the actions wrapped in scope push/pop actions."""
        settings = [SetLaunchConfiguration(k, v) for k, v in self.__launch_configurations.items()]
        if not self.__scoped:
            return settings + self.__actions
        if self.__forwarding:
            inner = settings + self.__actions
        else:
            inner = [ResetLaunchConfigurations(self.__launch_configurations)] + self.__actions
        return ([PushLaunchConfigurations(), PushEnvironment()] + inner
                + [PopEnvironment(), PopLaunchConfigurations()])


class OpaqueFunction(Action):
    """Call ``function(context, *args, **kwargs)`` and visit the entities it returns."""

    def __init__(self, *, function, args: Optional[Iterable] = None,
                 kwargs: Optional[Dict] = None, **left_over_kwargs) -> None:
        super().__init__(**left_over_kwargs)
        if not callable(function):
            raise TypeError("OpaqueFunction 'function' must be callable, got {!r}".format(function))
        self.__function = function
        self.__args = list(args) if args is not None else []
        self.__kwargs = dict(kwargs) if kwargs is not None else {}

    @property
    def function(self):
        """Getter for the function."""
        return self.__function

    def describe(self) -> Text:
        """Return a short description."""
        return 'OpaqueFunction({})'.format(getattr(self.__function, '__name__', self.__function))

    def execute(self, context) -> Optional[List[LaunchDescriptionEntity]]:
        """Call the function."""
        result = self.__function(context, *self.__args, **self.__kwargs)
        if result is None:
            return None
        if isinstance(result, LaunchDescriptionEntity):
            return [result]
        return list(result)


class IncludeLaunchDescription(Action):
    """
    Include another launch description, passing launch arguments to it.

    ``launch_description_source`` is a LaunchDescriptionSource (e.g.
    PythonLaunchDescriptionSource), a LaunchDescription, or a path to a Python launch file.
    ``launch_arguments`` is an iterable of (name, value) pairs, e.g. ``{...}.items()``; a plain
    dict is refused when the include is executed (ValueError), as the real launch refuses it
    (it iterates the dict's keys and fails to unpack them into pairs). As in the real launch,
    the arguments are set as launch configurations without scoping: wrap the include in a
    GroupAction to scope them.
    """

    def __init__(self, launch_description_source, *, launch_arguments=None, **kwargs) -> None:
        super().__init__(**kwargs)
        from ..launch_description_sources import AnyLaunchDescriptionSource
        from ..substitution import Substitution
        if isinstance(launch_description_source, LaunchDescription):
            launch_description_source = LaunchDescriptionSource(launch_description_source)
        elif isinstance(launch_description_source, (str, Substitution, list, tuple)):
            launch_description_source = AnyLaunchDescriptionSource(launch_description_source)
        if not isinstance(launch_description_source, LaunchDescriptionSource):
            raise TypeError('IncludeLaunchDescription expects a LaunchDescriptionSource, got {!r}'
                            .format(launch_description_source))
        self.__source = launch_description_source
        self.__arguments_are_a_dict = isinstance(launch_arguments, Mapping)
        self.__launch_arguments = () if launch_arguments is None else tuple(launch_arguments)

    @property
    def launch_description_source(self) -> LaunchDescriptionSource:
        """Getter for the source."""
        return self.__source

    @property
    def launch_arguments(self):
        """Getter for the launch arguments as given (a tuple of (name, value) pairs)."""
        return self.__launch_arguments

    def _argument_pairs(self):
        if self.__arguments_are_a_dict:
            raise ValueError(
                'IncludeLaunchDescription: launch_arguments must be (name, value) pairs, e.g. '
                '{...}.items(), not a dict (the real launch fails on it: too many values to '
                'unpack (expected 2))')
        pairs = []
        for item in self.__launch_arguments:
            name, value = item
            pairs.append((normalize_to_list_of_substitutions(name),
                          normalize_to_list_of_substitutions(value)))
        return pairs

    def describe(self) -> Text:
        """Return a short description."""
        return 'IncludeLaunchDescription'

    def describe_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the included description when it can be loaded without a context."""
        description = self.__source.try_get_launch_description_without_context()
        return [description] if description is not None else []

    def _try_get_arguments_names_without_context(self) -> List[Text]:
        from ..substitutions import TextSubstitution
        try:
            pairs = self._argument_pairs()
        except (TypeError, ValueError):
            return []
        return [''.join(s.text for s in name) for name, _ in pairs
                if all(isinstance(s, TextSubstitution) for s in name)]

    def execute(self, context) -> List[LaunchDescriptionEntity]:
        """Load the description, check its required arguments and return it to be visited."""
        description = self.__source.get_launch_description(context)
        location = self.__source.location
        if os.path.exists(location):
            location = os.path.abspath(location)
            context.extend_locals({'current_launch_file_path': location,
                                   'current_launch_file_directory': os.path.dirname(location)})
        pairs = self._argument_pairs()
        given = [perform_substitutions(context, name) for name, _ in pairs]
        for argument, includes in \
                description.get_launch_arguments_with_include_launch_description_actions():
            if argument._conditionally_included or argument.default_value is not None:
                continue
            names = list(given)
            for include in includes or []:
                names.extend(include._try_get_arguments_names_without_context())
            if argument.name not in names and argument.name not in context.launch_configurations:
                raise RuntimeError(
                    "Included launch description missing required argument '{}' "
                    "(description: '{}'), given: [{}]".format(
                        argument.name, argument.description,
                        ', '.join(sorted(set(names) | set(context.launch_configurations)))))
        settings = [SetLaunchConfiguration(name, value) for name, value in pairs]
        return settings + [description]


class TimerAction(Action):
    """Visit ``actions`` after ``period`` seconds (cancelled on shutdown by default)."""

    def __init__(self, *, period, actions: Iterable[LaunchDescriptionEntity],
                 cancel_on_shutdown=True, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(period, (int, float)):
            period = str(float(period))
        self.__period = normalize_to_list_of_substitutions(period)
        self.__actions = list(actions)
        self.__cancel_on_shutdown = cancel_on_shutdown

    @property
    def period(self):
        """Getter for the period, as substitutions."""
        return self.__period

    @property
    def actions(self) -> List[LaunchDescriptionEntity]:
        """Getter for the actions."""
        return self.__actions

    def describe_conditional_sub_entities(self):
        """Return the actions, run only if the timer fires."""
        return [('after timer', self.__actions)]

    def execute(self, context) -> None:
        """Schedule the actions."""
        period = float(perform_substitutions(context, self.__period))
        service = context._launch_service
        if service is None:
            raise RuntimeError('TimerAction needs a running launch service')
        service._add_timer(period, self.__actions, bool(self.__cancel_on_shutdown))


class EmitEvent(Action):
    """Emit an event; the stand-in supports launch.events.Shutdown only."""

    def __init__(self, *, event, **kwargs) -> None:
        super().__init__(**kwargs)
        from ..events import Shutdown as ShutdownEvent
        if not isinstance(event, ShutdownEvent):
            raise unsupported('EmitEvent of {} events (only launch.events.Shutdown)'.format(
                type(event).__name__))
        self.__event = event

    @property
    def event(self):
        """Getter for the event."""
        return self.__event

    def execute(self, context) -> None:
        """Emit the event."""
        context.emit_event(self.__event)


class Shutdown(EmitEvent):
    """Shut the launch down: every running process gets SIGINT, then SIGTERM, then SIGKILL."""

    def __init__(self, *, reason: Text = 'reason not given', **kwargs) -> None:
        from ..events import Shutdown as ShutdownEvent
        super().__init__(event=ShutdownEvent(reason=reason), **kwargs)


class RegisterEventHandler(Action):
    """Register an event handler (OnProcessStart, OnProcessExit, OnShutdown)."""

    def __init__(self, event_handler, **kwargs) -> None:
        super().__init__(**kwargs)
        from ..event_handler import EventHandler
        if not isinstance(event_handler, EventHandler):
            raise TypeError('RegisterEventHandler expects an EventHandler, got {!r}'.format(
                event_handler))
        self.__event_handler = event_handler

    @property
    def event_handler(self):
        """Getter for the event handler."""
        return self.__event_handler

    def describe_conditional_sub_entities(self):
        """Return the handler's entities, run only if its event happens."""
        entities = self.__event_handler.entities
        return [('event handler', entities)] if entities else []

    def execute(self, context) -> None:
        """Register the handler with the running launch."""
        context.register_event_handler(self.__event_handler)


class UnregisterEventHandler(Action):
    """Unregister an event handler registered earlier."""

    def __init__(self, event_handler, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__event_handler = event_handler

    def execute(self, context) -> None:
        """Unregister the handler."""
        context.unregister_event_handler(self.__event_handler)
