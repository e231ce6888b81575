"""RL-DCA's scale choice: features, the policy file, the pipeline's use of it, and its training."""
import json
from pathlib import Path

import numpy as np
import pytest

from repose_ros.core.config import RePoseConfig
from repose_ros.core.dca.policy import RLDCA, NumpyActor
from repose_ros.core.dca.scale import DEFAULT_SCALES, SCALE_FEATURES, ScalePolicy, scale_features
from repose_ros.core.detections import Detections
from repose_ros.core.pipeline import RePose
from repose_ros.detectors.zoo import ModelZoo

W, H = 3840, 2160


def _layout(rng, dense: bool, n: int = 60) -> np.ndarray:
    if dense:  # one packed crowd of large people
        c = rng.normal([1900, 1100], [150, 80], (n, 2))
        h = rng.uniform(60, 90, n)
    else:  # small people scattered over the frame
        c = rng.uniform([0, 0], [W, H], (n, 2))
        h = rng.uniform(20, 40, n)
    w = 0.4 * h
    return np.stack([c[:, 0] - w / 2, c[:, 1] - h / 2, c[:, 0] + w / 2, c[:, 1] + h / 2], 1).astype(np.float32)


def _threshold_policy(scales=(0.6, 1.0)) -> ScalePolicy:
    """Chooses the first scale when crowding (feature 2) is above 0 (standardised), the second otherwise."""
    nf = len(SCALE_FEATURES)
    w = np.zeros((2, nf))
    w[0, 2], w[1, 2] = 1.0, -1.0
    mean = np.zeros(nf)
    mean[2] = 1.0  # crowding log(distance / height) above 1 counts as scattered
    return ScalePolicy(NumpyActor([w], [np.zeros(2)]), scales, mean, np.ones(nf))


def test_features_tell_crowds_from_scattered_people():
    rng = np.random.default_rng(0)
    dense = scale_features(_layout(rng, True), W, H, 740, 4)
    sparse = scale_features(_layout(rng, False), W, H, 740, 4)
    assert dense.shape == sparse.shape == (len(SCALE_FEATURES),)
    crowd = SCALE_FEATURES.index("crowding")
    assert dense[crowd] < 0.5 < 1.5 < sparse[crowd]
    height = SCALE_FEATURES.index("height")
    assert dense[height] > 2 * sparse[height]
    budget = SCALE_FEATURES.index("budget")
    assert scale_features(_layout(rng, False), W, H, 3740, 4)[budget] > sparse[budget]
    # a uniformly enlarged frame (boxes and all) looks the same apart from nothing
    big = scale_features(_layout(np.random.default_rng(3), False) * 2, 2 * W, 2 * H, 740, 4)
    small = scale_features(_layout(np.random.default_rng(3), False), W, H, 740, 4)
    np.testing.assert_allclose(big, small, atol=1e-6)


def test_features_of_degenerate_inputs():
    assert np.all(np.isfinite(scale_features(np.zeros((0, 4)), W, H, 1000, 4)))
    one = scale_features(np.array([[10, 10, 30, 60]]), W, H, 1000, 4)
    assert np.all(np.isfinite(one))
    same = scale_features(np.array([[10, 10, 30, 60]] * 3), W, H, 1000, 4)  # coinciding centres
    assert np.all(np.isfinite(same))
    with pytest.raises(ValueError):
        scale_features(np.zeros((1, 4)), 0, H, 1000, 4)


def test_policy_checks_its_shape():
    nf = len(SCALE_FEATURES)
    actor = NumpyActor([np.zeros((3, nf))], [np.zeros(3)])
    with pytest.raises(ValueError):
        ScalePolicy(actor, (0.6, 1.0), np.zeros(nf), np.ones(nf))  # 3 actions, 2 scales
    with pytest.raises(ValueError):
        ScalePolicy(actor, (0.6, 0.8, 1.0), np.zeros(nf), np.zeros(nf))  # std 0
    with pytest.raises(ValueError):
        ScalePolicy(actor, (0.6, 0.8, 1.0), np.zeros(nf - 1), np.ones(nf - 1))


