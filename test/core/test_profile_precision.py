"""`repose profile` precision/recall sections: data specs, per-size curves, recall, placeholders, header."""
import math
import pathlib

import numpy as np
import pytest
import yaml

from repose_ros.cli import profile as cp
from repose_ros.cli.args import comma_list
from repose_ros.evaluation import area_bins
from repose_ros.profiling import fitting
from repose_ros.profiling import data as pdata
from repose_ros.profiling import profile_file as pfile
from repose_ros.core.profiles import Profiles

FAKE = ["--backend", "fake", "--quick", "--no-progress"]


def _visdrone(tmp_path: pathlib.Path, n: int = 2) -> pathlib.Path:
    """A tiny VisDrone split: grey 400x300 images with people of several sizes and one ignore region."""
    import cv2

    split = tmp_path / "vd" / "VisDrone2019-DET-train"
    (split / "images").mkdir(parents=True)
    (split / "annotations").mkdir()
    for i in range(n):
        stem = f"00000{i + 1}_00001_d_0000001"
        cv2.imwrite(str(split / "images" / f"{stem}.jpg"), np.full((300, 400, 3), 90, np.uint8))
        rows = [f"{20 + 40 * k},{30 + 5 * k},{6 + 4 * k},{12 + 8 * k},1,{1 + k % 2},0,0" for k in range(8)]
        rows.append("300,200,60,60,0,0,0,0")
        (split / "annotations" / f"{stem}.txt").write_text("\n".join(rows) + "\n")
    return split.parent


def test_evaluator_recall_at_and_det_ignore():
    ev = area_bins.AreaBinEvaluator([100.0, math.inf])
    gt = np.array([[0, 0, 5, 5], [20, 20, 40, 40], [50, 50, 70, 70]], float)     # 25 px^2, 400, 400
    dets = np.array([[0, 0, 5, 5], [20, 20, 40, 40], [50, 50, 70, 70], [100, 100, 120, 120]], float)
    ev.add(dets, np.array([0.9, 0.04, 0.3, 0.8]), gt, np.zeros((0, 4)))
    assert ev.recall_at(0.05) == [1.0, 0.5]        # the 0.04 detection does not count at 0.05
    assert ev.recall_at(0.01) == [1.0, 1.0]
    assert ev.summary()[1]["ap50"] < 1.0           # the unmatched 0.8 detection is a false positive
    ev2 = area_bins.AreaBinEvaluator([100.0, math.inf])
    ev2.add(dets, np.array([0.9, 0.04, 0.3, 0.8]), gt, np.zeros((0, 4)),
            det_ignore=np.array([False, False, False, True]))
    assert ev2.summary()[1]["ap50"] == pytest.approx(1.0)   # ... unless flagged as ignored
    with pytest.raises(ValueError):
        ev2.add(dets, np.ones(4), gt, np.zeros((0, 4)), det_ignore=np.array([True]))
    assert area_bins.AreaBinEvaluator([10.0, math.inf]).recall_at(0.05) == [None, None]


def test_data_specs_and_counts(tmp_path, monkeypatch):
    assert pdata.parse_data_specs("none") == [] and pdata.parse_data_specs("") == []
    assert pdata.parse_data_specs("mot17:/a, visdrone:/b") == ["mot17:/a", "visdrone:/b"]
    for bad in ("kitti:/x", "mot17:", "synthetic,mot17:/a"):
        with pytest.raises(SystemExit):
            pdata.parse_data_specs(bad)
    assert pdata.per_spec_counts(None, 2, 10) == [10, 10]
    assert pdata.per_spec_counts("20,30", 2, 10) == [20, 30]
    assert pdata.per_spec_counts("5", 3, 10) == [5, 5, 5]
    for bad in ("1,2,3", "x", "-1"):
        with pytest.raises(SystemExit):
            pdata.per_spec_counts(bad, 2, 10)
    # auto: whatever of the two shared folders exists under $REPOSE_SHARED_DATA
    monkeypatch.setenv("REPOSE_SHARED_DATA", str(tmp_path))
    monkeypatch.setenv("REPOSE_ROOT", str(tmp_path / "nowhere" / "repo"))
    assert pdata.default_data() is None
    vd = _visdrone(tmp_path)
    (tmp_path / "visdrone_people").symlink_to(vd)
    assert pdata.parse_data_specs("auto") == [f"visdrone:{tmp_path / 'visdrone_people'}"]


