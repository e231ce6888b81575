"""``ros2 topic`` and ``ros2 node`` verbs of the stand-in, on rclpy."""

import argparse
import collections
import contextlib
import math
import os
import sys
import time
from typing import Iterator
from typing import List
from typing import Optional
from typing import Text

from .message_format import get_message
from .message_format import message_to_csv
from .message_format import message_to_yaml
from .message_format import set_message_fields

DEFAULT_SPIN_TIME = 2.0
DEFAULT_TRUNCATE_LENGTH = 128


class CommandError(RuntimeError):
    """An error to report to the user (printed without traceback, exit code 1)."""


@contextlib.contextmanager
def cli_node() -> Iterator[object]:
    """Create a hidden rclpy node for a command and clean up afterwards."""
    import rclpy
    rclpy.init(args=[])
    node = None
    try:
        node = rclpy.create_node('_ros2cli_compat_{}'.format(os.getpid()),
                                 start_parameter_services=False, enable_rosout=False)
        yield node
    finally:
        if node is not None:
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - the context may already be shut down
                pass
        rclpy.try_shutdown()


def _spin_once(node, timeout_sec: float) -> None:
    """``rclpy.spin_once``; an error because Ctrl-C shut the context down meanwhile ends the command.

    rclpy's SIGINT handler shuts the context down at any moment, also between ``rclpy.ok()`` and the
    executor's creation of its timeout timer, which then raises RCLError ("context is not valid").
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    try:
        rclpy.spin_once(node, timeout_sec=timeout_sec)
    except Exception:  # noqa: BLE001 - re-raised unless the context was shut down
        if rclpy.ok(context=node.context):
            raise
        raise ExternalShutdownException() from None


def is_hidden_name(name: Text) -> bool:
    """Return True for hidden topic/node names (a path token starting with '_')."""
    return any(token.startswith('_') for token in name.split('/') if token)


def expand_topic(name: Text) -> Text:
    """Make a topic name absolute (the stand-in's node lives in '/')."""
    return name if name.startswith('/') else '/' + name


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.05, left))


def topic_types(node, topic: Text) -> List[Text]:
    """Return the types of ``topic`` known to the graph now."""
    for name, types in node.get_topic_names_and_types():
        if name == topic:
            return list(types)
    return []


def wait_for_topic_type(node, topic: Text, spin_time: float, *, forever: bool = True) -> Text:
    """Wait until the topic's type is known; warn after ``spin_time`` seconds."""
    import rclpy
    start = time.monotonic()
    warned = False
    while rclpy.ok():
        types = topic_types(node, topic)
        if len(types) == 1:
            return types[0]
        if len(types) > 1:
            raise CommandError("The topic '{}' has more than one type: {}; pass the message type"
                               .format(topic, ', '.join(types)))
        if time.monotonic() - start >= spin_time:
            if not forever:
                raise CommandError("Unknown topic '{}'".format(topic))
            if not warned:
                print('WARNING: topic [{}] does not appear to be published yet'.format(topic),
                      file=sys.stderr, flush=True)
                warned = True
        _sleep(0.05)
    raise KeyboardInterrupt


def _qos_from_args(args, publishers) -> object:
    """Return the QoS of the --qos-* arguments; what they leave open matches ``publishers``."""
    from rclpy.qos import DurabilityPolicy
    from rclpy.qos import HistoryPolicy
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    reliability = ReliabilityPolicy.RELIABLE
    durability = DurabilityPolicy.VOLATILE
    if publishers:
        if not all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers):
            reliability = ReliabilityPolicy.BEST_EFFORT
        if all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers):
            durability = DurabilityPolicy.TRANSIENT_LOCAL
    if getattr(args, 'qos_reliability', None):
        reliability = ReliabilityPolicy.RELIABLE if args.qos_reliability == 'reliable' \
            else ReliabilityPolicy.BEST_EFFORT
    if getattr(args, 'qos_durability', None):
        durability = DurabilityPolicy.TRANSIENT_LOCAL if args.qos_durability == 'transient_local' \
            else DurabilityPolicy.VOLATILE
    depth = getattr(args, 'qos_depth', None) or 10
    history = HistoryPolicy.KEEP_ALL if getattr(args, 'qos_history', None) == 'keep_all' \
        else HistoryPolicy.KEEP_LAST
    return QoSProfile(history=history, depth=depth, reliability=reliability, durability=durability)


