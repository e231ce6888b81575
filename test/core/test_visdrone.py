"""VisDrone-DET reader: categories, ignore regions, malformed files, layouts, load_dataset hook."""
import pathlib

import numpy as np
import pytest

from repose_ros.datasets import load as ds_load
from repose_ros.datasets.visdrone import (VisDroneFormatError, count_boxes, find_visdrone_split, list_visdrone_images,
                                          parse_visdrone_annotation, visdrone_frames, visdrone_scene)

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "visdrone_people"


def _write_split(folder: pathlib.Path, files: dict, size=(64, 48)) -> pathlib.Path:
    """Write images (black, ``size``) and annotation texts ``{stem: text or None}`` into a split folder."""
    import cv2

    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    for stem, text in files.items():
        cv2.imwrite(str(folder / "images" / f"{stem}.jpg"), np.zeros((size[1], size[0], 3), np.uint8))
        if text is not None:
            (folder / "annotations" / f"{stem}.txt").write_text(text)
    return folder


def test_categories_ignore_regions_and_score0():
    text = ("10,20,5,8,1,1,0,0\n"       # pedestrian -> gt
            "30,40,6,9,1,2,1,2\n"       # people -> gt
            "0,0,50,50,0,0,0,0\n"       # ignored region -> ignore
            "1,2,3,4,0,1,0,0\n"         # pedestrian with score 0 -> ignore
            "5,5,20,10,1,4,0,0\n"       # car -> dropped
            "7,7,3,3,0,11,0,0\n"        # 'others' with score 0 -> dropped (not a person)
            "\n")
    ann = parse_visdrone_annotation(text, "a.txt")
    np.testing.assert_allclose(ann.gt, [[10, 20, 15, 28], [30, 40, 36, 49]])
    np.testing.assert_allclose(ann.ignore, [[0, 0, 50, 50], [1, 2, 4, 6]])
    assert ann.gt.dtype == np.float32 and ann.n_persons_score0 == 1 and ann.n_others == 2
    ann = parse_visdrone_annotation(text, "a.txt", other_score0_as_ignore=True)
    assert len(ann.ignore) == 3 and ann.ignore[-1].tolist() == [7, 7, 10, 10]


def test_short_and_trailing_comma_lines_are_accepted():
    ann = parse_visdrone_annotation("1,1,2,2,1,1,\n3,3,2,2,1,2\n")
    assert len(ann.gt) == 2 and ann.ignore.shape == (0, 4)
    empty = parse_visdrone_annotation("")
    assert empty.gt.shape == (0, 4) and empty.ignore.shape == (0, 4)


@pytest.mark.parametrize("line, what", [
    ("1,2,3,4,1", "expected 6 to 8"),
    ("1,2,3,4,1,1,0,0,9", "expected 6 to 8"),
    ("1,2,x,4,1,1,0,0", "not a number"),
    ("1,2,-3,4,1,1,0,0", "negative box size"),
    ("1,2,3,4,1,1.5,0,0", "category must be an integer"),
    ("1,2,nan,4,1,1,0,0", "non-finite"),
])
def test_malformed_lines_name_file_and_line(line, what):
    with pytest.raises(VisDroneFormatError) as err:
        parse_visdrone_annotation("1,1,2,2,1,1,0,0\n" + line + "\n", "dir/x.txt")
    assert "dir/x.txt, line 2" in str(err.value) and what in str(err.value)


def test_malformed_file_through_the_reader(tmp_path):
    split = _write_split(tmp_path / "VisDrone2019-DET-val", {"0000001_00001_d_0000001": "1,2,3\n"})
    with pytest.raises(VisDroneFormatError, match=r"0000001_00001_d_0000001\.txt, line 1"):
        visdrone_frames(split)


def test_missing_annotation_file(tmp_path):
    split = _write_split(tmp_path / "s", {"0000001_00001_d_0000001": "1,1,2,2,1,1,0,0\n",
                                          "0000002_00001_d_0000001": None})
    with pytest.raises(FileNotFoundError, match=r"0000002_00001_d_0000001\.txt"):
        visdrone_frames(split)
    # the frame with an annotation alone loads (n_frames stops before the bad one)
    assert len(visdrone_frames(split, 1)) == 1


