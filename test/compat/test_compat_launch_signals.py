"""
Signals of ``ros2 launch`` (stand-in) compared with the real launch.

What the real launch does (launch/launch/launch_service.py and actions/execute_local.py,
branches humble, jazzy and rolling alike): its processes stay in its process group and session
(osrf_pycommon's async_execute_process starts no new session). A first SIGINT to the launch
begins a shutdown "due to SIGINT"; each process then gets SIGINT from the launch only when the
launch is noninteractive (``ros2 launch -n``, the default when stdin is not a terminal),
because interactively the terminal's Ctrl-C went to the whole foreground process group
already. SIGTERM follows after sigterm_timeout and SIGKILL after sigterm_timeout +
sigkill_timeout for a process still running; a second SIGINT is only logged. SIGTERM or
SIGQUIT to the launch cancel it (exit code 1). Otherwise the exit code is 0.

Each test starts the stand-in's ``ros2 launch`` in a new session, as a terminal would start a
job, and signals that whole process group with os.killpg like a terminal's Ctrl-C, or the launch
process alone. The processes are ``siglog`` scripts that log every signal they receive.
"""

import os
import pty
import re
import signal
import subprocess
import textwrap
import time

from compat_helpers import kill_group
from compat_helpers import OutputReader
from compat_helpers import pid_alive
from compat_helpers import require_stand_ins
import pytest

require_stand_ins()


def _launch_file(tmp_path, logs, mode='polite', extra_args='', extra_entities=''):
    nodes = ''.join(
        "Node(package='demo_pkg', executable='siglog', output='screen', arguments=[%r, %r]%s),\n"
        % (str(log), mode, extra_args) for log in logs)
    path = tmp_path / 'signals.launch.py'
    path.write_text(textwrap.dedent('''
        from launch import LaunchDescription
        from launch.actions import ExecuteProcess, Shutdown
        from launch_ros.actions import Node


        def generate_launch_description():
            return LaunchDescription([
        %s%s
            ])
    ''') % (textwrap.indent(nodes, ' ' * 8), extra_entities))
    return str(path)


