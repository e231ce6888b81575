"""Launch arguments and included launch descriptions: DeclareLaunchArgument, IncludeLaunchDescription."""

from collections.abc import Mapping
import os
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text

from .._compat import getter
from ..action import Action
from ..launch_description import LaunchDescription
from ..launch_description_entity import LaunchDescriptionEntity
from ..launch_description_source import LaunchDescriptionSource
from ..launch_description_sources import AnyLaunchDescriptionSource
from ..substitution import Substitution
from ..utilities import _optional_substitutions
from ..utilities import _substitution_pairs
from ..utilities import _text_if_constant
from ..utilities import perform_substitutions
from ._core import SetLaunchConfiguration


class DeclareLaunchArgument(Action):
    """
    Declare a launch argument: its name, optional default, description and allowed values.

    When executed, the argument's launch configuration is set from the default unless it was
    given (on the command line or by an including launch file); a required argument that was
    not given is an error, as is a value outside ``choices``.
    """

    _compat_argument_role = 'declare'

    def __init__(self, name: Text, *, default_value=None, description: Optional[Text] = None,
                 choices: Optional[Iterable[Text]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(name, str):
            raise TypeError("DeclareLaunchArgument 'name' must be str, got {!r}".format(name))
        self._name = name
        self._default_value = _optional_substitutions(default_value)
        self._choices = None if choices is None else list(choices)
        if self._choices is not None:
            if not self._choices or not all(isinstance(c, str) for c in self._choices):
                raise TypeError("'choices' of argument '{}' must be a non-empty list of str"
                                .format(name))
            default_text = (None if self._default_value is None
                            else _text_if_constant(self._default_value))
            if default_text is not None and default_text not in self._choices:
                raise RuntimeError(
                    "Provided default_value '{}' is not any of the provided choices: {}"
                    .format(default_text, ', '.join(self._choices)))
        if description is None:
            description = ('One of: ' + str(self._choices) if self._choices is not None
                           else 'no description given')
        elif self._choices is not None:
            description = description + ' Valid choices are: ' + str(self._choices)
        self._description = description
        self._conditionally_included = False

    name = getter('_name', 'Getter for the name.')
    default_value = getter('_default_value',
                           'Getter for the default value (list of substitutions) or None when required.')
    description = getter('_description', 'Getter for the description.')
    choices = getter('_choices', 'Getter for the allowed values, or None.')

    def describe(self) -> Text:
        """Return a short description."""
        return "DeclareLaunchArgument('{}')".format(self._name)

    def execute(self, context) -> None:
        """Set the launch configuration from the default when it was not given; check it."""
        if self._name not in context.launch_configurations:
            if self._default_value is None:
                raise RuntimeError(
                    "Required launch argument '{}' (description: '{}') was not provided".format(
                        self._name, self._description))
            context.launch_configurations[self._name] = perform_substitutions(
                context, self._default_value)
        value = context.launch_configurations[self._name]
        if self._choices is not None and value not in self._choices:
            raise RuntimeError("Argument '{}' provided value '{}' is not valid. Valid options are: {}"
                               .format(self._name, value, ', '.join(self._choices)))
        return None


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

    _compat_argument_role = 'include'

    def __init__(self, launch_description_source, *, launch_arguments=None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(launch_description_source, LaunchDescription):
            launch_description_source = LaunchDescriptionSource(launch_description_source)
        elif isinstance(launch_description_source, (str, Substitution, list, tuple)):
            launch_description_source = AnyLaunchDescriptionSource(launch_description_source)
        if not isinstance(launch_description_source, LaunchDescriptionSource):
            raise TypeError('IncludeLaunchDescription expects a LaunchDescriptionSource, got {!r}'
                            .format(launch_description_source))
        self._source = launch_description_source
        self._arguments_are_a_dict = isinstance(launch_arguments, Mapping)
        self._launch_arguments = () if launch_arguments is None else tuple(launch_arguments)

    launch_description_source = getter('_source', 'Getter for the source.')
    launch_arguments = getter(
        '_launch_arguments', 'Getter for the launch arguments as given (a tuple of (name, value) pairs).')

    def _argument_pairs(self):
        if self._arguments_are_a_dict:
            raise ValueError(
                'IncludeLaunchDescription: launch_arguments must be (name, value) pairs, e.g. '
                '{...}.items(), not a dict (the real launch fails on it: too many values to '
                'unpack (expected 2))')
        return _substitution_pairs(self._launch_arguments)

    def describe(self) -> Text:
        """Return a short description."""
        return 'IncludeLaunchDescription'

    def describe_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the included description when it can be loaded without a context."""
        description = self._source.try_get_launch_description_without_context()
        return [description] if description is not None else []

    def _try_get_arguments_names_without_context(self) -> List[Text]:
        try:
            pairs = self._argument_pairs()
        except (TypeError, ValueError):
            return []
        names = [_text_if_constant(name) for name, _ in pairs]
        return [name for name in names if name is not None]

    def _check_required_arguments(self, context, description, given: List[Text]) -> None:
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

    def execute(self, context) -> List[LaunchDescriptionEntity]:
        """Load the description, check its required arguments and return it to be visited."""
        description = self._source.get_launch_description(context)
        location = self._source.location
        if os.path.exists(location):
            location = os.path.abspath(location)
            context.extend_locals({'current_launch_file_path': location,
                                   'current_launch_file_directory': os.path.dirname(location)})
        pairs = self._argument_pairs()
        self._check_required_arguments(
            context, description, [perform_substitutions(context, name) for name, _ in pairs])
        settings = [SetLaunchConfiguration(name, value) for name, value in pairs]
        return settings + [description]
