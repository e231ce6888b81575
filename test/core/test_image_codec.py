"""Decoding of raw and compressed camera images, including hostile input."""
import numpy as np
import pytest

from repose_ros.core.image_codec import (CV_BRIDGE_ENCODINGS, ImageDecodeError, SizeLimit, SUPPORTED_ENCODINGS,
                                         check_raw, decode_compressed, decode_raw, encode_bgr8, pixel_type)

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
    vals = np.array([[0, 256, 65535, 128, 129]], dtype=">u2")
    out = decode_raw("mono16", 1, 5, 10, vals.tobytes(), is_bigendian=True)
    assert out.shape == (1, 5, 3) and list(out[0, :, 0]) == [0, 1, 255, 0, 1]


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


def _bpp(enc):
    """Bytes per pixel of a supported encoding, from its pixel type ("16UC3" -> 6)."""
    depth, ch = pixel_type(enc).split("UC")
    return int(depth) // 8 * int(ch)


def test_every_supported_encoding_decodes_to_bgr8():
    for enc in SUPPORTED_ENCODINGS:
        w, h = 4, 3
        out = decode_raw(enc, h, w, w * _bpp(enc), bytes(h * w * _bpp(enc)))
        assert out.shape == (h, w, 3) and out.dtype == np.uint8, enc


def test_pixel_types():
    assert [pixel_type(e) for e in ("bgr8", "rgba16", "mono16", "bayer_grbg8", "yuv422")] == \
        ["8UC3", "16UC4", "16UC1", "8UC1", "8UC2"]
    assert CV_BRIDGE_ENCODINGS == set(SUPPORTED_ENCODINGS) - {"uyvy", "yuyv"}


# ------------------------------------------------------------------------------------------------
# 16-bit colour: channels reordered as for 8 bits, values scaled as cv_bridge does, round(v / 257).

# Two pixels as (B, G, R, A) 16-bit values and the bgr8 pixels they must give, worked out by hand:
# 0x1234 = 4660 -> 18.13 -> 18; 0x8080 = 32896 -> 128.0 -> 128; 65535 -> 255; 128 -> 0.498 -> 0;
# 129 -> 0.502 -> 1; 65406 -> 254.498 -> 254; 65407 -> 254.502 -> 255; alpha is dropped.
PIX16 = [(0x1234, 0x8080, 0xFFFF, 0x0101), (128, 129, 65406, 65407)]
BGR8_OF_PIX16 = [[18, 128, 255], [0, 1, 254]]
ORDER16 = {"bgr16": (0, 1, 2), "rgb16": (2, 1, 0), "bgra16": (0, 1, 2, 3), "rgba16": (2, 1, 0, 3)}


def _pack16(values, big, step, rows=2):
    """``rows`` identical rows of 16-bit ``values``, in the given byte order, each padded to ``step`` bytes."""
    row = np.array(values, dtype=">u2" if big else "<u2").tobytes()
    return b"".join(row + bytes(range(7, 7 + step - len(row))) for _ in range(rows))


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("pad", [0, 3, 8])
@pytest.mark.parametrize("enc", sorted(ORDER16))
def test_16_bit_colour_exact_pixels(enc, pad, big):
    """bgr16/rgb16/bgra16/rgba16, either byte order, rows padded by any number of bytes."""
    values = [p[i] for p in PIX16 for i in ORDER16[enc]]
    step = 2 * len(values) + pad
    out = decode_raw(enc, 2, 2, step, _pack16(values, big, step), is_bigendian=big)
    assert out.tolist() == [BGR8_OF_PIX16, BGR8_OF_PIX16]


@pytest.mark.parametrize("big", [False, True])
def test_mono16_scaling_matches_round_v_over_257_for_every_value(big):
    vals = np.arange(65536, dtype=">u2" if big else "<u2").reshape(256, 256)
    out = decode_raw("mono16", 256, 256, 512, vals.tobytes(), is_bigendian=big)
    expect = (np.arange(65536, dtype=np.int64) + 128) // 257  # round(v / 257): never a tie
    assert all(np.array_equal(out[..., c].ravel(), expect) for c in range(3))


def test_mono16_padded_big_endian():
    step = 3 * 2 + 5
    out = decode_raw("mono16", 2, 3, step, _pack16([129, 0x8080, 65406], True, step), is_bigendian=True)
    assert out[:, :, 0].tolist() == [[1, 128, 254]] * 2 and (out == out[:, :, :1]).all()


