"""Write and read rosbag2 files of camera frames without ROS (the ``rosbags`` library).

Bags written here are ordinary rosbag2 bags (metadata version 9, mcap or sqlite3 storage,
sensor_msgs/msg/Image bgr8 or sensor_msgs/msg/CompressedImage JPEG) that a real
``ros2 bag play`` plays, and that the replay node republishes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def parse_size(text: str) -> Optional[Tuple[int, int]]:
    """Parse ``"3840x2160"`` into (3840, 2160); empty text gives None."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 3840x2160, got '{text}'") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got '{text}'")
    return w, h


def write_bag(path: str, frames: Iterable[np.ndarray], topic: str = "/camera/image_raw",
              compressed: bool = False, storage: str = "mcap", rate_hz: float = 10.0,
              frame_id: str = "camera", jpeg_quality: int = 90, resize: Optional[Tuple[int, int]] = None,
              start_ns: int = 1_700_000_000_000_000_000, progress=None) -> int:
    """Write BGR frames into a new rosbag2 at ``path``; returns the number of frames written.

    With ``compressed`` the frames are stored as JPEG CompressedImage on ``<topic>/compressed``
    (the image_transport convention), else as bgr8 Image. Stamps start at ``start_ns`` and
    advance by ``1 / rate_hz``.
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer

    if storage not in ("mcap", "sqlite3"):
        raise ValueError("storage must be mcap or sqlite3")
    if rate_hz <= 0:
        raise ValueError("rate_hz must be > 0")
    ts = _typestore()
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    out_topic = topic.rstrip("/") + "/compressed" if compressed else topic
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    n = 0
    with Writer(Path(path), version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(out_topic, msgtype, typestore=ts)
        for frame in frames:
            if resize is not None and (frame.shape[1], frame.shape[0]) != resize:
                frame = cv2.resize(frame, resize, interpolation=cv2.INTER_LINEAR)
            t = start_ns + int(round(n * 1e9 / rate_hz))
            header = Header(stamp=Time(sec=t // 1_000_000_000, nanosec=t % 1_000_000_000), frame_id=frame_id)
            if compressed:
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
                if not ok:
                    raise IOError("JPEG encoding failed")
                msg = ts.types[msgtype](header=header, format="jpeg", data=buf.reshape(-1))
            else:
                frame = np.ascontiguousarray(frame)
                msg = ts.types[msgtype](header=header, height=frame.shape[0], width=frame.shape[1],
                                        encoding="bgr8", is_bigendian=0, step=frame.shape[1] * 3,
                                        data=frame.reshape(-1))
            writer.write(conn, t, ts.serialize_cdr(msg, msgtype))
            n += 1
            if progress is not None:
                progress(n)
    return n


def read_bag(path: str, topic: Optional[str] = None) -> Iterator[Tuple[str, str, int, bytes]]:
    """Yield (topic, message type, log time ns, serialized CDR bytes) of the image messages.

    Without ``topic`` the first Image or CompressedImage topic of the bag is used.
    """
    from rosbags.rosbag2 import Reader

    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if c.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)]
        if topic:
            conns = [c for c in conns if c.topic == topic]
        if not conns:
            found = sorted({(c.topic, c.msgtype) for c in reader.connections})
            raise ValueError(f"no image topic{' ' + topic if topic else ''} in {path}; topics: {found}")
        conn = conns[0]
        for c, t, raw in reader.messages(connections=[conn]):
            yield c.topic, c.msgtype, t, bytes(raw)


def decode_bag_message(msgtype: str, raw: bytes) -> np.ndarray:
    """Decode one serialized image message of a bag into a BGR frame (for tools and tests)."""
    from repose_ros.core.image_codec import decode_compressed, decode_raw

    ts = _typestore()
    msg = ts.deserialize_cdr(raw, msgtype)
    if msgtype == COMPRESSED_TYPE:
        return decode_compressed(msg.format, msg.data.tobytes())
    return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data.tobytes(), bool(msg.is_bigendian))
