"""repose partition-study: candidate partitions end to end and how the planner's value ranks them."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from repose_ros.core.dca.scale import SCALE_FEATURES
from repose_ros.core.detections import Detections
from repose_ros.evaluation.partition_study import (Candidate, StudyRow, order_agreement, parse_candidate,
                                                   selection_map, summarise)


def test_candidates_parse_and_bad_ones_are_refused():
    assert parse_candidate("meanshift") == Candidate("meanshift")
    assert parse_candidate("bandwidth:0.6").name == "bandwidth:0.6"
    assert parse_candidate(" kmeans:12 ") == Candidate("kmeans", 12.0)
    for bad in ("meanshift:2", "bandwidth:0", "kmeans:0", "spectral", "bandwidth:x"):
        with pytest.raises(ValueError):
            parse_candidate(bad)


def _row(frame, cand, value, ap, dets=None, budget=1000.0):
    return StudyRow(frame, budget, cand, 1, 1, value, True, ap, dets if dets is not None else Detections.empty())


def test_value_order_agreement_counts_pairs_where_value_and_ap_disagree_or_agree():
    rows = [_row(0, "a", 1.0, 0.10), _row(0, "b", 2.0, 0.20), _row(0, "c", 3.0, 0.05),
            # frame 1: equal APs and equal values say nothing, -inf values are left out
            _row(1, "a", 1.0, 0.30), _row(1, "b", 2.0, 0.30), _row(1, "c", 2.0, 0.10),
            _row(1, "d", float("-inf"), 0.0)]
    agree, pairs = order_agreement(rows)
    # frame 0: a<b agrees, a<c (ap down) disagrees, b<c disagrees; frame 1: a-b equal AP, b-c equal value,
    # a-c: value up, ap down -> disagrees
    assert (agree, pairs) == (1, 4)
    # pairs of different budgets are never compared
    assert order_agreement([_row(0, "a", 1.0, 0.1), _row(0, "b", 2.0, 0.2, budget=4000.0)]) == (0, 0)


def _frame(gt):
    return SimpleNamespace(gt=np.asarray(gt, float), ignore=np.zeros((0, 4)), width=200, height=100)


def test_selection_map_scores_each_frame_by_the_chosen_candidate():
    gts = [[[10, 10, 30, 50]], [[100, 20, 120, 60]]]
    frames = [_frame(g) for g in gts]
    hit = [Detections(np.asarray(g, np.float32), np.ones(1, np.float32), np.zeros(1, np.int64)) for g in gts]
    rows = [_row(0, "good", 0.0, 1.0, hit[0]), _row(0, "none", 5.0, 0.0),
            _row(1, "good", 0.0, 1.0, hit[1]), _row(1, "none", 5.0, 0.0)]
    assert selection_map(rows, frames, lambda g: next(r for r in g if r.candidate == "good")) == pytest.approx(1.0)
    assert selection_map(rows, frames, lambda g: max(g, key=lambda r: r.value)) == pytest.approx(0.0)
    s = summarise(rows, frames)["1000"]
    assert s["candidates"]["good"]["map50_95"] == pytest.approx(1.0)
    assert s["max_value_map50_95"] == pytest.approx(0.0)          # the value picks the empty answers
    assert s["max_frame_ap_map50_95"] == pytest.approx(1.0)
    assert s["value_order_agreement"] == 0.0 and s["pairs"] == 2


def test_the_command_runs_end_to_end_on_generated_scenes(tmp_path, capsys):
    from repose_ros.cli.partition_study import main_partition_study

    out = tmp_path / "study.json"
    rc = main_partition_study(["--dataset", "synthetic", "--frames", "1", "--budgets", "1500",
                               "--candidates", "meanshift,one,kmeans:3", "--no-progress", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert [r["candidate"] for r in rows] == ["meanshift", "one", "kmeans:3"]
    assert rows[1]["clusters"] == 1 and rows[2]["clusters"] == 3
    assert all(r["feasible"] and np.isfinite(r["value"]) and 0.0 <= r["ap50_95"] <= 1.0 for r in rows)
    s = data["summary"]["1500"]
    assert set(s["candidates"]) == {"meanshift", "one", "kmeans:3"}
    # one frame: each candidate's dataset mAP is its frame AP
    for r in rows:
        assert s["candidates"][r["candidate"]]["map50_95"] == pytest.approx(r["ap50_95"])
    assert "plan value orders the frame APs" in capsys.readouterr().out
    # every row carries its frame's scale features (the same for every candidate of the frame)
    assert data["feature_names"] == list(SCALE_FEATURES)
    assert all(r["features"] == rows[0]["features"] and len(r["features"]) == len(SCALE_FEATURES) for r in rows)
    # the rl_dca candidate runs the deployed policy and check unless the command line names others
    assert (data["policy"], data["policy_check"]) == ("scale:0.45", False)
    assert main_partition_study(["--dataset", "synthetic", "--frames", "1", "--budgets", "1500", "--candidates",
                                 "rl_dca", "--policy", "builtin:ppo", "--policy-check", "--no-progress",
                                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert (data["policy"], data["policy_check"]) == ("builtin:ppo", True) and data["rows"][0]["candidate"] == "rl_dca"


def test_first_skips_frames(tmp_path):
    from repose_ros.cli.partition_study import main_partition_study

    outs = []
    for first, frames in ((0, 2), (1, 1)):
        out = tmp_path / f"study{first}.json"
        assert main_partition_study(["--dataset", "synthetic", "--frames", str(frames), "--first", str(first),
                                     "--budgets", "1500", "--candidates", "meanshift", "--no-progress",
                                     "--json", str(out)]) == 0
        outs.append(json.loads(out.read_text()))
    assert outs[1]["frames"] == outs[0]["frames"][1:] and outs[1]["first"] == 1
    assert outs[1]["rows"][0]["frame"] == 0 and len(outs[1]["rows"]) == 1
    with pytest.raises(SystemExit, match="first"):
        main_partition_study(["--dataset", "synthetic", "--first", "-1"])


def test_bad_options_exit_with_a_message():
    from repose_ros.cli.partition_study import main_partition_study

    with pytest.raises(SystemExit, match="unknown candidate"):
        main_partition_study(["--dataset", "synthetic", "--candidates", "spectral"])
    with pytest.raises(SystemExit, match="positive budgets"):
        main_partition_study(["--dataset", "synthetic", "--budgets", "-5"])


def test_profile_clock_charges_the_predicted_coarse_time_not_the_measured_one(tmp_path, monkeypatch):
    import dataclasses

    from repose_ros.cli.partition_study import main_partition_study
    from repose_ros.evaluation.methods import MethodRunner

    slow = {"ms": 0.0}
    real = MethodRunner._coarse

    def coarse(self, image, key=None):  # the measured coarse stage as on a busy machine
        stage = real(self, image, key)
        return dataclasses.replace(stage, ms=stage.ms + slow["ms"])

    monkeypatch.setattr(MethodRunner, "_coarse", coarse)
    budget = SCALE_FEATURES.index("budget")
    feats = {}
    for clock in ("measured", "profile"):
        for extra in (0.0, 900.0):
            slow["ms"] = extra
            out = tmp_path / f"{clock}{extra:g}.json"
            assert main_partition_study(["--dataset", "synthetic", "--frames", "1", "--budgets", "1500",
                                         "--candidates", "meanshift", "--budget-clock", clock, "--no-progress",
                                         "--json", str(out)]) == 0
            data = json.loads(out.read_text())
            assert data["budget_clock"] == clock
            feats[clock, extra] = data["rows"][0]["features"][budget]
    # measured: 900 ms more coarse time leaves the blocks less budget; profile: the same budget
    assert feats["measured", 900.0] < feats["measured", 0.0]
    assert feats["profile", 900.0] == feats["profile", 0.0]
    with pytest.raises(SystemExit):
        main_partition_study(["--dataset", "synthetic", "--budget-clock", "wall"])
