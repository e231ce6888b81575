"""`repose bench pipeline`: the launched pipeline beside the in-process core, and whose DDS settings each side gets.

Runs the command with the fake back-end (one edge server, two frames after the warm-up) and reads its
JSON: every frame answered, both latency figures (the FrameReport's e2e and the client's wall time)
and their ratios to the in-process run. The client that plays the camera may get a Fast DDS profile
of its own (``--client-dds-profile``); the launch must not inherit it, which the launch's log line
for ``dds_profile:=auto`` shows (an inherited profile variable turns auto into "environment
settings").
"""
import json
import os
import shutil

import pytest

pytest.importorskip("rclpy")

from repose_ros.cli.bench_pipeline import main_bench_pipeline  # noqa: E402
from repose_ros.ros.dds_profile import FASTDDS_VAR, FASTRTPS_VAR, resolve_profile  # noqa: E402


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ros2") is None, reason="no ros2 command on PATH")
@pytest.mark.parametrize("client_profile", ["default", "shm"])
def test_bench_pipeline_reports_both_latencies_and_keeps_the_clients_profile_to_itself(
        tmp_path, monkeypatch, capsys, client_profile):
    for var in (FASTDDS_VAR, FASTRTPS_VAR, "FASTDDS_BUILTIN_TRANSPORTS", "RMW_IMPLEMENTATION"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "bench.json"
    rc = main_bench_pipeline(["--backend", "fake", "--servers", "1", "--frames", "2", "--client-dds-profile",
                              client_profile, "--json", str(out), "--log-dir", str(tmp_path)])
    assert rc == 0
    assert FASTDDS_VAR not in os.environ  # the client's profile was this process's only while its node was made
    res = json.loads(out.read_text())
    assert res["dds_profile"] == "auto" and res["client_dds_profile"] == client_profile
    assert res["dds_profile_auto"].startswith("shm")
    ros = res["settings"]["ros@1/camera"]
    assert ros["sent"] == 2 and ros["answered"] == 2
    for key in ("e2e", "client_wall"):
        assert ros[key]["n"] == 2 and ros[key]["p50_ms"] > 0
    # The client's wall time holds the frame's trip to the frontend and the answer's trip back.
    assert ros["client_wall"]["p50_ms"] >= ros["e2e"]["p50_ms"]
    assert ros["client_wall_p50_over_inprocess_p50"] > 0 and ros["e2e_p50_over_inprocess_p50"] > 0
    log = (tmp_path / "repose_bench_1_camera.log").read_text()
    line = next(ln for ln in log.splitlines() if "dds_profile auto:" in ln)
    assert resolve_profile("shm") in line and "environment settings" not in line, line
    printed = capsys.readouterr().out
    assert "ROS pipeline, 1 servers, coarse on camera: 2/2 answered" in printed and "client wall" in printed
