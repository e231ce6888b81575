"""Measured latency accounting: every server's blocks run as its node runs them, each server timed.

The fake detector here costs what ultralytics' tensor would cost (``ms_per_mpx``): a call whose
crops share one shape runs a letterboxed rectangle, a call of mixed shapes pads every crop to the
square. The accounting used before (one batch per model over all servers, its time shared equally
among the blocks) is reproduced in :func:`_old_accounting` to show that these tests tell the two
apart.
"""
import numpy as np
import pytest

from repose_ros.core.blocks import Block, Rect
from repose_ros.core.detections import Detections
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.core.config import RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.core.planner import BlockPlan, Plan
from repose_ros.core.tensor_shapes import letterbox_shape
from repose_ros.core.serving import BlockJob, collect, run_block, run_server, run_servers, slowest_ms

MS_PER_MPX = 200.0  # 640x640 square: 82 ms; a 640x128 strip: 16 ms
IMG = np.zeros((2160, 3840, 3), np.uint8)


def _fake(gt=None):
    return FakeDetector(gt, ms_per_mpx=MS_PER_MPX)


def _cost(w, h, imgsz=640):
    th, tw = letterbox_shape(w, h, imgsz)
    return MS_PER_MPX * th * tw / 1e6


# Server 0: two wide strips (cheap as rectangles); server 1: one square block.
BLOCKS = [Block(Rect(0, 0, 2000, 300)), Block(Rect(0, 400, 2000, 700)), Block(Rect(2400, 0, 3400, 1000))]
PLAN = Plan([BlockPlan(0, "yolov8s@640", 0, 0.0, 0.0, 0),
             BlockPlan(1, "yolov8s@640", 0, 0.0, 0.0, 0),
             BlockPlan(2, "yolov8s@640", 1, 0.0, 0.0, 0)], {0: 0.0, 1: 0.0}, 0.0, 0.0, True)


def _old_accounting(zoo, plan, blocks):
    """What RePose.detect_blocks measured before: one batch per model, time shared equally."""
    import time

    server_ms = {}
    rects = [blocks[bp.block_index].rect.as_tuple() for bp in plan.blocks]
    t0 = time.perf_counter()
    zoo.detect_crops("yolov8s@640", IMG, rects)
    ms = (time.perf_counter() - t0) * 1000.0
    for bp in plan.blocks:
        server_ms[bp.server_id] = server_ms.get(bp.server_id, 0.0) + ms / len(plan.blocks)
    return server_ms


def test_fake_cost_follows_the_tensor_shape():
    """One shape: letterboxed rectangle; mixed shapes in one call: every crop padded to the square."""
    fake = _fake()
    assert fake.latency_ms(640, 1, [(2000, 300)]) == pytest.approx(_cost(2000, 300))
    assert fake.latency_ms(640, 2, [(2000, 300), (2000, 300)]) == pytest.approx(2 * _cost(2000, 300))
    square = MS_PER_MPX * 640 * 640 / 1e6
    assert fake.latency_ms(640, 2, [(2000, 300), (1000, 1000)]) == pytest.approx(2 * square)


