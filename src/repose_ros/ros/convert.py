"""Conversions between ROS messages and the core's plain types (no rclpy needed)."""
from __future__ import annotations

import sys
from typing import Dict, Optional, Tuple

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from vision_msgs.msg import Detection2D, Detection2DArray, LabelInfo, ObjectHypothesisWithPose, VisionClass

from repose_ros.core.detections import Detections
from repose_ros.core.image_codec import (CV_BRIDGE_ENCODINGS, ImageDecodeError, SizeLimit, check_raw, decode_compressed,
                                         decode_raw, encode_bgr8)


def detections_to_msg(dets: Detections, header, track_ids=None) -> Detection2DArray:
    """Build a Detection2DArray (boxes as centre + size in image pixels, class id as a string).

    ``track_ids``: one int per detection, written to ``Detection2D.id`` (negative: no track, "").
    """
    out = Detection2DArray()
    out.header = header
    xyxy = dets.xyxy.astype(np.float64)
    ids = [-1] * len(dets) if track_ids is None else [int(t) for t in track_ids]
    for (x0, y0, x1, y1), score, cls, tid in zip(xyxy, dets.scores.tolist(), dets.class_ids.tolist(), ids):
        d = Detection2D()
        d.header = header
        if tid >= 0:
            d.id = str(tid)
        d.bbox.center.position.x = float((x0 + x1) / 2.0)
        d.bbox.center.position.y = float((y0 + y1) / 2.0)
        d.bbox.size_x = float(x1 - x0)
        d.bbox.size_y = float(y1 - y0)
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id = str(int(cls))
        h.hypothesis.score = float(score)
        d.results.append(h)
        out.detections.append(d)
    return out


def msg_to_detections(msg: Detection2DArray) -> Detections:
    """Read a Detection2DArray back into Detections (best hypothesis of each detection)."""
    n = len(msg.detections)
    if n == 0:
        return Detections.empty()
    xyxy = np.empty((n, 4), np.float32)
    scores = np.zeros(n, np.float32)
    classes = np.zeros(n, np.int32)
    for i, d in enumerate(msg.detections):
        cx, cy = d.bbox.center.position.x, d.bbox.center.position.y
        xyxy[i] = (cx - d.bbox.size_x / 2, cy - d.bbox.size_y / 2, cx + d.bbox.size_x / 2, cy + d.bbox.size_y / 2)
        if d.results:
            best = max(d.results, key=lambda r: r.hypothesis.score)
            scores[i] = best.hypothesis.score
            try:
                classes[i] = int(best.hypothesis.class_id)
            except ValueError:
                classes[i] = -1
    return Detections(xyxy, scores, classes)


def block_answer(msg) -> Tuple[Optional[Detections], str]:
    """Decode a BlockDetections answer: ``(detections, "")``, or ``(None, why)`` when it failed or is malformed.

    The reason of a malformed answer starts with ``"malformed detections: "``.
    """
    if not msg.ok:
        return None, msg.error or "failed"
    try:
        return msg_to_detections(msg.detections), ""
    except (ValueError, OverflowError) as exc:
        return None, f"malformed detections: {exc}"


def label_info(names: Dict[int, str], threshold: float, header=None) -> LabelInfo:
    """Build the LabelInfo message for a class map."""
    msg = LabelInfo()
    if header is not None:
        msg.header = header
    msg.threshold = float(threshold)
    for cid, name in sorted(names.items()):
        msg.class_map.append(VisionClass(class_id=int(cid), class_name=str(name)))
    return msg


