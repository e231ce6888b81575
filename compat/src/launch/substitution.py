"""Base class for substitutions, values that are computed when a launch description runs."""

from typing import Text


class Substitution:
    """A value evaluated in a launch context, always producing text."""

    def describe(self) -> Text:
        """Return a short human readable description of the substitution."""
        return '<{}>'.format(type(self).__name__)

    def perform(self, context) -> Text:
        """Evaluate the substitution in ``context`` and return the resulting text."""
        raise NotImplementedError('{} does not implement perform()'.format(type(self).__name__))

    def __repr__(self) -> Text:
        return self.describe()
