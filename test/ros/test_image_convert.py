"""image_to_bgr: cv_bridge where it is importable (a fake one here), the own converter otherwise."""
import sys
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("sensor_msgs.msg")
cv2 = pytest.importorskip("cv2")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from repose_ros.core.image_codec import ImageDecodeError, SizeLimit, SUPPORTED_ENCODINGS, decode_raw  # noqa: E402
from repose_ros.ros import convert  # noqa: E402
from repose_ros.ros.convert import image_converter, image_to_bgr, set_image_converter  # noqa: E402


class FakeBridgeError(TypeError):
    """Stands for cv_bridge.CvBridgeError (a TypeError)."""


class FakeBridge:
    """Records its calls; answers with ``answer(msg)`` (default: what cv_bridge gives, computed by decode_raw)."""

    calls = []
    answer = None

    def imgmsg_to_cv2(self, msg, desired_encoding="passthrough"):
        FakeBridge.calls.append((msg.encoding, desired_encoding))
        if FakeBridge.answer is not None:
            return FakeBridge.answer(msg)
        return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian))


@pytest.fixture
def fake_bridge(monkeypatch):
    """A ``cv_bridge`` module in sys.modules whose CvBridge is FakeBridge; the converter is reset after."""
    mod = types.ModuleType("cv_bridge")
    mod.CvBridge, mod.CvBridgeError = FakeBridge, FakeBridgeError
    monkeypatch.setitem(sys.modules, "cv_bridge", mod)
    FakeBridge.calls, FakeBridge.answer = [], None
    set_image_converter("auto")
    yield FakeBridge
    FakeBridge.calls, FakeBridge.answer = [], None
    monkeypatch.undo()
    set_image_converter("auto")


@pytest.fixture
def no_bridge(monkeypatch):
    """cv_bridge not importable (as on this machine, made certain)."""
    monkeypatch.setitem(sys.modules, "cv_bridge", None)  # import raises ImportError
    set_image_converter("auto")
    yield
    monkeypatch.undo()
    set_image_converter("auto")


def _msg(encoding, h, w, step, data, big=False):
    m = Image(height=h, width=w, step=step, encoding=encoding, is_bigendian=big)
    m.data = bytes(data)
    return m


def _bgr8_msg(h=3, w=4):
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    return _msg("bgr8", h, w, w * 3, img.tobytes()), img


def test_cv_bridge_is_used_when_importable(fake_bridge):
    fake_bridge.answer = lambda msg: np.full((msg.height, msg.width, 3), 9, np.uint8)
    m = _msg("bgr16", 2, 3, 18, bytes(36))
    out = image_to_bgr(m)
    assert image_converter() == "cv_bridge"
    assert fake_bridge.calls == [("bgr16", "bgr8")] and (out == 9).all() and out.shape == (2, 3, 3)


def test_own_converter_when_cv_bridge_is_absent(no_bridge):
    m, img = _bgr8_msg()
    assert image_converter() == "own"
    assert np.array_equal(image_to_bgr(m), img)


def test_own_converter_can_be_forced(fake_bridge):
    set_image_converter("own")
    m, img = _bgr8_msg()
    assert image_converter() == "own" and np.array_equal(image_to_bgr(m), img) and fake_bridge.calls == []
    set_image_converter("auto")
    image_to_bgr(m)
    assert fake_bridge.calls == [("bgr8", "bgr8")]


def test_unknown_converter_mode_is_refused():
    with pytest.raises(ValueError):
        set_image_converter("cv_bridge_please")


def test_a_broken_cv_bridge_counts_as_absent(monkeypatch):
    mod = types.ModuleType("cv_bridge")

    def broken():
        raise RuntimeError("module compiled against another numpy")

    mod.CvBridge = broken
    monkeypatch.setitem(sys.modules, "cv_bridge", mod)
    set_image_converter("auto")
    try:
        m, img = _bgr8_msg()
        assert image_converter() == "own" and np.array_equal(image_to_bgr(m), img)
    finally:
        monkeypatch.undo()
        set_image_converter("auto")


@pytest.mark.parametrize("case", ["big_endian", "step_not_whole_pixels", "short_last_row", "uyvy", "8UC3_as_bgr8"])
def test_frames_cv_bridge_would_misread_go_to_the_own_converter(fake_bridge, case):
    """cv_bridge's Python side is not asked for what it reads wrongly or refuses; the pixels are exact."""
    if case == "big_endian":
        m = _msg("mono16", 1, 3, 6, np.array([129, 0x8080, 65535], ">u2").tobytes(), big=True)
        expect = [[[1] * 3, [128] * 3, [255] * 3]]
    elif case == "step_not_whole_pixels":
        m = _msg("rgb8", 2, 1, 4, bytes([1, 2, 3, 99, 4, 5, 6, 99]))
        expect = [[[3, 2, 1]], [[6, 5, 4]]]
    elif case == "short_last_row":
        m = _msg("bgr8", 2, 1, 5, bytes([1, 2, 3, 99, 99, 4, 5, 6]))
        expect = [[[1, 2, 3]], [[4, 5, 6]]]
    elif case == "uyvy":  # U Y0 V Y1 with U = V = 128: two grey pixels
        m = _msg("uyvy", 1, 2, 4, bytes([128, 100, 128, 100]))
        expect = cv2.cvtColor(np.array([[[128, 100], [128, 100]]], np.uint8), cv2.COLOR_YUV2BGR_UYVY).tolist()
    else:
        m = _msg("8UC3", 1, 2, 6, bytes([1, 2, 3, 4, 5, 6]))
        expect = [[[1, 2, 3], [4, 5, 6]]]
    out = image_to_bgr(m, ambiguous_as="bgr8")
    assert out.tolist() == expect and fake_bridge.calls == []


