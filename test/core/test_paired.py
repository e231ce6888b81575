"""Paired comparison of methods over the same frames: COCO-exact mAP from per-frame matches, bootstrap interval."""
import numpy as np
import pytest

from repose_ros.evaluation.metrics import DetectionEvaluator
from repose_ros.evaluation.paired import (FrameMatches, compare_to_reference, format_paired, map50_95,
                                          paired_bootstrap)


def _scene(rng, n):
    xy = rng.uniform(0, 900, (n, 2))
    wh = rng.uniform(5, 150, (n, 2))
    return np.hstack([xy, xy + wh])


def _detect(rng, gt, recall=0.8, false=3, jitter=6.0):
    det = gt[rng.random(len(gt)) < recall]
    det = det + rng.normal(0, jitter, det.shape)
    fp = rng.uniform(0, 900, (false, 2))
    det = np.vstack([det, np.hstack([fp, fp + 40])])
    det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1)
    return det, np.round(rng.random(len(det)), 1)  # rounded scores: ties across frames


@pytest.mark.parametrize("seed", range(12))
def test_map_from_frame_matches_is_what_coco_reports(seed):
    """Random frames (ties, ignore regions, frames without people or detections, max_dets cut): same mAP."""
    rng = np.random.default_rng(seed)
    ev = DetectionEvaluator(max_dets=int(rng.choice([4, 30, 1000])))
    for _ in range(int(rng.integers(1, 7))):
        gt = _scene(rng, int(rng.integers(0, 15)))
        det, scores = _detect(rng, gt, false=int(rng.integers(0, 5)))
        ignore = np.array([[0.0, 0.0, 200.0, 200.0]]) if rng.random() < 0.5 else np.zeros((0, 4))
        ev.add(gt, det, scores, ignore, 1000, 1000)
    frames = ev.frame_matches()
    assert len(frames) == ev.n_images
    coco = ev.summary()["map50_95"]
    ours = map50_95(frames)
    assert (coco is None and ours is None) or ours == pytest.approx(coco, abs=1e-12)
    # and on any subset of the frames, what COCO reports on those frames alone
    keep = [i for i in range(len(frames)) if i % 2 == 0]
    sub = DetectionEvaluator(max_dets=ev.max_dets)
    for i in keep:
        im = ev._images[i]["id"]
        g = [a for a in ev._gts if a["image_id"] == im]
        d = [a for a in ev._dts if a["image_id"] == im]

        def xyxy(rows):
            return np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (r["bbox"] for r in rows)]).reshape(-1, 4)
        sub.add(xyxy([a for a in g if not a["iscrowd"]]), xyxy(d), [a["score"] for a in d],
                xyxy([a for a in g if a["iscrowd"]]), 1000, 1000)
    got, want = map50_95([frames[i] for i in keep]), sub.summary()["map50_95"]
    assert (got is None and want is None) or got == pytest.approx(want, abs=1e-12)


def test_frames_without_detections_count_their_people():
    ev = DetectionEvaluator()
    gt = np.array([[0, 0, 50, 100], [200, 0, 250, 100]], float)
    ev.add(gt, gt[:1], [0.9], None, 500, 500)
    ev.add(gt, np.zeros((0, 4)), [], None, 500, 500)  # both missed
    frames = ev.frame_matches()
    assert [f.n_gt for f in frames] == [2, 2] and frames[1].scores.size == 0
    assert map50_95(frames) == pytest.approx(ev.summary()["map50_95"]) == pytest.approx(0.25, abs=0.01)
    empty = DetectionEvaluator()
    empty.add(gt, np.zeros((0, 4)), [], None, 500, 500)
    assert map50_95(empty.frame_matches()) == 0.0 == empty.summary()["map50_95"]
    assert map50_95([]) is None


def _two_methods(n_frames, seed, better_by=0):
    """A reference and a method that finds ``better_by`` more of the people on every frame."""
    rng = np.random.default_rng(seed)
    ref, meth = DetectionEvaluator(), DetectionEvaluator()
    for _ in range(n_frames):
        gt = _scene(rng, 20)
        det, scores = _detect(rng, gt[better_by:], recall=0.7)
        ref.add(gt, det, scores, None, 1000, 1000)
        extra = gt[:better_by] + rng.normal(0, 1.0, (better_by, 4))
        meth.add(gt, np.vstack([det, extra]), np.concatenate([scores, np.full(better_by, 0.95)]), None, 1000, 1000)
    return meth.frame_matches(), ref.frame_matches()


