"""Base class of everything a launch description can hold."""

from typing import List
from typing import Optional
from typing import Text
from typing import Tuple


class LaunchDescriptionEntity:
    """An entity of a launch description: visiting it may return further entities."""

    def describe(self) -> Text:
        """Return a short description of the entity."""
        return '{}()'.format(type(self).__name__)

    def describe_sub_entities(self) -> List['LaunchDescriptionEntity']:
        """Return the entities this entity always yields (used to list launch arguments)."""
        return []

    def describe_conditional_sub_entities(
            self) -> List[Tuple[Text, List['LaunchDescriptionEntity']]]:
        """Return (reason, entities) pairs for entities yielded only under some condition."""
        return []

    def visit(self, context) -> Optional[List['LaunchDescriptionEntity']]:
        """Visit the entity in ``context``; return entities to visit next, or None."""
        return None

    def get_asyncio_future(self):
        """Return None: the stand-in runs no asyncio loop."""
        return None