def test_defaults_are_the_new_ones():
    args = cp.build_parser().parse_args([])
    assert args.metric == "ap50_95" and args.recall_conf == 0.05 and args.pool is False
    assert comma_list(args.models)[-2:] == ["yolov8s@1600", "yolov8s@1920"]
    bounds = cp._parse_bins(args.bins)
    ratios = [b / a for a, b in zip(bounds[:-2], bounds[1:-1])]
    assert bounds[0] == 16 and bounds[-2] == 65536 and math.isinf(bounds[-1]) and set(ratios) == {2.0}


def test_fake_profile_per_size_recall_and_header(tmp_path):
    out = tmp_path / "p.yaml"
    argv = FAKE + ["--data", "synthetic", "--out", str(out), "--models", "yolov8s@320,yolov8s@1280",
                   "--scales", "0.1,0.3,0.8"]
    assert cp.main_profile(argv) == 0
    prof = Profiles.load(out)
    assert prof.meta["precision"]["metric"] == "ap50_95" and prof.meta["precision"]["pooled"] is False
    raw = prof.meta["precision"]["raw"]
    assert raw["yolov8s@320"] != raw["yolov8s@1280"]                 # measured per input size
    for key in prof.model_keys:
        fitted = fitting.fit_curve(raw[key], "ap50_95", 2)
        assert [p for _, p in prof.precision[key]] == fitted
        assert len(prof.precision[key]) == len(cp.DEFAULT_BINS)
        assert prof.has_recall(key)
        rec = [r for _, r in prof.recall["bins"][key]]
        assert rec == sorted(rec) and rec[-1] > 0.8                      # the fake finds big people
    assert prof.recall["conf"] == 0.05
    assert prof.recall_of_area("yolov8s@320", [1e5])[0] == prof.recall["bins"]["yolov8s@320"][-1][1]
    assert len(prof.meta["recall"]["raw"]["yolov8s@320"]) == len(cp.DEFAULT_BINS)
    text = out.read_text()
    assert text.startswith("# Latency-precision profile") and "#   precision: ap50_95" in text
    assert "#   recall: measured by this run" in text
    assert yaml.safe_load(text)["meta"]["precision"]["data_sets"] == ["synthetic"]
    # pooled on request: both keys share one curve
    assert cp.main_profile(argv + ["--pool", "--metric", "ap50"]) == 0
    prof = Profiles.load(out)
    assert prof.precision["yolov8s@320"] == prof.precision["yolov8s@1280"]
    assert prof.recall["bins"]["yolov8s@320"] == prof.recall["bins"]["yolov8s@1280"]
    assert prof.meta["precision"]["metric"] == "ap50" and prof.meta["precision"]["pooled"] is True
    with pytest.raises(SystemExit, match="recall-conf"):
        cp.main_profile(argv + ["--recall-conf", "0.001"])


def test_visdrone_data_with_fake_backend(tmp_path):
    root = _visdrone(tmp_path)
    out = tmp_path / "p.yaml"
    assert cp.main_profile(FAKE + ["--data", f"visdrone:{root}", "--max-frames", "2", "--out", str(out),
                                   "--models", "yolov8s@640", "--scales", "0.5,1.0,2.0"]) == 0
    prof = Profiles.load(out)
    assert prof.meta["precision"]["data_sets"] == ["visdrone"]
    assert "VisDrone-DET people" in prof.meta["precision"]["data"][0]
    n_gt = sum(r["n_gt"] for r in prof.meta["precision"]["raw"]["yolov8s@640"])
    assert 0 < n_gt <= 2 * 8 * 3                                      # persons only, not the ignore region
    assert list(prof.meta["precision"]["raw_by_data"]) == ["columns", "visdrone"]


def _latency_profile(tmp_path, keys):
    """A profile holding latency (and a shape point) for ``keys`` only, plus a recall and cap."""
    path = tmp_path / "lat.yaml"
    assert cp.main_profile(FAKE + ["--data", "none", "--out", str(path), "--models", ",".join(keys)]) == 0
    data = yaml.safe_load(path.read_text())
    data["latency_shapes"] = {keys[0]: {"default": [[320, 192, 1.0], [320, 320, 2.0]]}}
    data["upscale_cap"] = 2.5
    data["upscale_gain"] = {"factors": [1.0, 2.0], "bins": [[1000.0, [0.0, 0.1]], [math.inf, [0.0, -0.2]]]}
    data["meta"]["makespan_check"] = {"ok": True}
    path.write_text(yaml.safe_dump(data))
    return path