def test_bootstrap_of_identical_methods_is_zero_and_of_a_better_one_is_positive():
    meth, ref = _two_methods(12, 3)
    same = paired_bootstrap(ref, ref, resamples=200, seed=1)
    assert same["diff"] == 0.0 and same["low"] == same["high"] == 0.0 and same["share_better"] == 0.0
    assert same["frames"] == 12 and same["resamples"] == 200
    meth, ref = _two_methods(12, 3, better_by=4)
    res = paired_bootstrap(meth, ref, resamples=300, seed=1)
    assert res["diff"] > 0.02 and 0.0 < res["low"] <= res["diff"] <= res["high"] and res["share_better"] == 1.0
    worse = paired_bootstrap(ref, meth, resamples=300, seed=1)
    assert worse["diff"] == pytest.approx(-res["diff"]) and worse["high"] < 0.0 and worse["share_better"] == 0.0
    assert paired_bootstrap(meth, ref, resamples=300, seed=1) == res  # seeded: reproducible
    assert paired_bootstrap(meth, ref, resamples=300, seed=2) != res
    none = paired_bootstrap(meth, ref, resamples=0)
    assert none["diff"] == res["diff"] and none["low"] is None and none["resamples"] == 0


def test_a_noisy_difference_gets_an_interval_that_spans_zero():
    """Methods that each win on some frames: the interval contains 0 and the share ahead is in between."""
    rng = np.random.default_rng(9)
    a, b = DetectionEvaluator(), DetectionEvaluator()
    for i in range(16):
        gt = _scene(rng, 20)
        da, sa = _detect(rng, gt, recall=0.9 if i % 2 else 0.5)
        db, sb = _detect(rng, gt, recall=0.5 if i % 2 else 0.9)
        a.add(gt, da, sa, None, 1000, 1000)
        b.add(gt, db, sb, None, 1000, 1000)
    res = paired_bootstrap(a.frame_matches(), b.frame_matches(), resamples=400, seed=0)
    assert res["low"] < 0.0 < res["high"] and 0.05 < res["share_better"] < 0.95


def test_bad_pairs_are_refused():
    meth, ref = _two_methods(4, 0)
    with pytest.raises(ValueError, match="same frames"):
        paired_bootstrap(meth, ref[:3])
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(meth, ref, level=1.0)


def test_methods_are_paired_with_the_reference_at_their_budget():
    meth, ref = _two_methods(6, 1, better_by=3)
    entries = {"meanshift@1000": {"family": "meanshift", "budget_ms": 1000.0},
               "meanshift@2000": {"family": "meanshift", "budget_ms": 2000.0},
               "rl_dca@1000": {"family": "rl_dca", "budget_ms": 1000.0},
               "rl_dca@3000": {"family": "rl_dca", "budget_ms": 3000.0},      # no reference at 3000
               "full_frame@640": {"family": "full_frame", "budget_ms": None}}  # no budget
    matches = {"meanshift@1000": ref, "meanshift@2000": ref, "rl_dca@1000": meth, "rl_dca@3000": meth,
               "full_frame@640": meth}
    out = compare_to_reference(matches, entries, "meanshift", resamples=50)
    assert set(out) == {"rl_dca@1000"} and out["rl_dca@1000"]["vs"] == "meanshift@1000"
    assert out["rl_dca@1000"]["diff"] > 0
    assert compare_to_reference(matches, entries, "greedy") == {}
    table = format_paired(out)
    assert "| rl_dca@1000 | meanshift@1000 | +" in table and "95% interval" in table and "100% of 50" in table
    assert format_paired({}) == ""


def test_frame_matches_hold_what_coco_matched():
    ev = DetectionEvaluator()
    gt = np.array([[0, 0, 50, 100], [200, 0, 250, 100]], float)
    det = np.array([[0, 0, 50, 100], [400, 400, 450, 500], [205, 0, 255, 100]], float)
    ev.add(gt, det, [0.5, 0.9, 0.7], np.array([[390, 390, 460, 510]]), 1000, 1000)
    (f,) = ev.frame_matches()
    assert isinstance(f, FrameMatches) and f.n_gt == 2
    assert f.scores.tolist() == [0.9, 0.7, 0.5]                   # COCO's order: highest score first
    assert f.matched.shape == (10, 3) and f.ignored.shape == (10, 3)
    assert f.ignored[:, 0].all() and not f.ignored[:, 1:].any()   # the detection on the ignore region
    assert f.matched[:, 2].all()                                   # exact box: matched at every threshold
    assert f.matched[:7, 1].all() and not f.matched[7:, 1].any()  # IoU 0.82: matched at 0.50-0.80 only


def test_summary_and_frame_matches_share_one_coco_evaluation(monkeypatch):
    from repose_ros.evaluation import metrics

    calls = []
    real = metrics._coco_api

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(metrics, "_coco_api", counting)
    rng = np.random.default_rng(4)
    ev = DetectionEvaluator()
    gt = _scene(rng, 10)
    ev.add(gt, *_detect(rng, gt))
    first = ev.summary()
    assert map50_95(ev.frame_matches()) == pytest.approx(first["map50_95"], abs=1e-12) and len(calls) == 1
    assert ev.summary() == first and len(calls) == 1
    gt2 = _scene(rng, 10)
    ev.add(gt2, *_detect(rng, gt2))  # a new image: evaluated again, with it
    assert len(ev.frame_matches()) == 2 and len(calls) == 2
    assert map50_95(ev.frame_matches()) == pytest.approx(ev.summary()["map50_95"], abs=1e-12) and len(calls) == 2
