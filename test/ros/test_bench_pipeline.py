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
    plot = tmp_path / "frames.png"
    rc = main_bench_pipeline(["--backend", "fake", "--servers", "1", "--frames", "2", "--client-dds-profile",
                              client_profile, "--json", str(out), "--log-dir", str(tmp_path), "--plot", str(plot)])
    assert rc == 0
    assert plot.stat().st_size > 10_000  # a drawn figure, not an empty file
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
    # What the pipeline adds beyond the frame's own work: measured on every frame, smaller than e2e.
    over = ros["overhead"]
    assert over["n"] == 2 and over["p50_ms"] is not None and 0 < over["mean_share_of_e2e"] < 1
    # Per-frame stages: in process they add up to the parallel latency, launched to e2e.
    assert len(ros["frames"]) == 2 and len(res["settings"]["inprocess@1/camera"]["frames"]) == 2
    for f in ros["frames"]:
        assert set(f) == {"coarse", "partition + plan", "detectors", "rest"} and f["coarse"] > 0
    log = (tmp_path / "repose_bench_1_camera.log").read_text()
    line = next(ln for ln in log.splitlines() if "dds_profile auto:" in ln)
    assert resolve_profile("shm") in line and "environment settings" not in line, line
    printed = capsys.readouterr().out
    assert "ROS pipeline, 1 servers, coarse on camera: 2/2 answered" in printed and "client wall" in printed
    assert "added by the pipeline" in printed


def test_frame_compute_is_the_plans_stages_and_the_slowest_servers_inference():
    from types import SimpleNamespace as NS

    from repose_ros.testing.pipeline_bench import frame_compute_ms, overhead_summary

    plan = NS(coarse_ms=200.0, partition_ms=5.0, plan_ms=10.0, num_blocks=3,
              blocks=[NS(server_id=0), NS(server_id=0), NS(server_id=1)])
    blocks = [NS(server_id=0, inference_ms=300.0, coarse=False), NS(server_id=0, inference_ms=400.0, coarse=False),
              NS(server_id=1, inference_ms=500.0, coarse=False), NS(server_id=1, inference_ms=900.0, coarse=True)]
    answer = NS(plan=plan, blocks=blocks, report=NS(e2e_ms=1000.0))
    assert frame_compute_ms(answer) == 215.0 + 700.0  # server 0's two blocks; a coarse block does not count
    assert frame_compute_ms(NS(plan=plan, blocks=blocks[:2], report=NS(e2e_ms=1000.0))) is None  # server 1 missing
    assert frame_compute_ms(NS(plan=None, blocks=blocks, report=NS(e2e_ms=1000.0))) is None
    summary = overhead_summary([answer, NS(plan=None, blocks=None, report=NS(e2e_ms=5.0))])
    assert summary["n"] == 1 and summary["p50_ms"] == 85.0 and summary["mean_share_of_e2e"] == 0.085
    assert overhead_summary([])["n"] == 0
