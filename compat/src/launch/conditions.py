"""Conditions of the launch API supported by the stand-in."""

from typing import Optional
from typing import Text

from ._compat import make_module_getattr
from .condition import Condition
from .utilities import normalize_to_list_of_substitutions
from .utilities import perform_substitutions

__all__ = [
    'IfCondition', 'InvalidConditionExpressionError', 'LaunchConfigurationEquals',
    'LaunchConfigurationNotEquals', 'UnlessCondition', 'evaluate_condition_expression',
]

__getattr__ = make_module_getattr(__name__)

_VALID_TRUE = ('true', '1')
_VALID_FALSE = ('false', '0')


class InvalidConditionExpressionError(Exception):
    """Raised when a condition expression is not one of true, false, 1, 0."""

    def __init__(self, expression: Text, expression_text: Text) -> None:
        super().__init__(
            "invalid condition expression '{}' (evaluated to '{}'), expected one of: {}".format(
                expression, expression_text, ', '.join(_VALID_TRUE + _VALID_FALSE)))


def evaluate_condition_expression(context, expression) -> bool:
    """Evaluate substitutions to text and interpret it as a boolean, case-insensitively."""
    text = perform_substitutions(context, expression).strip().lower()
    if text in _VALID_TRUE:
        return True
    if text in _VALID_FALSE:
        return False
    raise InvalidConditionExpressionError(' + '.join(s.describe() for s in expression), text)


class IfCondition(Condition):
    """True when the expression evaluates to 'true' or '1' (case-insensitive)."""

    def __init__(self, predicate_expression) -> None:
        self.__expression = normalize_to_list_of_substitutions(predicate_expression)
        super().__init__(predicate=self._predicate_func)

    def _predicate_func(self, context) -> bool:
        return evaluate_condition_expression(context, self.__expression)

    def describe(self) -> Text:
        """Return a description."""
        return 'IfCondition({})'.format(' + '.join(s.describe() for s in self.__expression))


class UnlessCondition(Condition):
    """True when the expression evaluates to 'false' or '0' (case-insensitive)."""

    def __init__(self, predicate_expression) -> None:
        self.__expression = normalize_to_list_of_substitutions(predicate_expression)
        super().__init__(predicate=self._predicate_func)

    def _predicate_func(self, context) -> bool:
        return not evaluate_condition_expression(context, self.__expression)

    def describe(self) -> Text:
        """Return a description."""
        return 'UnlessCondition({})'.format(' + '.join(s.describe() for s in self.__expression))


class LaunchConfigurationEquals(Condition):
    """True when a launch configuration equals the given text (None: is not set)."""

    def __init__(self, launch_configuration_name: Text, expected_value: Optional[object]) -> None:
        self.__name = launch_configuration_name
        self.__expected = (None if expected_value is None
                           else normalize_to_list_of_substitutions(expected_value))
        super().__init__(predicate=self._predicate_func)

    def _predicate_func(self, context) -> bool:
        value = context.launch_configurations.get(self.__name)
        if self.__expected is None:
            return value is None
        return value == perform_substitutions(context, self.__expected)


class LaunchConfigurationNotEquals(LaunchConfigurationEquals):
    """True when a launch configuration differs from the given text."""

    def _predicate_func(self, context) -> bool:
        return not super()._predicate_func(context)