def test_saved_policy_drives_rldca_and_the_pipeline(tmp_path):
    pol = _threshold_policy()
    path = tmp_path / "scale.npz"
    pol.save(path)
    rng = np.random.default_rng(1)
    sparse, dense = _layout(rng, False), _layout(rng, True)
    dca = RLDCA(path)
    assert dca.scale_policy is not None and dca.actor is None
    assert dca.bandwidth_scale(sparse, W, H, 740, 4) == 0.6
    assert dca.bandwidth_scale(dense, W, H, 740, 4) == 1.0
    assert dca.bandwidth_scale(np.zeros((0, 4)), W, H, 740, 4) == 1.0
    repose = RePose(RePoseConfig(partitioner="rl_dca", policy=str(path)), zoo=ModelZoo.fake())
    for xy, scale in ((sparse, 0.6), (dense, 1.0)):
        det = Detections(xy, np.ones(len(xy), np.float32), np.zeros(len(xy), np.int64))
        part = repose.partition(det, W, H, 740)
        np.testing.assert_array_equal(part.labels, repose.initial_labels(det, W, H, scale))
    det = Detections(sparse, np.ones(len(sparse), np.float32), np.zeros(len(sparse), np.int64))
    assert repose.partition(det, W, H, 740).labels.max() > repose.initial_labels(det, W, H).max()
    # RLDCA on its own: mean shift at its bandwidth x the chosen scale, no refinement steps
    assert dca.cluster(sparse, W, H).max() > RLDCA.meanshift_only().cluster(sparse, W, H).max()


def test_policy_file_must_match_the_features(tmp_path):
    pol = _threshold_policy()
    path = tmp_path / "old.npz"
    pol.actor.save_npz(path, dict(pol.to_meta(), features=["something", "else"]))
    with pytest.raises(ValueError, match="observes"):
        RLDCA(path).load()


