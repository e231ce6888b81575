"""launch_ros actions that change settings for the nodes launched after them."""

from typing import Text

from launch._compat import getter
from launch.action import Action
from launch.substitutions import SubstitutionFailure
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions

from ..parameter_descriptions import Parameter
from ..utilities import prefix_namespace


def _append_setting(context, name: Text, item) -> None:
    """Append to the list a launch configuration holds (a new list: scopes keep the old one)."""
    context.launch_configurations[name] = list(
        context.launch_configurations.get(name, None) or []) + [item]


class PushRosNamespace(Action):
    """
    Push a namespace: relative node namespaces of later nodes in the scope are prefixed.

    ``launch_ros.actions.PushROSNamespace`` is the same class under its Iron-and-later name
    (refused when REPOSE_COMPAT_DISTRO=humble: Humble has only PushRosNamespace).
    """

    def __init__(self, namespace, **kwargs) -> None:
        super().__init__(**kwargs)
        self._namespace = normalize_to_list_of_substitutions(namespace)

    namespace = getter('_namespace', 'Getter for the namespace, as substitutions.')

    def execute(self, context) -> None:
        """Set the 'ros_namespace' launch configuration."""
        from rclpy.validate_namespace import validate_namespace
        pushed = perform_substitutions(context, self._namespace)
        previous = context.launch_configurations.get('ros_namespace', None)
        namespace = prefix_namespace(previous, pushed)
        try:
            validate_namespace(namespace)
        except Exception:
            raise SubstitutionFailure(
                'The resulting namespace is invalid: [previous_namespace="{}", '
                'pushed_namespace="{}"]'.format(previous, pushed)) from None
        context.launch_configurations['ros_namespace'] = namespace


class SetParameter(Action):
    """Set a parameter (``-p name:=value``) for every node launched after it in the scope."""

    def __init__(self, name, value, **kwargs) -> None:
        super().__init__(**kwargs)
        self._parameter = Parameter(name, value)

    def execute(self, context) -> None:
        """Append to the 'global_params' launch configuration."""
        _append_setting(context, 'global_params', self._parameter.evaluate(context))


class SetUseSimTime(SetParameter):
    """Set the use_sim_time parameter for every node launched after it in the scope."""

    def __init__(self, value, **kwargs) -> None:
        super().__init__('use_sim_time', value, **kwargs)


class SetParametersFromFile(Action):
    """Pass a parameter file to every node launched after it in the scope."""

    def __init__(self, filename, **kwargs) -> None:
        super().__init__(**kwargs)
        self._filename = normalize_to_list_of_substitutions(filename)

    def execute(self, context) -> None:
        """Append to the 'global_params' launch configuration."""
        _append_setting(context, 'global_params', perform_substitutions(context, self._filename))


class SetRemap(Action):
    """Add a remapping rule for every node launched after it in the scope."""

    def __init__(self, src, dst, **kwargs) -> None:
        super().__init__(**kwargs)
        self._src = normalize_to_list_of_substitutions(src)
        self._dst = normalize_to_list_of_substitutions(dst)

    def describe(self) -> Text:
        """Return a short description."""
        return 'SetRemap'

    def execute(self, context) -> None:
        """Append to the 'ros_remaps' launch configuration."""
        _append_setting(context, 'ros_remaps', (perform_substitutions(context, self._src),
                                                perform_substitutions(context, self._dst)))
