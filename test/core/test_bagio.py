"""rosbag2 writing and reading of camera frames (no ROS needed)."""
import numpy as np
import pytest

pytest.importorskip("rosbags")

from repose_ros.datasets.bags import (COMPRESSED_TYPE, IMAGE_TYPE, decode_bag_message, parse_size,  # noqa: E402
                                      read_bag, write_bag)


def _frames(n=3):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_raw_frames_round_trip(tmp_path, storage):
    frames = _frames()
    assert write_bag(str(tmp_path / "b"), frames, storage=storage, rate_hz=5.0) == 3
    assert (tmp_path / "b" / "metadata.yaml").exists()
    items = list(read_bag(str(tmp_path / "b")))
    assert [i[0] for i in items] == ["/camera/image_raw"] * 3 and items[0][1] == IMAGE_TYPE
    assert items[1][2] - items[0][2] == 200_000_000
    for (_, t, _, raw), f in zip(items, frames):
        assert np.array_equal(decode_bag_message(t, raw), f)


def test_compressed_frames_and_resize(tmp_path):
    write_bag(str(tmp_path / "c"), _frames(2), compressed=True, resize=(64, 48))
    items = list(read_bag(str(tmp_path / "c")))
    assert items[0][0] == "/camera/image_raw/compressed" and items[0][1] == COMPRESSED_TYPE
    assert decode_bag_message(items[0][1], items[0][3]).shape == (48, 64, 3)


def test_unknown_topic_is_a_clear_error(tmp_path):
    write_bag(str(tmp_path / "d"), _frames(1))
    with pytest.raises(ValueError, match="no image topic /nope"):
        list(read_bag(str(tmp_path / "d"), "/nope"))


@pytest.mark.parametrize("text,size", [("3840x2160", (3840, 2160)), ("", None)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["3840", "ax3", "0x10"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)