# ------------------------------------------------------------------------------------------------
# Bayer: demosaiced with the OpenCV codes cv_bridge uses (ROS rggb = OpenCV BayerBG, ...).

# Where each colour sits in the 2x2 tile of each pattern (row, column).
TILES = {"rggb": {"r": (0, 0), "g": [(0, 1), (1, 0)], "b": (1, 1)},
         "bggr": {"b": (0, 0), "g": [(0, 1), (1, 0)], "r": (1, 1)},
         "gbrg": {"g": [(0, 0), (1, 1)], "b": (0, 1), "r": (1, 0)},
         "grbg": {"g": [(0, 0), (1, 1)], "r": (0, 1), "b": (1, 0)}}


def _mosaic(pattern, h, w, r, g, b, dtype):
    """The Bayer mosaic of a uniform (r, g, b) image."""
    m = np.zeros((h, w), dtype)
    t = TILES[pattern]
    m[t["r"][0]::2, t["r"][1]::2] = r
    m[t["b"][0]::2, t["b"][1]::2] = b
    for y, x in t["g"]:
        m[y::2, x::2] = g
    return m


@pytest.mark.parametrize("pattern", sorted(TILES))
def test_bayer8_uniform_colour_exact(pattern):
    """A uniform colour comes back exactly, borders included: the pattern's orientation is right."""
    h, w, pad = 5, 6, 3
    m = _mosaic(pattern, h, w, 200, 100, 50, np.uint8)
    buf = np.full((h, w + pad), 77, np.uint8)
    buf[:, :w] = m
    out = decode_raw(f"bayer_{pattern}8", h, w, w + pad, buf.tobytes())
    assert (out == [50, 100, 200]).all(), out[..., ::-1].tolist()


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("pattern", sorted(TILES))
def test_bayer16_uniform_colour_exact(pattern, big):
    """16-bit Bayer: R 51528 -> 200.498 -> 200, G 25829 -> 100.502 -> 101, B 12850 -> 50 exactly."""
    h, w, pad = 4, 5, 3
    m = _mosaic(pattern, h, w, 51528, 25829, 12850, np.uint16)
    row = 2 * w + pad
    data = b"".join(m[y].astype(">u2" if big else "<u2").tobytes() + b"\xab" * pad for y in range(h))
    out = decode_raw(f"bayer_{pattern}16", h, w, row, data, is_bigendian=big)
    assert (out == [50, 101, 200]).all(), out[..., ::-1].tolist()


@pytest.mark.parametrize("pattern,code", [("rggb", "COLOR_BayerBG2BGR"), ("bggr", "COLOR_BayerRG2BGR"),
                                          ("gbrg", "COLOR_BayerGR2BGR"), ("grbg", "COLOR_BayerGB2BGR")])
def test_bayer16_demosaics_before_scaling_as_cv_bridge(pattern, code):
    """cv_bridge demosaics the 16-bit image, then scales it (the other order rounds differently)."""
    raw = np.random.default_rng(1).integers(0, 65536, (6, 8), dtype=np.uint16)
    ref = cv2.convertScaleAbs(cv2.cvtColor(raw, getattr(cv2, code)), alpha=255.0 / 65535.0)
    out = decode_raw(f"bayer_{pattern}16", 6, 8, 16, raw.astype("<u2").tobytes())
    assert np.array_equal(out, ref)
    scaled_first = cv2.cvtColor(cv2.convertScaleAbs(raw, alpha=255.0 / 65535.0), getattr(cv2, code))
    assert not np.array_equal(out, scaled_first)


@pytest.mark.parametrize("h,w", [(2, 2), (1, 8), (8, 2)])
def test_bayer_below_3x3_is_refused(h, w):
    """OpenCV's demosaicing silently returns black below 3x3: refused instead."""
    with pytest.raises(ImageDecodeError) as err:
        decode_raw("bayer_rggb8", h, w, w, bytes(h * w))
    assert err.value.reason == "bad_size"


