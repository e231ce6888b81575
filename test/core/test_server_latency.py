"""Measured / predicted latency ratios: their smoothed spread, and planning with them in process."""
import math

import numpy as np
import pytest

from repose_ros.core.config import RePoseConfig
from repose_ros.core.pipeline import RePose
from repose_ros.core.profiles import Profiles
from repose_ros.core.server_latency import LatencyAdapter, RatioStats
from repose_ros.datasets.layouts import panda_like_layout
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo


def test_ratio_stats_follow_an_exponentially_weighted_mean_and_spread():
    st = RatioStats(0.5)
    st.add("m", 1.0)
    assert st.mean["m"] == 1.0 and st.spread("m") == 0.0
    st.add("m", 2.0)
    # mean 1 + 0.5 * 1; variance (1 - 0.5) * (0 + 0.5 * 1^2)
    assert st.mean["m"] == pytest.approx(1.5) and st.spread("m") == pytest.approx(math.sqrt(0.25))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        st.add("m", bad)
    assert st.mean["m"] == pytest.approx(1.5) and st.spread("unknown") == 0.0
    for _ in range(60):  # a steady server: the spread decays, the mean converges
        st.add("m", 3.0)
    assert st.mean["m"] == pytest.approx(3.0) and st.spread("m") < 1e-6
    with pytest.raises(ValueError):
        RatioStats(0.0)


def test_latency_adapter_scales_the_profile_by_what_a_server_measured():
    profiles = Profiles.default()
    key = profiles.model_keys[0]
    adapter = LatencyAdapter(profiles, smoothing=0.5, sigmas=1.0)
    base = adapter.base.block_latency(key, 640, 360, "0")
    adapter.observe("0", key, 640, 360, 2.0 * base)
    adapter.observe("0", key, 640, 360, 2.0 * base)
    adapter.apply(profiles)
    # a steady ratio of 2 on server 0, no spread: its figures double; other servers untouched
    square = adapter.profiled[key].get("0", adapter.profiled[key]["default"])
    assert profiles.latency_ms[key]["0"] == pytest.approx(2.0 * square)
    assert "1" not in profiles.latency_ms[key] or profiles.latency_ms[key]["1"] == adapter.profiled[key]["1"]
    adapter.observe("0", key, 640, 360, 4.0 * base)  # a noisy block: mean 3, spread sqrt(0.5 * 0.5 * 4) = 1
    adapter.apply(profiles)
    assert profiles.latency_ms[key]["0"] == pytest.approx((3.0 + 1.0) * square)


def _frame_and_zoo(seed=3):
    gt = panda_like_layout(np.random.default_rng(seed), 3840, 2160, n_boxes=80)
    return np.zeros((2160, 3840, 3), np.uint8), ModelZoo.fake(FakeDetector(gt))


def test_repose_plans_with_measured_latencies_only_when_asked():
    frame, zoo = _frame_and_zoo()
    still = RePose(RePoseConfig(num_servers=2, budget_ms=3000.0), zoo=zoo)
    before = {k: dict(v) for k, v in still.profiles.latency_ms.items()}
    still.run(frame)
    assert still.latency_adapter is None and still.profiles.latency_ms == before

    adapting = RePose(RePoseConfig(num_servers=2, budget_ms=3000.0, adapt_latency=True), zoo=zoo)
    res = adapting.run(frame)
    ran = {(str(bp.server_id), bp.model_key) for bp in res.plan.blocks}
    assert ran
    # The fake detector takes a fraction of the profile's time: every server that ran a block now
    # plans with far smaller figures for the model it ran.
    for sid, key in ran:
        profiled = adapting.latency_adapter.profiled[key]
        assert adapting.profiles.latency_ms[key][sid] < 0.5 * profiled.get(sid, profiled["default"])
    with pytest.raises(ValueError):
        RePoseConfig(latency_smoothing=0.0)


def test_latency_adapter_takes_the_ratio_against_the_size_the_block_ran_at():
    """A block a plan ran below its key's size (an enlargement limit) is compared with that size's prediction."""
    profiles = Profiles.default()
    key = profiles.model_keys[-1]
    small = 416
    assert profiles.input_size(key, 400, 300) > small
    adapter = LatencyAdapter(profiles, smoothing=1.0, sigmas=0.0)
    adapter.observe("0", key, 400, 300, 2.0 * adapter.base.block_latency(key, 400, 300, "0", small), small)
    assert adapter.stats["0"].mean[key] == pytest.approx(2.0)
