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

from .parameter_descriptions import evaluate_parameter_value
from .parameter_descriptions import ParameterFile


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
    if not isinstance(parameters, list):
        raise TypeError("Node 'parameters' must be a list, got {!r}".format(parameters))
    for item in parameters:
        if not isinstance(item, (Mapping, ParameterFile, pathlib.Path, str, Substitution,
                                 list, tuple)):
            raise TypeError('parameters items must be file paths or dicts, got {!r}'.format(item))
