"""Message helpers for the ros2 stand-in: type lookup, YAML and CSV output, field setting."""

import array
import importlib
import sys
from typing import Any
from typing import Dict
from typing import Optional
from typing import Text

import yaml

try:  # The real helpers, when rosidl_runtime_py is installed.
    from rosidl_runtime_py.convert import message_to_csv as _real_message_to_csv
    from rosidl_runtime_py.convert import message_to_yaml as _real_message_to_yaml
except ImportError:  # pragma: no cover - depends on the installation
    _real_message_to_csv = None
    _real_message_to_yaml = None

try:
    import numpy
except ImportError:  # pragma: no cover
    numpy = None


def get_message(identifier: Text):
    """Return the message class for 'pkg/msg/Type' (or 'pkg/Type')."""
    parts = identifier.split('/')
    if len(parts) == 2:
        package, interface, name = parts[0], 'msg', parts[1]
    elif len(parts) == 3:
        package, interface, name = parts
    else:
        raise ValueError("Invalid message type '{}', expected 'pkg/msg/Type'".format(identifier))
    if not all(parts) or interface != 'msg':
        raise ValueError("Invalid message type '{}', expected 'pkg/msg/Type'".format(identifier))
    try:
        module = importlib.import_module('{}.{}'.format(package, interface))
        return getattr(module, name)
    except (ImportError, AttributeError):
        raise ValueError("The message type '{}' is invalid or not installed".format(
            identifier)) from None


def _is_message(value) -> bool:
    return hasattr(value, 'get_fields_and_field_types')


def _array_type_name(value) -> Text:
    if isinstance(value, array.array):
        return value.typecode
    return str(value.dtype)


def _string_text(value: Text, truncate_length: Optional[int], no_str: bool) -> Text:
    if no_str:
        return '<string length: <{}>>'.format(len(value))
    if truncate_length is not None and len(value) > truncate_length:
        return value[:truncate_length] + '...'
    return value


def _convert_value(value, truncate_length: Optional[int], no_arr: bool, no_str: bool) -> Any:
    if _is_message(value):
        return message_to_ordereddict(value, truncate_length=truncate_length, no_arr=no_arr,
                                      no_str=no_str)
    if isinstance(value, bytes):
        if truncate_length is not None and len(value) > truncate_length:
            return ''.join(chr(c) for c in value[:truncate_length]) + '...'
        return ''.join(chr(c) for c in value)
    if isinstance(value, str):
        return _string_text(value, truncate_length, no_str)
    is_array = isinstance(value, array.array) or (numpy is not None
                                                  and isinstance(value, numpy.ndarray))
    if is_array:
        if no_arr:
            return '<array type: {}, length: {}>'.format(_array_type_name(value), len(value))
        items = value.tolist()
        if truncate_length is not None and len(items) > truncate_length:
            return items[:truncate_length] + ['...']
        return items
    if isinstance(value, (list, tuple)):
        if no_arr and value:
            return '<sequence type: {}, length: {}>'.format(type(value[0]).__name__, len(value))
        items = list(value)
        truncated = truncate_length is not None and len(items) > truncate_length
        if truncated:
            items = items[:truncate_length]
        converted = [_convert_value(v, truncate_length, no_arr, no_str) for v in items]
        return converted + ['...'] if truncated else converted
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return value


def message_to_ordereddict(msg, *, truncate_length: Optional[int] = None, no_arr: bool = False,
                           no_str: bool = False) -> Dict[Text, Any]:
    """Convert a message to a dict of plain values, fields in definition order."""
    return {name: _convert_value(getattr(msg, name), truncate_length, no_arr, no_str)
            for name in msg.get_fields_and_field_types()}


def message_to_yaml(msg, *, truncate_length: Optional[int] = None, no_arr: bool = False,
                    no_str: bool = False, flow_style: bool = False) -> Text:
    """Format a message as YAML like ``ros2 topic echo``."""
    if _real_message_to_yaml is not None:
        return _real_message_to_yaml(msg, truncate_length=truncate_length, no_arr=no_arr,
                                     no_str=no_str, flow_style=flow_style)
    return yaml.safe_dump(message_to_ordereddict(msg, truncate_length=truncate_length,
                                                 no_arr=no_arr, no_str=no_str),
                          allow_unicode=True, width=sys.maxsize, default_flow_style=flow_style,
                          sort_keys=False)


def message_to_csv(msg, *, truncate_length: Optional[int] = None, no_arr: bool = False,
                   no_str: bool = False) -> Text:
    """Format a message as one line of comma separated values like ``ros2 topic echo --csv``."""
    if _real_message_to_csv is not None:
        return _real_message_to_csv(msg, truncate_length=truncate_length, no_arr=no_arr,
                                    no_str=no_str)

    def to_text(value) -> Text:
        if _is_message(value):
            return message_to_csv(value, truncate_length=truncate_length, no_arr=no_arr,
                                  no_str=no_str)
        is_array = isinstance(value, (list, tuple, array.array)) or (
            numpy is not None and isinstance(value, numpy.ndarray))
        if is_array:
            if no_arr:
                return '<array length: {}>'.format(len(value))
            parts = []
            for index, item in enumerate(value):
                if truncate_length is not None and index >= truncate_length:
                    parts.append('...')
                    break
                parts.append(to_text(item))
            return ','.join(parts)
        if isinstance(value, str):
            return _string_text(value, truncate_length, no_str)
        if numpy is not None and isinstance(value, numpy.generic):
            value = value.item()
        return str(value)

    return ','.join(to_text(getattr(msg, name)) for name in msg.get_fields_and_field_types())


def _element_message_class(field_type: Text):
    inner = field_type
    if inner.startswith('sequence<'):
        inner = inner[len('sequence<'):].rsplit('>', 1)[0].split(',')[0]
    inner = inner.split('[')[0]
    if '/' not in inner:
        return None
    return get_message(inner)


def set_message_fields(msg, values: Dict[Text, Any]) -> None:
    """Set the fields of ``msg`` from a dict (nested dicts for nested messages)."""
    if not isinstance(values, dict):
        raise TypeError('expected a dict of field values, got {!r}'.format(values))
    fields = msg.get_fields_and_field_types()
    for name, value in values.items():
        if name not in fields:
            raise AttributeError("'{}' has no field '{}' (fields: {})".format(
                type(msg).__name__, name, ', '.join(fields)))
        current = getattr(msg, name)
        if _is_message(current):
            set_message_fields(current, value)
            continue
        element_class = _element_message_class(fields[name])
        if element_class is not None and isinstance(value, list):
            items = []
            for item in value:
                element = element_class()
                set_message_fields(element, item)
                items.append(element)
            value = items
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(current, bytes) and isinstance(value, int):
            value = bytes([value])
        setattr(msg, name, value)
