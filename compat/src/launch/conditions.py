"""Conditions of the launch API supported by the stand-in."""

from typing import Optional
from typing import Text

from ._compat import make_module_getattr
from .condition import Condition
from .utilities import _describe
from .utilities import _optional_substitutions
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
    raise InvalidConditionExpressionError(_describe(expression), text)


class _ExpressionCondition(Condition):
    """A condition on one boolean expression (``_NEGATE``: true when it is false)."""

    _NEGATE = False

    def __init__(self, predicate_expression) -> None:
        self._expression = normalize_to_list_of_substitutions(predicate_expression)
        super().__init__(predicate=self._predicate_func)

    def _predicate_func(self, context) -> bool:
        return evaluate_condition_expression(context, self._expression) != self._NEGATE

    def describe(self) -> Text:
        """Return a description."""
        return '{}({})'.format(type(self).__name__, _describe(self._expression))


class IfCondition(_ExpressionCondition):
    """True when the expression evaluates to 'true' or '1' (case-insensitive)."""


class UnlessCondition(_ExpressionCondition):
    """True when the expression evaluates to 'false' or '0' (case-insensitive)."""

    _NEGATE = True


class LaunchConfigurationEquals(Condition):
    """True when a launch configuration equals the given text (None: is not set)."""

    def __init__(self, launch_configuration_name: Text, expected_value: Optional[object]) -> None:
        self._name = launch_configuration_name
        self._expected = _optional_substitutions(expected_value)
        super().__init__(predicate=self._predicate_func)

    def _predicate_func(self, context) -> bool:
        value = context.launch_configurations.get(self._name)
        if self._expected is None:
            return value is None
        return value == perform_substitutions(context, self._expected)


class LaunchConfigurationNotEquals(LaunchConfigurationEquals):
    """True when a launch configuration differs from the given text."""

    def _predicate_func(self, context) -> bool:
        return not super()._predicate_func(context)
