"""`colcon build` of the package (as on a real ROS 2 install) succeeds and installs what ros2 needs."""
import pathlib
import os
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("colcon") is None, reason="colcon not installed")
def test_colcon_build_installs_package(tmp_path):
    venv = os.environ.get("VIRTUAL_ENV", sys.prefix)
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    # A workspace with this package, as a user would clone it (vision_msgs comes from the environment).
    os.symlink(ROOT, ws / "src" / "repose_ros")
    env = dict(os.environ, CMAKE_PREFIX_PATH=venv, AMENT_PREFIX_PATH=venv)
    proc = subprocess.run(
        ["colcon", "build", "--merge-install", "--packages-select", "repose_ros",
         "--cmake-args", "-G", "Ninja", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    inst = ws / "install"
    assert (inst / "share" / "repose_ros" / "package.xml").is_file()
    assert (inst / "share" / "repose_ros" / "launch" / "pipeline.launch.py").is_file()
    assert (inst / "share" / "repose_ros" / "config" / "repose.yaml").is_file()
    for profile in ("shm_large.xml", "shm_large_fastdds2.xml"):  # Fast DDS 3 and Fast DDS 2 (Humble, Jazzy)
        assert (inst / "share" / "repose_ros" / "config" / "fastdds" / profile).is_file()
    assert (inst / "share" / "ament_index" / "resource_index" / "packages" / "repose_ros").is_file()
    for exe in ("frontend_node", "edge_detector_node", "aggregator_node", "replay_node"):
        assert os.access(inst / "lib" / "repose_ros" / exe, os.X_OK), exe
    site = next((inst / "lib").glob("python3*/site-packages"))
    # Both the generated interfaces and the Python code are installed in one package folder.
    assert (site / "repose_ros" / "msg" / "__init__.py").is_file()
    assert (site / "repose_ros" / "core" / "planner.py").is_file()
    assert (site / "repose_ros" / "data" / "rl_dca_policy.npz").is_file()
    check = subprocess.run([sys.executable, "-c",
                            "import repose_ros, repose_ros.core.planner; from repose_ros.msg import FramePlan; "
                            "print(repose_ros.__path__[0])"],
                           env=dict(os.environ, PYTHONPATH=str(site)), capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(site)), check.stdout