def _study(path, n_frames, seed, scales=(1.0, 0.8, 0.6), drop=None):
    """A partition-study JSON whose best scale is 1.0 on crowds and 0.6 on scattered people."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_frames):
        dense = f % 2 == 0
        xy = _layout(rng, dense)
        for b in (1000.0, 4000.0):
            feats = scale_features(xy, W, H, b - 260, 4).tolist()
            for s in scales:
                cand = "meanshift" if s == 1.0 else f"bandwidth:{s:g}"
                if drop == (f, b, cand):
                    continue
                good = (s == 1.0) if dense else (s == 0.6)
                rows.append(dict(frame=f, budget_ms=b, candidate=cand, clusters=3, blocks=3, value=1.0,
                                 feasible=True, ap50_95=0.2 + 0.03 * good + rng.normal(0, 0.004), features=feats))
    cands = ["meanshift" if s == 1.0 else f"bandwidth:{s:g}" for s in scales]
    path.write_text(json.dumps(dict(candidates=cands, feature_names=list(SCALE_FEATURES), rows=rows)))
    return path


def test_load_samples_keeps_complete_cells_and_common_scales(tmp_path):
    from repose_ros.training.dca_scale import load_study_samples

    a = _study(tmp_path / "a.json", 4, 0, drop=(1, 4000.0, "bandwidth:0.8"))
    b = _study(tmp_path / "b.json", 2, 1, scales=(1.0, 0.6))
    s = load_study_samples([str(a)])
    assert s.scales == (0.6, 0.8, 1.0) and len(s) == 7  # 4 frames x 2 budgets, one cell incomplete
    both = load_study_samples([str(a), str(b)])
    assert both.scales == (0.6, 1.0) and len(both) == 8 + 4
    assert len(set(both.groups.tolist())) == 6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(candidates=["meanshift", "bandwidth:0.8"], rows=[])))
    with pytest.raises(ValueError, match="features"):
        load_study_samples([str(bad)])
    only = _study(tmp_path / "only.json", 2, 2, scales=(1.0,))
    with pytest.raises(ValueError, match="two scales"):
        load_study_samples([str(only)])


def test_training_learns_which_scale_pays_on_held_out_frames(tmp_path):
    from repose_ros.training.dca_scale import cross_validate, evaluate_choice, fit_scale_policy, load_study_samples

    s = load_study_samples([str(_study(tmp_path / "a.json", 20, 0))])
    pol, curve = fit_scale_policy(s, epochs=150, seed=0)
    assert curve[-1] > curve[0] + 0.5
    got = evaluate_choice(pol, s)
    assert got["policy"] > max(got["fixed"].values()) + 0.01
    again, _ = fit_scale_policy(s, epochs=150, seed=0)  # seeded: same policy
    np.testing.assert_allclose(again.actor.logits(np.ones(len(SCALE_FEATURES))),
                               pol.actor.logits(np.ones(len(SCALE_FEATURES))), rtol=1e-6)
    cv = cross_validate(s, folds=4, seed=0, epochs=150)
    assert cv["policy"] > max(cv["fixed"].values()) + 0.01
    assert set(cv["per_budget"]) == {"1000", "4000"}
    with pytest.raises(ValueError):
        cross_validate(s, folds=50)


def test_hold_out_by_study_tells_whether_a_preference_carries_over(tmp_path):
    from repose_ros.training.dca_scale import cross_validate_studies, load_study_samples

    a, b = _study(tmp_path / "a.json", 12, 0), _study(tmp_path / "b.json", 12, 1)
    s = load_study_samples([str(a), str(b)])
    out = cross_validate_studies(s, names=["a.json", "b.json"], seed=0, epochs=150)
    assert set(out) == {"a.json", "b.json"} and out["a.json"]["samples"] == 24
    for got in out.values():  # the same rule in both studies: learnt on one, it pays on the other
        assert got["policy"] > max(got["fixed"].values()) + 0.01
        assert got["trained_best"]["scale"] in s.scales
        assert got["trained_best"]["reward"] == got["fixed"][f"{got['trained_best']['scale']:g}"]
    # a study whose frames want the opposite scale: what the others taught fails there
    c = json.loads(b.read_text())
    for row in c["rows"]:
        row["ap50_95"] = 0.45 - row["ap50_95"]
    (tmp_path / "c.json").write_text(json.dumps(c))
    flipped = cross_validate_studies(load_study_samples([str(a), str(tmp_path / "c.json")]), seed=0, epochs=150)
    assert flipped["1"]["policy"] < min(flipped["1"]["fixed"].values()) + 0.005
    with pytest.raises(ValueError, match="two studies"):
        cross_validate_studies(load_study_samples([str(a)]))


def test_hold_out_by_study_names_studies_by_their_file(tmp_path):
    from repose_ros.training.dca_scale import ScaleSamples, cross_validate_studies, load_study_samples

    a, b = _study(tmp_path / "a.json", 12, 0), _study(tmp_path / "b.json", 12, 1)
    empty = json.loads(a.read_text())
    for row in empty["rows"]:  # a study of frames without people gives no sample
        row["ap50_95"] = None
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    s = load_study_samples([str(tmp_path / "empty.json"), str(a), str(b)])
    assert sorted(set(s.studies.tolist())) == [1, 2]
    out = cross_validate_studies(s, names=["empty.json", "a.json", "b.json"], seed=0, epochs=50)
    assert set(out) == {"a.json", "b.json"}
    bare = ScaleSamples(s.x, s.r, s.groups, s.scales, s.budgets)  # no study index: nothing to hold out by
    with pytest.raises(ValueError, match="study"):
        cross_validate_studies(bare)
    with pytest.raises(ValueError, match="one study index per sample"):
        ScaleSamples(s.x, s.r, s.groups, s.scales, s.budgets, s.studies[:-1])


def test_train_dca_scale_study_command(tmp_path):
    from repose_ros.cli.train_dca import main_train

    study = _study(tmp_path / "a.json", 12, 3)
    out = tmp_path / "pol.npz"
    assert main_train(["--scale-study", str(study), "--out", str(out), "--scale-epochs", "100",
                       "--scale-folds", "3", "--no-progress"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["samples"] == 24 and "cross_validation" in report and len(report["curve"]) == 100
    assert (tmp_path / "pol_curve.png").stat().st_size > 1000
    assert RLDCA(out).scale_policy.scales == (0.6, 0.8, 1.0)
    other = _study(tmp_path / "b.json", 6, 4)
    assert main_train(["--scale-study", f"{study},{other}", "--out", str(out), "--scale-epochs", "50",
                       "--scale-folds", "0", "--scale-hold-out-studies", "--no-progress"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["study_hold_out"]) == {"a.json", "b.json"} and "cross_validation" not in report
    with pytest.raises(SystemExit, match="npz"):
        main_train(["--scale-study", str(study), "--out", str(tmp_path / "pol.zip")])


@pytest.mark.parametrize("check,valued,ignored", [
    ("plan", "plan_value", "spent_value"), ("spent", "spent_value", "plan_value")])
def test_policy_check_keeps_the_scaled_clusters_only_when_the_plan_values_them_more(tmp_path, monkeypatch, check,
                                                                                    valued, ignored):
    path = tmp_path / "scale.npz"
    _threshold_policy().save(path)
    xy = _layout(np.random.default_rng(1), False)
    det = Detections(xy, np.ones(len(xy), np.float32), np.zeros(len(xy), np.int64))
    repose = RePose(RePoseConfig(partitioner="rl_dca", policy=str(path), policy_check=True,
                                 policy_check_value=check), zoo=ModelZoo.fake())
    fine, base = repose.initial_labels(det, W, H, 0.6), repose.initial_labels(det, W, H)
    assert fine.max() != base.max()
    for favoured, expected in ((fine, fine), (base, base)):
        monkeypatch.setattr(RePose, valued, lambda self, coarse, lab, *a, f=favoured, **k:
                            1.0 if np.array_equal(lab, f) else 0.5)
        # the other value says the opposite: the configured one decides
        monkeypatch.setattr(RePose, ignored, lambda self, coarse, lab, *a, f=favoured, **k:
                            0.5 if np.array_equal(lab, f) else 1.0)
        np.testing.assert_array_equal(repose.partition(det, W, H, 740).labels, expected)
        assert repose.last_check["kept"] is (favoured is fine) and repose.last_check["scale"] != 1.0
    unchecked = RePose(RePoseConfig(partitioner="rl_dca", policy=str(path), policy_check=False), zoo=ModelZoo.fake())
    unchecked.partition(det, W, H, 740)
    assert unchecked.last_check == {"scale": repose.last_check["scale"], "kept": None}
    ms = RePose(RePoseConfig(partitioner="meanshift"), zoo=ModelZoo.fake())
    ms.partition(det, W, H, 740)
    assert ms.last_check == {}  # no scale policy ran


def test_spent_value_is_the_value_of_the_plan_after_budget_spending():
    """What the default check compares: plan_frame's plan of the clusters, not the bare knapsack plan."""
    rng = np.random.default_rng(3)
    xy = _layout(rng, False)
    det = Detections(xy, np.ones(len(xy), np.float32), np.zeros(len(xy), np.int64))
    repose = RePose(RePoseConfig(partitioner="meanshift", num_servers=4), zoo=ModelZoo.fake())
    labels = repose.initial_labels(det, W, H)
    rises = 0
    for budget in (300.0, 1000.0, 4000.0, 12000.0):
        spent = repose.spent_value(det, labels, W, H, budget)
        part = repose.blocks_of(det, labels, W, H)
        _, plan = repose.plan_frame(part, det, W, H, budget)
        assert spent == pytest.approx(plan.total_value if plan.feasible else float("-inf"))
        bare = repose.plan_value(det, labels, W, H, budget)
        assert spent >= bare - 1e-9  # spending keeps a change only when the value does not drop
        rises += spent > bare + 1e-6
    assert rises >= 1  # with budget left, spending is worth something the bare plan does not show
    with pytest.raises(ValueError, match="policy_check_value"):
        RePoseConfig(policy_check_value="both")


