"""Base class for conditions deciding whether an action runs."""

from typing import Callable
from typing import Optional
from typing import Text


class Condition:
    """A predicate over the launch context."""

    def __init__(self, *, predicate: Optional[Callable[..., bool]] = None) -> None:
        self._predicate = predicate

    def describe(self) -> Text:
        """Return a short description of the condition."""
        return '{}()'.format(type(self).__name__)

    def evaluate(self, context) -> bool:
        """Return the value of the predicate in ``context`` (True when there is none)."""
        if self._predicate is None:
            return True
        return bool(self._predicate(context))
