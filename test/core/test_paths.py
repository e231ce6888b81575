"""Tests of repose_ros.core.paths.find_config_file."""
import pytest

from repose_ros.core import paths


def test_finds_default_profile_in_checkout():
    """The placeholder profile of the checkout is found."""
    p = paths.find_config_file("profiles/default.yaml")
    assert p.is_file() and p.name == "default.yaml"


def test_source_tree_used_without_ament(monkeypatch):
    """Without an ament share folder the source tree's config/ is used."""
    monkeypatch.setattr(paths, "_share_config_dir", lambda: None)
    assert paths.find_config_file("profiles/default.yaml") == paths.SOURCE_CONFIG_DIR / "profiles" / "default.yaml"
    assert paths.config_candidates("profiles/default.yaml") == [
        paths.SOURCE_CONFIG_DIR / "profiles" / "default.yaml"]


def test_share_folder_preferred(monkeypatch, tmp_path):
    """A file in the share folder wins over the source tree; a missing one falls through."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("x: 1\n")
    monkeypatch.setattr(paths, "_share_config_dir", lambda: tmp_path)
    assert paths.find_config_file("profiles/default.yaml") == tmp_path / "profiles" / "default.yaml"
    (tmp_path / "profiles" / "default.yaml").unlink()
    assert paths.find_config_file("profiles/default.yaml") == paths.SOURCE_CONFIG_DIR / "profiles" / "default.yaml"


def test_missing_file_lists_candidates(monkeypatch, tmp_path):
    """A missing file raises FileNotFoundError naming every path tried."""
    monkeypatch.setattr(paths, "_share_config_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        paths.find_config_file("profiles/nope.yaml")
    assert str(tmp_path) in str(info.value) and str(paths.SOURCE_CONFIG_DIR) in str(info.value)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../setup.py", "profiles/../../x", "", "."])
def test_rejects_paths_leaving_config(bad):
    """Absolute paths and paths climbing out of config/ are refused."""
    with pytest.raises(ValueError):
        paths.find_config_file(bad)