@pytest.mark.parametrize("enc", SUPPORTED_ENCODINGS)
def test_every_encoding_converts_as_cv_bridge_does(enc):
    """cv_bridge's steps to bgr8 (conversion code at the source depth, then 16 -> 8 bit scaling)."""
    codes = {"rgb": "COLOR_RGB2BGR", "bgra": "COLOR_BGRA2BGR", "rgba": "COLOR_RGBA2BGR", "mono": "COLOR_GRAY2BGR",
             "bayer_rggb": "COLOR_BayerBG2BGR", "bayer_bggr": "COLOR_BayerRG2BGR",
             "bayer_gbrg": "COLOR_BayerGR2BGR", "bayer_grbg": "COLOR_BayerGB2BGR",
             "yuv422": "COLOR_YUV2BGR_UYVY", "uyvy": "COLOR_YUV2BGR_UYVY",
             "yuv422_yuy2": "COLOR_YUV2BGR_YUY2", "yuyv": "COLOR_YUV2BGR_YUY2"}
    depth, ch = (int(v) for v in pixel_type(enc).split("UC"))
    h, w = 4, 6
    dtype = np.uint16 if depth == 16 else np.uint8
    raw = np.random.default_rng(2).integers(0, np.iinfo(dtype).max + 1, (h, w, ch) if ch > 1 else (h, w),
                                            dtype=dtype)
    name = enc[:-2] if enc.endswith("16") else enc[:-1] if enc[-1] == "8" else enc
    ref = raw if name == "bgr" else cv2.cvtColor(raw, getattr(cv2, codes[name]))
    if depth == 16:
        ref = cv2.convertScaleAbs(ref, alpha=255.0 / 65535.0)
    out = decode_raw(enc, h, w, w * _bpp(enc), raw.astype(raw.dtype.newbyteorder("<")).tobytes())
    assert np.array_equal(out, ref), enc


# ------------------------------------------------------------------------------------------------
# Type-only encodings: refused (cv_bridge refuses them to bgr8) unless ambiguous_as says how to read them.

@pytest.mark.parametrize("enc", ["8UC3", "8UC4", "8UC1", "8U", "16UC1", "16UC3", "16U", "8UC2"])
def test_type_only_encodings_are_refused_with_the_parameter_to_set(enc):
    with pytest.raises(ImageDecodeError) as err:
        decode_raw(enc, 3, 4, 64, bytes(3 * 64))
    assert err.value.reason == "ambiguous_encoding"
    assert "image.ambiguous_as" in str(err.value)


@pytest.mark.parametrize("enc", ["32FC1", "64FC3", "8SC3", "16SC1", "32SC1", "16UC2", "8UC5"])
def test_type_only_encodings_without_a_reading_are_refused(enc):
    for ambiguous_as in ("", "bgr8", "mono16"):
        with pytest.raises(ImageDecodeError) as err:
            decode_raw(enc, 3, 4, 64, bytes(3 * 64), ambiguous_as=ambiguous_as)
        assert err.value.reason == "ambiguous_encoding" and "no supported encoding" in str(err.value)


def test_8uc3_read_as_bgr8_or_rgb8():
    img = _bgr()
    h, w, step, data = encode_bgr8(img)
    assert np.array_equal(decode_raw("8UC3", h, w, step, data, ambiguous_as="bgr8"), img)
    assert np.array_equal(decode_raw("8UC3", h, w, step, data, ambiguous_as="rgb8"), img[..., ::-1])


def test_16uc1_read_as_mono16():
    step = 3 * 2 + 2
    out = decode_raw("16UC1", 2, 3, step, _pack16([129, 0x8080, 65535], True, step), is_bigendian=True,
                     ambiguous_as="mono16")
    assert out[:, :, 1].tolist() == [[1, 128, 255]] * 2


def test_8uc4_read_as_rgba8():
    out = decode_raw("8UC4", 1, 2, 8, bytes([10, 20, 30, 40, 50, 60, 70, 80]), ambiguous_as="rgba8")
    assert out.tolist() == [[[30, 20, 10], [70, 60, 50]]]


@pytest.mark.parametrize("ambiguous_as", ["mono16", "bgr16", "junk", "8UC3", "BGR8"])
def test_ambiguous_as_of_another_type_is_refused(ambiguous_as):
    with pytest.raises(ImageDecodeError) as err:
        decode_raw("8UC3", 2, 2, 6, bytes(12), ambiguous_as=ambiguous_as)
    assert err.value.reason == "ambiguous_encoding" and f"'{ambiguous_as}'" in str(err.value)


def test_ambiguous_as_leaves_named_encodings_alone():
    img = _bgr()
    h, w, step, data = encode_bgr8(img)
    assert np.array_equal(decode_raw("bgr8", h, w, step, data, ambiguous_as="rgb8"), img)


def test_check_raw_reports_the_layout():
    layout = check_raw("16UC3", 2, 3, 20, bytes(40), ambiguous_as="rgb16")
    assert (layout.encoding, layout.channels, layout.itemsize, layout.row_bytes, layout.pixel_bytes) == \
        ("rgb16", 3, 2, 18, 6)


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
