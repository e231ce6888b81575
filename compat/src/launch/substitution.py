"""Base class for substitutions, values that are computed when a launch description runs."""

from typing import Text

from ._compat import getter


class SubstitutionFailure(RuntimeError):
    """Raised when a substitution cannot be evaluated (also launch.substitutions')."""


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


class TextSubstitution(Substitution):
    """Constant text (also launch.substitutions')."""

    def __init__(self, *, text: Text) -> None:
        if not isinstance(text, str):
            raise TypeError("TextSubstitution expects 'text' to be str, got {!r}".format(text))
        self._text = text

    text = getter('_text', 'Getter for the text.')

    def describe(self) -> Text:
        """Return the text quoted."""
        return "'{}'".format(self._text)

    def perform(self, context) -> Text:
        """Return the text."""
        return self._text