def _add_qos_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--qos-depth', type=int, default=None, help='Queue size setting (10)')
    parser.add_argument('--qos-history', choices=['keep_last', 'keep_all'], default=None,
                        help='History of samples setting (keep_last)')
    parser.add_argument('--qos-reliability', choices=['reliable', 'best_effort'], default=None,
                        help='Reliability setting (default: matches the publishers)')
    parser.add_argument('--qos-durability', choices=['volatile', 'transient_local'], default=None,
                        help='Durability setting (default: matches the publishers)')


# ------------------------------------------------------------------------------ topic list
def topic_list(args) -> int:
    """Print the topic names (and types with -t)."""
    with cli_node() as node:
        _sleep(args.spin_time)
        topics = sorted(node.get_topic_names_and_types())
    if not args.include_hidden_topics:
        topics = [(n, t) for n, t in topics if not is_hidden_name(n)]
    if args.count_topics:
        print(len(topics))
        return 0
    for name, types in topics:
        if args.show_types:
            print('{} [{}]'.format(name, ', '.join(types)))
        else:
            print(name)
    return 0


def topic_info(args) -> int:
    """Print the type and publisher/subscription counts of a topic."""
    topic = expand_topic(args.topic_name)
    with cli_node() as node:
        wait_for_topic_type(node, topic, args.spin_time, forever=False)
        types = topic_types(node, topic)
        publishers = node.get_publishers_info_by_topic(topic)
        subscriptions = [s for s in node.get_subscriptions_info_by_topic(topic)
                         if s.node_name != node.get_name()]
    print('Type: {}'.format(', '.join(types)))
    for what, infos in (('Publisher', publishers), ('Subscription', subscriptions)):
        print('{} count: {}'.format(what, len(infos)))
        for info in infos if args.verbose else []:
            print('  {}/{}'.format(info.node_namespace.rstrip('/'), info.node_name))
    return 0


def _subscription_settings(node, topic: Text, args):
    """Return the message class (given, or the topic's once known) and QoS of a subscriber."""
    type_name = args.message_type or wait_for_topic_type(node, topic, args.spin_time)
    return get_message(type_name), _qos_from_args(args, node.get_publishers_info_by_topic(topic))


# ------------------------------------------------------------------------------ topic echo
def _select_field(msg, field: Optional[Text]):
    if not field:
        return msg
    value = msg
    for part in field.split('.'):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CommandError("Invalid field value '{}'".format(field)) from None
    return value


def topic_echo(args) -> int:
    """Print the messages of a topic as YAML (or CSV) separated by '---'."""
    import rclpy
    topic = expand_topic(args.topic_name)
    truncate = None if args.full_length else args.truncate_length
    with cli_node() as node:
        msg_class, qos = _subscription_settings(node, topic, args)
        state = {'count': 0}

        def callback(msg) -> None:
            if args.once and state['count'] >= 1:
                return
            state['count'] += 1
            value = _select_field(msg, args.field)
            if hasattr(value, 'get_fields_and_field_types'):
                if args.csv:
                    text = message_to_csv(value, truncate_length=truncate, no_arr=args.no_arr,
                                          no_str=args.no_str) + '\n'
                else:
                    text = message_to_yaml(value, truncate_length=truncate, no_arr=args.no_arr,
                                           no_str=args.no_str, flow_style=args.flow_style)
                    text += '---\n'
            else:
                text = '{}\n'.format(value) if args.csv else '{}\n---\n'.format(value)
            sys.stdout.write(text)
            sys.stdout.flush()

        node.create_subscription(msg_class, topic, callback, qos)
        while rclpy.ok() and not (args.once and state['count'] >= 1):
            _spin_once(node, 0.1)
    return 0


# ------------------------------------------------------------------------------ topic hz
def hz_statistics(stamps: List[float]) -> Optional[tuple]:
    """Return (rate, min, max, std dev, window) for a list of receive times in seconds."""
    if len(stamps) < 2:
        return None
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    mean = sum(deltas) / len(deltas)
    if mean <= 0:
        return None
    std_dev = math.sqrt(sum((d - mean) ** 2 for d in deltas) / len(deltas))
    return 1.0 / mean, min(deltas), max(deltas), std_dev, len(deltas) + 1


