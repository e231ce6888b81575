"""Lint the package the way ament_flake8 and ament_pep257 would."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


PY_DIRS = ["src", "launch", "test", "compat/src", "tools"]


def _run(tool: list) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *tool], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("tool", ["flake8"])
def test_flake8(tool):
    """All Python files pass flake8 with the settings in setup.cfg."""
    proc = _run([tool, *[d for d in PY_DIRS if (ROOT / d).exists()]])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pep257():
    """Public modules, classes and functions of the package carry pep257 docstrings."""
    proc = _run(["pydocstyle", "--convention=pep257", "--add-ignore=D105,D107",
                 "src/repose_ros", "compat/src"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