@pytest.mark.parametrize("kwargs,reason", [
    (dict(encoding="yuv420"), "bad_encoding"),
    (dict(encoding="8UC3"), "ambiguous_encoding"),
    (dict(encoding="16UC1", step=8), "ambiguous_encoding"),
    (dict(encoding="32FC1"), "ambiguous_encoding"),
    (dict(height=0), "empty"),
    (dict(step=2), "bad_step"),
    (dict(data=bytes(10)), "short_data"),
    (dict(height=5000, data=bytes(10)), "too_large"),
    (dict(encoding="bayer_rggb16", width=2, step=4), "bad_size"),
])
@pytest.mark.parametrize("bridge", [True, False])
def test_bad_frames_are_refused_the_same_way_before_cv_bridge(fake_bridge, bridge, kwargs, reason):
    """Both paths refuse with the same reason; cv_bridge never sees (or allocates for) a refused frame."""
    set_image_converter("auto" if bridge else "own")
    args = dict(encoding="bgr8", height=6, width=5, step=15, data=bytes(90))
    args.update(kwargs)
    with pytest.raises(ImageDecodeError) as err:
        image_to_bgr(_msg(args["encoding"], args["height"], args["width"], args["step"], args["data"]),
                     SizeLimit(100, 100))
    assert err.value.reason == reason and fake_bridge.calls == []


@pytest.mark.parametrize("answer", [
    lambda msg: (_ for _ in ()).throw(FakeBridgeError("[16UC1] is not a color format. but [bgr8] is")),
    lambda msg: (_ for _ in ()).throw(TypeError("buffer is too small for requested array")),
    lambda msg: (_ for _ in ()).throw(AttributeError("'ndarray' has no attribute 'newbyteorder'")),
    lambda msg: (_ for _ in ()).throw(cv2.error("cvtColor")),
    lambda msg: np.zeros((msg.height, msg.width), np.uint8),
    lambda msg: np.zeros((msg.height, msg.width, 3), np.uint16),
    lambda msg: None,
])
def test_cv_bridge_failures_become_image_decode_errors(fake_bridge, answer):
    fake_bridge.answer = answer
    m, _ = _bgr8_msg()
    with pytest.raises(ImageDecodeError) as err:
        image_to_bgr(m)
    assert err.value.reason == "cv_bridge" and fake_bridge.calls == [("bgr8", "bgr8")]


def test_compressed_images_never_go_through_cv_bridge(fake_bridge):
    """Their size is checked from the header before decoding, which cv_bridge does not do."""
    img = np.full((8, 10, 3), 50, np.uint8)
    msg = CompressedImage(format="png")
    msg.data = cv2.imencode(".png", img)[1].tobytes()
    assert np.array_equal(image_to_bgr(msg), img) and fake_bridge.calls == []


@pytest.mark.parametrize("enc", SUPPORTED_ENCODINGS)
def test_every_encoding_gives_the_same_pixels_on_both_paths(fake_bridge, enc):
    """With the fake standing for cv_bridge, the dispatch hands the frame over unchanged."""
    from repose_ros.core.image_codec import pixel_type

    depth, ch = (int(v) for v in pixel_type(enc).split("UC"))
    h, w = 4, 6
    step = w * ch * depth // 8 + 2 * ch * depth // 8  # padded by two whole pixels
    data = np.random.default_rng(3).integers(0, 256, h * step, dtype=np.uint8).tobytes()
    m = _msg(enc, h, w, step, data)
    ref = decode_raw(enc, h, w, step, data)
    set_image_converter("own")
    assert np.array_equal(image_to_bgr(m), ref)
    set_image_converter("auto")
    assert np.array_equal(image_to_bgr(m), ref)
    assert len(fake_bridge.calls) == (enc in convert.CV_BRIDGE_ENCODINGS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(enc=st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.sampled_from(["8UC3", "16UC1", "32FC1", "x", ""])),
       h=st.integers(0, 20), w=st.integers(0, 20), step=st.integers(0, 200), size=st.integers(0, 3000),
       big=st.booleans(), ambiguous=st.sampled_from(["", "bgr8", "mono16", "junk"]),
       fail=st.sampled_from([None, "error", "shape"]))
def test_dispatch_only_refuses_with_image_decode_error(fake_bridge, enc, h, w, step, size, big, ambiguous, fail):
    """Random frames through the cv_bridge path: a bgr8 frame of the right size, or ImageDecodeError."""
    fake_bridge.answer = {None: None, "error": lambda msg: (_ for _ in ()).throw(FakeBridgeError("no")),
                          "shape": lambda msg: np.zeros((1, 1, 3), np.uint8)}[fail]
    try:
        out = image_to_bgr(_msg(enc, h, w, step, bytes(size), big), SizeLimit(16, 16), ambiguous)
    except ImageDecodeError as exc:
        assert exc.reason
    else:
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
