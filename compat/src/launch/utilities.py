"""Utility functions of the launch API: argument checks and substitution helpers."""

from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text
from typing import Tuple

from .substitution import Substitution
from .substitution import SubstitutionFailure
from .substitution import TextSubstitution


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


def _optional_substitutions(subs) -> Optional[List[Substitution]]:
    """Normalize ``subs`` to substitutions, None staying None."""
    return None if subs is None else normalize_to_list_of_substitutions(subs)


def _substitution_pairs(mapping) -> List[Tuple[List[Substitution], List[Substitution]]]:
    """Normalize the keys and values of a dict (or (key, value) pairs) to substitutions."""
    items = mapping.items() if hasattr(mapping, 'items') else mapping
    return [(normalize_to_list_of_substitutions(k), normalize_to_list_of_substitutions(v))
            for k, v in items]


def _perform_pairs(context, pairs) -> Dict[Text, Text]:
    """Evaluate (key, value) substitution pairs (see _substitution_pairs) into a dict."""
    return {perform_substitutions(context, k): perform_substitutions(context, v) for k, v in pairs}


def _describe(subs) -> Text:
    """Describe a list of substitutions the way the real launch does: joined with ' + '."""
    return ' + '.join(s.describe() for s in subs)


def _text_if_constant(subs) -> Optional[Text]:
    """Return the text of substitutions that are all TextSubstitution, else None."""
    if all(isinstance(s, TextSubstitution) for s in subs):
        return ''.join(s.text for s in subs)
    return None


def _to_bool(context, subs, what: Text) -> bool:
    """Evaluate substitutions as 'true'/'1' or 'false'/'0' (SubstitutionFailure otherwise)."""
    text = perform_substitutions(context, subs).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise SubstitutionFailure("{}: invalid boolean '{}', expected true, false, 1 or 0".format(
        what, text))


def is_a(obj, entity_type) -> bool:
    """Return True when ``obj`` is an instance of ``entity_type``."""
    return isinstance(obj, entity_type)


def is_a_subclass(obj, entity_type) -> bool:
    """Return True when ``obj`` is an instance or a subclass of ``entity_type``."""
    if isinstance(obj, type):
        return issubclass(obj, entity_type)
    return isinstance(obj, entity_type)
