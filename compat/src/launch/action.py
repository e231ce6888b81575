"""Base class of launch actions."""

from typing import List
from typing import Optional
from typing import Text

from .condition import Condition
from .launch_description_entity import LaunchDescriptionEntity


class Action(LaunchDescriptionEntity):
    """A launch description entity that does something when executed, optionally conditioned."""

    def __init__(self, *, condition: Optional[Condition] = None) -> None:
        if condition is not None and not isinstance(condition, Condition):
            raise TypeError("'condition' must be a launch.Condition, got {!r}".format(condition))
        self.__condition = condition

    @property
    def condition(self) -> Optional[Condition]:
        """Getter for the condition, or None."""
        return self.__condition

    def describe(self) -> Text:
        """Return a short description of the action."""
        return '{}()'.format(type(self).__name__)

    def get_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the sub-entities of the action (none by default)."""
        return []

    def visit(self, context) -> Optional[List[LaunchDescriptionEntity]]:
        """Execute the action if it has no condition or its condition holds."""
        if self.__condition is None or self.__condition.evaluate(context):
            return self.execute(context)
        return None

    def execute(self, context) -> Optional[List[LaunchDescriptionEntity]]:
        """Do the work of the action; return entities to visit next, or None."""
        return None
