"""The repose command line: dispatch, help and errors."""
import subprocess
import sys

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
