"""Parameter descriptions of launch_ros (ParameterValue, ParameterFile, Parameter) and how values evaluate."""

from typing import List
from typing import Optional
from typing import Text

from launch._compat import getter
from launch._compat import make_module_getattr
from launch._compat import unsupported
from launch.substitution import Substitution
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions
import yaml

__all__ = ['Parameter', 'ParameterFile', 'ParameterValue']

__getattr__ = make_module_getattr(__name__)


def _is_substitutions(value) -> bool:
    if isinstance(value, Substitution):
        return True
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, (str, Substitution)) for v in value)
            and any(isinstance(v, Substitution) for v in value))


def _uniform_list(values: List, what: Text) -> List:
    if not values:
        # launch_ros (evaluate_parameter_dict) refuses an empty list: it has no element type.
        raise TypeError('{}: expected a non-empty sequence, with items of uniform type. Allowed '
                        'sequence item types are bool, int, float, str.'.format(what))
    first = type(values[0])
    if first not in (bool, int, float, str):
        raise TypeError('{}: list items must be bool, int, float or str, got {!r}'.format(
            what, values))
    if first in (int, float) and all(type(v) in (int, float) for v in values):
        if any(type(v) is float for v in values):
            return [float(v) for v in values]
        return values
    if not all(type(v) is first for v in values):
        raise TypeError('{}: expected a list of uniform type, got {!r}'.format(what, values))
    return values


def _yaml_value(text: Text, what: Text):
    value = yaml.safe_load(text) if text != '' else ''
    if value is None:
        return text
    if type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, list):
        return _uniform_list(value, what)
    raise TypeError("{}: value '{}' is not a bool, int, float, str or uniform list".format(
        what, text))


def evaluate_parameter_value(context, value, what: Text = 'parameter'):
    """
    Evaluate one parameter value as launch_ros does.

    Plain bool, int, float, str and bytes stay as they are; substitutions are performed and the
    text is read as YAML ('5' is an int, 'true' a bool); lists become uniform lists;
    ParameterValue follows its ``value_type``. An empty list, or text that reads as one
    ('[]'), is a TypeError, as in launch_ros.
    """
    if isinstance(value, ParameterValue):
        return value.evaluate(context)
    if isinstance(value, (bool, int, float, str, bytes)):
        return value
    if _is_substitutions(value):
        return _yaml_value(perform_substitutions(context, normalize_to_list_of_substitutions(value)),
                           what)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, Substitution) or (
                    isinstance(item, (list, tuple)) and _is_substitutions(item)):
                items.append(_yaml_value(perform_substitutions(
                    context, normalize_to_list_of_substitutions(item)), what))
            elif isinstance(item, (bool, int, float, str)):
                items.append(item)
            else:
                raise TypeError('{}: unsupported list item {!r}'.format(what, item))
        return _uniform_list(items, what)
    raise TypeError('{}: unsupported parameter value {!r}'.format(what, value))


class ParameterValue:
    """
    A parameter value, optionally with a type.

    With ``value_type=str`` substituted text is kept as a string instead of being read as YAML;
    with another type (bool, int, float, or a List of them) the value is converted to it.
    """

    def __init__(self, value, *, value_type=None) -> None:
        self._value = value
        self._value_type = value_type

    value = getter('_value', 'Getter for the value.')
    value_type = getter('_value_type', 'Getter for the type, or None.')

    def evaluate(self, context):
        """Evaluate the value in ``context``."""
        value = self._value
        value_type = self._value_type
        if _is_substitutions(value):
            text = perform_substitutions(context, normalize_to_list_of_substitutions(value))
            if value_type is str:
                return text
            evaluated = _yaml_value(text, 'ParameterValue')
        else:
            evaluated = evaluate_parameter_value(context, value, 'ParameterValue')
        if value_type is None:
            return evaluated
        if value_type in (bool, int, float, str):
            if value_type is float and isinstance(evaluated, int) and not isinstance(evaluated, bool):
                return float(evaluated)
            if not isinstance(evaluated, value_type) or (
                    value_type is int and isinstance(evaluated, bool)):
                raise TypeError('ParameterValue {!r} is not of type {}'.format(
                    evaluated, value_type.__name__))
            return evaluated
        item_type = getattr(value_type, '__args__', (None,))[0]
        if item_type in (bool, int, float, str) and isinstance(evaluated, list):
            if item_type is float:
                return [float(v) for v in evaluated]
            return evaluated
        raise unsupported('ParameterValue(value_type={!r})'.format(value_type))


class ParameterFile:
    """A parameter file path (may be substitutions); ``allow_substs`` is not supported."""

    def __init__(self, param_file, *, allow_substs=False) -> None:
        if allow_substs is not False:
            raise unsupported('ParameterFile(allow_substs=True)')
        self._param_file = normalize_to_list_of_substitutions(
            str(param_file) if not isinstance(param_file, (str, Substitution, list, tuple))
            else param_file)

    param_file = getter('_param_file', 'Getter for the path (substitutions).')

    def evaluate(self, context) -> Text:
        """Return the evaluated path."""
        return perform_substitutions(context, self._param_file)


class Parameter:
    """A single parameter name and value (used by SetParameter)."""

    def __init__(self, name, value, *, value_type: Optional[type] = None) -> None:
        self._name = normalize_to_list_of_substitutions(name)
        self._value = value if value_type is None else ParameterValue(value, value_type=value_type)

    name = getter('_name', 'Getter for the name, as substitutions.')
    value = getter('_value', 'Getter for the value.')

    def evaluate(self, context):
        """Return (name, evaluated value)."""
        name = perform_substitutions(context, self._name)
        return name, evaluate_parameter_value(context, self._value, "parameter '{}'".format(name))
