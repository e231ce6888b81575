"""Shared pytest set-up: ROS isolation and optional-dependency markers."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Keep DDS traffic of the tests on this host and away from other runs.
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOG_DIR", str(ROOT / ".cache" / "ros_log"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))


def pytest_configure(config):
    """Register the markers used in this suite."""
    config.addinivalue_line("markers", "slow: takes more than ~10 s")
    config.addinivalue_line("markers", "ros: needs rclpy and the built interfaces")


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    """Return the repository root folder."""
    return ROOT
