"""Shape-aware latency profiling and the makespan check (repose_ros.profiling.latency), fake back-end."""
import numpy as np
import pytest

from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.core.config import RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.core.profiles import Profiles
from repose_ros.core.tensor_shapes import letterbox_shape
from repose_ros.profiling.latency import (calls_per_key, makespan_check, measure_shape_latency, merge_latency,
                                          shape_sizes)

MS_PER_MPX = 100.0


def test_shape_sizes():
    assert shape_sizes(640) == [(640, 640), (640, 400), (640, 256), (256, 640), (640, 160)]
    assert shape_sizes(100, aspects=(1.0, 2.0), portrait=()) == [(100, 100), (100, 50)]


def test_measure_shape_latency_follows_the_tensor():
    """The fake costs ms_per_mpx x tensor pixels: the measured points must show it."""
    zoo = ModelZoo.fake(FakeDetector(ms_per_mpx=MS_PER_MPX))
    frames = [np.zeros((400, 700, 3), np.uint8)]  # smaller than a 640 block side: enlarged to fit
    calls = []
    res = measure_shape_latency(zoo, ["yolov8s@640"], frames, repeats=2, warmup=1, progress=calls.append)
    assert len(calls) == calls_per_key(["yolov8s@640"], zoo, 2, 1) == 5 * 3
    m = res["yolov8s@640"]
    for (th, tw, ms), row in zip(m["points"], m["shapes"]):
        assert (th, tw) == letterbox_shape(*row["block"], 640)
        assert ms == pytest.approx(MS_PER_MPX * th * tw / 1e6, rel=0.5, abs=3.0)
    assert m["square_ms"] == m["points"][0][2]
    with pytest.raises(ValueError):
        measure_shape_latency(zoo, ["yolov8s@640"], [], repeats=1)


def test_merge_latency_and_makespan_check():
    zoo = ModelZoo.fake(FakeDetector(np.array([[100, 100, 140, 200], [2000, 900, 2040, 1000]], float),
                                     ms_per_mpx=MS_PER_MPX))
    prof = Profiles.default()
    keys = prof.model_keys[:3]
    measured = measure_shape_latency(zoo, keys, [np.zeros((1080, 1920, 3), np.uint8)], repeats=1, warmup=0)
    merge_latency(prof, measured, "3")
    for k in keys:
        assert prof.latency(k, "3") == measured[k]["square_ms"]
        assert [list(p) for p in prof.latency_shapes[k]["3"]] == [list(p) for p in measured[k]["points"]]
    with pytest.raises(KeyError):
        merge_latency(prof, {"nope@1": {"square_ms": 1.0, "points": []}})
    rp = RePose(RePoseConfig(num_servers=2, partitioner="meanshift", models=keys), zoo=zoo, profiles=prof)
    out = makespan_check(rp, [np.zeros((2160, 3840, 3), np.uint8)], [500.0, 5000.0])
    assert len(out["rows"]) == 2 and out["n"] >= 1
    for row in out["rows"]:
        assert row["detection_budget_ms"] <= row["budget_ms"]
        if row["error"] is not None:
            assert row["error"] == pytest.approx((row["measured_ms"] - row["predicted_ms"]) / row["predicted_ms"],
                                                 abs=0.01)
