"""Tests of repose_ros.core.profiles: ModelSpec, Profiles, expected precision, YAML."""
import copy
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from repose_ros.core.keys import make_key, parse_key
from repose_ros.core.profile_schema import ModelSpec, ProfileError
from repose_ros.core.profiles import Profiles
from repose_ros.core.tensor_shapes import effective_imgsz


def small_dict():
    """A valid two-model profile as a dict."""
    return {
        "meta": {"source": "test"},
        "models": [{"key": "m@100", "weights": "m.pt", "imgsz": 100},
                   {"key": "m@200", "weights": "m.pt", "imgsz": 200}],
        "latency_ms": {"m@100": {"default": 10.0, "fast": 5.0}, "m@200": {"default": 40.0}},
        "precision": {"m@100": [[100, 0.1], [1000, 0.5], [math.inf, 0.9]],
                      "m@200": [[100, 0.2], [1000, 0.6]]},
    }


# -- keys and ModelSpec -----------------------------------------------------------------------
@pytest.mark.parametrize("key, parsed", [("yolov8s@640", ("yolov8s", 640)), ("a.b-c@1", ("a.b-c", 1))])
def test_parse_key(key, parsed):
    """Valid keys split into name and input size; make_key inverts."""
    assert parse_key(key) == parsed
    assert make_key(*parsed) == key


@pytest.mark.parametrize("key", ["yolov8s", "yolov8s@", "@640", "yolo v8@640", "a@b@640", "m@64.5"])
def test_parse_key_rejects(key):
    """Malformed keys raise ProfileError (a ValueError)."""
    with pytest.raises(ValueError, match="form"):
        parse_key(key)


@pytest.mark.parametrize("args, match", [
    (("m@640", "m.pt", 320), "key says imgsz 640"),
    (("m@640", "", 640), "weights"),
    (("m@0", "m.pt", 0), "positive"),
    (("m@640", "m.pt", 640.0), "positive int"),
])
def test_modelspec_validation(args, match):
    """Inconsistent ModelSpec fields raise ProfileError naming the field."""
    with pytest.raises(ProfileError, match=match):
        ModelSpec(*args)
    assert ModelSpec("m@640", "m.pt", 640).name == "m"


# -- validation -------------------------------------------------------------------------------
def _mutate(path, value):
    d = small_dict()
    target = d
    for k in path[:-1]:
        target = target[k]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize("path, value, match", [
    (("latency_ms", "m@200"), KeyError, "latency_ms lacks entries"),
    (("latency_ms", "x@1"), {"default": 1.0}, "unknown models"),
    (("latency_ms", "m@200"), {"fast": 1.0}, "'default' entry"),
    (("latency_ms", "m@200", "default"), -1.0, "must be > 0"),
    (("latency_ms", "m@200", "default"), "slow", "must be a number"),
    (("latency_ms", "m@200", "default"), math.inf, "finite"),
    (("precision", "m@100"), KeyError, "precision lacks entries"),
    (("precision", "m@100"), [], "non-empty list"),
    (("precision", "m@100"), [[100, 0.1], [100, 0.2]], "increase strictly"),
    (("precision", "m@100"), [[100, 1.5]], r"in \[0, 1\]"),
    (("precision", "m@100"), [[0, 0.5]], "must be > 0"),
    (("precision", "m@100"), [[100, 0.5, 3]], "area_max, precision"),
    (("models",), [], "at least one model"),
    (("models", 1), {"key": "m@100", "weights": "m.pt", "imgsz": 100}, "duplicate"),
    (("models", 1), {"key": "m@200", "imgsz": 200}, "lacks 'weights'"),
    (("meta",), [1, 2], "meta must be a mapping"),
    (("extra",), 1, "unknown sections"),
    (("precision",), KeyError, "lacks sections"),
])
def test_validation_errors(path, value, match):
    """Each malformed profile raises ProfileError with a message naming the problem."""
    with pytest.raises(ProfileError, match=match):
        Profiles.from_dict(_mutate(path, value))


def test_valid_profile_and_latency_lookup():
    """Server-specific latency, fallback to default, matrix layout."""
    p = Profiles.from_dict(small_dict())
    assert p.model_keys == ["m@100", "m@200"]
    assert p.latency("m@100", "fast") == 5.0
    assert p.latency("m@100", "other") == 10.0
    assert p.latency("m@200") == 40.0
    np.testing.assert_array_equal(p.latency_matrix(["fast", "x"]), [[5, 10], [40, 40]])
    with pytest.raises(KeyError, match="unknown model"):
        p.latency("m@300")