def test_skip_latency_keeps_latency_sections_and_placeholders(tmp_path):
    upd = _latency_profile(tmp_path, ["yolov8s@320"])
    before = Profiles.load(upd)
    out, side = tmp_path / "out.yaml", tmp_path / "side.yaml"
    base = FAKE + ["--data", "synthetic", "--skip-latency", "--update", str(upd), "--out", str(out)]
    with pytest.raises(SystemExit, match="no measured latency for yolov8s@1600"):
        cp.main_profile(base + ["--models", "yolov8s@320,yolov8s@1600"])
    with pytest.raises(SystemExit, match="config/"):
        cp.main_profile(base + ["--models", "yolov8s@320,yolov8s@1600", "--missing-latency-out",
                                str(pathlib.Path(cp.__file__).resolve().parents[3] / "config" / "x.yaml")])
    assert cp.main_profile(base + ["--models", "yolov8s@320,yolov8s@1600", "--missing-latency-out", str(side)]) == 0
    prof = Profiles.load(out)
    assert prof.model_keys == ["yolov8s@320"]
    assert prof.latency_ms == before.latency_ms and prof.latency_shapes == before.latency_shapes
    assert prof.upscale_cap == 2.5 and prof.meta["makespan_check"] == {"ok": True}
    assert prof.upscale_gain["bins"] == before.upscale_gain["bins"] and "kept from" in prof.upscale_gain["source"]
    assert prof.meta["latency"]["kept_from"].startswith(str(upd))
    assert prof.meta["precision"]["source"] == "measured" and prof.has_recall("yolov8s@320")
    other = Profiles.load(side)
    assert other.model_keys == ["yolov8s@320", "yolov8s@1600"]
    assert other.latency("yolov8s@1600") == pfile.PLACEHOLDER_LATENCY_MS
    assert other.latency("yolov8s@320") == before.latency("yolov8s@320")
    assert other.meta["latency"]["placeholder_keys"] == ["yolov8s@1600"]
    assert "PLACEHOLDER" in side.read_text().split("meta:")[0]
    assert other.has_recall("yolov8s@1600") and other.precision["yolov8s@320"] == prof.precision["yolov8s@320"]
    # a later latency run on the side file replaces the placeholder instead of keeping it as "default"
    assert cp.main_profile(FAKE + ["--data", "none", "--latency-only", "--update", str(side), "--out", str(side),
                                   "--models", "yolov8s@320,yolov8s@1600", "--server-id", "edge1"]) == 0
    again = Profiles.load(side)
    assert again.latency("yolov8s@1600") < 1000 and set(again.latency_ms["yolov8s@1600"]) == {"edge1", "default"}
    assert again.precision["yolov8s@1600"] == other.precision["yolov8s@1600"]     # kept, with its recall
    assert again.recall["bins"]["yolov8s@1600"] == other.recall["bins"]["yolov8s@1600"]
    assert "placeholder_keys" not in again.meta["latency"]


def test_precision_from_takes_each_key_from_the_first_source(tmp_path):
    upd = _latency_profile(tmp_path, ["yolov8s@320", "yolov8s@640"])
    src = tmp_path / "src.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(src), "--models", "yolov8s@640"]) == 0
    out = tmp_path / "out.yaml"
    assert cp.main_profile(FAKE + ["--data", "none", "--skip-latency", "--update", str(upd), "--precision-from",
                                   str(src), "--out", str(out), "--models", "yolov8s@320,yolov8s@640"]) == 0
    prof, s, u = Profiles.load(out), Profiles.load(src), Profiles.load(upd)
    assert prof.precision["yolov8s@640"] == s.precision["yolov8s@640"]
    assert prof.precision["yolov8s@320"] == u.precision["yolov8s@320"]
    assert prof.recall["bins"] == {"yolov8s@640": s.recall["bins"]["yolov8s@640"]}
    assert prof.upscale_cap == 2.5 and "kept from" in prof.meta["precision"]["source"]


