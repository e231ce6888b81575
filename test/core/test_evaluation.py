"""repose eval: COCO metrics against hand-computed cases, data sets, methods and the command."""
import json

import numpy as np
import pytest

from repose_ros.datasets import coco as ds_coco
from repose_ros.datasets import collage as ds_collage
from repose_ros.datasets import load as ds_load
from repose_ros.datasets import mot as ds_mot
from repose_ros.datasets import synthetic as ds_synthetic
from repose_ros.evaluation import methods as ev_methods
from repose_ros.evaluation import metrics as ev_metrics
from repose_ros.evaluation import remix as ev_remix
from repose_ros.evaluation import report as ev_report
from repose_ros.evaluation import runner as ev_runner
from repose_ros.core.detections import Detections
from repose_ros.detectors.fake import FakeDetector
from repose_ros.detectors.zoo import ModelZoo
from repose_ros.core.profiles import Profiles

GT = [[10.0, 10.0, 60.0, 110.0]]          # 50 x 100 px: a "medium" object (32^2 <= area < 96^2)
FP = [[200.0, 200.0, 250.0, 300.0]]


def metrics(*images):
    """coco_metrics of (gt, dets, scores, ignore) tuples."""
    return ev_metrics.coco_metrics(list(images))


# --------------------------------------------------------------------------- metrics by hand


def test_single_perfect_box_is_one():
    m = metrics((GT, GT, [0.9], None))
    assert m["map50_95"] == pytest.approx(1.0) and m["map50"] == pytest.approx(1.0)
    assert m["ap_medium"] == pytest.approx(1.0)
    assert m["ap_small"] is None and m["ap_large"] is None  # no ground truth of those sizes


def test_false_positive_ranked_above_the_hit_halves_ap():
    # PR points: (recall 0, precision 0) then (1, 0.5); interpolated precision is 0.5 everywhere.
    m = metrics((GT, FP + GT, [0.9, 0.8], None))
    assert m["map50"] == pytest.approx(0.5) and m["map50_95"] == pytest.approx(0.5)


def test_false_positive_ranked_below_the_hit_costs_nothing():
    m = metrics((GT, GT + FP, [0.9, 0.8], None))
    assert m["map50"] == pytest.approx(1.0)


def test_ignore_region_removes_the_false_positive():
    ignore = [[190.0, 190.0, 260.0, 310.0]]  # the FP lies inside it
    assert metrics((GT, FP + GT, [0.9, 0.8], ignore))["map50"] == pytest.approx(1.0)
    # a detection on an ignore region is not a hit either: nothing left to find
    only_ignored = metrics(([], FP, [0.9], ignore))
    assert only_ignored["map50"] is None and only_ignored["n_gt"] == 0
    # an ignore region elsewhere does not help
    far = [[500.0, 500.0, 600.0, 600.0]]
    assert metrics((GT, FP + GT, [0.9, 0.8], far))["map50"] == pytest.approx(0.5)


def test_ignore_region_uses_intersection_over_detection_area():
    # A small detection inside a large ignore box has a tiny IoU but lies wholly in the region.
    ignore = [[0.0, 0.0, 1000.0, 1000.0]]
    gt = [[2000.0, 2000.0, 2050.0, 2100.0]]
    m = metrics((gt, [[100.0, 100.0, 150.0, 200.0], gt[0]], [0.9, 0.8], ignore))
    assert m["map50"] == pytest.approx(1.0)


def test_half_recall_gives_51_of_101_points():
    m = metrics((GT + [[300.0, 300.0, 400.0, 500.0]], GT, [0.9], None))
    assert m["map50"] == pytest.approx(51 / 101)
    assert m["ap_medium"] == pytest.approx(1.0) and m["ap_large"] == pytest.approx(0.0)


def test_iou_062_counts_at_three_of_ten_thresholds():
    gt = [[0.0, 0.0, 100.0, 100.0]]
    det = [[0.0, 0.0, 100.0, 62.0]]  # IoU 0.62: a hit at 0.50, 0.55, 0.60 only
    m = metrics((gt, det, [0.9], None))
    assert m["map50"] == pytest.approx(1.0)
    assert m["map50_95"] == pytest.approx(0.3)
    assert m["map75"] == pytest.approx(0.0)


def test_sizes_small_and_large():
    small = [5.0, 5.0, 25.0, 25.0]         # 400 px^2 < 32^2
    large = [100.0, 100.0, 300.0, 400.0]   # 60000 px^2 >= 96^2
    m = metrics(([small, large], [small], [0.9], None))
    assert m["ap_small"] == pytest.approx(1.0) and m["ap_large"] == pytest.approx(0.0)
    assert m["ap_medium"] is None