# -- precision mapping --------------------------------------------------------------------------
@pytest.mark.parametrize("area, expected", [
    (0, 0.1), (50, 0.1), (100, 0.1), (100.001, 0.5), (1000, 0.5), (1001, 0.9), (1e12, 0.9)])
def test_precision_step_bins(area, expected):
    """Bin i covers (bound[i-1], bound[i]]; beyond the last bound the last bin applies."""
    p = Profiles.from_dict(small_dict())
    assert p.precision_of_area("m@100", [area])[0] == pytest.approx(expected)
    assert p.precision_of_area("m@200", [5000])[0] == pytest.approx(0.6)  # clamped, finite last bound


@pytest.mark.parametrize("block_wh, areas, model, expected", [
    ((100, 50), [], "m@100", 0.0),                    # no boxes
    ((100, 50), [50, 500, 5000], "m@100", 0.5),       # scale 1: bins 0.1, 0.5, 0.9
    ((200, 400), [400, 4000], "m@100", 0.3),          # scale 1/4 (longest side 400): 25, 250
    ((50, 25), [20, 200], "m@100", 0.3),              # enlarged x2 (areas x4): 80, 800
    ((50, 25), [20, 200], "m@200", 0.6),              # x16: 320, 3200 (clamped)
])
def test_expected_precision_cases(block_wh, areas, model, expected):
    """Letterbox scaling by imgsz / max(w, h), then the mean of the mapped precisions."""
    p = Profiles.from_dict(small_dict())
    assert p.expected_precision(model, *block_wh, areas) == pytest.approx(expected)


def test_expected_precision_rejects_bad_block():
    """Non-positive block sizes raise ValueError."""
    with pytest.raises(ValueError):
        Profiles.from_dict(small_dict()).expected_precision("m@100", 0, 10, [1.0])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3000), st.integers(1, 3000),
                          st.lists(st.floats(0, 1e6), max_size=8)), max_size=6))
def test_expected_precision_matrix_matches_scalar(blocks):
    """The vectorised matrix equals per-block calls of expected_precision."""
    p = Profiles.default()
    wh = [(w, h) for w, h, _ in blocks]
    areas = [a for _, _, a in blocks]
    m = p.expected_precision_matrix(wh, areas)
    assert m.shape == (len(blocks), len(p.model_keys))
    for i, (w, h, a) in enumerate(blocks):
        for j, k in enumerate(p.model_keys):
            assert m[i, j] == pytest.approx(p.expected_precision(k, w, h, a))


def test_expected_precision_matrix_counts_a_box_over_the_cap_with_its_cap_value():
    """cap_area / cap_values_per_block: an oversized box takes its cap value, NaN keeps the profile's."""
    p = Profiles.default()
    wh = [(640, 640), (3000, 3000)]
    areas = [[200.0 * 500.0, 20.0 * 50.0], [200.0 * 500.0]]
    caps = [[0.123, 0.456], [np.nan]]
    plain = p.expected_precision_matrix(wh, areas, reduce="sum")
    capped = p.expected_precision_matrix(wh, areas, reduce="sum", cap_area=65536.0, cap_values_per_block=caps)
    sizes = p.input_sizes(wh).astype(float)
    for j, k in enumerate(p.model_keys):
        scale = sizes[0, j] / 640.0
        at_input = 1e5 * scale ** 2
        small = p.precision_at(k, [1e3], scale)[0]  # never over the cap here
        big = 0.123 if at_input > 65536.0 else p.precision_at(k, [1e5], scale)[0]
        assert capped[0, j] == pytest.approx(big + small)
    np.testing.assert_allclose(capped[1], plain[1])  # NaN: no cap value, the profile's precision
    for off in (None, 0.0, math.inf):
        np.testing.assert_allclose(p.expected_precision_matrix(wh, areas, reduce="sum", cap_area=off,
                                                               cap_values_per_block=caps), plain)
    with pytest.raises(ValueError, match="one cap value list per block"):
        p.expected_precision_matrix(wh, areas, cap_area=65536.0, cap_values_per_block=caps[:1])
    with pytest.raises(ValueError, match="cap values must match"):
        p.expected_precision_matrix(wh, areas, cap_area=65536.0, cap_values_per_block=[[0.1], [0.2]])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 4000), st.floats(1, 4000)), max_size=8),
       st.sampled_from([None, 1.0, 2.5, 3.0]), st.sampled_from([32, 64]))