def test_upscale_study_option_writes_cap(tmp_path):
    out = tmp_path / "p.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(out), "--models", "yolov8s@640",
                                   "--upscale-study", "--upscale-sizes", "320", "--upscale-anchors", "3"]) == 0
    prof = Profiles.load(out)
    up = prof.meta["upscale"]
    assert up["factors"] == [1.0, 2.0, 4.0] and up["sizes"] == [320]
    assert prof.upscale_cap == up["cap"]
    assert "upscale_cap" in out.read_text().split("meta:")[0]
    assert [[bd, list(g)] for bd, g in prof.upscale_gain["bins"]] == up["gain"]["bins"]    # measured here
    assert prof.upscale_gain["source"].startswith("measured by this run")
    assert "upscale_gain" in out.read_text().split("meta:")[0]
    with pytest.raises(SystemExit, match="upscale-study needs"):
        cp.main_profile(FAKE + ["--data", "none", "--out", str(out), "--models", "yolov8s@640", "--upscale-study"])


def test_latency_shapes_are_measured_and_written(tmp_path):
    """Latency runs blocks of several aspect ratios; every tensor shape lands in latency_shapes."""
    from repose_ros.core.tensor_shapes import letterbox_shape
    from repose_ros.profiling.latency import ASPECTS, PORTRAIT, shape_sizes

    out = tmp_path / "p.yaml"
    assert cp.main_profile(FAKE + ["--data", "none", "--out", str(out), "--models", "yolov8s@320,yolov8s@640",
                                   "--repeats", "2", "--warmup", "0"]) == 0
    prof = Profiles.load(out)
    for key, size in (("yolov8s@320", 320), ("yolov8s@640", 640)):
        points = prof.latency_shapes[key]["default"]
        assert len(points) == len(shape_sizes(size, ASPECTS, PORTRAIT))
        want = {letterbox_shape(w, h, size) for w, h in shape_sizes(size, ASPECTS, PORTRAIT)}
        assert {(p[0], p[1]) for p in points} == want and (size, size) in want
        # the square point is the latency_ms figure
        square = next(p[2] for p in points if p[0] == p[1] == size)
        assert prof.latency(key) == pytest.approx(square)
    assert "latency_shapes" in prof.meta["latency"]["definition"]
    # --no-shapes: square blocks only, no shape section
    out2 = tmp_path / "sq.yaml"
    assert cp.main_profile(FAKE + ["--data", "none", "--out", str(out2), "--models", "yolov8s@320", "--no-shapes",
                                   "--repeats", "2", "--warmup", "0"]) == 0
    assert Profiles.load(out2).latency_shapes == {}


def test_keep_models_adds_sizes_without_touching_the_others(tmp_path):
    """--update FILE --keep-models: the named models are measured, FILE's other models stay as they were."""
    base = tmp_path / "base.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(base), "--models", "yolov8s@320,yolov8s@640",
                                   "--repeats", "2", "--warmup", "0"]) == 0
    before = Profiles.load(base)
    out = tmp_path / "out.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--update", str(base), "--keep-models", "--out", str(out),
                                   "--models", "yolov8s@960", "--repeats", "2", "--warmup", "0"]) == 0
    prof = Profiles.load(out)
    assert prof.model_keys == ["yolov8s@320", "yolov8s@640", "yolov8s@960"]
    for key in ("yolov8s@320", "yolov8s@640"):
        assert prof.latency_ms[key] == before.latency_ms[key]
        assert prof.latency_shapes[key] == before.latency_shapes[key]
        assert [list(b) for b in prof.precision[key]] == [list(b) for b in before.precision[key]]
        assert prof.recall["bins"][key] == before.recall["bins"][key]
    assert prof.meta["kept_models"]["keys"] == ["yolov8s@320", "yolov8s@640"]
    assert set(prof.meta["kept_models"]["precision_raw"]) == {"yolov8s@320", "yolov8s@640"}   # refit later
    assert "kept models: yolov8s@320, yolov8s@640" in out.read_text().split("meta:")[0]
    # without --keep-models the output holds the named models only (as before)
    out2 = tmp_path / "only.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--update", str(base), "--out", str(out2),
                                   "--models", "yolov8s@960", "--repeats", "2", "--warmup", "0"]) == 0
    assert Profiles.load(out2).model_keys == ["yolov8s@960"]
    with pytest.raises(SystemExit, match="--keep-models needs --update"):
        cp.main_profile(FAKE + ["--data", "none", "--keep-models", "--out", str(out2), "--models", "yolov8s@320"])


