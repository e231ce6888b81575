"""temporary_environ: variables set inside the block, old values (or absence) restored after it."""
import os

import pytest

from repose_ros.core.environ import temporary_environ


def test_temporary_environ_restores_old_values_and_absence(monkeypatch):
    monkeypatch.setenv("REPOSE_T_OLD", "before")
    monkeypatch.delenv("REPOSE_T_NEW", raising=False)
    with pytest.raises(RuntimeError):
        with temporary_environ({"REPOSE_T_OLD": "inside", "REPOSE_T_NEW": "inside"}):
            assert os.environ["REPOSE_T_OLD"] == os.environ["REPOSE_T_NEW"] == "inside"
            raise RuntimeError("restored even when the block fails")
    assert os.environ["REPOSE_T_OLD"] == "before" and "REPOSE_T_NEW" not in os.environ