def test_input_sizes_match_scalar(wh, cap, stride):
    """The vectorised input sizes equal input_size block by block, with or without an upscale cap."""
    p = Profiles.default()
    p.upscale_cap, p.stride = cap, stride
    sizes = p.input_sizes(wh)
    assert sizes.shape == (len(wh), len(p.model_keys)) and sizes.dtype == np.int64
    for i, (w, h) in enumerate(wh):
        assert sizes[i].tolist() == [p.input_size(k, w, h) for k in p.model_keys]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 4000)), min_size=1, max_size=8),
       st.sampled_from([None, 1.0, 3.0]))
def test_block_latency_matrix_matches_scalar(wh, cap):
    """The vectorised block latencies equal block_latency (to float rounding), on every server."""
    p = Profiles.default()
    p.upscale_cap = cap
    key = p.model_keys[2]
    p.latency_ms[key]["1"] = 2.5 * p.latency_ms[key]["default"]  # one server of its own
    servers = ["default", "1", "7"]
    m = p.block_latency_matrix(wh, servers)
    assert m.shape == (len(wh), len(p.model_keys), len(servers))
    want = [[[p.block_latency(k, w, h, s) for s in servers] for k in p.model_keys] for w, h in wh]
    np.testing.assert_allclose(m, np.array(want), rtol=1e-12, atol=0)


def test_block_latency_matrix_follows_a_new_stride():
    """Figures kept for one stride are not reused under another (448 is a multiple of both 32 and 64)."""
    p = Profiles.default()
    p.upscale_cap = 3.0
    p.block_latency_matrix([(149, 100)], ["default"])  # yolov8s@480 runs at 448 (149 x 3, rounded up)
    p.stride = 64  # 448 again, but the @480 figure now stands for a 512 input
    m = p.block_latency_matrix([(149, 100)], ["default"])
    want = [p.block_latency(k, 149, 100, "default") for k in p.model_keys]
    np.testing.assert_allclose(m[0, :, 0], want, rtol=1e-12, atol=0)


def test_block_latency_matrix_follows_latency_updates():
    """A latency written into the profile after a call (a partitioner adapting it) is used by the next call."""
    p = Profiles.default()
    key = p.model_keys[0]
    before = p.block_latency_matrix([(640, 360)], ["3"])[0, 0, 0]
    p.latency_ms[key]["3"] = 4.0 * p.latency_ms[key]["default"]
    after = p.block_latency_matrix([(640, 360)], ["3"])[0, 0, 0]
    assert after == pytest.approx(4.0 * before)
    assert after == p.block_latency(key, 640, 360, "3")


# -- YAML -------------------------------------------------------------------------------------
def test_yaml_roundtrip(tmp_path):
    """save then load gives the same profile, infinite bounds included."""
    p = Profiles.from_dict(small_dict())
    path = p.save(tmp_path / "sub" / "p.yaml")
    text = path.read_text()
    assert ".inf" in text and "meta:" in text
    q = Profiles.load(path)
    assert q.to_dict() == p.to_dict()
    assert q.precision["m@100"][-1][0] == math.inf


