"""Input QoS that matches the camera: ``qos.reliability: auto`` reads the publishers' QoS and adapts.

A reliable reader does not match a best-effort writer (no frame ever arrives, and DDS says so only
in an "incompatible QoS" event), while a best-effort reader matches both kinds but may silently
lose fragments of large frames from a reliable writer. With ``auto`` the input subscription is
reliable while every publisher on the topic is reliable (or none is known yet) and best effort as
soon as one publisher is best effort, the choice rosbag2 and ``ros2 topic echo`` make. The topic is
checked again periodically: a publisher with other QoS that appears later (a camera driver
restarted with sensor-data QoS) makes the subscription be re-created, and the choice is logged.

Frames that a best-effort link drops are never seen by the node, so they cannot be answered;
what DDS reports lost (the ``message_lost`` event, where the RMW supports it) is counted.
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional

from rclpy.qos import ReliabilityPolicy

from repose_ros.ros.lifecycle import destroy_entities
from repose_ros.ros.params import qos_from

RELIABILITY_CHOICES = ("auto", "reliable", "best_effort")


def reliability_name(policy) -> str:
    """'reliable', 'best_effort' or another lower-case name for a ReliabilityPolicy (or its int value)."""
    try:
        policy = ReliabilityPolicy(policy)
    except ValueError:
        return str(policy)
    return {ReliabilityPolicy.RELIABLE: "reliable", ReliabilityPolicy.BEST_EFFORT: "best_effort"}.get(
        policy, policy.name.lower())


def choose_reliability(offered: Iterable[str], current: str = "reliable") -> str:
    """Reliability of a reader that matches every publisher in ``offered``.

    No publisher known: keep ``current``. Any best-effort publisher: best effort (a reliable
    reader would not match it). Otherwise reliable (no silent loss of large frames).
    """
    offered = list(offered)
    if not offered:
        return current
    return "best_effort" if "best_effort" in offered else "reliable"


def _event_callbacks(on_lost: Callable[[int], None]):
    """Return event callbacks with message_lost (rclpy >= Jazzy: rclpy.event_handler; Humble: rclpy.qos_event)."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import SubscriptionEventCallbacks
    return SubscriptionEventCallbacks(message_lost=lambda info: on_lost(int(info.total_count_change)))


class InputSubscription:
    """The input subscription of a node, with ``qos.reliability`` auto / reliable / best_effort.

    Args:
        node: the node that owns the subscription.
        msg_type, topic, callback: as for ``create_subscription``.
        depth: history depth (``qos.depth``).
        reliability: 'auto', 'reliable' or 'best_effort'.
        check_period_s: with auto, how often the publishers' QoS is read again (0: only at start).
        on_lost: called with the number of messages DDS reports lost (where the RMW reports it).
    """

    def __init__(self, node, msg_type, topic: str, callback, depth: int, reliability: str = "auto",
                 check_period_s: float = 1.0, on_lost: Optional[Callable[[int], None]] = None,
                 callback_group=None):
        if reliability not in RELIABILITY_CHOICES:
            raise ValueError(f"qos.reliability must be one of {', '.join(RELIABILITY_CHOICES)}; got {reliability!r}")
        self.node, self.msg_type, self.topic, self.callback = node, msg_type, topic, callback
        self.depth, self.mode, self.on_lost, self.callback_group = int(depth), reliability, on_lost, callback_group
        self.switches = 0
        self.sub = None
        self.current = "reliable" if reliability == "auto" else reliability
        self._create(self.current)
        self.timer = None
        if reliability == "auto":
            self.check(initial=True)
            if check_period_s > 0:
                self.timer = node.create_timer(float(check_period_s), self.check)

    @property
    def resolved_topic(self) -> str:
        """The fully resolved input topic (namespace and remappings applied)."""
        return self.sub.topic_name

    def _create(self, reliability: str) -> None:
        qos = qos_from(self.depth, reliability)
        kwargs = {"callback_group": self.callback_group}
        if self.on_lost is not None:
            try:
                self.sub = self.node.create_subscription(self.msg_type, self.topic, self.callback, qos,
                                                         event_callbacks=_event_callbacks(self.on_lost), **kwargs)
                return
            except Exception as exc:  # noqa: BLE001 - UnsupportedEventTypeError on RMWs without message_lost
                if type(exc).__name__ != "UnsupportedEventTypeError":
                    raise
        self.sub = self.node.create_subscription(self.msg_type, self.topic, self.callback, qos, **kwargs)

    def offered(self) -> List[str]:
        """Reliability of each publisher on the input topic now."""
        infos = self.node.get_publishers_info_by_topic(self.resolved_topic)
        return [reliability_name(i.qos_profile.reliability) for i in infos]

    def check(self, initial: bool = False) -> str:
        """Read the publishers' QoS and re-create the subscription if another reliability matches them."""
        offered = self.offered()
        want = choose_reliability(offered, self.current)
        log = self.node.get_logger()
        if want != self.current:
            self.node.destroy_subscription(self.sub)
            self._create(want)
            self.switches += int(not initial)
            log.info(f"input {self.resolved_topic}: publishers offer {', '.join(sorted(set(offered)))}; "
                     f"subscribed {want} (was {self.current})")
            self.current = want
        elif initial:
            what = (f"publishers offer {', '.join(sorted(set(offered)))}" if offered
                    else "no publisher yet (re-checked while running)")
            log.info(f"input {self.resolved_topic}: {what}; subscribed {self.current} (qos.reliability auto)")
        return self.current

    def destroy(self) -> None:
        """Destroy the timer and the subscription."""
        destroy_entities(self.node, (self.timer, self.sub))
        self.timer = self.sub = None