class _SimulatedClock:
    """time.perf_counter / time.sleep stand-ins: the fake detector's sleeps are the only time that passes."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_each_server_is_timed_on_its_own_blocks(monkeypatch):
    """Per-server measured time = the cost of its own blocks, one call each (not a share of a batch).

    On a simulated clock (the fake's sleeps advance it, nothing else does), so that a busy machine,
    whose late wake-ups once tripled a server's time here, cannot fail it.
    """
    import time

    clock = _SimulatedClock()
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    zoo = ModelZoo.fake(_fake())
    rp = RePose(RePoseConfig(num_servers=2), zoo=zoo)
    _, server_ms = rp.detect_blocks(IMG, BLOCKS, PLAN)
    want = {0: _cost(2000, 300) * 2, 1: _cost(1000, 1000)}
    for sid in (0, 1):
        assert server_ms[sid] == pytest.approx(want[sid], rel=1e-9)
    # one detector call per block, as the edge node makes them
    assert [c for c in zoo._fake.calls] == [(1, 640)] * 3
    # The old accounting charges both servers the padded-square batch equally: wrong by far.
    old = _old_accounting(zoo, PLAN, BLOCKS)
    assert old[0] > 1.5 * want[0]
    assert abs(old[0] - server_ms[0]) > 0.5 * want[0]


def test_parallel_latency_is_coarse_plus_slowest_server():
    """RePose.run reports coarse stage + partition + plan + slowest measured server + fusion."""
    rng = np.random.default_rng(0)
    xy = rng.uniform([0, 0], [3700, 2000], (40, 2))
    gt = np.concatenate([xy, xy + [40, 100]], axis=1)
    zoo = ModelZoo.fake(_fake(gt))
    rp = RePose(RePoseConfig(num_servers=4, partitioner="meanshift", budget_ms=5000.0), zoo=zoo)
    res = rp.run(IMG)
    t = res.timings
    assert t["detect_ms"] == pytest.approx(max(r.total_ms for r in res.servers.values()))
    parts = t["coarse_ms"] + t["partition_ms"] + t["plan_ms"] + t["detect_ms"] + t["fuse_ms"]
    assert t["parallel_ms"] == pytest.approx(parts)
    # the coarse stage on the camera host is one call over N blocks: the whole call counts
    assert res.coarse.ms >= _cost(1920, 1080) * 4 * 0.9
    for sid, run in res.servers.items():
        want = sum(_cost(*_wh(res.partition.blocks[b.index].rect), b_imgsz(res.plan, b.index)) for b in run.blocks)
        assert run.total_ms == pytest.approx(want, rel=0.3, abs=3.0)


def _wh(rect):
    return rect.w, rect.h


def b_imgsz(plan, index):
    """Input size the plan chose for block ``index``."""
    return next(bp.imgsz for bp in plan.blocks if bp.block_index == index)


def test_coarse_on_edge_takes_the_slowest_block():
    """On the edge servers the coarse stage lasts as long as its slowest block (plus the merge)."""
    zoo = ModelZoo.fake(_fake())
    rp = RePose(RePoseConfig(num_servers=4, coarse_on_edge=True), zoo=zoo)
    stage = rp.coarse_stage(IMG)
    assert stage.on_edge and len(stage.block_ms) == 4
    assert stage.ms == pytest.approx(max(stage.block_ms), abs=3.0)
    assert max(stage.block_ms) == pytest.approx(_cost(1920, 1080), rel=0.3, abs=3.0)
    camera = RePose(RePoseConfig(num_servers=4), zoo=zoo).coarse_stage(IMG)
    assert camera.ms > 3 * stage.ms


def test_run_block_uses_the_planned_input_size():
    """A job's imgsz (chosen by the plan) overrides the model key's input size."""
    zoo = ModelZoo.fake(_fake())
    ok = run_block(zoo, IMG, BlockJob(3, (0, 0, 64, 64), "yolov8s@640", 320), 0.25, 0.5)
    assert ok.ok and ok.index == 3 and zoo._fake.calls[-1] == (1, 320)
    run_block(zoo, IMG, BlockJob(4, (0, 0, 64, 64), "yolov8s@640"), 0.25, 0.5)
    assert zoo._fake.calls[-1] == (1, 640)


def test_run_block_error_on_a_real_zoo_is_carried():
    class Broken:
        def detect_crops(self, *a, **k):
            raise RuntimeError("boom")

    r = run_block(Broken(), IMG, BlockJob(1, (0, 0, 8, 8), "m@64"), 0.25, 0.5)
    assert not r.ok and "boom" in r.error and len(r.detections) == 0


def test_run_servers_collect_and_slowest():
    zoo = ModelZoo.fake(_fake(np.array([[10, 10, 50, 90], [3000, 100, 3040, 200]], float)))
    jobs = {0: [BlockJob(0, (0, 0, 500, 500), "yolov8s@640")], 1: [BlockJob(2, (2900, 0, 3400, 500), "yolov8s@640")]}
    runs = run_servers(zoo, IMG, jobs, 0.25, 0.5)
    per = collect(runs, 3)
    assert [len(d) for d in per] == [1, 0, 1] and isinstance(per[1], Detections)
    assert slowest_ms(runs) == max(r.total_ms for r in runs.values())
    assert slowest_ms({}) == 0.0
    single = run_server(zoo, IMG, jobs[0], 0.25, 0.5, server_id=0)
    assert single.total_ms >= single.blocks[0].ms
