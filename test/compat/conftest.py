"""
Fixtures for the tests of the launch / launch_ros / ros2 stand-ins in compat/.

Each test module calls compat_helpers.require_stand_ins() first: on a ROS 2 installation
(where ``import launch`` gives the real package and compat/ is not installed) the modules are
skipped instead of failing at collection.
"""

import os
import sys

from compat_helpers import compat_source_root
from compat_helpers import ECHO_ARGS
from compat_helpers import LISTENER
from compat_helpers import SIGNAL_LOGGER
from compat_helpers import STUBBORN
from compat_helpers import TALKER
from compat_helpers import unique_domain_id
from compat_helpers import write_executable
import pytest


@pytest.fixture
def ros_env(monkeypatch):
    """Isolate ROS 2 traffic of the test: a unique domain, localhost only, stand-in forced."""
    monkeypatch.setenv('ROS_DOMAIN_ID', unique_domain_id())
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    monkeypatch.setenv('REPOSE_ROS2_COMPAT_FORCE', '1')
    monkeypatch.delenv('OVERRIDE_LAUNCH_PROCESS_OUTPUT', raising=False)
    return os.environ


@pytest.fixture
def demo_prefix(tmp_path, monkeypatch):
    """Install a fake ament package 'demo_pkg' (talker, listener, ...) in a temporary prefix."""
    prefix = tmp_path / 'install'
    lib = prefix / 'lib' / 'demo_pkg'
    write_executable(lib / 'talker', TALKER)
    write_executable(lib / 'listener', LISTENER)
    write_executable(lib / 'stubborn', STUBBORN)
    write_executable(lib / 'echo_args', ECHO_ARGS)
    write_executable(lib / 'siglog', SIGNAL_LOGGER)
    marker = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'demo_pkg'
    marker.parent.mkdir(parents=True)
    marker.write_text('')
    (prefix / 'share' / 'demo_pkg' / 'launch').mkdir(parents=True)
    (prefix / 'share' / 'demo_pkg' / 'config').mkdir(parents=True)
    monkeypatch.setenv('AMENT_PREFIX_PATH',
                       str(prefix) + os.pathsep + os.environ.get('AMENT_PREFIX_PATH', ''))
    monkeypatch.setenv('ROS_LOG_DIR', str(tmp_path / 'log'))
    return prefix


@pytest.fixture
def ros2_cmd(monkeypatch):
    """
    Return the command that runs the stand-in's ``ros2``: this interpreter, ``-m ros2_compat.cli``.

    Never a ``ros2`` found on PATH or beside the interpreter (on a ROS 2 installation that is
    the real one, e.g. /usr/bin/ros2 next to /usr/bin/python3). PYTHONPATH starts with the
    folder of the stand-ins this test process imported, so the command runs the same code.
    """
    root = compat_source_root()
    rest = os.environ.get('PYTHONPATH', '')
    monkeypatch.setenv('PYTHONPATH', root + (os.pathsep + rest if rest else ''))
    return [sys.executable, '-m', 'ros2_compat.cli']
