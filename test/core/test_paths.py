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


def test_source_tree_preferred_then_share(monkeypatch, tmp_path):
    """The checkout's config/ wins; the share folder is used when the source tree lacks the file."""
    src, share = tmp_path / "src_config", tmp_path / "share_config"
    for d in (src, share):
        (d / "profiles").mkdir(parents=True)
        (d / "profiles" / "default.yaml").write_text("x: 1\n")
    monkeypatch.setattr(paths, "SOURCE_CONFIG_DIR", src)
    monkeypatch.setattr(paths, "_share_config_dir", lambda: share)
    assert paths.find_config_file("profiles/default.yaml") == src / "profiles" / "default.yaml"
    (src / "profiles" / "default.yaml").unlink()
    assert paths.find_config_file("profiles/default.yaml") == share / "profiles" / "default.yaml"


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
