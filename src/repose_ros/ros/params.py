"""Declare node parameters with descriptors and read them once into a plain dict."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


@dataclass(frozen=True)
class Param:
    """One parameter: name, default, description, optional numeric range, read-only flag."""

    name: str
    default: Any
    description: str
    range: Optional[Tuple[float, float]] = None
    read_only: bool = False


def declare_all(node, params: Iterable[Param],
                on_change: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Declare every parameter on ``node`` and return their current values by name.

    The returned dict stays current: a later ``ros2 param set`` of a parameter that is not
    read-only updates it (rclpy has already checked the type and range). ``on_change`` gets the
    changed values first, to validate them (raise ValueError to refuse the change, with the reason
    the caller sees) and to update whatever the node derived from them.
    """
    params = tuple(params)
    names = {p.name for p in params}
    values = {}
    for p in params:
        desc = ParameterDescriptor(description=p.description, read_only=p.read_only)
        if p.range is not None:
            lo, hi = p.range
            if isinstance(p.default, bool):
                pass
            elif isinstance(p.default, int):
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
            elif isinstance(p.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        node.declare_parameter(p.name, p.default, desc)
        values[p.name] = node.get_parameter(p.name).value

    def on_set(changes) -> SetParametersResult:
        updates = {c.name: c.value for c in changes if c.name in names}
        if updates and on_change is not None:
            try:
                on_change(updates)
            except (ValueError, TypeError, KeyError) as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        values.update(updates)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; otherwise raise ValueError naming the parameter."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


WEIGHTS_SAFETY_PARAMS = (
    Param("weights_dirs", [""], "Folders the weights files must lie in ([\"\"]: any configured file); "
          "a .pt file is a pickle and loading it runs code", read_only=True),
    Param("weights_sha256", [""], "SHA-256 of each entry of weights_files (of an export folder: of its sorted "
          "file manifest, as repose export prints it), checked before loading "
          "([\"\"] or \"\" entries: not checked)", read_only=True),
)

QOS_PARAMS = (
    Param("qos.depth", 20, "History depth of the input subscription: frames arriving in a burst beyond it are "
          "overwritten by DDS before the node sees them (counted as lost_before_queue); each held frame costs "
          "its size in memory (a 4K bgr8 frame is 25 MB)", (1, 1000), read_only=True),
    Param("qos.reliability", "auto",
          "Input reliability: auto (reliable while every publisher on the input is reliable, best effort as soon "
          "as one is best effort; re-checked every qos.check_period_s), reliable (no silent loss of large frames; "
          "matches only reliable publishers) or best_effort (matches every publisher)", read_only=True),
    Param("qos.check_period_s", 1.0, "qos.reliability auto: how often the input publishers' QoS is read again "
          "(0: only at start)", (0.0, 3600.0), read_only=True),
)


def qos_from(depth: int, reliability: str, transient_local: bool = False) -> QoSProfile:
    """Build a keep-last QoS profile from parameter values (raises ValueError on a bad name)."""
    rel = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    if reliability not in rel:
        raise ValueError(f"qos reliability must be one of {sorted(rel)}, got '{reliability}'")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=rel[reliability],
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local
                      else DurabilityPolicy.VOLATILE)


def message_info_supported() -> bool:
    """Whether this rclpy hands ``(msg, MessageInfo)`` to a two-argument subscription callback.

    Jazzy and later inspect the callback's signature; Humble's executor always calls
    ``callback(msg)``, so a callback that needs the message info would fail on every message there.
    """
    from rclpy.subscription import Subscription

    return hasattr(Subscription, "CallbackType")


def reliable(depth: int = 10) -> QoSProfile:
    """Reliable keep-last QoS for plans, blocks and results."""
    return qos_from(depth, "reliable")


def latched() -> QoSProfile:
    """Reliable transient-local QoS with depth 1 (LabelInfo and other latched data)."""
    return qos_from(1, "reliable", transient_local=True)
