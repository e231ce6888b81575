"""Lifecycle helpers shared by the nodes (all of them are managed nodes).

Each node declares ``autostart`` (default true): it then walks itself to active when it is built,
as a launch without a lifecycle manager needs. With ``autostart: false`` (``autostart:=false`` in
pipeline.launch.py) it stays unconfigured until a lifecycle manager (nav2_lifecycle_manager, the
``ros2 lifecycle`` CLI or the ``<node>/change_state`` service) configures and activates it.
"""
from __future__ import annotations

from rclpy.lifecycle import LifecyclePublisher, TransitionCallbackReturn
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from repose_ros.ros.params import Param

AUTOSTART = Param("autostart", True, "Configure and activate on start-up (false: stay unconfigured until a "
                  "lifecycle manager drives the node through <node>/change_state)", read_only=True)


def walk_to_active(node) -> bool:
    """Configure, then activate ``node``; return whether it is active (a failure is logged)."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("configure failed: the node stays unconfigured")
        return False
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("activate failed: the node stays inactive")
        return False
    return True


def destroy_entities(node, entities) -> None:
    """Destroy a node's publishers, lifecycle publishers, subscriptions and timers (None entries skipped)."""
    for ent in entities:
        if ent is None:
            continue
        if isinstance(ent, LifecyclePublisher):
            node.destroy_lifecycle_publisher(ent)
        elif isinstance(ent, Subscription):
            node.destroy_subscription(ent)
        elif isinstance(ent, Timer):
            node.destroy_timer(ent)
        else:
            node.destroy_publisher(ent)


def state_label(node) -> str:
    """Return the lifecycle state of ``node`` ('unconfigured', 'inactive', 'active', ...; 'unknown' if unreadable)."""
    try:
        return str(node._state_machine.current_state[1])  # the get_state service answers the same
    except (AttributeError, IndexError, TypeError):
        return "unknown"
