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
@pytest.mark.parametrize("sig,repeat", [(signal.SIGINT, 1), (signal.SIGINT, 3), (signal.SIGTERM, 1)],
                         ids=["SIGINT", "SIGINT-3x", "SIGTERM"])
@pytest.mark.parametrize("exe,args", NODES, ids=[n for n, _ in NODES])
def test_clean_exit_on_signal(exe, args, sig, repeat, tmp_path):
    """repeat: a terminal's Ctrl-C signals the whole group, and launch may signal its children again."""
    path = shutil.which(exe)
    if path is None:
        pytest.skip(f"{exe} is not installed on PATH")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([path, "--ros-args", "-r", "__ns:=/shutdown_test", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(4.0)  # let it start and spin
    assert proc.poll() is None, proc.stdout.read()
    t0 = time.monotonic()
    for i in range(repeat):
        if i:
            time.sleep(0.1 * i)  # the later ones land during the clean-up
        if proc.poll() is None:
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
