"""Locate the package's configuration files (installed share folder or source checkout)."""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import List, Optional

PACKAGE = "repose_ros"
# src/repose_ros/core/paths.py -> the checkout root is three folders above ``core``.
SOURCE_CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"


def _share_config_dir() -> Optional[Path]:
    """Return ``<share>/repose_ros/config`` from the ament index, or None if unavailable."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE)) / "config"
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        return None


def config_candidates(relative_path: str) -> List[Path]:
    """Return the paths tried by :func:`find_config_file`, in order."""
    rel = PurePosixPath(str(relative_path).replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
        raise ValueError(f"config path must be relative and stay inside config/, got {relative_path!r}")
    # The source tree first: it exists only in a checkout, where it is the file being edited;
    # an installed package (colcon, share folder) has no such folder next to its Python code.
    out: List[Path] = [SOURCE_CONFIG_DIR.joinpath(*rel.parts)]
    share = _share_config_dir()
    if share is not None:
        out.append(share.joinpath(*rel.parts))
    return out


def find_config_file(relative_path: str) -> Path:
    """Find ``config/<relative_path>`` of this package, e.g. ``"profiles/default.yaml"``.

    Looks first in the source tree (``<checkout>/config``), then in the ament share folder
    (``share/repose_ros/config``, only when ``ament_index_python`` is importable and knows the
    package). Returns the first existing file; raises FileNotFoundError naming
    every path tried.
    """
    tried = config_candidates(relative_path)
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"config file {relative_path!r} not found; tried: "
                            + ", ".join(str(p) for p in tried))
