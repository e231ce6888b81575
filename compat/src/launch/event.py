"""Base class of launch events."""

from typing import Text


class Event:
    """Something that happened during a launch and that event handlers may react to."""

    name = 'launch.event.Event'

    def describe(self) -> Text:
        """Return a short description."""
        return type(self).__name__