def format_hz(stats: tuple) -> Text:
    """Format statistics like ``ros2 topic hz``."""
    rate, min_delta, max_delta, std_dev, window = stats
    return 'average rate: {:.3f}\n\tmin: {:.3f}s max: {:.3f}s std dev: {:.5f}s window: {}'.format(
        rate, min_delta, max_delta, std_dev, window)


def topic_hz(args) -> int:
    """Print the receive rate of a topic every second."""
    import rclpy
    topic = expand_topic(args.topic_name)
    with cli_node() as node:
        msg_class, qos = _subscription_settings(node, topic, args)
        stamps = collections.deque(maxlen=args.window_size)
        received = {'count': 0}

        def callback(_raw) -> None:
            stamps.append(time.monotonic())
            received['count'] += 1

        node.create_subscription(msg_class, topic, callback, qos, raw=True)
        last_print = time.monotonic()
        last_count = 0
        while rclpy.ok():
            _spin_once(node, 0.05)
            now = time.monotonic()
            if now - last_print < 1.0:
                continue
            last_print = now
            if received['count'] == last_count:
                continue
            last_count = received['count']
            stats = hz_statistics(list(stamps))
            if stats is not None:
                print(format_hz(stats), flush=True)
    return 0


# ------------------------------------------------------------------------------ topic pub
def topic_pub(args) -> int:
    """Publish a message given as YAML, once or at a rate."""
    import rclpy
    import yaml
    topic = expand_topic(args.topic_name)
    msg_class = get_message(args.message_type)
    msg = msg_class()
    values = yaml.safe_load(args.values) if args.values else {}
    if values:
        try:
            set_message_fields(msg, values)
        except (AttributeError, TypeError, AssertionError, ValueError) as exc:
            raise CommandError('Failed to populate field: {}'.format(exc)) from None
    times = 1 if args.once else args.times
    with cli_node() as node:
        publisher = node.create_publisher(msg_class, topic, _qos_from_args(args, []))
        wait = args.wait_matching_subscriptions
        if wait is None:
            wait = 1 if times else 0
        deadline = time.monotonic() + args.max_wait_time_secs if args.max_wait_time_secs else None
        while publisher.get_subscription_count() < wait and rclpy.ok():
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError('Timed out waiting for subscribers')
            _sleep(0.05)
        print('publisher: beginning loop', flush=True)
        count = 0
        period = 1.0 / args.rate if args.rate > 0 else None
        next_time = time.monotonic()
        while rclpy.ok():
            count += 1
            publisher.publish(msg)
            print('publishing #{}: {!r}\n'.format(count, msg), flush=True)
            if times and count >= times:
                _sleep(args.keep_alive)
                break
            if period is None:
                break
            next_time += period
            while rclpy.ok() and time.monotonic() < next_time:
                _spin_once(node, max(0.0, min(0.05, next_time - time.monotonic())))
    return 0


# ------------------------------------------------------------------------------ node list
def node_list(args) -> int:
    """Print the fully qualified names of the nodes in the graph."""
    with cli_node() as node:
        _sleep(args.spin_time)
        names = []
        for name, namespace in node.get_node_names_and_namespaces():
            full = (namespace.rstrip('/') + '/' + name) if namespace else '/' + name
            names.append(full)
    names = sorted(set(names))
    if not args.all:
        names = [n for n in names if not is_hidden_name(n)]
    if args.count_nodes:
        print(len(names))
        return 0
    for name in names:
        print(name)
    return 0


# ------------------------------------------------------------------------------ parsers
def verb_parser(command: Text, what: Optional[Text] = None):
    """Return the parser of ``ros2 <command>`` (about ``what``, the command) and its verbs."""
    parser = argparse.ArgumentParser(prog='ros2 ' + command, description='Various {} related '
                                     'sub-commands (repose_ros stand-in)'.format(what or command))
    return parser, parser.add_subparsers(dest='verb', metavar='Commands')


def _spin_time(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--spin-time', type=float, default=DEFAULT_SPIN_TIME,
                        help='Spin time in seconds to wait for discovery (default: %(default)s)')
    parser.add_argument('--no-daemon', action='store_true',
                        help='Accepted for compatibility; the stand-in has no daemon')


