"""The ros2 stand-in command: topic list/echo/hz/info/pub, run, pkg, hand-over to a real ros2."""

import os
import re
import signal
import subprocess
import sys

from compat_helpers import OutputReader
from compat_helpers import require_stand_ins
from compat_helpers import stop
from compat_helpers import TALKER
from compat_helpers import write_executable
import pytest

require_stand_ins()


@pytest.fixture
def talker(ros_env, tmp_path):
    """Run a std_msgs/String publisher on /chatter at 20 Hz for the test."""
    script = write_executable(tmp_path / 'talker.py', TALKER)
    proc = subprocess.Popen([script, '--ros-args', '-p', 'period:=0.05'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    yield proc
    stop(proc)


def _ros2(ros2_cmd, *args, timeout=30):
    return subprocess.run(ros2_cmd + list(args), capture_output=True, text=True, timeout=timeout)


def test_topic_list_shows_the_publishers_topic(talker, ros2_cmd):
    for _ in range(3):
        result = _ros2(ros2_cmd, 'topic', 'list', '-t', '--spin-time', '1.5')
        assert result.returncode == 0, result.stderr
        if '/chatter [std_msgs/msg/String]' in result.stdout.splitlines():
            break
    assert '/chatter [std_msgs/msg/String]' in result.stdout.splitlines(), result.stdout
    assert '/rosout [rcl_interfaces/msg/Log]' in result.stdout.splitlines()


def test_topic_echo_once_prints_yaml(talker, ros2_cmd):
    result = _ros2(ros2_cmd, 'topic', 'echo', '/chatter', '--once', timeout=30)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r'data: hello \d+\n---\n', result.stdout), result.stdout


def test_topic_echo_csv_with_explicit_type(talker, ros2_cmd):
    result = _ros2(ros2_cmd, 'topic', 'echo', 'chatter', 'std_msgs/msg/String', '--csv', '--once')
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r'hello \d+\n', result.stdout), result.stdout