@pytest.mark.parametrize("text, match", [
    ("models: [\n", "not valid YAML"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("models: {}\nlatency_ms: {}\nprecision: {}\n", "'models' must be a list"),
])
def test_load_errors_name_the_file(tmp_path, text, match):
    """Malformed files raise ProfileError that names the file."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=match) as info:
        Profiles.load(path)
    assert "bad.yaml" in str(info.value)


def test_to_dict_is_a_copy():
    """Mutating to_dict() output does not change the profile."""
    p = Profiles.from_dict(small_dict())
    d = p.to_dict()
    d["latency_ms"]["m@100"]["default"] = 99.0
    assert p.latency("m@100") == 10.0
    assert Profiles.from_dict(copy.deepcopy(small_dict())).to_dict() == p.to_dict()


# -- shipped default profile -----------------------------------------------------------------
def test_default_profile_is_labelled_as_measured():
    """The shipped profile loads, says where it was measured and has the expected models."""
    p = Profiles.default()
    assert p.meta["source"].startswith("measured by 'repose profile'")
    assert p.meta.get("date") and p.meta.get("device") and p.meta.get("command")
    assert p.model_keys == [f"yolov8s@{s}" for s in (320, 480, 640, 960, 1280, 1600, 1920)]
    # shape-aware latency: measured points for every model, the square among them
    for key in p.model_keys:
        points = p.latency_shapes[key]["default"]
        size = p.model(key).imgsz
        assert len(points) >= 4 and any(h == w == size for h, w, _ in points)
    # the planner's predicted makespan was checked against the measured one on real frames
    assert p.meta["makespan_check"]["n"] > 0 and p.meta["makespan_check"]["median_abs_error"] is not None


def test_default_profile_shape():
    """Latency grows ~ imgsz^2; precision rises with area, then may fall for the largest objects.

    The curves are measured per input size, so at one model-input area they differ only by
    measurement noise (the same network sees an object of the same size, with more or less
    context): within 0.25 of each other, not ordered by size. They rise with area up to objects of
    about 256 px at the model input (65536 px^2); only beyond that may they fall (measured: the
    detector loses precision on objects far larger than those it was trained on).
    """
    p = Profiles.default()
    sizes = np.array([p.model(k).imgsz for k in p.model_keys], float)
    lat = np.array([p.latency(k) for k in p.model_keys])
    assert np.all(np.diff(lat) > 0)
    np.testing.assert_allclose(lat / sizes ** 2, lat[-1] / sizes[-1] ** 2, rtol=0.25)
    areas = np.geomspace(1, 1e6, 200)
    curves = np.array([p.precision_of_area(k, areas) for k in p.model_keys])
    rising = areas <= 32768
    assert np.all(np.diff(curves[:, rising], axis=1) >= 0)   # rising with area up to the peak region
    assert np.all(curves.max(axis=0) - curves.min(axis=0) <= 0.25)
    for c in curves:                                          # unimodal: once it falls, it never rises again
        d = np.diff(c)
        first_fall = np.argmax(d < 0) if np.any(d < 0) else len(d)
        assert np.all(d[first_fall:] <= 0)
    assert p.meta["precision"]["curve_shape"] == "unimodal"


def test_default_file_is_plain_yaml():
    """The file parses with plain yaml.safe_load (no custom tags)."""
    from repose_ros.core.paths import find_config_file
    data = yaml.safe_load(find_config_file("profiles/default.yaml").read_text())
    from repose_ros.core.profiles import OPTIONAL_SECTIONS
    assert {"meta", "models", "latency_ms", "precision"} <= set(data)
    assert set(data) <= {"meta", "models", "latency_ms", "precision", *OPTIONAL_SECTIONS}


def test_server_latencies_measured_scaled_and_borrowed():
    """Measured figures win; unmeasured models are scaled by the server's ratio or borrowed from a faster peer."""
    from repose_ros.core.profiles import server_latencies

    profiled = {"m@320": {"default": 100.0}, "m@640": {"default": 200.0, "1": 150.0}, "m@1280": {"default": 800.0}}
    assert server_latencies(profiled, {}, "0") == {"m@320": 100.0, "m@640": 200.0, "m@1280": 800.0}
    assert server_latencies(profiled, {}, "1")["m@640"] == 150.0          # the server's own profile entry
    measured = {"0": {"m@320": 50.0}, "1": {"m@1280": 300.0}}
    lat0 = server_latencies(profiled, measured, "0")
    # Server 0 runs at half the profile's time: m@640 -> 100; m@1280 -> min(400, peer's 300).
    assert lat0 == {"m@320": 50.0, "m@640": 100.0, "m@1280": 300.0}
    # Server 1's ratio is 300/800; m@320 -> min(37.5, 50 measured by server 0).
    lat1 = server_latencies(profiled, measured, "1")
    assert lat1["m@1280"] == 300.0 and lat1["m@320"] == pytest.approx(37.5) and lat1["m@640"] == pytest.approx(56.25)
    # A server that measured itself much slower is not made faster than it measured.
    slow = server_latencies(profiled, {"2": {"m@320": 1000.0}}, "2")
    assert slow == {"m@320": 1000.0, "m@640": 2000.0, "m@1280": 8000.0}


GAIN = {"factors": [1.0, 2.0, 4.0], "bins": [[100.0, [0.0, 0.2, 0.3]], [math.inf, [0.0, -0.1, -0.5]]]}


def _with_gain(gain=GAIN) -> Profiles:
    data = Profiles.default().to_dict()
    data["upscale_gain"] = gain
    return Profiles.from_dict(data).with_upscale_gain()


def test_precision_at_an_enlargement_is_the_native_precision_plus_the_measured_gain():
    """upscale_gain: native precision + gain (log-linear in the factor, held past the last), clipped to [0, 1]."""
    p = _with_gain()
    key = "yolov8s@1280"
    areas = np.array([50.0, 50.0, 50.0, 5000.0, 5000.0, 5000.0, 5000.0])
    scales = np.array([0.5, 2.0, 8.0, 1.0, math.sqrt(2.0), 2.0, 4.0])
    native = p.precision_of_area(key, areas)
    want_gain = np.array([0.0, 0.2, 0.3, 0.0, -0.05, -0.1, -0.5])
    np.testing.assert_allclose(p.upscale_gain_of(areas, scales), want_gain, atol=1e-12)
    got = p.precision_at(key, areas, scales)
    assert got[0] == p.precision_of_area(key, [50.0 * 0.25])[0]        # shrunk: the curve at the area at the input
    assert got[3] == native[3]                                         # scale 1: nothing changes
    np.testing.assert_allclose(got[1:3], np.clip(native[1:3] + [0.2, 0.3], 0, 1))
    np.testing.assert_allclose(got[4:], np.clip(native[4:] + want_gain[4:], 0, 1))
    assert np.all((got >= 0) & (got <= 1))
    # not applied (the default, though the shipped profile has the section): valued by its area at the input
    plain = Profiles.default()
    assert plain.upscale_gain and not plain.apply_upscale_gain
    assert p.with_upscale_gain() is p and not p.with_upscale_gain(False).apply_upscale_gain
    assert p.with_upscale_gain(False).upscale_gain == p.upscale_gain
    np.testing.assert_allclose(plain.precision_at(key, areas, scales),
                               plain.precision_of_area(key, areas * scales ** 2))
    np.testing.assert_allclose(plain.with_upscale_gain().precision_at(key, areas, scales),
                               np.clip(_native_plus_gain(plain, key, areas, scales), 0, 1))
    empty = Profiles.default().to_dict()
    del empty["upscale_gain"]
    none = Profiles.from_dict(empty).with_upscale_gain()          # nothing measured: nothing to apply
    np.testing.assert_allclose(none.upscale_gain_of(areas, scales), 0.0)
    np.testing.assert_allclose(none.precision_at(key, areas, scales), plain.precision_of_area(key, areas * scales ** 2))


def _native_plus_gain(p, key, areas, scales):
    """What precision_at should give with the gain applied, written out: shrunk boxes by area at the input."""
    shrunk = p.precision_of_area(key, areas * scales ** 2)
    return np.where(scales > 1, p.precision_of_area(key, areas) + p.upscale_gain_of(areas, scales), shrunk)


def test_upscale_gain_survives_a_round_trip_and_shapes_the_matrix(tmp_path):
    p = _with_gain()
    again = Profiles.load(p.save(tmp_path / "p.yaml"))
    assert again.upscale_gain["factors"] == (1.0, 2.0, 4.0)
    assert again.upscale_gain["bins"] == p.upscale_gain["bins"]
    wh, areas = [(320, 320), (3000, 2000)], [[60.0, 4000.0], [4000.0]]
    m = p.expected_precision_matrix(wh, areas)
    sizes = p.input_sizes(wh).astype(float)
    for j, k in enumerate(p.model_keys):
        for i, (w, h) in enumerate(wh):
            want = p.precision_at(k, areas[i], sizes[i, j] / max(w, h)).mean()
            assert m[i, j] == pytest.approx(want)
    assert not np.allclose(m, p.with_upscale_gain(False).expected_precision_matrix(wh, areas))


@pytest.mark.parametrize("gain, match", [
    ({"factors": [1.5, 2.0], "bins": [[1.0, [0.0, 0.1]]]}, "start at 1"),
    ({"factors": [1.0, 1.0], "bins": [[1.0, [0.0, 0.1]]]}, "increase strictly"),
    ({"factors": [1.0], "bins": [[1.0, [0.0]]]}, "at least two"),
    ({"factors": [1.0, 2.0], "bins": [[1.0, [0.0]]]}, "one gain per factor"),
    ({"factors": [1.0, 2.0], "bins": [[1.0, [0.1, 0.1]]]}, "0 at factor 1"),
    ({"factors": [1.0, 2.0], "bins": [[1.0, [0.0, 1.5]]]}, r"\[-1, 1\]"),
    ({"factors": [1.0, 2.0], "bins": [[5.0, [0.0, 0.1]], [5.0, [0.0, 0.1]]]}, "increase strictly"),
    ({"factors": [1.0, 2.0], "bins": []}, "non-empty"),
    ({"factors": [1.0, 2.0], "bins": [[1.0, [0.0, 0.1]]], "extra": 1}, "unknown entries"),
    ([1, 2], "must be a mapping"),
])
def test_a_malformed_upscale_gain_is_refused(gain, match):
    with pytest.raises(ProfileError, match=match):
        _with_gain(gain)


def test_the_shipped_profile_has_the_gain_of_its_stored_upscale_study():
    """default.yaml's upscale_gain is derive_upscale_gain of the study kept in its meta, nothing else."""
    from repose_ros.profiling.upscale import derive_upscale_gain

    p = Profiles.default()
    up = p.meta["upscale"]
    want = derive_upscale_gain(up["factors"], up["pooled"])
    assert list(p.upscale_gain["factors"]) == want["factors"]
    assert [[b, list(g)] for b, g in p.upscale_gain["bins"]] == want["bins"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 4000), st.floats(1, 4000), st.sampled_from([1.0, 1.3, 2.0, 5.0, math.inf])),
                max_size=8),
       st.sampled_from([None, 1.0, 3.0]), st.sampled_from([32, 64]))
