"""Every node executable exits cleanly (code 0, no traceback) on SIGINT and on SIGTERM."""
import os
import shutil
import signal
import subprocess
import time

import pytest

pytest.importorskip("rclpy")

NODES = [
    ("aggregator_node", []),
    ("edge_detector_node", ["-p", "backend:=fake", "-p", "warmup_models:=['']"]),
    ("frontend_node", ["-p", "backend:=fake", "-p", "partitioner:=meanshift"]),
]


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("exe,args", NODES, ids=[n for n, _ in NODES])
def test_clean_exit_on_signal(exe, args, sig, tmp_path):
    path = shutil.which(exe)
    if path is None:
        pytest.skip(f"{exe} is not installed on PATH")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([path, "--ros-args", "-r", "__ns:=/shutdown_test", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(4.0)  # let it start and spin
    assert proc.poll() is None, proc.stdout.read()
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{exe} did not exit within 15 s of {sig.name}:\n{out}")
    assert proc.returncode == 0, f"{exe} exit code {proc.returncode} after {sig.name}:\n{out}"
    assert "Traceback" not in out, out
    assert time.monotonic() - t0 < 10