def test_both_root_layouts_and_errors(tmp_path):
    split = _write_split(tmp_path / "data" / "VisDrone2019-DET-train", {"0000001_00001_d_0000001": ""})
    assert find_visdrone_split(split) == split
    assert find_visdrone_split(tmp_path / "data") == split
    with pytest.raises(FileNotFoundError):
        find_visdrone_split(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no VisDrone-DET split"):
        find_visdrone_split(tmp_path)            # the split is two levels down: not found
    _write_split(tmp_path / "data" / "VisDrone2019-DET-val", {"0000001_00001_d_0000001": ""})
    with pytest.raises(ValueError, match="several"):
        find_visdrone_split(tmp_path / "data")


def test_frames_order_native_size_and_limit(tmp_path):
    files = {"0000002_00010_d_0000003": "1,1,4,4,1,1,0,0\n",
             "0000002_00005_d_0000002": "0,0,9,9,0,0,0,0\n1,1,4,4,1,2,0,0\n",
             "0000001_00007_d_0000001": "",
             "9999999_00001_d_0000009": "2,2,4,4,1,1,0,0\n",
             "9999999_00002_d_0000010": ""}
    split = _write_split(tmp_path / "s", files, size=(80, 60))
    names = [p.stem for p in list_visdrone_images(split, "name")]
    assert names == sorted(files)
    frames = visdrone_frames(tmp_path)
    # round-robin over scenes 0000001, 0000002 and the two stills, then the second 0000002 image
    assert [f.name for f in frames] == ["0000001_00007_d_0000001", "0000002_00005_d_0000002",
                                        "9999999_00001_d_0000009", "9999999_00002_d_0000010",
                                        "0000002_00010_d_0000003"]
    assert [f.name for f in visdrone_frames(split)] == [f.name for f in frames]     # deterministic
    f = frames[1]
    assert (f.width, f.height) == (80, 60) and f.load().shape == (60, 80, 3)
    assert f.sequence == "0000002" and f.load_history is None
    assert len(f.gt) == 1 and len(f.ignore) == 1
    assert count_boxes(frames) == {"frames": 5, "persons": 3, "ignore": 1}
    assert len(visdrone_frames(split, 2)) == 2 and visdrone_frames(split, 0) == []
    with pytest.raises(ValueError):
        visdrone_frames(split, -1)
    with pytest.raises(ValueError):
        list_visdrone_images(split, "random")
    assert visdrone_scene("9999999_00001_d_0000009") == "9999999_00001_d_0000009"
    assert visdrone_scene("0000002_00010_d_0000003") == "0000002"


def test_load_dataset_hook(tmp_path):
    _write_split(tmp_path / "VisDrone2019-DET-train", {"0000001_00001_d_0000001": "1,1,4,4,1,1,0,0\n"})
    assert ds_load.parse_dataset_spec(f"visdrone:{tmp_path}") == ("visdrone", [str(tmp_path)])
    with pytest.raises(ValueError, match="visdrone needs a folder"):
        ds_load.parse_dataset_spec("visdrone:")
    data = ds_load.load_dataset(f"visdrone:{tmp_path}", 4)
    assert len(data.frames) == 1 and not data.fake and data.spec == f"visdrone:{tmp_path}"
    assert len(data.frames[0].gt) == 1
    with pytest.raises(ValueError, match="mot17"):
        ds_load.load_dataset(f"visdrone:{tmp_path}", 4, mosaic="2x2")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared VisDrone data not present")
def test_shared_visdrone_counts():
    frames = visdrone_frames(SHARED)
    assert count_boxes(frames) == {"frames": 71, "persons": 3665, "ignore": 194}
    sizes = {(f.width, f.height) for f in frames}
    assert sizes == {(2000, 1500), (1920, 1080), (1916, 1078)}
