"""Decoding of raw and compressed camera images, including hostile input."""
import numpy as np
import pytest

from repose_ros.core.image_codec import (ImageDecodeError, SizeLimit, SUPPORTED_ENCODINGS, decode_compressed,
                                         decode_raw, encode_bgr8)

cv2 = pytest.importorskip("cv2")


def _bgr(h=6, w=5):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_bgr8_round_trip_without_padding():
    img = _bgr()
    h, w, step, data = encode_bgr8(img)
    assert np.array_equal(decode_raw("bgr8", h, w, step, data), img)


def test_padded_rows_are_skipped():
    img = _bgr()
    h, w = img.shape[:2]
    step = w * 3 + 7
    buf = np.zeros((h, step), np.uint8)
    buf[:, :w * 3] = img.reshape(h, -1)
    assert np.array_equal(decode_raw("bgr8", h, w, step, buf.tobytes()), img)


@pytest.mark.parametrize("enc,conv", [("rgb8", cv2.COLOR_BGR2RGB), ("bgra8", cv2.COLOR_BGR2BGRA),
                                      ("rgba8", cv2.COLOR_BGR2RGBA)])
def test_colour_encodings(enc, conv):
    img = _bgr()
    other = cv2.cvtColor(img, conv)
    h, w = img.shape[:2]
    out = decode_raw(enc, h, w, w * other.shape[2], other.tobytes())
    assert np.array_equal(out, img)


def test_mono16_big_endian_is_scaled_to_8_bit():
    vals = np.array([[0, 256, 65535]], dtype=">u2")
    out = decode_raw("mono16", 1, 3, 6, vals.tobytes(), is_bigendian=True)
    assert out.shape == (1, 3, 3) and list(out[0, :, 0]) == [0, 1, 255]


@pytest.mark.parametrize("kwargs,reason", [
    (dict(encoding="yuv420"), "bad_encoding"),
    (dict(height=0), "empty"),
    (dict(step=2), "bad_step"),
    (dict(data=b"\x00" * 10), "short_data"),
    (dict(height=5000, step=15), "too_large"),
])
def test_bad_raw_input_is_refused_with_a_reason(kwargs, reason):
    args = dict(encoding="bgr8", height=6, width=5, step=15, data=bytes(90))
    args.update(kwargs)
    with pytest.raises(ImageDecodeError) as err:
        decode_raw(args["encoding"], args["height"], args["width"], args["step"], args["data"],
                   limit=SizeLimit(100, 100))
    assert err.value.reason == reason


def test_every_supported_encoding_decodes_to_bgr8():
    for enc in SUPPORTED_ENCODINGS:
        packed = 2 if ("yu" in enc or "uyvy" in enc) else 1
        ch = {"bgra8": 4, "rgba8": 4, "bgr8": 3, "rgb8": 3, "8UC3": 3}.get(enc, packed)
        item = 2 if enc in ("mono16", "16UC1") else 1
        w, h = 4, 2
        out = decode_raw(enc, h, w, w * ch * item, bytes(h * w * ch * item))
        assert out.shape == (h, w, 3) and out.dtype == np.uint8, enc


def test_jpeg_and_png_decode():
    img = _bgr(40, 60)
    ok, png = cv2.imencode(".png", img)
    assert np.array_equal(decode_compressed("png", png.tobytes()), img)
    ok, jpg = cv2.imencode(".jpg", img)
    assert decode_compressed("jpeg", jpg.tobytes()).shape == img.shape


def test_corrupt_and_empty_compressed():
    with pytest.raises(ImageDecodeError) as err:
        decode_compressed("jpeg", b"\xff\xd8\xff" + b"\x00" * 100)
    assert err.value.reason == "corrupt"
    with pytest.raises(ImageDecodeError) as err:
        decode_compressed("jpeg", b"")
    assert err.value.reason == "empty"


def test_compressed_bomb_is_refused_before_decoding():
    """A PNG that claims a huge size is refused from its header (no allocation)."""
    ok, png = cv2.imencode(".png", _bgr(8, 8))
    data = bytearray(png.tobytes())
    data[16:20] = (100000).to_bytes(4, "big")
    with pytest.raises(ImageDecodeError) as err:
        decode_compressed("png", bytes(data), SizeLimit(4000, 4000))
    assert err.value.reason == "too_large"
