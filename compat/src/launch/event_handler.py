"""Base class of event handlers."""

from typing import Callable
from typing import List
from typing import Optional
from typing import Text

from ._compat import getter
from .launch_description_entity import LaunchDescriptionEntity


def _normalize_entities(entities) -> List:
    if entities is None:
        return []
    if isinstance(entities, LaunchDescriptionEntity):
        return [entities]
    return list(entities)


class EventHandler:
    """Reacts to events matched by ``matcher`` with entities, or a callback's entities."""

    def __init__(self, *, matcher: Callable[[object], bool], entities=None,
                 handle_once: bool = False) -> None:
        self._matcher = matcher
        self._entities = _normalize_entities(entities)
        self._handle_once = handle_once

    handle_once = getter(
        '_handle_once', 'Return True when the handler unregisters itself after the first event.')

    entities = getter('_entities', 'Getter for the entities returned when an event is handled.')

    def describe(self) -> Text:
        """Return a short description."""
        return type(self).__name__

    def matches(self, event) -> bool:
        """Return True when the handler reacts to ``event``."""
        return bool(self._matcher(event))

    def handle(self, event, context) -> Optional[List]:
        """Handle ``event``; return the entities to visit."""
        context.extend_locals({'event': event})
        return self._entities or None