def test_no_detections_and_no_ground_truth():
    m = metrics((GT, [], [], None))
    assert m["map50_95"] == 0.0 and m["ap_medium"] == 0.0 and m["ap_small"] is None
    assert metrics(([], FP, [0.9], None))["map50_95"] is None


def test_images_are_pooled_by_score():
    # image 2's false positive outranks image 1's hit
    m = metrics((GT, GT, [0.9], None), ([], FP, [0.95], None))
    assert m["map50"] == pytest.approx(0.5)
    assert metrics((GT, GT, [0.9], None), ([], FP, [0.5], None))["map50"] == pytest.approx(1.0)


def _reference_ap50(images):
    """Independent COCO-style AP at IoU 0.5 (greedy matching by score, 101-point interpolation)."""
    from repose_ros.core.boxes import box_iou

    scores, tps, n_gt = [], [], 0
    for gt, det, sc in images:
        gt, det, sc = np.asarray(gt).reshape(-1, 4), np.asarray(det).reshape(-1, 4), np.asarray(sc)
        n_gt += len(gt)
        used = np.zeros(len(gt), bool)
        iou = box_iou(det, gt) if len(gt) and len(det) else np.zeros((len(det), len(gt)))
        for d in np.argsort(-sc, kind="stable"):
            cand = np.where(~used & (iou[d] >= 0.5), iou[d], -1.0) if len(gt) else np.zeros(0)
            hit = len(gt) > 0 and cand.max() >= 0.5
            if hit:
                used[int(np.argmax(cand))] = True
            scores.append(sc[d])
            tps.append(hit)
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    tp = np.asarray(tps, float)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    idx = np.searchsorted(rec, np.linspace(0, 1, 101), side="left")
    return float(np.mean([prec[i] if i < len(prec) else 0.0 for i in idx]))


@pytest.mark.parametrize("seed", range(8))
def test_ap50_matches_an_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(3):
        n = int(rng.integers(1, 8))
        xy = rng.uniform(0, 400, (n, 2))
        wh = rng.uniform(40, 120, (n, 2))
        gt = np.concatenate([xy, xy + wh], axis=1)
        keep = rng.random(n) < 0.7
        det = gt[keep] + rng.normal(0, 8, (int(keep.sum()), 4))
        fps = np.concatenate([rng.uniform(0, 400, (3, 2)), rng.uniform(0, 400, (3, 2)) + 60], axis=1)
        det = np.concatenate([det, fps])
        images.append((gt, det, rng.uniform(0.05, 1.0, len(det))))
    got = metrics(*[(g, d, s, None) for g, d, s in images])["map50"]
    assert got == pytest.approx(_reference_ap50(images), abs=1e-9)


def test_max_dets_keeps_the_best_scores():
    e = ev_metrics.DetectionEvaluator(max_dets=1)
    e.add(GT, FP + GT, [0.5, 0.9])  # only the 0.9 hit is kept
    assert e.summary()["map50"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        e.add(GT, GT, [0.9, 0.8])


# --------------------------------------------------------------------------- data sets


def test_parse_dataset_spec():
    assert ds_load.parse_dataset_spec("mot17:/a/b") == ("mot17", ["/a/b"])
    assert ds_load.parse_dataset_spec("panda:/img:/x/person_bbox.json") == ("panda", ["/img", "/x/person_bbox.json"])
    assert ds_load.parse_dataset_spec("coco:/x/a.json:/img") == ("coco", ["/x/a.json", "/img"])
    assert ds_load.parse_dataset_spec("synthetic") == ("synthetic", [])
    for bad in ("mot17", "panda:/only", "kitti:/x", "coco:"):
        with pytest.raises(ValueError):
            ds_load.parse_dataset_spec(bad)


RED = (0, 0, 255)


def _write_mot(root, n_seqs=5, n_frames=3, w=192, h=108, seed=0):
    """Tiny MOT sequences: grey-ish noise frames, people drawn as pure red boxes (plus one ignore box)."""
    import cv2

    rng = np.random.default_rng(seed)
    for s in range(n_seqs):
        d = root / "train" / f"SEQ-{s:02d}"
        (d / "img1").mkdir(parents=True)
        (d / "gt").mkdir()
        (d / "seqinfo.ini").write_text(f"[Sequence]\nname=SEQ-{s:02d}\nimWidth={w}\nimHeight={h}\n")
        rows = []
        base = rng.uniform([0, h * 0.3], [w - 20, h - 30], (4, 2))
        for f in range(1, n_frames + 1):
            img = rng.integers(60, 140, (h, w, 3), dtype=np.uint8)
            for k, (x, y) in enumerate(base + f):
                bw, bh = 8 + 2 * k, 20 + 2 * k
                cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), RED, -1)
                rows.append(f"{f},{k + 1},{x:.1f},{y:.1f},{bw},{bh},1,1,1.0")
            rows.append(f"{f},9,{w - 12},2,8,8,0,8,1.0")  # a distractor -> ignore region
            cv2.imwrite(str(d / "img1" / f"{f:06d}.png"), img)
        (d / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory):
    return _write_mot(tmp_path_factory.mktemp("mot"))


