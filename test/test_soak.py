"""The soak report: frames accounted for and the memory-drift criterion (no ROS needed)."""
import argparse
import json

from repose_ros.testing.soak import rss_drift_mb, soak_report
from repose_ros.testing.stream import FrameRecord, Stream


def _samples(fn, minutes=10, period=5.0):
    return [(t, {"node": int(fn(t) * 1024)}) for t in (i * period for i in range(int(minutes * 60 / period) + 1))]


def test_drift_ignores_warm_up_growth_but_catches_a_leak():
    """A process that fills its buffers and plateaus has ~0 drift; a steady leak shows up."""
    plateau = _samples(lambda t: 200 + min(t, 240) * 0.4)          # +96 MB over 4 min, then flat
    leak = _samples(lambda t: 200 + t * 0.1)                        # +6 MB per minute, forever
    assert abs(rss_drift_mb(plateau, 60)["node"]) < 1.0
    assert rss_drift_mb(leak, 60)["node"] > 15.0
    assert rss_drift_mb(plateau[:3], 60) == {}                      # nothing after warm-up
    assert rss_drift_mb(_samples(lambda t: 100, minutes=1.1), 60)["node"] is None


def _stream(answers):
    s = Stream("ns", "/in")
    for i, n in enumerate(answers):
        s.frames[(i, 0)] = FrameRecord(i, "soak", float(i), answers=n, answered_at=float(i) + 0.1 if n else None,
                                       degraded=False if n else None)
    return s


def test_report_exit_code_and_json(tmp_path, capsys):
    """Exit 0 only when every frame was answered exactly once and no process drifts up."""
    args = argparse.Namespace(minutes=10.0, rate=2.0, servers=2, width=1920, height=1080, warmup_s=60.0,
                              max_growth_mb=20.0, json=str(tmp_path / "soak.json"))
    flat = _samples(lambda t: 150)
    assert soak_report(args, _stream([1] * 20), flat) == 0
    fig = json.loads((tmp_path / "soak.json").read_text())
    assert fig["answered_once"] == 20 and fig["rss_mb"]["node"]["drift_last_third"] == 0.0
    assert soak_report(args, _stream([1] * 19 + [0]), flat) == 1          # one frame unanswered
    assert soak_report(args, _stream([1] * 19 + [2]), flat) == 1          # one frame answered twice
    assert soak_report(args, _stream([1] * 20), _samples(lambda t: 150 + t * 0.2)) == 1   # leak: 12 MB a minute
    assert "still growing" in capsys.readouterr().out
