"""Utility functions of the launch API: argument checks and substitution helpers."""

from typing import Iterable
from typing import List
from typing import Text

from .substitution import Substitution


def ensure_argument_type(argument, types, argument_name: Text, caller: Text = None) -> None:
    """Raise TypeError when ``argument`` is not an instance of one of ``types``."""
    if not isinstance(types, (list, tuple)):
        types = (types,)
    if isinstance(argument, tuple(types)):
        return
    where = " of '{}'".format(caller) if caller else ''
    raise TypeError("Expected '{}'{} to be one of [{}], got '{}' ({!r})".format(
        argument_name, where, ', '.join(t.__name__ for t in types),
        type(argument).__name__, argument))


def normalize_to_list_of_substitutions(subs) -> List[Substitution]:
    """
    Turn text, a substitution or an iterable of both into a list of substitutions.

    Like the real launch API, anything else (numbers, None, ...) is a TypeError.
    """
    from .substitutions import TextSubstitution

    def normalize(item):
        if isinstance(item, Substitution):
            return item
        if isinstance(item, str):
            return TextSubstitution(text=item)
        raise TypeError(
            "Failed to normalize given item of type '{}' ({!r}): expected str or Substitution"
            .format(type(item).__name__, item))

    if isinstance(subs, (str, Substitution)):
        return [normalize(subs)]
    if isinstance(subs, Iterable):
        return [normalize(item) for item in subs]
    raise TypeError("'{}' ({!r}) is not a valid SomeSubstitutionsType".format(
        type(subs).__name__, subs))


def perform_substitutions(context, subs: List[Substitution]) -> Text:
    """Evaluate each substitution of ``subs`` in ``context`` and concatenate the results."""
    return ''.join(context.perform_substitution(sub) for sub in subs)


def is_a(obj, entity_type) -> bool:
    """Return True when ``obj`` is an instance of ``entity_type``."""
    return isinstance(obj, entity_type)


def is_a_subclass(obj, entity_type) -> bool:
    """Return True when ``obj`` is an instance or a subclass of ``entity_type``."""
    if isinstance(obj, type):
        return issubclass(obj, entity_type)
    return isinstance(obj, entity_type)
