"""The repose command line: dispatch, help and errors."""
import subprocess
import sys

import numpy as np
import pytest

from repose_ros.cli.main import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_subcommand_has_help(cmd):
    proc = subprocess.run([sys.executable, "-m", "repose_ros.cli.main", cmd, "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower()


def test_bench_overhead_writes_json(tmp_path):
    import json

    out = tmp_path / "o.json"
    assert main(["bench", "overhead", "--sizes", "50", "--repeats", "3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["boxes"]["50"]["partition_ms"] > 0 and res["boxes"]["50"]["plan_ms"] > 0
    # by default it times the configured rl_dca: mean shift at 0.45 x the bandwidth, unchecked (config/repose.yaml)
    assert (res["policy"], res["policy_check"]) == ("scale:0.45", False)


def test_bench_overhead_times_the_partitioner_nodes_path(monkeypatch):
    """Partition and plan_frame run as the node runs them (one memo per frame); the check plans only when asked."""
    from repose_ros.core.pipeline import RePose
    from repose_ros.profiling.overhead import bench_overhead

    calls = []
    for name in ("partition", "plan_value", "spent_value", "plan_frame"):
        real = getattr(RePose, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            calls.append((_name, self.config.partitioner, id(kwargs.get("memo"))))
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(RePose, name, counted)
    for value, check in (("spent", "spent_value"), ("plan", "plan_value")):
        calls.clear()
        res = bench_overhead(sizes=(40,), repeats=2, warmup=1, policy_path="builtin:scale", policy_check=True,
                             policy_check_value=value)
        assert res["policy_check"] is True and res["policy_check_value"] == value
        starts = [i for i, c in enumerate(calls) if c[0] == "partition"]
        assert len(starts) == 3 and {calls[i][1] for i in starts} == {"rl_dca"}
        for i, j in zip(starts, starts[1:] + [len(calls)]):  # the node's plan_frame comes last, with the same memo
            assert calls[j - 1] == ("plan_frame",) + calls[i][1:]
        assert any(c[0] == check for c in calls)
        assert not any(c[0] == {"spent_value": "plan_value", "plan_value": "spent_value"}[check] for c in calls)
        row = res["boxes"]["40"]
        assert row["frame_ms"] >= max(row["partition_ms"], row["plan_ms"])
    calls.clear()
    res = bench_overhead(sizes=(40,), repeats=2, warmup=1, policy_path="builtin:scale", policy_check=False)
    assert res["policy_check"] is False and not any(c[0] in ("plan_value", "spent_value") for c in calls)
    calls.clear()
    res = bench_overhead(sizes=(40,), repeats=2, warmup=1, use_policy=False)
    assert res["policy"] == "meanshift_only" and {c[1] for c in calls} == {"meanshift"}
    calls.clear()
    res = bench_overhead(sizes=(40,), repeats=2, warmup=1, policy_path="builtin:scale", policy_check=True,
                         search_share=0.02)
    assert res["search_share"] == 0.02 and any(c[0] == "plan_value" for c in calls)  # the search plans candidates


def test_bag_and_detect_on_images(tmp_path):
    """repose bag writes a bag of image files; detect refuses missing input clearly."""
    import cv2
    import numpy as np

    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 60, 3), 50 * i, np.uint8))
    assert main(["bag", str(tmp_path / "bag"), str(tmp_path), "--resize", "120x80"]) == 0
    assert (tmp_path / "bag" / "metadata.yaml").exists()
    with pytest.raises(FileNotFoundError):
        main(["detect", str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o")])


def test_detect_yaml_exists_and_holds_the_defaults(repo_root):
    """`repose detect --help` cites config/detect.yaml: it exists, loads, and states the defaults."""
    from repose_ros.core.config import RePoseConfig

    cfg = RePoseConfig.from_yaml(str(repo_root / "config" / "detect.yaml"))
    assert cfg.to_dict() == RePoseConfig().to_dict()
    import yaml

    keys = set(yaml.safe_load((repo_root / "config" / "detect.yaml").read_text())["repose"])
    assert keys <= set(RePoseConfig().to_dict()) and len(keys) >= 15


def test_detect_writes_track_ids_for_a_video(tmp_path, monkeypatch):
    """`repose detect` on a video: every record has one track id per detection, stable over the frames."""
    import json

    import cv2
    import numpy as np

    pytest.importorskip("lap")
    import repose_ros.core.pipeline as pipeline
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.zoo import ModelZoo
    from repose_ros.detectors.backends import bright_blobs

    real = pipeline.RePose
    monkeypatch.setattr(pipeline, "RePose", lambda cfg: real(cfg, zoo=ModelZoo.fake(FakeDetector(bright_blobs))))
    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    for t in range(5):
        img = np.full((480, 640, 3), 15, np.uint8)
        img[100:180, 60 + 4 * t:100 + 4 * t] = 240
        img[250:330, 400 - 3 * t:440 - 3 * t] = 240
        writer.write(img)
    writer.release()
    assert main(["detect", str(video), "--out", str(tmp_path / "o"), "--no-images", "--partitioner", "meanshift"]) == 0
    frames = json.loads((tmp_path / "o" / "detections.json").read_text())["frames"]
    assert len(frames) == 5
    ids = [sorted(f["track_ids"]) for f in frames]
    assert all(len(f["track_ids"]) == len(f["detections"]["scores"]) for f in frames)
    assert ids[0] == [1, 2] and all(i == ids[0] for i in ids)


def test_bench_transport_measures_each_transport(tmp_path, monkeypatch):
    """`repose bench transport` on a tiny MOT sequence (fake detector): PNG is lossless, both are smaller."""
    import cv2
    import numpy as np

    import repose_ros.detectors.backends as backends
    from repose_ros.cli.bench_transport import bench_transport
    from repose_ros.detectors.backends import bright_blobs
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.zoo import ModelZoo

    monkeypatch.setattr(backends, "make_zoo", lambda *a, **k: ModelZoo.fake(FakeDetector(bright_blobs)))
    seq = tmp_path / "MOT-X"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    rows = []
    for f in (1, 2, 3):
        img = np.full((240, 320, 3), 20, np.uint8)
        img[40:100, 30 + f:60 + f] = 230
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), img)
        rows.append(f"{f},1,{30 + f},40,30,60,1,1,1.0")
    (seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    res = bench_transport(str(tmp_path), qualities=[90], n_frames=2)["transports"]
    assert set(res) == {"raw", "jpeg90", "png"}
    assert res["png"]["map50_95"] == res["raw"]["map50_95"] > 0.5
    assert max(res["jpeg90"]["block_kb_median"], res["png"]["block_kb_median"]) < res["raw"]["block_kb_median"]


def test_train_dca_plan_reward_observes_the_context(tmp_path, capsys):
    import json

    from repose_ros.cli.train_dca import main_train
    from repose_ros.core.dca.policy import RLDCA
    from repose_ros.core.dca.state import feature_size

    out = tmp_path / "p.zip"
    assert main_train(["--reward", "plan", "--state", "extended", "--n-envs", "1", "--timesteps", "256",
                       "--eval-layouts", "2", "--out", str(out), "--no-progress", "--budgets", "500,4000",
                       "--servers", "2,4", "--hidden-spread", "1.5"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["hidden_spread"] == 1.5
    assert side["context"] is True and side["reward_mode"] == "plan" and side["budgets_ms"] == [500.0, 4000.0]
    assert side["reward"]["w_planner"] == 1.0 and side["reward"]["w_tight"] == 0.0
    assert {"score_meanshift", "score_greedy", "score_policy"} <= set(side["eval_degraded_panda_like"])
    assert side["eval_degraded_panda_like"]["n_layouts"] == 2 and side["target"] == "people"
    assert (tmp_path / "p_curve.png").stat().st_size > 1000
    r = RLDCA(out)
    assert r.uses_context and r.extended_state
    assert r.actor.obs_dim == feature_size(r.max_clusters, True, True)
    for bad in (["--budgets", "4000"], ["--servers", "0"], ["--coarse-data", "coco:/x"], ["--hidden-spread", "-1"],
                ["--timesteps", "0"], ["--imitate", "-1"], ["--imitate", "5", "--imitate-rounds", "0"],
                ["--imitate", "5", "--imitate-temperature", "-0.1"],
                ["--imitate", "5", "--imitate-temperature", "nan"]):
        with pytest.raises(SystemExit):
            main_train(["--reward", "plan", "--out", str(tmp_path / "q.zip"), "--no-progress"] + bad)


def test_measure_batching_runs_k_calls_against_one_batch():
    """k blocks: k single-block calls (the edge node's run_block) against one detect_crops call of k rects."""
    import numpy as np

    from repose_ros.profiling.batching import measure_batching

    class _Zoo:
        def __init__(self):
            self.calls = []

        def resolve(self, key):
            return "w.pt", 640

        def detect_crops(self, key, image, rects, conf=0.25, iou=0.5, max_det=300, imgsz=None):
            import time

            from repose_ros.core.detections import Detections
            self.calls.append([tuple(r) for r in rects])
            time.sleep(0.004)                                   # one call costs the same for 1 or k blocks
            return [Detections.empty() for _ in rects]

    zoo = _Zoo()
    rows = measure_batching(zoo, ["m@640"], np.zeros((200, 300, 3), np.uint8), blocks=[(100, 50)], ks=[3],
                            repeats=2, warmup=1)
    assert [len(c) for c in zoo.calls] == [1, 1, 1, 3] * 3          # per round: 3 single calls, then one batch
    assert len(set(zoo.calls[3])) == 3 and all(r[2] - r[0] == 100 and r[3] - r[1] == 50 for r in zoo.calls[3])
    (row,) = rows
    assert row["key"] == "m@640" and row["block"] == [100, 50] and row["k"] == 3
    assert row["ratio"] == pytest.approx(row["batch_ms"] / row["single_ms"], rel=0.02) and row["ratio"] < 0.7


def test_bench_batching_command_writes_json(tmp_path, capsys):
    import json

    from repose_ros.cli.bench import main_bench

    out = tmp_path / "b.json"
    assert main_bench(["batching", "--backend", "fake", "--repeats", "1", "--k", "2", "--blocks", "64x32,48x48",
                       "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["block"], r["k"]) for r in rows] == [([64, 32], 2), ([48, 48], 2)]
    assert "1 batch ms" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main_bench(["batching", "--blocks", "64"])


def test_batch_groups_count_blocks_of_one_server_model_input_and_crop_size():
    """Only blocks equal in all four may share a batch; left-out blocks are not in the plan."""
    from repose_ros.core.blocks import Block, Rect
    from repose_ros.core.planner import BlockPlan, Plan
    from repose_ros.profiling.batching import batch_groups

    rects = [Rect(0, 0, 100, 50), Rect(200, 0, 300, 50), Rect(0, 100, 100, 150), Rect(0, 200, 100, 260),
             Rect(400, 0, 500, 50)]
    blocks = [Block(r, np.zeros(0, np.int64)) for r in rects]
    plan = Plan([BlockPlan(0, "m@640", 0, 1.0, 0.5, 1, 640), BlockPlan(1, "m@640", 0, 1.0, 0.5, 1, 640),
                 BlockPlan(2, "m@640", 1, 1.0, 0.5, 1, 640),   # same size, other server
                 BlockPlan(3, "m@640", 0, 1.0, 0.5, 1, 640),   # other height
                 BlockPlan(4, "m@640", 0, 1.0, 0.5, 1, 320)],  # other input size
                {0: 4.0, 1: 1.0}, 4.0, 2.5, True)
    groups = batch_groups(blocks, plan)
    assert groups[(0, "m@640", 640, 100, 50)] == 2
    assert sorted(groups.values()) == [1, 1, 1, 2]


def test_bench_batching_plans_counts_blocks_of_real_plans(tmp_path, capsys):
    import json

    from repose_ros.cli.bench import main_bench

    out = tmp_path / "b.json"
    assert main_bench(["batching", "--backend", "fake", "--repeats", "1", "--k", "2", "--blocks", "64x32",
                       "--plans", "2", "--servers", "1,2", "--budgets", "3000", "--json", str(out)]) == 0
    plans = json.loads(out.read_text())["plans"]["rows"]
    assert [(r["servers"], r["budget_ms"], r["frames"]) for r in plans] == [(1, 3000.0, 2), (2, 3000.0, 2)]
    assert all(r["blocks"] > 0 and 0 <= r["batchable"] <= r["blocks"] for r in plans)
    assert "share server, model, input and crop size" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main_bench(["batching", "--backend", "fake", "--plans", "1", "--servers", "0"])
