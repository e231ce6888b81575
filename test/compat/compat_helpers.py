"""Helpers for the tests of the launch / launch_ros / ros2 stand-ins in compat/."""

import importlib
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest


_domain_counter = itertools.count()

TALKER = '''
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String


def main():
    rclpy.init(args=sys.argv)
    node = rclpy.create_node('talker')
    publisher = node.create_publisher(String, 'chatter', 10)
    count = [0]

    def publish():
        count[0] += 1
        publisher.publish(String(data='hello %d' % count[0]))

    node.create_timer(float(node.declare_parameter('period', 0.05).value), publish)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # the SIGINT's shutdown can catch the executor taking a message (seen once with the Kilted
        # wheels: "Unable to convert call argument '0'"); an error of the running node is re-raised
        if rclpy.ok():
            raise
    finally:
        rclpy.try_shutdown()


main()
'''

LISTENER = '''
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String


def main():
    rclpy.init(args=sys.argv)
    node = rclpy.create_node('listener')
    node.create_subscription(String, 'chatter', lambda m: print('I heard: ' + m.data), 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # the SIGINT's shutdown can catch the executor taking a message (seen once with the Kilted
        # wheels: "Unable to convert call argument '0'"); an error of the running node is re-raised
        if rclpy.ok():
            raise
    finally:
        rclpy.try_shutdown()


main()
'''

STUBBORN = '''
import signal
import sys
import time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print('ignoring SIGINT', flush=True)
while True:
    time.sleep(0.1)
'''

ECHO_ARGS = '''
import sys
print('ARGS ' + ' '.join(sys.argv[1:]), flush=True)
'''


SIGNAL_LOGGER = '''
import os
import signal
import sys
import time

# argv: <log file> polite|stubborn. Logs every SIGINT/SIGTERM/SIGQUIT it gets, one per line.
# polite: exits (code 0) three seconds after its first signal, so that a second signal that
# follows the first is logged too, even when a busy machine delays the launch's own signal (one
# second was too short once on the 2-core CI machine); still well inside launch's 5 s
# sigterm_timeout. stubborn: never exits on its own (SIGKILL ends it).
log = open(sys.argv[1], 'a', buffering=1)
polite = sys.argv[2] == 'polite'
deadline = []


def on_signal(signum, frame):
    log.write(signal.Signals(signum).name + '\\n')
    if polite and not deadline:
        deadline.append(time.monotonic() + 3.0)


for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(sig, on_signal)
print('ready pid=%d pgid=%d sid=%d' % (os.getpid(), os.getpgrp(), os.getsid(0)), flush=True)
while not deadline or time.monotonic() < deadline[0]:
    time.sleep(0.02)
'''


def stand_ins_missing() -> str:
    """Return why the stand-ins of compat/ cannot be tested here ('' when they can)."""
    for name in ('launch', 'launch_ros', 'ros2_compat'):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            return 'the launch/launch_ros/ros2 stand-ins (compat/) are not installed: {}'.format(exc)
        if name != 'ros2_compat' and not getattr(module, 'REPOSE_COMPAT', False):
            return 'import {} gives the real package ({}), not the stand-in of compat/'.format(
                name, module.__file__)
    return ''


def require_stand_ins() -> None:
    """Skip the calling test module unless ``import launch`` etc. give the stand-ins."""
    reason = stand_ins_missing()
    if reason:
        pytest.skip(reason, allow_module_level=True)


def compat_source_root() -> str:
    """Return the folder that holds the imported stand-in packages (launch, ros2_compat)."""
    import ros2_compat
    return os.path.dirname(os.path.dirname(os.path.abspath(ros2_compat.__file__)))


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of the process group led by ``proc`` (started in a new session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def unique_domain_id() -> str:
    """Return a ROS domain id unlikely to be used by a parallel test run (120..219)."""
    return str(120 + (os.getpid() * 7 + next(_domain_counter)) % 100)


def write_executable(path, source: str) -> str:
    """Write a Python script run by this interpreter and make it executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!{}\n{}'.format(sys.executable, textwrap.dedent(source)))
    path.chmod(0o755)
    return str(path)


class OutputReader:
    """Collect the stdout lines of a process in a thread; wait for a line containing a text."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines = []
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._condition:
                self.lines.append(line)
                self._condition.notify_all()

    @property
    def text(self) -> str:
        """Return everything read so far."""
        with self._condition:
            return ''.join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> str:
        """Wait until a line contains ``needle``; return that line or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError('{!r} not seen within {} s; output so far:\n{}'.format(
                        needle, timeout, ''.join(self.lines)))
                self._condition.wait(min(left, 0.2))

    def join(self, timeout: float = 5.0) -> str:
        """Wait for the end of the output and return all of it."""
        self._thread.join(timeout)
        return self.text


def stop(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 10.0):
    """Send ``sig`` and wait; kill and fail if the process does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def pid_alive(pid: int) -> bool:
    """Return True when a process with this pid exists (zombies count as gone)."""
    try:
        with open('/proc/{}/stat'.format(pid)) as handle:
            return handle.read().split(') ', 1)[1][0] != 'Z'
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