def test_mot_sequences_and_frames(mot_root):
    seqs = ds_mot.find_mot_sequences(mot_root)
    assert [s.name for s in seqs] == [f"SEQ-{i:02d}" for i in range(5)]
    gt, ign = seqs[0].boxes(2)
    assert gt.shape == (4, 4) and ign.shape == (1, 4)
    frames = ds_mot.mot_frames(seqs, 3)
    assert [f.index for f in frames] == [1, 1, 1]  # frame 2 of three sequences: each has a previous frame
    assert frames[0].load().shape == (108, 192, 3)
    assert frames[0].load_history is not None
    assert ds_mot.find_mot_sequences(mot_root / "missing") == []


def test_mosaic_2x2_shifts_boxes_into_quadrants(mot_root):
    seqs = {s.name: s for s in ds_mot.find_mot_sequences(mot_root)}
    frames = ds_mot.mot_mosaic_2x2(list(seqs.values()), 3, seed=1, tile=(192, 108))
    assert len(frames) == 3
    f = frames[0]
    img = f.load()
    assert img.shape == (216, 384, 3) and (f.width, f.height) == (384, 216)
    expected = []
    for q, name in enumerate(f.info["sources"]):
        gt, _ = seqs[name].boxes(seqs[name].frame_ids[f.index])
        expected.append(gt + np.array([(q % 2) * 192, (q // 2) * 108] * 2, np.float32))
    np.testing.assert_allclose(f.gt, np.concatenate(expected), atol=1e-4)
    assert len(set(f.info["sources"])) == 4  # four different frames
    for x0, y0, x1, y1 in f.gt.astype(int):  # a red person under every box
        assert img[(y0 + y1) // 2, (x0 + x1) // 2, 2] > 200
    prev = f.load_history()
    assert prev.shape == img.shape and not np.array_equal(prev, img)


def test_collage_properties(mot_root):
    seqs = ds_mot.find_mot_sequences(mot_root)
    canvas = (768, 432)
    a = ds_collage.mot_collage(seqs, 2, seed=3, canvas=canvas)
    b = ds_collage.mot_collage(seqs, 2, seed=3, canvas=canvas)
    c = ds_collage.mot_collage(seqs, 1, seed=4, canvas=canvas)
    img = a[0].load()
    assert img.shape == (432, 768, 3)
    np.testing.assert_array_equal(img, b[0].load())                  # seeded and deterministic
    np.testing.assert_array_equal(a[0].gt, b[0].gt)
    assert not np.array_equal(img, c[0].load())
    layout = ds_collage.collage_layout(seqs, np.random.default_rng([3, 0]), canvas)
    assert layout.free_fraction >= 0.3
    assert layout.grid_distance >= 48.0 * 432 / 2160                  # no seam on a 2x2/3x3/4x4 grid line
    inside_tile = np.zeros(img.shape[:2], bool)
    for t in layout.tiles:
        inside_tile[t.y:t.y + t.h, t.x:t.x + t.w] = True
        assert 0 <= t.x and t.x + t.w <= canvas[0] and 0 <= t.y and t.y + t.h <= canvas[1]
    for x0, y0, x1, y1 in a[0].gt:                                    # every person lies in a tile
        assert inside_tile[int((y0 + y1) / 2), int((x0 + x1) / 2)]
    red = (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)
    assert red[inside_tile].any() and not red[~inside_tile].any()     # the fill is free of people
    # people grow from the top of the canvas to the bottom
    heights = a[0].gt[:, 3] - a[0].gt[:, 1]
    cy = (a[0].gt[:, 1] + a[0].gt[:, 3]) / 2
    top, bottom = heights[cy < 432 / 3], heights[cy > 2 * 432 / 3]
    assert len(top) and len(bottom) and bottom.mean() > 1.5 * top.mean()


def test_synthetic_frames_hold_the_fake_view():
    frames = ds_synthetic.synthetic_frames(2, seed=0, size=(640, 360))
    f = frames[0]
    assert len(f.fake_gt) == len(f.gt) + len(f.ignore)
    assert f.load().shape == (360, 640, 3) and f.load_history is not None
    ds = ds_load.load_dataset("synthetic", 2, synthetic_size=(640, 360))
    assert ds.fake and "FAKE" in ds.notes[0]
    with pytest.raises(ValueError):
        ds_load.load_dataset("synthetic", 2, mosaic="2x2")


def test_panda_and_coco_loaders(tmp_path):
    import cv2

    img = np.full((400, 800, 3), 90, np.uint8)
    (tmp_path / "scene").mkdir()
    for n in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / "scene" / n), img)
    rect = {"tl": {"x": 0.1, "y": 0.2}, "br": {"x": 0.2, "y": 0.6}}
    head = {"tl": {"x": 0.12, "y": 0.2}, "br": {"x": 0.15, "y": 0.25}}
    objs = [{"category": "person", "rects": {"full body": rect, "visible body": rect, "head": head}},
            {"category": "crowd", "rect": {"tl": {"x": 0.5, "y": 0.5}, "br": {"x": 0.9, "y": 0.9}}}]
    data = {f"scene/{n}": {"image id": i, "image size": {"width": 800, "height": 400}, "objects list": objs}
            for i, n in enumerate(("a.jpg", "b.jpg"))}
    (tmp_path / "p.json").write_text(json.dumps(data))
    frames = ds_coco.panda_frames(tmp_path, tmp_path / "p.json", 5, box="head", target=(1600, 900))
    assert len(frames) == 2 and (frames[0].width, frames[0].height) == (1600, 800)
    np.testing.assert_allclose(frames[0].gt, [[192, 160, 240, 200]], atol=1e-3)
    assert frames[0].ignore.shape == (1, 4) and frames[0].load().shape == (800, 1600, 3)
    assert frames[0].load_history is None and frames[1].load_history is not None
    coco = {"images": [{"id": 1, "file_name": "scene/a.jpg", "width": 800, "height": 400}],
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 100, 50, 50], "iscrowd": 1},
                            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "iscrowd": 0}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    ds = ds_load.load_dataset(f"coco:{tmp_path / 'c.json'}:{tmp_path}", 3)
    (f,) = ds.frames
    np.testing.assert_allclose(f.gt, [[10, 20, 40, 60]])
    np.testing.assert_allclose(f.ignore, [[100, 100, 150, 150]])


# --------------------------------------------------------------------------- methods


def test_build_methods_keys():
    specs = ev_methods.build_methods(list(ev_methods.FAMILIES), [640, 1280], ["2x2-640", "3x3-960"], [1000, 2000])
    keys = [s.key for s in specs]
    assert keys == ["full_frame@640", "full_frame@1280", "uniform@2x2-640", "uniform@3x3-960",
                    "sahi@640-greedynmm", "sahi@640-nms", "remix@1000", "remix@2000", "meanshift@1000",
                    "meanshift@2000", "greedy@1000", "greedy@2000", "rl_dca@1000", "rl_dca@2000"]
    assert specs[3].grid == (3, 3) and specs[3].imgsz == 960
    for bad in (dict(families=["yolo"]), dict(uniform=["3by3"]), dict(budgets=[0])):
        kw = dict(families=["uniform", "rl_dca"], full_sizes=[640], uniform=["2x2-640"], budgets=[1000])
        kw.update(bad)
        with pytest.raises(ValueError):
            ev_methods.build_methods(**kw)


def test_remix_candidates_skip_empty_blocks_and_split_dense_regions():
    # a dense crowd in the top-left corner, nothing elsewhere
    rng = np.random.default_rng(0)
    xy = rng.uniform(50, 400, (60, 2))
    boxes = np.concatenate([xy, xy + [10, 25]], axis=1)
    cands = ev_remix.remix_candidates(boxes, 3840, 2160)
    assert len(cands["grid2x2"]) == 1 and len(cands["grid1x1"]) == 1
    quad = cands["quadtree6"]
    assert len(quad) > 1 and all(r.x1 <= 3840 / 2 and r.y1 <= 2160 / 2 for r in quad)
    profiles = Profiles.default()
    blocks, plan, name = ev_remix.remix_partition(boxes, 3840, 2160, profiles, 1000.0, [0, 1, 2, 3])
    assert plan.feasible and max(plan.server_load_ms.values()) <= 1000.0
    assert all(b.rect.x1 <= 2000 and b.rect.y1 <= 1200 for b in blocks)  # nothing planned on empty parts
    # no earlier boxes: every grid block is kept
    assert len(ev_remix.remix_candidates(np.zeros((0, 4)), 3840, 2160)["grid2x2"]) == 4


def _runner(frames, servers=4, latency_ms_at_640=0.0):
    fake = FakeDetector(None, dropout=0.0, jitter=0.0, min_input_px=8.0, latency_ms_at_640=latency_ms_at_640)
    profiles = Profiles.default()
    zoo = ModelZoo.fake(fake, [profiles.models[0].name])
    return ev_methods.MethodRunner(zoo, profiles, servers=servers, fake=fake), fake


def test_uniform_parallel_latency_is_the_slowest_server_measured():
    """Tiles go round-robin to the servers; each server is timed on its own tiles (15 ms sleep each)."""
    frames = ds_synthetic.synthetic_frames(1, seed=1, size=(640, 360))
    spec = ev_methods.build_methods(["uniform"], [], ["2x2-640"], [1000])[0]
    for servers, per_server in ((4, 1), (2, 2), (1, 4)):
        runner, _ = _runner(frames, servers=servers, latency_ms_at_640=15.0)
        runner.begin_frame(frames[0])
        res = runner.run(spec, frames[0].load(), frames[0])
        assert len(res.server_ms) == servers
        assert min(res.server_ms) >= per_server * 15.0
        assert res.parallel_ms >= max(res.server_ms)
        assert res.latency_ms >= sum(res.server_ms) >= 4 * 15.0


def test_repose_methods_share_one_coarse_stage_and_report_parallel_latency():
    frames = ds_synthetic.synthetic_frames(1, seed=2, size=(1280, 720))
    runner, fake = _runner(frames, latency_ms_at_640=2.0)
    specs = ev_methods.build_methods(["meanshift", "rl_dca"], [], [], [1000, 4000])
    runner.begin_frame(frames[0])
    image = frames[0].load()
    results = [runner.run(s, image, frames[0]) for s in specs]
    coarse_calls = [c for c in fake.calls if c == (4, 640)]
    assert len(coarse_calls) == 1  # one coarse pass for four runs
    for r in results:
        assert 0 < r.parallel_ms < r.latency_ms
        assert r.info["feasible"] and r.info["blocks"] >= 1 and len(r.detections) > 0
        assert r.info["swapped_to_coarse"] >= 0 and r.info["dropped_unconfirmed"] >= 0


def test_warmup_loads_the_policy_before_the_first_timed_frame():
    """The first partition of a process loads the RL-DCA policy: the warm-up pays it, not frame 0's budget."""
    frames = ds_synthetic.synthetic_frames(1, seed=2, size=(1280, 720))
    runner, _ = _runner(frames)
    specs = ev_methods.build_methods(["meanshift", "rl_dca"], [], [], [1000])
    runner.warmup(specs, frames[0].load(), {})
    rp = runner.repose("rl_dca")
    assert rp.dca._loaded and rp.dca.scale_policy is not None
    only_ms, _ = _runner(frames)
    only_ms.warmup(ev_methods.build_methods(["meanshift"], [], [], [1000]), frames[0].load(), {})
    assert "rl_dca" not in only_ms._repose  # nothing built for a partitioner that is not run


def test_profile_budget_clock_gives_the_same_plans_on_a_busier_machine():
    """With --budget-clock profile, RE-POSE's detections do not depend on how long the coarse stage took."""
    frames = ds_synthetic.synthetic_frames(1, seed=4, size=(1280, 720))
    specs = ev_methods.build_methods(["meanshift", "rl_dca"], [], [], [400])
    got = []
    for latency in (0.0, 40.0):  # the fake detector sleeps this long per call at 640
        fake = FakeDetector(None, dropout=0.0, jitter=0.0, min_input_px=8.0, latency_ms_at_640=latency)
        profiles = Profiles.default()
        runner = ev_methods.MethodRunner(ModelZoo.fake(fake, [profiles.models[0].name]), profiles, fake=fake,
                                         budget_clock="profile")
        runner.begin_frame(frames[0])
        image = frames[0].load()
        got.append([runner.run(s, image, frames[0]) for s in specs])
    for a, b in zip(*got):
        assert a.info["detection_budget_ms"] == b.info["detection_budget_ms"]
        assert a.info["models"] == b.info["models"] and np.array_equal(a.detections.xyxy, b.detections.xyxy)
    assert got[1][0].coarse_ms > got[0][0].coarse_ms + 30.0  # the coarse stage did take longer
    with pytest.raises(ValueError, match="budget_clock"):
        ev_methods.MethodRunner(runner.zoo, profiles, budget_clock="wall")


def test_evaluate_runs_every_family_on_the_fake_detector():
    ds = ds_load.load_dataset("synthetic", 2, seed=0, synthetic_size=(960, 540))
    runner, _ = _runner(ds.frames)
    specs = ev_methods.build_methods(list(ev_methods.FAMILIES), [320, 1280], ["2x2-640"], [2000], ["greedynmm", "nms"])
    skip = {}
    stats = ev_runner.evaluate(ds, runner, specs, skip=skip)
    assert skip == {} and set(stats) == {s.key for s in specs}
    summary = {k: st.summary() for k, st in stats.items()}
    for k, m in summary.items():
        assert m["frames"] == 2 and 0.0 <= m["map50_95"] <= m["map50"] <= 1.0, k
    # the fake detector misses people that are small at the model input: 320 sees fewer than 1280
    assert summary["full_frame@320"]["map50"] < summary["full_frame@1280"]["map50"]
    assert summary["remix@2000"]["candidates"]
    for k in ("meanshift@2000", "rl_dca@2000", "greedy@2000"):  # what fusion did per frame, for RE-POSE's runs
        assert summary[k]["mean_swapped_to_coarse"] >= 0 and summary[k]["mean_dropped_unconfirmed"] >= 0
        assert summary[k]["mean_answered_by_coarse"] >= 0
    assert "mean_dropped_unconfirmed" not in summary["full_frame@320"]
    assert all(summary[k]["mean_partition_ms"] > 0 for k in ("meanshift@2000", "rl_dca@2000", "greedy@2000"))
    assert summary["greedy@2000"]["mean_search_plans"] >= 1  # its look-ahead's plans per frame
    assert "mean_search_plans" not in summary["meanshift@2000"]
    # rl_dca's default policy (scale:0.45): the mean bandwidth multiplier it used, 0.45 on every frame, unchecked
    assert summary["rl_dca@2000"]["mean_policy_scale"] == pytest.approx(0.45)
    assert "mean_policy_kept" not in summary["rl_dca@2000"]
    for k in ("meanshift@2000", "greedy@2000"):
        assert "mean_policy_kept" not in summary[k] and "mean_policy_scale" not in summary[k]
    table = ev_report.format_table(summary)
    assert all(k in table for k in summary)
    # checked, each frame where the policy picked another bandwidth says whether the check kept its clusters
    checking = ev_methods.MethodRunner(runner.zoo, runner.profiles, servers=4, fake=runner.fake, policy_check=True)
    spec = [s for s in specs if s.key == "rl_dca@2000"]
    checked = ev_runner.evaluate(ds, checking, spec)["rl_dca@2000"].summary()
    assert 0.0 <= checked["mean_policy_kept"] <= 1.0 and checked["mean_policy_scale"] < 1.0


# --------------------------------------------------------------------------- the command


def test_command_writes_table_json_and_plot(tmp_path, capsys):
    from repose_ros.cli.eval import main_eval

    out, png, rec = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "rec" / "people.jsonl"
    rc = main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--json", str(out), "--plot", str(png),
                    "--record", str(rec)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "FAKE DETECTOR" in text and "| rl_dca@1000 |" in text
    data = json.loads(out.read_text())
    assert data["dataset"] == "synthetic" and data["frames"] == 2 and data["skipped"] == {}
    assert {k.split("@")[0] for k in data["methods"]} == set(ev_methods.FAMILIES)
    for entry in data["methods"].values():
        assert {"map50_95", "map50", "latency_ms", "parallel_latency_ms", "budget_ms"} <= set(entry)
    assert data["methods"]["rl_dca@4000"]["budget_ms"] == 4000.0
    assert data["methods"]["full_frame@320"]["budget_ms"] is None
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    # every method with a budget is paired with meanshift at that budget, on the same frames
    assert data["paired"] == {"reference": "meanshift", "resamples": 200, "level": 0.95,
                              "methods": sorted(k for k in data["methods"] if k.split("@")[0] in
                                                ("remix", "greedy", "rl_dca"))}
    p = data["methods"]["rl_dca@4000"]["paired"]
    assert p["vs"] == "meanshift@4000" and p["frames"] == 2
    assert p["diff"] == pytest.approx(data["methods"]["rl_dca@4000"]["map50_95"]
                                      - data["methods"]["meanshift@4000"]["map50_95"], abs=1e-9)
    assert p["low"] <= p["high"] and p["resamples"] == 200 and 0.0 <= p["share_better"] <= 1.0
    assert "paired with meanshift" in text and "| rl_dca@4000 | meanshift@4000 |" in text
    # every method's mAP50:95 per frame, in frame_names order
    assert all(len(e["frame_map50_95"]) == 2 for e in data["methods"].values())
    # --record: one line per frame and method, each person's finder and each detection's fate
    lines = [json.loads(line) for line in rec.read_text().splitlines()]
    assert data["record"] == {"path": str(rec), "lines": len(lines)} and len(lines) == 2 * len(data["methods"])
    assert {(r["frame"], r["method"]) for r in lines} == {(f, k) for f in data["frame_names"] for k in data["methods"]}
    for r in lines:
        fates = [d[5] for d in r["detections"]]
        assert r["counts"]["detections"] == {f: fates.count(f) for f in ("person", "duplicate", "ignore", "false")}
        found = [p for p in r["people"] if p["found"] is not None]
        assert r["counts"]["found"] == len(found) == fates.count("person") and r["counts"]["people"] == len(r["people"])
        assert len({p["found"] for p in found}) == len(found)
        for p in found:
            assert fates[p["found"]] == "person" and p["iou"] >= 0.5 and p["score"] == r["detections"][p["found"]][4]
        family = r["method"].split("@")[0]
        assert bool(r["blocks"]) == (family in ("uniform", "remix", "meanshift", "greedy", "rl_dca")), r["method"]
        assert bool(r["coarse"]) == (family in ("meanshift", "greedy", "rl_dca")), r["method"]
        for b in r["blocks"]:
            assert b["ran"] == (b["model"] is not None)
            if b["ran"]:
                side = max(b["rect"][2] - b["rect"][0], b["rect"][3] - b["rect"][1])
                assert b["scale"] == pytest.approx(b["imgsz"] / side, abs=1e-3)
        assert all(0 <= i < len(r["blocks"]) for p in r["people"] for i in p["blocks"])
    assert any(p["coarse_iou"] is not None and p["coarse_iou"] >= 0.5 for r in lines for p in r["people"])
    # on one frame it is the data set's figure
    one = tmp_path / "one.json"
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--frames", "1",
                      "--methods", "full_frame,meanshift", "--json", str(one)]) == 0
    for key, entry in json.loads(one.read_text())["methods"].items():
        assert entry["frame_map50_95"] == [pytest.approx(entry["map50_95"], abs=1e-5)], key