class _Launch:
    """``ros2 launch`` in a new session; stdin a terminal (interactive) or /dev/null."""

    def __init__(self, ros2_cmd, args, *, terminal: bool) -> None:
        self._master = None
        stdin = subprocess.DEVNULL
        if terminal:
            self._master, slave = pty.openpty()
            stdin = slave
        try:
            self.proc = subprocess.Popen(ros2_cmd + ['launch'] + list(args), stdin=stdin,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, start_new_session=True)
        finally:
            if terminal:
                os.close(slave)
        self.output = OutputReader(self.proc)

    def wait_ready(self, count: int) -> list:
        """Wait until ``count`` processes are ready; return their (pid, pgid, sid)."""
        deadline = time.monotonic() + 30
        while True:
            found = re.findall(r'ready pid=(\d+) pgid=(\d+) sid=(\d+)', self.output.text)
            if len(found) >= count:
                return [tuple(int(x) for x in item) for item in found]
            assert time.monotonic() < deadline and self.proc.poll() is None, self.output.text
            time.sleep(0.05)

    def ctrl_c(self) -> None:
        """Send SIGINT to the launch's whole process group, as a terminal's Ctrl-C does."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 15.0):
        """Wait for the launch to exit; return (exit code, output)."""
        try:
            returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = 'hung'
        return returncode, self.output.join()

    def close(self) -> None:
        kill_group(self.proc)
        if self._master is not None:
            os.close(self._master)


@pytest.fixture
def start(ros2_cmd):
    """Start ``ros2 launch`` for a test (see _Launch); kill what is left afterwards."""
    started = []

    def run(*args, terminal):
        launch = _Launch(ros2_cmd, args, terminal=terminal)
        started.append(launch)
        return launch
    yield run
    for launch in started:
        launch.close()


def _signals(log):
    return log.read_text().split() if log.exists() else []


def test_ctrl_c_in_a_terminal_reaches_each_process_once(ros_env, demo_prefix, tmp_path, start):
    logs = [tmp_path / 'a.log', tmp_path / 'b.log']
    launch = start(_launch_file(tmp_path, logs), terminal=True)
    ready = launch.wait_ready(2)
    for pid, pgid, sid in ready:
        # Same process group and session as the launch (it leads both, having been started
        # in a new session): the real launch starts no new session for its processes.
        assert (pgid, sid) == (launch.proc.pid, launch.proc.pid), ready
    launch.ctrl_c()
    returncode, text = launch.finish()
    assert [_signals(log) for log in logs] == [['SIGINT'], ['SIGINT']], text
    assert '[WARNING] [launch]: user interrupted with ctrl-c (SIGINT)' in text
    assert "sending signal 'SIGINT'" not in text, 'interactive: the terminal delivered it'
    assert text.count('process has finished cleanly') == 2, text
    assert returncode == 0, text
    assert not any(pid_alive(pid) for pid, _, _ in ready)


@pytest.mark.parametrize('terminal, flags', [(False, []), (True, ['--noninteractive'])],
                         ids=['stdin-not-a-terminal', 'dash-n'])
def test_noninteractive_launch_sends_sigint_on(ros_env, demo_prefix, tmp_path, start,
                                               terminal, flags):
    # SIGINT to the launch alone (kill <pid>, not the group): whatever a process gets came from
    # the launch, so each gets exactly one.
    logs = [tmp_path / 'a.log', tmp_path / 'b.log']
    launch = start(*flags, _launch_file(tmp_path, logs), terminal=terminal)
    launch.wait_ready(2)
    launch.proc.send_signal(signal.SIGINT)
    returncode, text = launch.finish()
    assert [_signals(log) for log in logs] == [['SIGINT']] * 2, text
    assert len(re.findall(r"\[INFO\] \[siglog-\d+\]: sending signal 'SIGINT' to "
                          r'process\[siglog-\d+\]', text)) == 2, text
    assert returncode == 0, text


def test_noninteractive_ctrl_c_reaches_each_process_from_both(ros_env, demo_prefix, tmp_path,
                                                              start):
    # Ctrl-C to the whole group: each process gets the group's SIGINT and the launch's. The
    # kernel keeps one pending SIGINT per process, so when the launch's follows before the
    # process ran its handler (a busy machine), the two arrive as one: one or two are logged.
    logs = [tmp_path / 'a.log', tmp_path / 'b.log']
    launch = start(_launch_file(tmp_path, logs), terminal=False)
    launch.wait_ready(2)
    launch.ctrl_c()
    returncode, text = launch.finish()
    for log in logs:
        assert _signals(log) in (['SIGINT'], ['SIGINT', 'SIGINT']), text
    assert len(re.findall(r"\[INFO\] \[siglog-\d+\]: sending signal 'SIGINT' to "
                          r'process\[siglog-\d+\]', text)) == 2, text
    assert returncode == 0, text


def test_escalation_after_ctrl_c_and_second_ctrl_c_ignored(ros_env, demo_prefix, tmp_path,
                                                           start):
    log = tmp_path / 'stubborn.log'
    launch = start(_launch_file(tmp_path, [log], mode='stubborn',
                                extra_args=", sigterm_timeout='0.5', sigkill_timeout='0.5'"),
                   terminal=True)
    (pid, _, _), = launch.wait_ready(1)
    started = time.monotonic()
    launch.ctrl_c()
    # The second Ctrl-C only once the first was handled: two pending SIGINTs would be one.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (
            _signals(log) and 'user interrupted with ctrl-c' in launch.output.text):
        time.sleep(0.02)
    launch.ctrl_c()
    returncode, text = launch.finish()
    elapsed = time.monotonic() - started
    assert _signals(log) == ['SIGINT', 'SIGINT', 'SIGTERM'], text
    assert 'user interrupted with ctrl-c (SIGINT) again, ignoring...' in text
    assert "sending signal 'SIGINT'" not in text
    assert re.search(r"\[ERROR\] \[siglog-\d+\]: process\[siglog-\d+\] failed to terminate '0\.5' "
                     r"seconds after receiving 'SIGINT', escalating to 'SIGTERM'", text), text
    # The real message shows the SIGKILL timer's period: sigterm_timeout + sigkill_timeout.
    assert re.search(r"failed to terminate '1\.0' seconds after receiving 'SIGTERM', escalating "
                     r"to 'SIGKILL'", text), text
    assert "sending signal 'SIGKILL'" in text
    assert re.search(r'process has died \[pid {}, exit code -9, '.format(pid), text), text
    assert returncode == 0, text
    assert 0.9 < elapsed < 5.0, elapsed


def test_shutdown_action_sends_sigint_even_interactively(ros_env, demo_prefix, tmp_path, start):
    log = tmp_path / 'a.log'
    quitter = ("        ExecuteProcess(cmd=['sh', '-c', 'sleep 1'], name='quitter', "
               "on_exit=Shutdown(reason='done')),\n")
    launch = start(_launch_file(tmp_path, [log], extra_entities=quitter), terminal=True)
    launch.wait_ready(1)
    returncode, text = launch.finish()
    assert _signals(log) == ['SIGINT'], text
    assert re.search(r"sending signal 'SIGINT' to process\[siglog-\d+\]", text), text
    assert returncode == 0, text


def test_sigterm_to_the_launch_cancels_it_and_leaves_the_processes(ros_env, demo_prefix,
                                                                   tmp_path, start):
    logs = [tmp_path / 'a.log', tmp_path / 'b.log']
    launch = start(_launch_file(tmp_path, logs), terminal=False)
    ready = launch.wait_ready(2)
    launch.proc.send_signal(signal.SIGTERM)
    returncode, text = launch.finish()
    assert returncode == 1, text
    assert '[ERROR] [launch]: user interrupted with ctrl-\\ (SIGTERM), terminating...' in text
    assert '[ERROR] [launch]: using SIGTERM can result in orphaned processes' in text
    assert '[ERROR] [launch]: make sure no processes launched are still running' in text
    assert '[ERROR] [launch]: run task was canceled' in text
    assert 'sending signal' not in text
    # As with the real launch the processes keep running, unsignalled; SIGTERM to the whole
    # group (they share it) reaches each of them once.
    assert all(pid_alive(pid) for pid, _, _ in ready)
    assert [_signals(log) for log in logs] == [[], []]
    os.killpg(launch.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid, _, _ in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [_signals(log) for log in logs] == [['SIGTERM'], ['SIGTERM']]


def test_sigterm_to_the_group_reaches_each_process_once(ros_env, demo_prefix, tmp_path, start):
    logs = [tmp_path / 'a.log', tmp_path / 'b.log']
    launch = start(_launch_file(tmp_path, logs), terminal=False)
    ready = launch.wait_ready(2)
    os.killpg(launch.proc.pid, signal.SIGTERM)
    returncode, text = launch.finish()
    assert returncode == 1, text
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid, _, _ in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [_signals(log) for log in logs] == [['SIGTERM'], ['SIGTERM']], text