def test_builtin_policy_names():
    from repose_ros.core.dca.policy import default_policy_path, resolve_policy_path

    assert resolve_policy_path("") is None and resolve_policy_path(None) is None
    assert resolve_policy_path("builtin:ppo") == default_policy_path() == resolve_policy_path("builtin:default")
    assert str(resolve_policy_path("some/where.zip")) == "some/where.zip"
    with pytest.raises(ValueError, match="builtin:scale"):
        resolve_policy_path("builtin:nothing")
    shipped = RLDCA("builtin:scale")
    assert shipped.policy_path.is_file() and shipped.scale_policy is not None
    assert shipped.scale_policy.scales == DEFAULT_SCALES == (0.45, 0.6, 0.8, 1.0)  # the constant names the file's
    # its report (beside it) names the measured studies it was trained on and a cross-validation
    report = json.loads(shipped.policy_path.with_suffix(".json").read_text())
    assert report["samples"] > 0 and "cross_validation" in report
    assert all(Path(f).name.startswith("scale_study_") for f in report["studies"])
    # since the twenty-fifth round it is no constant: on its training frames it picks more than one scale
    assert sum(n > 0 for n in report["training"]["chosen"].values()) >= 2
    # and its cross-validated choice beat every fixed scale on frames it was not fitted on
    cv = report["cross_validation"]
    assert cv["policy"] > max(cv["fixed"].values())
    rng = np.random.default_rng(2)
    for dense in (False, True):
        assert shipped.bandwidth_scale(_layout(rng, dense), W, H, 740, 4) in DEFAULT_SCALES


