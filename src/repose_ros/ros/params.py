"""Declare node parameters with descriptors and read them once into a plain dict."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


@dataclass(frozen=True)
class Param:
    """One parameter: name, default, description, optional numeric range, read-only flag."""

    name: str
    default: Any
    description: str
    range: Optional[Tuple[float, float]] = None
    read_only: bool = False


def declare_all(node, params: Iterable[Param]) -> Dict[str, Any]:
    """Declare every parameter on ``node`` and return their current values by name."""
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
    return values


QOS_PARAMS = (
    Param("qos.depth", 4, "History depth of the input subscription (frames arriving in a burst beyond it "
          "are overwritten by DDS before the node sees them)", (1, 1000)),
    Param("qos.reliability", "reliable",
          "Input reliability: reliable (no silent loss of large frames; matches reliable publishers) or "
          "best_effort (needed when the camera publishes best effort)"),
)


def qos_from(depth: int, reliability: str, transient_local: bool = False) -> QoSProfile:
    """Build a keep-last QoS profile from parameter values (raises ValueError on a bad name)."""
    rel = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    if reliability not in rel:
        raise ValueError(f"qos reliability must be one of {sorted(rel)}, got '{reliability}'")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=rel[reliability],
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local
                      else DurabilityPolicy.VOLATILE)


def reliable(depth: int = 10) -> QoSProfile:
    """Reliable keep-last QoS for plans, blocks and results."""
    return qos_from(depth, "reliable")


def latched() -> QoSProfile:
    """Reliable transient-local QoS with depth 1 (LabelInfo and other latched data)."""
    return qos_from(1, "reliable", transient_local=True)


def spin_node(node, executor=None) -> None:
    """Spin until Ctrl-C / SIGTERM / external shutdown, then clean up (the rclpy idiom)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    context = node.context if executor is None else executor.context
    try:
        if executor is None:
            rclpy.spin(node)
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A SIGINT/SIGTERM can shut the context down while the executor is building its wait
        # set, which surfaces as an RCLError; that is a normal shutdown, anything else is not.
        if context.ok():
            raise
    finally:
        nodes = executor.get_nodes() if executor is not None else [node]
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown()
