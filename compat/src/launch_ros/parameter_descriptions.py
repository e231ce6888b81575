"""Parameter descriptions of launch_ros: ParameterValue, ParameterFile and Parameter."""

from typing import Optional
from typing import Text

from launch._compat import make_module_getattr
from launch._compat import unsupported
from launch.substitution import Substitution
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions

__all__ = ['Parameter', 'ParameterFile', 'ParameterValue']

__getattr__ = make_module_getattr(__name__)


class ParameterValue:
    """
    A parameter value, optionally with a type.

    With ``value_type=str`` substituted text is kept as a string instead of being read as YAML;
    with another type (bool, int, float, or a List of them) the value is converted to it.
    """

    def __init__(self, value, *, value_type=None) -> None:
        self.__value = value
        self.__value_type = value_type

    @property
    def value(self):
        """Getter for the value."""
        return self.__value

    @property
    def value_type(self):
        """Getter for the type, or None."""
        return self.__value_type

    def evaluate(self, context):
        """Evaluate the value in ``context``."""
        from .utilities import _yaml_value
        from .utilities import evaluate_parameter_value
        value = self.__value
        value_type = self.__value_type
        is_subs = isinstance(value, Substitution) or (
            isinstance(value, (list, tuple)) and value
            and any(isinstance(v, Substitution) for v in value)
            and all(isinstance(v, (str, Substitution)) for v in value))
        if is_subs:
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
        self.__param_file = normalize_to_list_of_substitutions(
            str(param_file) if not isinstance(param_file, (str, Substitution, list, tuple))
            else param_file)

    @property
    def param_file(self):
        """Getter for the path (substitutions)."""
        return self.__param_file

    def evaluate(self, context) -> Text:
        """Return the evaluated path."""
        return perform_substitutions(context, self.__param_file)


class Parameter:
    """A single parameter name and value (used by SetParameter)."""

    def __init__(self, name, value, *, value_type: Optional[type] = None) -> None:
        self.__name = normalize_to_list_of_substitutions(name)
        self.__value = value if value_type is None else ParameterValue(value, value_type=value_type)

    @property
    def name(self):
        """Getter for the name, as substitutions."""
        return self.__name

    @property
    def value(self):
        """Getter for the value."""
        return self.__value

    def evaluate(self, context):
        """Return (name, evaluated value)."""
        from .utilities import evaluate_parameter_value
        name = perform_substitutions(context, self.__name)
        return name, evaluate_parameter_value(context, self.__value, "parameter '{}'".format(name))