def test_input_sizes_take_the_smaller_of_the_upscale_cap_and_a_blocks_limit(rows, cap, stride):
    """A per-block enlargement limit acts as that block's upscale cap where it is the smaller one."""
    p = Profiles.default()
    p.upscale_cap, p.stride = cap, stride
    wh = [(w, h) for w, h, _ in rows]
    limits = [e for _, _, e in rows]
    sizes = p.input_sizes(wh, enlarge=limits)
    for i, (w, h, e) in enumerate(rows):
        both = e if cap is None else min(cap, e)
        expected = [effective_imgsz(w, h, p.model(k).imgsz, None if math.isinf(both) else both, stride)
                    for k in p.model_keys]
        assert sizes[i].tolist() == expected
    if wh:
        np.testing.assert_array_equal(p.input_sizes(wh, enlarge=[math.nan] * len(wh)), p.input_sizes(wh))


def test_a_blocks_enlargement_limit_reaches_its_latency_and_precision():
    """The limited input size is the one the latency and precision matrices use."""
    p = Profiles.default()
    wh, areas = [(400.0, 300.0), (400.0, 300.0)], [np.full(3, 5000.0), np.full(3, 5000.0)]
    limits = [1.0, math.inf]
    sizes = p.input_sizes(wh, enlarge=limits)
    assert sizes[0].max() == 416 and sizes[1].tolist() == p.input_sizes(wh)[1].tolist()
    lat = p.block_latency_matrix(wh, ["default"], enlarge=limits)
    prec = p.expected_precision_matrix(wh, areas, enlarge=limits)
    for j, k in enumerate(p.model_keys):
        scale = sizes[0, j] / 400.0
        assert prec[0, j] == pytest.approx(float(p.precision_at(k, areas[0], scale).mean()))
        assert lat[0, j, 0] <= lat[1, j, 0] + 1e-9  # never a larger tensor than without the limit
    np.testing.assert_allclose(prec[1], p.expected_precision_matrix(wh, areas)[1])
    with pytest.raises(ValueError, match="one enlargement limit per block"):
        p.input_sizes(wh, enlarge=[1.0])


def test_block_latency_at_the_plans_input_size_is_the_limited_matrix_entry():
    """block_latency(imgsz=...) predicts the block at the size a limited plan runs it at."""
    p = Profiles.default()
    sizes = p.input_sizes([(400.0, 300.0)], enlarge=[1.0])[0]
    lat = p.block_latency_matrix([(400.0, 300.0)], ["default"], enlarge=[1.0])[0, :, 0]
    for j, k in enumerate(p.model_keys):
        assert p.block_latency(k, 400, 300, "default", int(sizes[j])) == pytest.approx(lat[j])
    assert p.block_latency(p.model_keys[-1], 400, 300, "default", None) == p.block_latency(p.model_keys[-1], 400, 300)
