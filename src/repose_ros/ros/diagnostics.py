"""Publish node health as diagnostic_msgs/DiagnosticArray on /diagnostics (rqt_robot_monitor, Foxglove).

Follows diagnostic_updater's conventions without depending on it (it has no wheel here): one
DiagnosticStatus per task named ``<node name>: <task>``, ``hardware_id`` the node's fully qualified
name, values as strings, the absolute topic ``/diagnostics``, about once a second. The publisher is
a plain one, so a lifecycle node reports while inactive too (its state is part of the status).
"""
from __future__ import annotations

from typing import Callable, Sequence, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from repose_ros.core.health import ERROR, Health
from repose_ros.ros.params import Param, reliable

DIAGNOSTICS_PARAMS = (
    Param("diagnostics.period_s", 1.0, "Period of the node's status on /diagnostics (0: not published)",
          (0.0, 3600.0), read_only=True),
)

TOPIC = "/diagnostics"


def to_status(name: str, hardware_id: str, health: Health) -> DiagnosticStatus:
    """Convert a Health into a DiagnosticStatus."""
    return DiagnosticStatus(level=bytes([int(health.level)]), name=name, message=health.message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in health.values])


class DiagnosticsPublisher:
    """A timer that publishes the health of a node's tasks.

    Args:
        node: the node (plain or lifecycle).
        tasks: (task name, callable returning a Health) pairs.
        period_s: publishing period; 0 or less: nothing is created.
    """

    def __init__(self, node, tasks: Sequence[Tuple[str, Callable[[], Health]]], period_s: float = 1.0):
        self.node, self.tasks = node, list(tasks)
        self.pub = self.timer = None
        self.published = 0
        if period_s > 0:
            self.pub = node.create_publisher(DiagnosticArray, TOPIC, reliable(10))
            self.timer = node.create_timer(float(period_s), self.publish)

    def collect(self) -> DiagnosticArray:
        """Build the array now; a task that raises becomes an ERROR status with the exception."""
        hardware_id = self.node.get_fully_qualified_name()
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        for task, fn in self.tasks:
            name = f"{self.node.get_name()}: {task}"
            try:
                health = fn()
            except Exception as exc:  # noqa: BLE001 - a report must never stop the timer
                health = Health(ERROR, f"status failed: {type(exc).__name__}: {exc}")
            msg.status.append(to_status(name, hardware_id, health))
        return msg

    def publish(self) -> None:
        """Publish one DiagnosticArray (timer callback)."""
        if self.pub is None:
            return
        self.pub.publish(self.collect())
        self.published += 1