def test_makespan_check_prints_predicted_against_measured(tmp_path, capsys):
    """--makespan-check runs RE-POSE with the new profile on frames and reports the planner's error."""
    out = tmp_path / "p.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(out), "--models", "yolov8s@320,yolov8s@640",
                                   "--repeats", "2", "--warmup", "0", "--makespan-check", "1",
                                   "--makespan-budgets", "300,3000"]) == 0
    check = Profiles.load(out).meta["makespan_check"]
    assert [r["budget_ms"] for r in check["rows"]] == [300.0, 3000.0]
    planned = [r for r in check["rows"] if r["error"] is not None]
    assert planned and check["n"] == len(planned)
    for r in planned:
        # the row's ms are rounded to 0.1 ms, the error is not: allow for the rounding of both
        tol = 0.1 / r["predicted_ms"] * (1 + r["measured_ms"] / r["predicted_ms"]) + 1e-6
        assert r["error"] == pytest.approx((r["measured_ms"] - r["predicted_ms"]) / r["predicted_ms"], abs=tol)
    err = capsys.readouterr().err
    assert "makespan check on synthetic" in err and "median |error|" in err


def test_unimodal_fit_follows_a_fall_at_the_largest_areas():
    """Unimodal: rises, then falls where the data fall; isotonic would flatten the fall away."""
    values = [0.0, 0.1, 0.3, 0.5, 0.6, 0.3]
    weights = [50, 50, 50, 40, 30, 20]
    uni = fitting.unimodal_bins(values, weights, 10)
    assert uni == pytest.approx(values)                                   # already unimodal: kept
    mono = fitting.monotone_bins(values, weights, 10)
    assert mono[-1] >= mono[-2] and mono[-1] > 0.4                        # isotonic pools the fall
    # noise inside the rise is pooled; an untrusted last bin cannot make the curve fall
    noisy = fitting.unimodal_bins([0.1, 0.3, 0.2, 0.5, 0.6, 0.0], [50, 50, 50, 40, 30, 3], 10)
    assert noisy == pytest.approx([0.1, 0.25, 0.25, 0.5, 0.6, 0.6])
    # a fall and a rise again: the best single peak
    out = fitting.unimodal_bins([0.2, 0.6, 0.3, 0.5], [10, 10, 10, 10], 5)
    d = np.diff(out)
    assert np.all(d[np.argmax(d < 0):] <= 0)


def test_refit_fits_stored_raw_numbers_again(tmp_path):
    """--refit: no detector run; curves re-fitted from meta.precision.raw (or --raw-from), raw kept."""
    base = tmp_path / "base.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(base), "--models", "yolov8s@320,yolov8s@640",
                                   "--repeats", "1", "--warmup", "0", "--curve-shape", "monotone"]) == 0
    data = yaml.safe_load(base.read_text())
    raw = data["meta"]["precision"]["raw"]["yolov8s@640"]
    for r in raw[-3:]:                                  # make the largest objects fall, with enough ground truth
        r["n_gt"], r["ap50_95"] = 50, 0.1
    base.write_text(yaml.safe_dump(data))
    out = tmp_path / "refit.yaml"
    assert cp.main_profile(["--refit", str(base), "--out", str(out), "--no-progress"]) == 0
    prof, before = Profiles.load(out), Profiles.load(base)
    assert prof.precision["yolov8s@640"][-1][1] == pytest.approx(0.1)   # the fall is in the curve now
    assert before.precision["yolov8s@640"][-1][1] > 0.1                  # isotonic had flattened it away
    assert prof.latency_ms == before.latency_ms and prof.recall == before.recall
    assert prof.meta["precision"]["refit"]["raw_sources"]["yolov8s@640"] == str(base)
    assert "fitted again" in out.read_text().split("meta:")[0]
    # keys without raw numbers need --raw-from
    del data["meta"]["precision"]["raw"]["yolov8s@320"]
    base.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit, match="no raw per-bin numbers for yolov8s@320"):
        cp.main_profile(["--refit", str(base), "--out", str(out)])
    donor = tmp_path / "donor.yaml"
    assert cp.main_profile(FAKE + ["--data", "synthetic", "--out", str(donor), "--models", "yolov8s@320",
                                   "--repeats", "1", "--warmup", "0"]) == 0
    assert cp.main_profile(["--refit", str(base), "--raw-from", str(donor), "--out", str(out)]) == 0
    assert Profiles.load(out).meta["precision"]["refit"]["raw_sources"]["yolov8s@320"] == str(donor)
