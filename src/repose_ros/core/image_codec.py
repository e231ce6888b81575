"""Decode camera images (raw or compressed) into BGR numpy frames, with strict validation.

The functions take the plain fields of a sensor_msgs/Image or CompressedImage, so that the
logic is testable without ROS; the nodes pass ``msg.encoding, msg.height, ...`` in. Every
failure raises :class:`ImageDecodeError` whose ``reason`` is a short machine-readable code
(``bad_encoding``, ``ambiguous_encoding``, ``empty``, ``short_data``, ``bad_step``, ``bad_size``,
``too_large``, ``corrupt``) that the nodes count and report; nothing here ever allocates more
than the caller's size limit. Compressed images must be JPEG or PNG (what image_transport's
``compressed`` plugin sends), because their size is read from the header before decoding.

Raw frames are converted to bgr8 the way cv_bridge's ``imgmsg_to_cv2(msg, "bgr8")`` does, with
the same OpenCV conversion codes and the same 16-bit to 8-bit scaling (``round(v * 255 / 65535)``,
i.e. ``round(v / 257)``, after the colour conversion), so both give the same pixels.
Type-only encodings (``8UC3``, ``16UC1``, ``32FC1``: an OpenCV pixel type without a colour
layout) are refused, as cv_bridge refuses them, unless the caller says which named encoding to
read them as (``ambiguous_as``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Named encodings (sensor_msgs/image_encodings) -> (channels, numpy dtype, OpenCV code to BGR or None).
# The codes are those cv_bridge uses to convert to bgr8; OpenCV names a Bayer pattern after a
# different 2x2 window than ROS does, hence bayer_rggb -> COLOR_BayerBG2BGR (the same constant as
# COLOR_BayerRGGB2BGR in OpenCV >= 4.10 and 5).
_RAW_ENCODINGS = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, "COLOR_RGB2BGR"),
    "bgra8": (4, np.uint8, "COLOR_BGRA2BGR"),
    "rgba8": (4, np.uint8, "COLOR_RGBA2BGR"),
    "mono8": (1, np.uint8, "COLOR_GRAY2BGR"),
    "bgr16": (3, np.uint16, None),
    "rgb16": (3, np.uint16, "COLOR_RGB2BGR"),
    "bgra16": (4, np.uint16, "COLOR_BGRA2BGR"),
    "rgba16": (4, np.uint16, "COLOR_RGBA2BGR"),
    "mono16": (1, np.uint16, "COLOR_GRAY2BGR"),
    "bayer_rggb8": (1, np.uint8, "COLOR_BayerBG2BGR"),
    "bayer_bggr8": (1, np.uint8, "COLOR_BayerRG2BGR"),
    "bayer_gbrg8": (1, np.uint8, "COLOR_BayerGR2BGR"),
    "bayer_grbg8": (1, np.uint8, "COLOR_BayerGB2BGR"),
    "bayer_rggb16": (1, np.uint16, "COLOR_BayerBG2BGR"),
    "bayer_bggr16": (1, np.uint16, "COLOR_BayerRG2BGR"),
    "bayer_gbrg16": (1, np.uint16, "COLOR_BayerGR2BGR"),
    "bayer_grbg16": (1, np.uint16, "COLOR_BayerGB2BGR"),
    "yuv422": (2, np.uint8, "COLOR_YUV2BGR_UYVY"),
    "uyvy": (2, np.uint8, "COLOR_YUV2BGR_UYVY"),
    "yuv422_yuy2": (2, np.uint8, "COLOR_YUV2BGR_YUY2"),
    "yuyv": (2, np.uint8, "COLOR_YUV2BGR_YUY2"),
}

SUPPORTED_ENCODINGS = tuple(sorted(_RAW_ENCODINGS))

# The named encodings cv_bridge also converts to bgr8 (it does not know the aliases uyvy and yuyv).
CV_BRIDGE_ENCODINGS = frozenset(e for e in _RAW_ENCODINGS if e not in ("uyvy", "yuyv"))

# OpenCV pixel types used as encodings ("8UC3", "16UC1", "32FC1"; "8U" means one channel).
_TYPE_ONLY = re.compile(r"(8U|8S|16U|16S|32S|32F|64F)(?:C([0-9]+))?")

# cv_bridge scales 16-bit to 8-bit values with convertTo(..., 255.0 / 65535.0): round(v / 257).
_SCALE_16_TO_8 = 255.0 / 65535.0


class ImageDecodeError(ValueError):
    """An image that cannot be turned into a frame; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SizeLimit:
    """Largest frame accepted (pixels per side); bigger frames are refused, not resized."""

    max_width: int = 7680
    max_height: int = 4320

    def check(self, width: int, height: int) -> None:
        """Raise ImageDecodeError when the size is zero or above the limit."""
        if width <= 0 or height <= 0:
            raise ImageDecodeError("empty", f"image is {width}x{height}")
        if width > self.max_width or height > self.max_height:
            raise ImageDecodeError(
                "too_large", f"{width}x{height} exceeds the configured {self.max_width}x{self.max_height}")


