"""Decode camera images (raw or compressed) into BGR numpy frames, with strict validation.

The functions take the plain fields of a sensor_msgs/Image or CompressedImage, so that the
logic is testable without ROS; the nodes pass ``msg.encoding, msg.height, ...`` in. Every
failure raises :class:`ImageDecodeError` whose ``reason`` is a short machine-readable code
(``bad_encoding``, ``empty``, ``short_data``, ``bad_step``, ``bad_size``, ``too_large``,
``corrupt``) that the nodes count and report; nothing here ever allocates more than the
caller's size limit. Compressed images must be JPEG or PNG (what image_transport's
``compressed`` plugin sends), because their size is read from the header before decoding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

# encoding -> (channels, numpy dtype, OpenCV conversion code name to BGR or None)
_RAW_ENCODINGS = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, "COLOR_RGB2BGR"),
    "bgra8": (4, np.uint8, "COLOR_BGRA2BGR"),
    "rgba8": (4, np.uint8, "COLOR_RGBA2BGR"),
    "mono8": (1, np.uint8, "COLOR_GRAY2BGR"),
    "8UC1": (1, np.uint8, "COLOR_GRAY2BGR"),
    "8UC3": (3, np.uint8, None),
    "mono16": (1, np.uint16, "COLOR_GRAY2BGR"),
    "16UC1": (1, np.uint16, "COLOR_GRAY2BGR"),
    "bayer_rggb8": (1, np.uint8, "COLOR_BayerBG2BGR"),
    "bayer_bggr8": (1, np.uint8, "COLOR_BayerRG2BGR"),
    "bayer_gbrg8": (1, np.uint8, "COLOR_BayerGR2BGR"),
    "bayer_grbg8": (1, np.uint8, "COLOR_BayerGB2BGR"),
    "yuv422": (2, np.uint8, "COLOR_YUV2BGR_UYVY"),
    "uyvy": (2, np.uint8, "COLOR_YUV2BGR_UYVY"),
    "yuv422_yuy2": (2, np.uint8, "COLOR_YUV2BGR_YUY2"),
    "yuyv": (2, np.uint8, "COLOR_YUV2BGR_YUY2"),
}

SUPPORTED_ENCODINGS = tuple(sorted(_RAW_ENCODINGS))


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


def _to_bgr8(arr: np.ndarray, conversion: Optional[str]) -> np.ndarray:
    import cv2

    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(arr)
    try:
        return cv2.cvtColor(arr, getattr(cv2, conversion))
    except cv2.error as exc:
        raise ImageDecodeError("bad_size", f"{arr.shape[1]}x{arr.shape[0]} cannot be converted: "
                                           f"{str(exc).strip().splitlines()[-1]}") from None


def decode_raw(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False,
               limit: SizeLimit = SizeLimit()) -> np.ndarray:
    """Decode the fields of a sensor_msgs/Image into a contiguous HxWx3 uint8 BGR array.

    ``data`` may be bytes, bytearray, memoryview or array('B'): it is read without a copy
    where possible. Rows may be padded (``step`` larger than ``width * pixel size``).
    """
    if encoding not in _RAW_ENCODINGS:
        raise ImageDecodeError(
            "bad_encoding", f"'{encoding}' is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    limit.check(width, height)
    channels, dtype, conversion = _RAW_ENCODINGS[encoding]
    if channels == 2 and width % 2:
        raise ImageDecodeError("bad_size", f"{encoding} packs two pixels per sample: width {width} must be even")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageDecodeError("bad_step", f"step {step} < width*pixel size {row_bytes}")
    needed = step * (height - 1) + row_bytes
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size < needed:
        raise ImageDecodeError("short_data", f"{buf.size} bytes < {needed} needed for {width}x{height} "
                                             f"{encoding} with step {step}")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1))
    pix = rows.view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")) if itemsize > 1 else rows
    pix = pix.reshape(height, width, channels) if channels > 1 else pix.reshape(height, width)
    if itemsize > 1:
        pix = pix.astype(dtype)
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
