"""
Substitutions of the launch API that are newer than ROS 2 Humble's first releases.

EqualsSubstitution and IfElseSubstitution came with Iron; Humble has them only since launch
1.0.9 (June 2025). launch.substitutions offers them through its module ``__getattr__``, which
refuses them when REPOSE_COMPAT_DISTRO=humble is set.
"""

from typing import Text

from .substitution import Substitution
from .utilities import _to_bool
from .utilities import normalize_to_list_of_substitutions
from .utilities import perform_substitutions


class EqualsSubstitution(Substitution):
    """'true' when both sides evaluate to the same text, else 'false' (Iron and later)."""

    def __init__(self, left, right) -> None:
        self.__left = normalize_to_list_of_substitutions(left if left is not None else '')
        self.__right = normalize_to_list_of_substitutions(right if right is not None else '')

    def perform(self, context) -> Text:
        """Compare the two texts."""
        return str(perform_substitutions(context, self.__left)
                   == perform_substitutions(context, self.__right)).lower()


class IfElseSubstitution(Substitution):
    """``if_value`` when the condition is true, else ``else_value`` (Iron and later)."""

    def __init__(self, condition, if_value='', else_value='') -> None:
        self.__condition = normalize_to_list_of_substitutions(condition)
        self.__if_value = normalize_to_list_of_substitutions(if_value)
        self.__else_value = normalize_to_list_of_substitutions(else_value)

    def perform(self, context) -> Text:
        """Pick one of the values."""
        if _to_bool(context, self.__condition, 'IfElseSubstitution'):
            return perform_substitutions(context, self.__if_value)
        return perform_substitutions(context, self.__else_value)