def test_loading_a_scale_policy_imports_what_its_features_need():
    """The partitioner node loads the policy when configured; the first frame must not import scipy (~0.2 s)."""
    import subprocess
    import sys

    code = ("import sys\nfrom repose_ros.core.dca.policy import RLDCA\n"
            "assert 'scipy.spatial' not in sys.modules\n"
            "RLDCA('builtin:scale').load()\nprint('scipy.spatial' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_refine_leaves_a_scale_policys_clusters_as_they_are():
    """A scale policy picks the bandwidth; refine only renumbers the labels 0..K-1 (ascending), as the state does."""
    from repose_ros.core.dca.state import ClusterState

    shipped = RLDCA("builtin:scale")
    rng = np.random.default_rng(5)
    b = _layout(rng, False)
    labels = rng.integers(3, 40, len(b)) * 2  # gaps and no zero
    got = shipped.refine(b, W, H, labels=labels, budget_ms=1500.0, servers=4)
    assert got.dtype == np.int64 and np.array_equal(got, ClusterState(b, labels, W, H).labels)
    assert set(got.tolist()) == set(range(len(np.unique(labels))))
    assert np.array_equal(shipped.refine(b[:1], W, H, labels=np.array([7])), [0])
    with pytest.raises(ValueError, match="labels"):
        shipped.refine(b, W, H, labels=labels[:-1])


def test_fixed_scale_policy_needs_no_file_and_clusters_every_frame_at_that_scale():
    """``policy: scale:F``: mean shift at F x the bandwidth on every frame, through RLDCA and the pipeline."""
    from repose_ros.core.dca.scale import FixedScale, fixed_scale_of

    assert fixed_scale_of("scale:0.45") == 0.45 and fixed_scale_of("builtin:scale") is None
    assert fixed_scale_of("") is None and fixed_scale_of(None) is None
    for bad in ("scale:", "scale:abc", "scale:0", "scale:-1", "scale:nan"):
        with pytest.raises(ValueError, match="positive number"):
            fixed_scale_of(bad)
    with pytest.raises(ValueError):
        RLDCA("scale:zero")
    dca = RLDCA("scale:0.45")
    assert dca.policy_path is None and isinstance(dca.scale_policy, FixedScale) and dca.actor is None
    dca.load()  # nothing to load: no file is looked for
    rng = np.random.default_rng(3)
    sparse, dense = _layout(rng, False), _layout(rng, True)
    assert dca.bandwidth_scale(sparse, W, H, 740, 4) == dca.bandwidth_scale(dense, W, H, 3000, 2) == 0.45
    repose = RePose(RePoseConfig(partitioner="rl_dca", policy="scale:0.45"), zoo=ModelZoo.fake())
    for xy in (sparse, dense):
        det = Detections(xy, np.ones(len(xy), np.float32), np.zeros(len(xy), np.int64))
        np.testing.assert_array_equal(repose.partition(det, W, H, 740).labels, repose.initial_labels(det, W, H, 0.45))
    det = Detections(sparse, np.ones(len(sparse), np.float32), np.zeros(len(sparse), np.int64))
    assert repose.partition(det, W, H, 740).labels.max() > repose.initial_labels(det, W, H).max()
    # without the policy (mean shift only) the setting is not used
    assert RLDCA("scale:0.45", use_policy=False).bandwidth_scale(sparse, W, H, 740, 4) == 1.0
    # scale:1 is MeanShift itself
    one = RePose(RePoseConfig(partitioner="rl_dca", policy="scale:1"), zoo=ModelZoo.fake())
    np.testing.assert_array_equal(one.partition(det, W, H, 740).labels, one.initial_labels(det, W, H))