def pixel_type(encoding: str) -> str:
    """Return the OpenCV pixel type (``"8UC3"``, ``"16UC1"``) of a supported named encoding."""
    channels, dtype, _ = _RAW_ENCODINGS[encoding]
    return f"{8 * np.dtype(dtype).itemsize}UC{channels}"


def resolve_encoding(encoding: str, ambiguous_as: str = "") -> str:
    """Return the supported encoding a frame of ``encoding`` is read as; refuse unknown ones.

    A type-only encoding (``8UC3``, ``16UC1``, ``32FC1``, ...) says how wide a pixel is but not
    what its channels mean (``8UC3`` may be BGR or RGB, ``16UC1`` is usually depth in mm). It is
    refused with reason ``ambiguous_encoding`` unless ``ambiguous_as`` (the camera parameter
    ``image.ambiguous_as``) names a supported encoding of the same pixel type, e.g. ``bgr8`` for
    ``8UC3`` or ``mono16`` for ``16UC1``: the frame is then read as that encoding.
    """
    if encoding in _RAW_ENCODINGS:
        return encoding
    match = _TYPE_ONLY.fullmatch(encoding)
    if match is None:
        raise ImageDecodeError(
            "bad_encoding", f"'{encoding}' is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    ptype = f"{match.group(1)}C{match.group(2) or 1}"
    same = [e for e in SUPPORTED_ENCODINGS if pixel_type(e) == ptype]
    if not same:
        raise ImageDecodeError("ambiguous_encoding", f"'{encoding}' gives only the pixel type {ptype}, and no "
                                                     "supported encoding has that type")
    if ambiguous_as in same:
        return ambiguous_as
    told = f"it is '{ambiguous_as}'" if ambiguous_as else "it is empty: refused"
    raise ImageDecodeError(
        "ambiguous_encoding", f"'{encoding}' gives only the pixel type, not the channel layout; set the camera "
                              f"parameter image.ambiguous_as to one of {', '.join(same)} to read it as that "
                              f"({told})")


@dataclass(frozen=True)
class RawLayout:
    """A validated sensor_msgs/Image: the encoding it is read as and the size of its pixels in bytes."""

    encoding: str
    channels: int
    itemsize: int
    row_bytes: int

    @property
    def pixel_bytes(self) -> int:
        """Bytes of one pixel (of one sample for the packed YUV 4:2:2 encodings)."""
        return self.channels * self.itemsize


def check_raw(encoding: str, height: int, width: int, step: int, data, limit: SizeLimit = SizeLimit(),
              ambiguous_as: str = "") -> RawLayout:
    """Validate the fields of a sensor_msgs/Image without reading its pixels (raises ImageDecodeError).

    Checked in this order: the encoding (see :func:`resolve_encoding`), the size against
    ``limit``, the width of packed YUV and the size of Bayer frames, ``step`` against the row
    size, the data length.
    """
    name = resolve_encoding(encoding, ambiguous_as)
    limit.check(width, height)
    channels, dtype, _ = _RAW_ENCODINGS[name]
    if channels == 2 and width % 2:
        raise ImageDecodeError("bad_size", f"{name} packs two pixels per sample: width {width} must be even")
    if name.startswith("bayer_") and (width < 3 or height < 3):
        # OpenCV's demosaicing returns a black frame below 3x3 (and cv_bridge hands that on).
        raise ImageDecodeError("bad_size", f"{name} demosaicing needs at least 3x3 pixels, got {width}x{height}")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageDecodeError("bad_step", f"step {step} < width*pixel size {row_bytes}")
    needed = step * (height - 1) + row_bytes
    size = memoryview(data).nbytes
    if size < needed:
        raise ImageDecodeError("short_data", f"{size} bytes < {needed} needed for {width}x{height} "
                                             f"{encoding} with step {step}")
    return RawLayout(name, channels, itemsize, row_bytes)


def _to_bgr8(pix: np.ndarray, conversion) -> np.ndarray:
    """Convert an HxW[xC] uint8/uint16 array with an OpenCV code (None: already BGR), then scale to 8 bits.

    As in cv_bridge the colour conversion runs at the source depth and the scaling after it: for
    a Bayer pattern the order changes the result. The other conversions only copy values, so
    there the scaling runs first, on fewer values, with the same result.
    """
    import cv2

    if pix.dtype == np.uint16 and (conversion is None or "Bayer" not in conversion):
        pix = cv2.convertScaleAbs(pix, alpha=_SCALE_16_TO_8)
    if conversion is not None:
        try:
            pix = cv2.cvtColor(pix, getattr(cv2, conversion))
        except cv2.error as exc:
            raise ImageDecodeError("bad_size", f"{pix.shape[1]}x{pix.shape[0]} cannot be converted: "
                                               f"{str(exc).strip().splitlines()[-1]}") from None
    if pix.dtype == np.uint16:
        pix = cv2.convertScaleAbs(pix, alpha=_SCALE_16_TO_8)
    return np.ascontiguousarray(pix)


def decode_raw(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False,
               limit: SizeLimit = SizeLimit(), ambiguous_as: str = "") -> np.ndarray:
    """Decode the fields of a sensor_msgs/Image into a contiguous HxWx3 uint8 BGR array.

    ``data`` may be bytes, bytearray, memoryview or array('B'): it is read without a copy
    where possible. Rows may be padded (``step`` larger than ``width * pixel size``, any number
    of bytes); 16-bit samples are read in the byte order ``is_bigendian`` gives. A type-only
    encoding is read as ``ambiguous_as`` or refused (:func:`resolve_encoding`).
    """
    layout = check_raw(encoding, height, width, step, data, limit, ambiguous_as)
    channels, dtype, conversion = _RAW_ENCODINGS[layout.encoding]
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, layout.row_bytes), strides=(step, 1))
    if layout.itemsize > 1:
        pix = rows.view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")).astype(dtype)
    else:
        pix = rows
    pix = pix.reshape(height, width, channels) if channels > 1 else pix.reshape(height, width)
    return _to_bgr8(pix, conversion)