def test_command_selects_methods_and_rejects_bad_input(tmp_path):
    from repose_ros.cli.eval import main_eval

    out = tmp_path / "r.json"
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "full_frame,rl_dca",
                      "--budgets", "1500", "--json", str(out)]) == 0
    keys = set(json.loads(out.read_text())["methods"])
    from repose_ros.core.profiles import Profiles

    sizes = sorted(m.imgsz for m in Profiles.default().models)   # quick: the family's smallest and largest
    assert keys == {f"full_frame@{sizes[0]}", f"full_frame@{sizes[-1]}", "rl_dca@1500"}
    # rl_dca runs the deployed policy (config/repose.yaml) unless the command line names another
    from repose_ros.core.config import RePoseConfig

    data = json.loads(out.read_text())
    assert (data["policy"], data["policy_check"]) == ("scale:0.45", False)
    assert (data["policy"], data["policy_check"]) == (RePoseConfig.policy, RePoseConfig.policy_check)
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "rl_dca",
                      "--budgets", "1500", "--policy", "builtin:ppo", "--policy-check", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert (data["policy"], data["policy_check"]) == ("builtin:ppo", True) and "rl_dca@1500" in data["methods"]
    assert data["search_share"] == RePoseConfig.search_share  # the deployed setting when not given
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "rl_dca",
                      "--budgets", "1500", "--search-share", "0.05", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["search_share"] == 0.05 and data["methods"]["rl_dca@1500"]["mean_search_plans"] >= 1
    assert data["budget_clock"] == "measured"
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "meanshift",
                      "--budgets", "1500", "--budget-clock", "profile", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["budget_clock"] == "profile" and any("PREDICTED coarse stage" in n for n in data["notes"])
    # the coarse model of RE-POSE is recorded; one outside the profile is refused
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "meanshift",
                      "--budgets", "1500", "--coarse-model", f"yolov8s@{sizes[0]}", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["coarse_model"] == f"yolov8s@{sizes[0]}"
    assert json.loads(out.read_text())["coverage"] is False
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "meanshift",
                      "--budgets", "100000", "--coverage", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["coverage"] is True
    # no pairing without the reference family, or when asked for none
    data = json.loads(out.read_text())
    assert data["paired"]["reference"] is None and "paired" not in data["methods"]["meanshift@100000"]
    assert main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--methods", "meanshift,greedy",
                      "--budgets", "1500", "--compare-to", "none", "--json", str(out)]) == 0
    assert "paired" not in json.loads(out.read_text())["methods"]["greedy@1500"]
    with pytest.raises(SystemExit, match="not in the profile"):
        main_eval(["--dataset", "synthetic", "--quick", "--no-progress", "--coarse-model", "yolov8s@333"])
    for argv in (["--dataset", "kitti:/x"], ["--dataset", "mot17:" + str(tmp_path / "none")],
                 ["--dataset", "synthetic", "--methods", "yolo"], ["--dataset", "synthetic", "--frames", "0"],
                 ["--dataset", "synthetic", "--compare-to", "yolo"], ["--dataset", "synthetic", "--bootstrap", "-1"],
                 ["--dataset", "synthetic", "--search-share", "1.5"], ["--dataset", "synthetic", "--search-share", "x"],
                 ["--dataset", "synthetic", "--budget-clock", "wall"]):
        with pytest.raises(SystemExit):
            main_eval(argv + ["--quick", "--no-progress"])