def rect_to_roi(rect) -> RegionOfInterest:
    """Convert a (x0, y0, x1, y1) rectangle (exclusive end) into a RegionOfInterest."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def roi_to_rect(roi: RegionOfInterest) -> tuple:
    """Convert a RegionOfInterest into (x0, y0, x1, y1)."""
    return (roi.x_offset, roi.y_offset, roi.x_offset + roi.width, roi.y_offset + roi.height)


# Raw images go through cv_bridge when it is importable ("auto") or always through the own
# converter ("own"); both give the same pixels (core.image_codec converts as cv_bridge does).
IMAGE_CONVERTERS = ("auto", "own")
_converter = "auto"
_UNSET = object()
_bridge = _UNSET  # the CvBridge instance once looked for; None: cv_bridge is not importable


def set_image_converter(mode: str) -> None:
    """Choose how raw images are converted: ``"auto"`` (cv_bridge when importable) or ``"own"``.

    Setting it also forgets whether cv_bridge was found, so that the next frame looks again.
    """
    global _converter, _bridge
    if mode not in IMAGE_CONVERTERS:
        raise ValueError(f"image converter must be one of {', '.join(IMAGE_CONVERTERS)}, not '{mode}'")
    _converter = mode
    _bridge = _UNSET


def _cv_bridge():
    """Return the CvBridge to use, or None (own converter)."""
    global _bridge
    if _converter == "own":
        return None
    if _bridge is _UNSET:
        try:
            from cv_bridge import CvBridge

            _bridge = CvBridge()
        except Exception:  # noqa: BLE001 - absent, or built for another Python/numpy: use the own converter
            _bridge = None
    return _bridge


def image_converter() -> str:
    """Which converter raw images go through now: ``"cv_bridge"`` or ``"own"``."""
    return "own" if _cv_bridge() is None else "cv_bridge"


def image_to_bgr(msg, limit: SizeLimit = SizeLimit(), ambiguous_as: str = "") -> np.ndarray:
    """Decode a sensor_msgs/Image or CompressedImage into a BGR frame (raises ImageDecodeError only).

    A raw Image is first validated here (encoding, size against ``limit``, step, data length)
    without touching its pixels, so both converters refuse the same frames with the same
    reasons. It is then converted by cv_bridge (``imgmsg_to_cv2(msg, "bgr8")``) when that is
    importable and reads the frame correctly: an encoding it knows, this host's byte order, rows padded
    by whole pixels and the full last row present. Other frames, type-only encodings read as
    ``ambiguous_as``, and every CompressedImage (whose size must be checked from the header
    before decoding) go through :mod:`repose_ros.core.image_codec`.
    """
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, msg.data, limit)
    bridge = _cv_bridge()
    if bridge is None:
        return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian), limit,
                          ambiguous_as)
    layout = check_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, limit, ambiguous_as)
    # cv_bridge's Python side reads rows as step // pixel size whole pixels, needs height * step
    # bytes, and swaps the byte order with ndarray.newbyteorder, which numpy 2 removed.
    if (layout.encoding != msg.encoding or layout.encoding not in CV_BRIDGE_ENCODINGS
            or bool(msg.is_bigendian) != (sys.byteorder == "big")
            or msg.step % layout.pixel_bytes or len(msg.data) < msg.height * msg.step):
        return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian), limit,
                          ambiguous_as)
    try:
        frame = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
    except Exception as exc:  # noqa: BLE001 - CvBridgeError (a TypeError), numpy or OpenCV errors
        raise ImageDecodeError("cv_bridge", f"cv_bridge cannot convert {msg.width}x{msg.height} {msg.encoding}: "
                                            f"{type(exc).__name__}: {exc}") from None
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
            and frame.shape == (msg.height, msg.width, 3)):
        raise ImageDecodeError("cv_bridge", f"cv_bridge gave {getattr(frame, 'shape', type(frame).__name__)} "
                                            f"{getattr(frame, 'dtype', '')} for {msg.width}x{msg.height} "
                                            f"{msg.encoding}")
    return np.ascontiguousarray(frame)


def bgr_to_image(frame: np.ndarray, header=None) -> Image:
    """Build a bgr8 sensor_msgs/Image (the fast path: bytes, not a numpy assignment)."""
    h, w, step, data = encode_bgr8(frame)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.step, msg.encoding = h, w, step, "bgr8"
    msg.data = data
    return msg


BLOCK_TRANSPORTS = ("raw", "jpeg", "png")


def encode_block(crop: np.ndarray, header, transport: str = "raw", jpeg_quality: int = 90
                 ) -> Tuple[Image, CompressedImage]:
    """Return the (image, image_compressed) fields of a BlockAssignment for ``crop`` (one of them empty).

    ``transport``: raw (bgr8 Image), jpeg (at ``jpeg_quality``) or png (lossless).
    """
    import cv2

    if transport == "raw":
        return bgr_to_image(crop, header), CompressedImage()
    if transport not in BLOCK_TRANSPORTS:
        raise ValueError(f"blocks.transport must be one of {', '.join(BLOCK_TRANSPORTS)}; got {transport!r}")
    ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]) if transport == "jpeg" \
        else (".png", [cv2.IMWRITE_PNG_COMPRESSION, 1])
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(crop), params)
    if not ok:
        raise ValueError(f"cannot encode a {crop.shape[1]}x{crop.shape[0]} block as {transport}")
    out = CompressedImage(format=transport)
    if header is not None:
        out.header = header
    out.data = buf.tobytes()
    image = Image()
    if header is not None:
        image.header = header
    return image, out


def decode_block(msg) -> np.ndarray:
    """Return the BGR pixels of a BlockAssignment (compressed or raw); raises ImageDecodeError only."""
    if len(msg.image_compressed.data):
        return image_to_bgr(msg.image_compressed)
    return image_to_bgr(msg.image)


def time_to_sec(t: Time) -> float:
    """Seconds of a builtin_interfaces/Time."""
    return t.sec + t.nanosec * 1e-9


def sec_to_time(s: float) -> Time:
    """builtin_interfaces/Time from seconds (clamped at 0)."""
    s = max(0.0, s)
    sec = int(s)
    return Time(sec=sec, nanosec=min(int(round((s - sec) * 1e9)), 999_999_999))


def optional_header_stamp(header) -> Optional[float]:
    """Stamp of a header in seconds, or None for an unset (zero) stamp."""
    t = time_to_sec(header.stamp)
    return t if t > 0 else None
