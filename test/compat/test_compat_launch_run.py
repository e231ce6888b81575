"""Run launch files for real with the stand-ins: processes, output, exit codes, shutdown."""

import re
import signal
import subprocess
import textwrap
import time

from compat_helpers import kill_group
from compat_helpers import OutputReader
from compat_helpers import pid_alive
from compat_helpers import require_stand_ins
from compat_helpers import stop
import pytest

require_stand_ins()

TALKER_LISTENER = '''
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('period', default_value='0.05'),
        Node(package='demo_pkg', executable='talker', output='screen',
             parameters=[{'period': LaunchConfiguration('period')}]),
        Node(package='demo_pkg', executable='listener', name='ear', output='screen',
             remappings=[('chatter', '/chatter')]),
    ])
'''


@pytest.fixture
def launch(ros2_cmd):
    """
    Start ``ros2 launch ARGS`` non-interactively (stdin not a terminal) in a new session.

    SIGINT sent to the launch alone is then passed on to the processes, as with the real
    ``ros2 launch``, whatever the test runner's stdin is. Leftovers are killed afterwards.
    """
    started = []

    def start(*args):
        proc = subprocess.Popen(ros2_cmd + ['launch'] + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        started.append(proc)
        return proc
    yield start
    for proc in started:
        kill_group(proc)


def test_talker_listener_run_and_stop_on_sigint(ros_env, demo_prefix, launch):
    (demo_prefix / 'share' / 'demo_pkg' / 'launch' / 'tl.launch.py').write_text(TALKER_LISTENER)
    proc = launch('demo_pkg', 'tl.launch.py', 'period:=0.02')
    output = OutputReader(proc)
    try:
        output.wait_for('[listener-', timeout=20)
        output.wait_for('I heard: hello', timeout=20)
    finally:
        started = time.monotonic()
        returncode = stop(proc, signal.SIGINT, timeout=15)
    elapsed = time.monotonic() - started
    text = output.join()
    pids = [int(p) for p in re.findall(r'process started with pid \[(\d+)\]', text)]
    assert len(pids) == 2, text
    assert re.search(r'^\[INFO\] \[talker-\d+\]: process started with pid', text, re.M), text
    assert re.search(r'^\[listener-\d+\] I heard: hello \d+$', text, re.M), text
    assert "user interrupted with ctrl-c (SIGINT)" in text
    assert text.count('process has finished cleanly') == 2, text
    assert returncode == 0, text
    assert elapsed < 5.0, 'shutdown took {:.1f} s'.format(elapsed)
    assert not any(pid_alive(pid) for pid in pids)


def test_failed_process_and_on_exit_shutdown(ros_env, demo_prefix, launch, tmp_path):
    path = tmp_path / 'fail.launch.py'
    path.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch.actions import ExecuteProcess, LogInfo, RegisterEventHandler, Shutdown
        from launch.event_handlers import OnProcessExit
        from launch_ros.actions import Node

        def generate_launch_description():
            failing = ExecuteProcess(cmd=['sh', '-c', 'echo about to fail; exit 3'],
                                     name='failing', output='screen', on_exit=Shutdown())
            return LaunchDescription([
                Node(package='demo_pkg', executable='talker', output='screen'),
                RegisterEventHandler(OnProcessExit(
                    target_action=failing,
                    on_exit=lambda event, context: [LogInfo(msg='exit code %d' % event.returncode)])),
                failing,
            ])
    '''))
    proc = launch(str(path))
    output = OutputReader(proc)
    try:
        returncode = proc.wait(timeout=20)
    finally:
        stop(proc)
    text = output.join()
    # The real launch's exit code does not depend on the processes' exit codes (only an error
    # of the launch itself gives 1): LaunchService.run_async returns 0 here.
    assert returncode == 0, text
    assert '[failing-' in text and '] about to fail' in text
    assert re.search(r"\[ERROR\] \[failing-\d+\]: process has died \[pid \d+, exit code 3, "
                     r"cmd 'sh -c echo about to fail; exit 3'\]\.", text), text
    assert '[INFO] [launch.user]: exit code 3' in text
    assert re.search(r"sending signal 'SIGINT' to process\[talker-\d+\]", text), text


def test_process_ignoring_sigint_gets_sigterm(ros_env, demo_prefix, launch, tmp_path):
    path = tmp_path / 'stubborn.launch.py'
    path.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch_ros.actions import Node

        def generate_launch_description():
            return LaunchDescription([Node(package='demo_pkg', executable='stubborn',
                                           output='screen', sigterm_timeout='0.5')])
    '''))
    proc = launch(str(path))
    output = OutputReader(proc)
    try:
        output.wait_for('ignoring SIGINT', timeout=20)
    finally:
        started = time.monotonic()
        stop(proc, signal.SIGINT, timeout=10)
    elapsed = time.monotonic() - started
    text = output.join()
    assert "failed to terminate '0.5' seconds after receiving 'SIGINT', escalating to 'SIGTERM'" in text
    assert elapsed < 3.0, text


def test_show_args_and_unknown_package(ros_env, demo_prefix, ros2_cmd):
    (demo_prefix / 'share' / 'demo_pkg' / 'launch' / 'tl.launch.py').write_text(TALKER_LISTENER)
    result = subprocess.run(ros2_cmd + ['launch', 'demo_pkg', 'tl.launch.py', '--show-args'],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "    'period':\n        no description given\n        (default: '0.05')" in result.stdout
    result = subprocess.run(ros2_cmd + ['launch', 'no_such_pkg', 'x.launch.py'],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Package 'no_such_pkg' not found" in result.stderr