def test_fake_detections_on_ignore_regions_are_not_false_positives():
    frames = ds_synthetic.synthetic_frames(1, seed=5, size=(640, 360), ignore_fraction=0.3)
    f = frames[0]
    dets = Detections(f.fake_gt.xyxy, f.fake_gt.scores, f.fake_gt.class_ids)  # everything, incl. ignored
    with_ignore = ev_metrics.coco_metrics([(f.gt, dets.xyxy, dets.scores, f.ignore)])
    without = ev_metrics.coco_metrics([(f.gt, dets.xyxy, dets.scores, None)])
    assert with_ignore["map50_95"] == pytest.approx(1.0) and without["map50_95"] < 0.95


def test_method_runner_defaults_are_the_cores():
    """RE-POSE settings a caller leaves out are RePoseConfig's defaults, so that direct runs match the core."""
    from repose_ros.core.config import RePoseConfig

    runner, _ = _runner([])
    rp = runner.repose("rl_dca")
    for name in ("coarse_model", "coarse_conf", "policy", "policy_check", "coarse_on_edge", "budget_reserve_ms",
                 "coarse_budget_share", "search_share"):
        assert getattr(rp.config, name) == getattr(RePoseConfig, name), name
    assert tuple(rp.config.coarse_sizes) == tuple(RePoseConfig.coarse_sizes)
    given = ev_methods.MethodRunner(runner.zoo, runner.profiles, policy="builtin:ppo", policy_check=False,
                                    coarse_sizes=(), coarse_budget_share=0.25)
    cfg = given.repose("rl_dca").config
    assert (cfg.policy, cfg.policy_check, tuple(cfg.coarse_sizes), cfg.coarse_budget_share) == \
        ("builtin:ppo", False, (), 0.25)