def topic_parser() -> argparse.ArgumentParser:
    """Build the parser of ``ros2 topic``."""
    parser, verbs = verb_parser('topic')

    p = verbs.add_parser('list', help='Output a list of available topics')
    p.add_argument('-t', '--show-types', action='store_true', help='Additionally show the topic type')
    p.add_argument('-c', '--count-topics', action='store_true', help='Only display the number of topics')
    p.add_argument('-a', '--include-hidden-topics', action='store_true', help='Consider hidden topics')
    _spin_time(p)
    p.set_defaults(func=topic_list)

    p = verbs.add_parser('echo', help='Output messages from a topic')
    p.add_argument('topic_name', help="Name of the ROS topic to listen to (e.g. '/chatter')")
    p.add_argument('message_type', nargs='?', help="Type of the ROS message (e.g. 'std_msgs/msg/String')")
    p.add_argument('--once', action='store_true', help='Print the first message received and then exit')
    p.add_argument('--csv', action='store_true', help='Output all recursive fields separated by commas')
    p.add_argument('--field', default=None, help='Echo a selected field of a message (e.g. header.stamp)')
    p.add_argument('--full-length', '-f', action='store_true', help='Output all elements for arrays')
    p.add_argument('--truncate-length', '-l', type=int, default=DEFAULT_TRUNCATE_LENGTH,
                   help='The length to truncate arrays, bytes, and string to (default: %(default)s)')
    p.add_argument('--no-arr', action='store_true', help="Don't print array fields of messages")
    p.add_argument('--no-str', action='store_true', help="Don't print string fields of messages")
    p.add_argument('--flow-style', action='store_true', help='Print collections in the block style')
    _add_qos_arguments(p)
    _spin_time(p)
    p.set_defaults(func=topic_echo)

    p = verbs.add_parser('hz', help='Print the average publishing rate to screen')
    p.add_argument('topic_name', help="Name of the ROS topic to listen to (e.g. '/chatter')")
    p.add_argument('message_type', nargs='?', help='Type of the ROS message (default: discovered)')
    p.add_argument('--window', '-w', dest='window_size', type=int, default=10000,
                   help='Window size, in # of messages, for calculating rate (default: %(default)s)')
    p.add_argument('--wall-time', action='store_true', help='Accepted; the stand-in always uses '
                   'the monotonic wall clock')
    _add_qos_arguments(p)
    _spin_time(p)
    p.set_defaults(func=topic_hz)

    p = verbs.add_parser('info', help='Print information about a topic')
    p.add_argument('topic_name', help="Name of the ROS topic to get info (e.g. '/chatter')")
    p.add_argument('--verbose', '-v', action='store_true', help='Also list the nodes')
    _spin_time(p)
    p.set_defaults(func=topic_info)

    p = verbs.add_parser('pub', help='Publish a message to a topic')
    p.add_argument('topic_name', help="Name of the ROS topic to publish to (e.g. '/chatter')")
    p.add_argument('message_type', help="Type of the ROS message (e.g. 'std_msgs/msg/String')")
    p.add_argument('values', nargs='?', default='{}', help='Values to fill the message with in '
                   "YAML format (e.g. 'data: Hello World'), otherwise the message will be published "
                   'with default values')
    p.add_argument('-r', '--rate', type=float, default=1.0, help='Publishing rate in Hz (default: 1)')
    p.add_argument('-1', '--once', action='store_true', help='Publish one message and exit')
    p.add_argument('-t', '--times', type=int, default=0, help='Publish this number of times and '
                   'then exit')
    p.add_argument('-w', '--wait-matching-subscriptions', type=int, default=None,
                   help='Wait until finding the specified number of matching subscriptions '
                   '(default: 1 with --once or --times, else 0)')
    p.add_argument('--max-wait-time-secs', type=float, default=None,
                   help='The maximum amount of time to wait for matching subscriptions')
    p.add_argument('--keep-alive', type=float, default=0.1, help='Keep publishing node alive for '
                   'N seconds after the last message (default: 0.1)')
    _add_qos_arguments(p)
    p.set_defaults(func=topic_pub)
    return parser


def node_parser() -> argparse.ArgumentParser:
    """Build the parser of ``ros2 node``."""
    parser, verbs = verb_parser('node')
    p = verbs.add_parser('list', help='Output a list of available nodes')
    p.add_argument('-a', '--all', action='store_true', help='Display all nodes even hidden ones')
    p.add_argument('-c', '--count-nodes', action='store_true', help='Only display the number of nodes')
    _spin_time(p)
    p.set_defaults(func=node_list)
    return parser
