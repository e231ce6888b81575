"""Helpers of launch_ros: namespaces, remapping rules and node parameters."""

from collections.abc import Mapping
import pathlib
from typing import Dict
from typing import List
from typing import Optional
from typing import Text
from typing import Tuple
from typing import Union

from launch.substitution import Substitution
from launch.utilities import normalize_to_list_of_substitutions
from launch.utilities import perform_substitutions
import yaml


def is_namespace_absolute(ns: Text) -> bool:
    """Return True when ``ns`` starts with '/'."""
    return ns.startswith('/')


def make_namespace_absolute(ns: Optional[Text]) -> Optional[Text]:
    """Prefix a relative namespace with '/' (None stays None)."""
    if ns is None:
        return None
    return ns if is_namespace_absolute(ns) else '/' + ns


def prefix_namespace(base_ns: Optional[Text], ns: Optional[Text]) -> Optional[Text]:
    """
    Combine a base namespace and a namespace the way launch_ros does.

    None when both are None; ``base_ns`` when ``ns`` is None; ``ns`` when it is absolute or
    there is no base; otherwise ``base_ns/ns``. The result is absolute, without trailing '/'.
    """
    if base_ns is None and ns is None:
        return None
    if ns is None:
        combined = base_ns
    elif not base_ns or is_namespace_absolute(ns):
        combined = ns
    else:
        combined = ('' if base_ns == '/' else base_ns) + '/' + ns
    if combined != '/':
        combined = combined.rstrip('/')
    return make_namespace_absolute(combined)


def normalize_remap_rules(remappings) -> List[Tuple[List[Substitution], List[Substitution]]]:
    """Check remapping rules are (from, to) pairs and normalize both sides to substitutions."""
    rules = []
    for rule in remappings:
        if not isinstance(rule, (tuple, list)) or len(rule) != 2:
            raise TypeError('remapping rules must be (from, to) pairs, got {!r}'.format(rule))
        rules.append((normalize_to_list_of_substitutions(rule[0]),
                      normalize_to_list_of_substitutions(rule[1])))
    return rules


def _is_substitutions(value) -> bool:
    if isinstance(value, Substitution):
        return True
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, (str, Substitution)) for v in value)
            and any(isinstance(v, Substitution) for v in value))


def _uniform_list(values: List, what: Text) -> List:
    if not values:
        # launch_ros (evaluate_parameter_dict) refuses an empty list: it has no element type.
        raise TypeError('{}: expected a non-empty sequence, with items of uniform type. Allowed '
                        'sequence item types are bool, int, float, str.'.format(what))
    first = type(values[0])
    if first not in (bool, int, float, str):
        raise TypeError('{}: list items must be bool, int, float or str, got {!r}'.format(
            what, values))
    if first in (int, float) and all(type(v) in (int, float) for v in values):
        if any(type(v) is float for v in values):
            return [float(v) for v in values]
        return values
    if not all(type(v) is first for v in values):
        raise TypeError('{}: expected a list of uniform type, got {!r}'.format(what, values))
    return values


def _yaml_value(text: Text, what: Text):
    value = yaml.safe_load(text) if text != '' else ''
    if value is None:
        return text
    if type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, list):
        return _uniform_list(value, what)
    raise TypeError("{}: value '{}' is not a bool, int, float, str or uniform list".format(
        what, text))


def evaluate_parameter_value(context, value, what: Text = 'parameter'):
    """
    Evaluate one parameter value as launch_ros does.

    Plain bool, int, float, str and bytes stay as they are; substitutions are performed and the
    text is read as YAML ('5' is an int, 'true' a bool); lists become uniform lists;
    ParameterValue follows its ``value_type``. An empty list, or text that reads as one
    ('[]'), is a TypeError, as in launch_ros.
    """
    from .parameter_descriptions import ParameterValue
    if isinstance(value, ParameterValue):
        return value.evaluate(context)
    if isinstance(value, (bool, int, float, str, bytes)):
        return value
    if _is_substitutions(value):
        return _yaml_value(perform_substitutions(context, normalize_to_list_of_substitutions(value)),
                           what)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, Substitution) or (
                    isinstance(item, (list, tuple)) and _is_substitutions(item)):
                items.append(_yaml_value(perform_substitutions(
                    context, normalize_to_list_of_substitutions(item)), what))
            elif isinstance(item, (bool, int, float, str)):
                items.append(item)
            else:
                raise TypeError('{}: unsupported list item {!r}'.format(what, item))
        return _uniform_list(items, what)
    raise TypeError('{}: unsupported parameter value {!r}'.format(what, value))


def evaluate_parameter_dict(context, parameters: Mapping, prefix: Text = '') -> Dict[Text, object]:
    """Evaluate a parameter dict: keys may be substitutions, nested dicts give dotted names."""
    result: Dict[Text, object] = {}
    for key, value in parameters.items():
        name = perform_substitutions(context, normalize_to_list_of_substitutions(key))
        full_name = prefix + name
        if isinstance(value, Mapping):
            result.update(evaluate_parameter_dict(context, value, full_name + '.'))
        else:
            result[full_name] = evaluate_parameter_value(
                context, value, "parameter '{}'".format(full_name))
    return result


def evaluate_parameters(context, parameters) -> List[Union[pathlib.Path, Dict[Text, object]]]:
    """
    Evaluate a Node's ``parameters`` list into parameter file paths and parameter dicts.

    Items may be paths (str, pathlib.Path, substitutions, ParameterFile) or dicts.
    """
    from .parameter_descriptions import ParameterFile
    evaluated: List[Union[pathlib.Path, Dict[Text, object]]] = []
    for item in parameters:
        if isinstance(item, Mapping):
            evaluated.append(evaluate_parameter_dict(context, item))
        elif isinstance(item, ParameterFile):
            evaluated.append(pathlib.Path(item.evaluate(context)))
        elif isinstance(item, pathlib.Path):
            evaluated.append(item)
        elif isinstance(item, (str, Substitution, list, tuple)):
            evaluated.append(pathlib.Path(perform_substitutions(
                context, normalize_to_list_of_substitutions(item))))
        else:
            raise TypeError('parameters items must be file paths or dicts, got {!r}'.format(item))
    return evaluated


def check_parameters(parameters) -> None:
    """Check the types of a Node's ``parameters`` list without a context (fail early)."""
    from .parameter_descriptions import ParameterFile
    if not isinstance(parameters, list):
        raise TypeError("Node 'parameters' must be a list, got {!r}".format(parameters))
    for item in parameters:
        if not isinstance(item, (Mapping, ParameterFile, pathlib.Path, str, Substitution,
                                 list, tuple)):
            raise TypeError('parameters items must be file paths or dicts, got {!r}'.format(item))