def decode_compressed(fmt: str, data, limit: SizeLimit = SizeLimit()) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG) into a BGR uint8 array.

    The size in the image's header is checked against ``limit`` before the pixels are decoded,
    so a small malicious file that claims a huge size is refused without allocating the frame.
    Other formats, and JPEG/PNG data whose header gives no size, are refused: OpenCV would
    decode them (BMP, TIFF, WebP, ...) without such a check.
    """
    import cv2

    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size == 0:
        raise ImageDecodeError("empty", f"compressed image ({fmt or 'no format'}) has no data")
    head = bytes(buf[:8])
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = _png_size(bytes(buf[:24]))
    elif head[:2] == b"\xff\xd8":
        width, height = _jpeg_size(buf)
    else:
        raise ImageDecodeError("bad_encoding", f"'{fmt or 'no format'}' data is neither JPEG nor PNG "
                                               f"(starts with {head[:4].hex()})")
    if width is None:
        raise ImageDecodeError("corrupt", f"no image size in the header of {buf.size} bytes of '{fmt or 'image'}'")
    limit.check(width, height)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError("corrupt", f"cannot decode {buf.size} bytes as '{fmt or 'image'}': "
                                          f"{str(exc).strip().splitlines()[-1]}") from None
    if img is None:
        raise ImageDecodeError("corrupt", f"cannot decode {buf.size} bytes as '{fmt or 'image'}'")
    limit.check(img.shape[1], img.shape[0])
    return img


def _png_size(head: bytes):
    """Width and height from a PNG's IHDR chunk (which must come first); (None, None) if absent."""
    if len(head) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None, None


# Start-of-frame markers (SOF0..SOF15 except DHT C4, JPG C8 and DAC CC): they carry the size.
_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _jpeg_size(buf: np.ndarray):
    """Width and height from a JPEG's frame header, walking the marker segments of the whole file.

    Returns (None, None) when the structure is not the plain one (segments back to back until
    the frame header): such a file is refused rather than handed to the decoder unchecked.
    """
    n = int(buf.size)
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None, None
        marker = int(buf[i + 1])
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI again, EOI or start of scan before any frame header
            return None, None
        seg_len = (int(buf[i + 2]) << 8) | int(buf[i + 3])
        if seg_len < 2:
            return None, None
        if marker in _SOF:
            if seg_len < 7 or i + 9 > n:
                return None, None
            height = (int(buf[i + 5]) << 8) | int(buf[i + 6])
            width = (int(buf[i + 7]) << 8) | int(buf[i + 8])
            return width, height
        i += 2 + seg_len
    return None, None


def encode_bgr8(frame: np.ndarray):
    """Return (height, width, step, bytes) of a BGR uint8 frame for a sensor_msgs/Image."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 frame, got {frame.shape} {frame.dtype}")
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    return h, w, w * 3, frame.tobytes()