def test_topic_hz_reports_the_rate(talker, ros2_cmd):
    proc = subprocess.Popen(ros2_cmd + ['topic', 'hz', '/chatter', '--window', '20'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = OutputReader(proc)
    try:
        line = output.wait_for('average rate:', timeout=20)
        stats = output.wait_for('window:', timeout=5)
    finally:
        returncode = stop(proc, signal.SIGINT, timeout=10)
    rate = float(line.split(':')[1])
    assert 10.0 < rate < 30.0, output.text
    assert re.fullmatch(r'\tmin: \d+\.\d{3}s max: \d+\.\d{3}s std dev: \d+\.\d{5}s window: \d+\n',
                        stats), stats
    assert int(stats.split('window:')[1]) <= 20
    assert returncode == 0, output.text
    assert 'Traceback' not in output.join()


def test_topic_info_and_node_list(talker, ros2_cmd):
    result = _ros2(ros2_cmd, 'topic', 'info', '/chatter', '--spin-time', '5')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ['Type: std_msgs/msg/String', 'Publisher count: 1']
    for _ in range(3):
        nodes = _ros2(ros2_cmd, 'node', 'list', '--spin-time', '1.5')
        if '/talker' in nodes.stdout.splitlines():
            break
    assert '/talker' in nodes.stdout.splitlines(), nodes.stdout
    assert not any(line.startswith('/_') for line in nodes.stdout.splitlines())


def test_topic_pub_once_reaches_echo(ros_env, ros2_cmd):
    echo = subprocess.Popen(ros2_cmd + ['topic', 'echo', '/greeting', 'std_msgs/msg/String',
                                        '--once'], stdout=subprocess.PIPE, text=True)
    try:
        # Repeat the message: the first one can be sent before the echo's reader has matched the
        # writer (discovery is not symmetric), and a volatile message is then lost.
        pub = _ros2(ros2_cmd, 'topic', 'pub', '-r', '5', '--times', '10', '/greeting', 'std_msgs/msg/String',
                    'data: hi there', '--max-wait-time-secs', '20')
        assert pub.returncode == 0, pub.stderr
        assert "publishing #1: std_msgs.msg.String(data='hi there')" in pub.stdout
        out, _ = echo.communicate(timeout=15)
    finally:
        stop(echo)
    assert out == 'data: hi there\n---\n'


def test_ros2_run_finds_package_executable(ros_env, demo_prefix, ros2_cmd):
    result = _ros2(ros2_cmd, 'run', 'demo_pkg', 'echo_args', 'a', '--flag', 'b c')
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'ARGS a --flag b c\n'
    result = _ros2(ros2_cmd, 'run', 'demo_pkg', 'missing_exe')
    assert result.returncode == 1
    assert result.stderr == 'No executable found\n'
    result = _ros2(ros2_cmd, 'run', 'no_such_pkg', 'talker')
    assert result.returncode == 1
    assert result.stderr == "Package 'no_such_pkg' not found\n"
    result = _ros2(ros2_cmd, 'pkg', 'prefix', 'demo_pkg')
    assert result.stdout.strip() == str(demo_prefix)
    result = _ros2(ros2_cmd, 'pkg', 'executables', 'demo_pkg')
    assert 'demo_pkg talker' in result.stdout.splitlines()


def test_ros2_run_looks_only_in_lib_of_the_package(ros_env, demo_prefix, ros2_cmd, tmp_path,
                                                   monkeypatch):
    # ros2run/ros2pkg: executables are the files below <prefix>/lib/<package> (recursively);
    # a console script on PATH is not one of them, two of the same name are an error.
    write_executable(tmp_path / 'bin' / 'path_only', 'print("from PATH")\n')
    monkeypatch.setenv('PATH', str(tmp_path / 'bin') + os.pathsep + os.environ['PATH'])
    assert _ros2(ros2_cmd, 'run', 'demo_pkg', 'path_only').stderr == 'No executable found\n'
    write_executable(demo_prefix / 'lib' / 'demo_pkg' / 'sub' / 'echo_args', 'print("nested")\n')
    result = _ros2(ros2_cmd, 'run', 'demo_pkg', 'echo_args')
    assert result.returncode == 1
    assert result.stderr.startswith('Multiple executables found:\n- '), result.stderr


def test_unknown_command_exits_2(ros_env, ros2_cmd):
    result = _ros2(ros2_cmd, 'bag', 'record')
    assert result.returncode == 2
    assert "unknown command 'bag'" in result.stderr


def test_hands_over_to_a_real_ros2(ros_env, ros2_cmd, tmp_path, monkeypatch):
    fake = write_executable(tmp_path / 'bin' / 'ros2',
                            'import sys\nprint("REAL ROS2", sys.argv[1:])\n')
    monkeypatch.delenv('REPOSE_ROS2_COMPAT_FORCE')
    monkeypatch.setenv('PATH', os.path.dirname(sys.executable) + os.pathsep
                       + os.path.dirname(fake) + os.pathsep + os.environ['PATH'])
    result = _ros2(ros2_cmd, 'bag', 'play', 'x')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "REAL ROS2 ['bag', 'play', 'x']\n"
    monkeypatch.setenv('REPOSE_ROS2_COMPAT_FORCE', '1')
    result = _ros2(ros2_cmd, 'bag', 'play', 'x')
    assert result.returncode == 2


def test_spin_once_after_ctrl_c_ends_the_command_quietly():
    """Ctrl-C may shut the context down inside spin_once: that ends the command, other errors do not."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.executors import ExternalShutdownException

    from ros2_compat.graph import _spin_once
    rclpy.init(args=[])  # the default context and global executor, as the commands use them
    node = rclpy.create_node('_spin_once_test')
    try:
        _spin_once(node, 0.01)  # a live context: spins
        rclpy.shutdown()  # what the SIGINT handler does
        with pytest.raises(ExternalShutdownException):
            _spin_once(node, 0.01)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def test_a_ctrl_c_that_lands_in_a_finalizer_is_not_printed_other_errors_are():
    """Ctrl-C during garbage collection (e.g. in rclpy's Task.__del__) is no traceback; a real error still is."""
    code = ('import sys\n'
            'from ros2_compat.cli import _quiet_interrupt_in_finalizer\n'
            'sys.unraisablehook = _quiet_interrupt_in_finalizer\n'
            'class Interrupted:\n'
            '    def __del__(self):\n'
            '        raise KeyboardInterrupt\n'
            'class Broken:\n'
            '    def __del__(self):\n'
            '        raise ValueError("broken finalizer")\n'
            'Interrupted()\n'
            'Broken()\n'
            'print("done")\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout == 'done\n', result.stderr
    assert 'KeyboardInterrupt' not in result.stderr
    assert 'ValueError: broken finalizer' in result.stderr