def test_deployed_settings_read_the_partitioners_rl_dca_settings(tmp_path, monkeypatch):
    """repose eval runs rl_dca as config/repose.yaml deploys it: policy, its check and the search share."""
    from repose_ros.core import paths
    from repose_ros.evaluation.session import deployed_settings, policy_settings

    cfg = tmp_path / "repose.yaml"
    cfg.write_text("/**/partitioner:\n  ros__parameters:\n    policy: builtin:ppo\n    policy_check: false\n"
                   "    search_share: 0.04\n")
    monkeypatch.setattr(paths, "find_config_file", lambda name: str(cfg))
    dep = deployed_settings()
    assert (dep["policy"], dep["policy_check"], dep["search_share"]) == ("builtin:ppo", False, 0.04)
    assert policy_settings(search_share=0.0, deployed=dep)["search_share"] == 0.0  # the command line wins
    assert policy_settings(deployed=dep)["search_share"] == 0.04


def test_eval_plans_with_the_deployed_or_given_person_height_limit(tmp_path, monkeypatch):
    """plan_max_person_height: config/repose.yaml's unless --plan-max-person-height gives one; RE-POSE plans with it."""
    from repose_ros.core import paths
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.profiles import Profiles
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.evaluation.session import EvalOptions, deployed_settings, deployment

    cfg = tmp_path / "repose.yaml"
    cfg.write_text("/**/partitioner:\n  ros__parameters:\n    plan_max_person_height: 150.0\n")
    monkeypatch.setattr(paths, "find_config_file", lambda name: str(cfg))
    profiles = Profiles.default()
    assert deployed_settings()["plan_max_person_height"] == 150.0
    assert deployment(EvalOptions(), profiles)["plan_max_person_height"] == 150.0
    dep = deployment(EvalOptions(plan_max_person_height=0.0), profiles)
    assert dep["plan_max_person_height"] == 0.0  # the command line wins
    runner = ev_methods.MethodRunner(ModelZoo.fake(), profiles, plan_max_person_height=120.0)
    assert runner.repose("rl_dca").config.plan_max_person_height == 120.0
    assert ev_methods.MethodRunner(ModelZoo.fake(), profiles).repose("meanshift").config.plan_max_person_height == \
        RePoseConfig().plan_max_person_height
