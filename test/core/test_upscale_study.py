"""Upscaling study of `repose profile --upscale-study`: crops, same objects, cap rule, fake-detector run."""
import math

import numpy as np
import pytest

from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.profiling.samples import FrameSample
from repose_ros.profiling.measure import NoBar
from repose_ros.profiling.upscale import (anchor_plan, crop_window, derive_upscale_cap, derive_upscale_gain,
                                          format_upscale_table,
                                          make_upscale_input, run_upscale_study)


def test_crop_window_stays_inside_the_frame():
    assert crop_window(100, 100, 64, 640, 480) == (68, 68, 132, 132)
    assert crop_window(5, 470, 64, 640, 480) == (0, 416, 64, 480)          # shifted inside
    assert crop_window(300, 200, 1000, 640, 480) == (0, 0, 640, 480)       # larger than the frame


def test_upscale_input_resizes_and_maps_back():
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:120, 200:210] = 255
    ui = make_upscale_input(img, 160, 2.0, crop_window(205, 110, 80, 640, 480))
    assert ui.image.shape == (160, 160, 3) and ui.sx == ui.sy == 2.0
    box = np.array([[200, 100, 210, 120]], float)
    inp = ui.to_input(box)
    np.testing.assert_allclose(ui.to_source(inp), box)
    x0, y0, x1, y1 = inp[0].astype(int)
    assert ui.image[y0 + 2:y1 - 2, x0 + 2:x1 - 2].min() > 200              # the object is where the box says
    padded = make_upscale_input(img[:50, :50], 160, 1.0, (0, 0, 50, 50))
    assert (padded.image[60:, 60:] == 114).all()                            # letterbox grey outside the crop


def test_anchor_plan_core_holds_the_same_objects():
    gt = np.array([[100, 100, 110, 120], [104, 96, 112, 112], [300, 300, 400, 460]], np.float32)
    sample = FrameSample("s", np.zeros((480, 640, 3), np.uint8), gt, np.zeros((0, 4), np.float32))
    plans = anchor_plan(sample, 160, [1.0, 2.0, 4.0], 5, np.random.default_rng(0))
    assert len(plans) == 2                                   # the 100x160 person does not fit a 40 px core
    for plan in plans:
        x0, y0, x1, y1 = plan["core"]
        assert x1 - x0 == 40 and y1 - y0 == 40
        for w in plan["windows"]:                            # the core lies in every crop
            assert w[0] <= x0 and w[1] <= y0 and w[2] >= x1 and w[3] >= y1
        assert not plan["core_gt"][2]
    empty = FrameSample("e", sample.image, np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32))
    assert anchor_plan(empty, 160, [1.0, 4.0], 3, np.random.default_rng(0)) == []


@pytest.mark.parametrize("aps, cap", [
    ([0.0, 0.1, 0.105, 0.2], 1.5),          # stops at the first step below the gain
    ([0.3, 0.295, 0.5, 0.6], 1.0),          # enlarging does not help at all
    ([0.1, 0.2, 0.3, 0.4], 3.0),            # every step helps: the largest factor
    ([None, None, None, None], None),       # no small objects measured
    ([0.1, 0.11, None, 0.5], 1.5),          # an unmeasured factor stops the walk
])
def test_cap_rule(aps, cap):
    assert derive_upscale_cap([1.0, 1.5, 2.0, 3.0], aps, 0.01) == cap


def test_cap_rule_checks_lengths():
    with pytest.raises(ValueError):
        derive_upscale_cap([1.0, 2.0], [0.1], 0.01)


def test_study_with_a_fake_detector_that_misses_small_inputs():
    rng = np.random.default_rng(3)
    samples = []
    for i in range(3):
        xy = rng.uniform(60, 500, size=(6, 2))
        gt = np.concatenate([xy, xy + [10, 20]], axis=1).astype(np.float32)   # 10x20 px people (200 px^2)
        samples.append(FrameSample(f"f{i}", np.full((480, 640, 3), 90, np.uint8), gt, np.zeros((0, 4), np.float32)))
    fake = FakeDetector(min_input_px=20.0)            # sqrt(200) = 14 px: found once enlarged 2x or more
    zoo = ModelZoo.fake(fake, ["yolov8s"])
    res = run_upscale_study(zoo, "yolov8s", [("toy", "toy data", samples)], [160], [1.0, 2.0, 4.0], 2, 0.01,
                            0.05, 1024.0, 0.01, np.random.default_rng(0), NoBar(), fake)
    small = [r["small"] for r in res["pooled"]]
    assert small[0]["ap50_95"] == 0.0 and small[0]["recall"] == 0.0
    assert small[1]["ap50_95"] > 0.9 and small[2]["ap50_95"] > 0.9
    assert small[0]["n_gt"] == small[1]["n_gt"] == small[2]["n_gt"] > 0     # the same objects at every factor
    assert res["cap"] == 2.0 and res["cap_by_size"] == {"160": 2.0}
    assert res["inputs"] == 3 * 2 * 3 and list(res["by_data"]) == ["toy"]
    assert res["pooled"][1]["bins"][1]["n_gt"] == small[1]["n_gt"]          # all in the 64-256 px^2 bin
    assert "upscale_cap = 2.0" in format_upscale_table(res)
    gain = res["gain"]   # the profile's upscale_gain: AP at each factor less at factor 1, per source-area bin
    assert gain["factors"] == [1.0, 2.0, 4.0]
    for i, (bound, gains) in enumerate(gain["bins"]):
        assert bound == res["pooled"][0]["bins"][i]["area_max"] and gains[0] == 0.0
    assert gain["bins"][1][1][1] == pytest.approx(res["pooled"][1]["bins"][1]["ap50_95"] - 0.0, abs=1e-4)
    with pytest.raises(ValueError):
        run_upscale_study(zoo, "yolov8s", [], [160], [0.5, 1.0], 1, 0.01, 0.05, 1024.0, 0.01,
                          np.random.default_rng(0), NoBar(), fake)


def test_derive_upscale_gain_subtracts_factor_one_per_bin():
    rows = [{"bins": [{"area_max": 64.0, "ap50_95": 0.1}, {"area_max": math.inf, "ap50_95": None}]},
            {"bins": [{"area_max": 64.0, "ap50_95": 0.25}, {"area_max": math.inf, "ap50_95": 0.3}]},
            {"bins": [{"area_max": 64.0, "ap50_95": None}, {"area_max": math.inf, "ap50_95": 0.2}]}]
    gain = derive_upscale_gain([1.0, 2.0, 3.0], rows)
    assert gain["factors"] == [1.0, 2.0, 3.0]
    assert gain["bins"] == [[64.0, [0.0, 0.15, 0.0]], [math.inf, [0.0, 0.0, 0.0]]]  # no AP: no gain assumed
    assert derive_upscale_gain([1.5, 2.0], rows[:2]) == {}       # nothing at factor 1 to compare with
    assert derive_upscale_gain([1.0, 2.0], rows) == {}           # one row per factor
