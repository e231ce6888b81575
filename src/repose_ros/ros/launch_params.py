"""Launch arguments that win over the parameters file, whatever node names the file uses.

rcl reads every ``--params-file`` of a process into one table keyed by node-name pattern, in the
order the patterns first appear, and rclpy applies the matching patterns in that order: the last
matching entry wins. A launch file that passes its overrides as a plain dict (launch_ros writes it
under ``/**``) therefore loses against a more specific entry of the user's file (``/**/camera``),
and ``compressed:=true`` would be silently ignored.

:func:`write_overrides` writes a second parameters file that repeats the overrides under every node
pattern of the user's file (so that each entry, whichever is applied last, carries them) and under
``/**`` (for files that have no entry for the node). Passed after the user's file, it wins.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Optional

import yaml

PARAMS_KEY = "ros__parameters"


def node_patterns(params: Dict[str, Any], prefix: str = "") -> List[str]:
    """Return the node-name patterns of a parameters file's content, nested namespaces joined by '/'."""
    found = []
    for key, value in (params or {}).items():
        if not isinstance(value, dict):
            continue
        name = f"{prefix}/{key}" if prefix else str(key)
        if PARAMS_KEY in value:
            found.append(name)
        found.extend(node_patterns({k: v for k, v in value.items() if k != PARAMS_KEY}, name))
    return found


def overrides_content(params_file: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Return the content of the overriding parameters file (see :func:`write_overrides`)."""
    try:
        with open(params_file, encoding="utf-8") as f:
            content = yaml.safe_load(f) or {}
    except OSError as exc:
        raise ValueError(f"cannot read params_file {params_file}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"params_file {params_file} is not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise ValueError(f"params_file {params_file} must map node names to {PARAMS_KEY}")
    patterns = node_patterns(content)
    if "/**" not in patterns:
        patterns.append("/**")
    return {p: {PARAMS_KEY: dict(overrides)} for p in patterns}


def write_overrides(params_file: str, overrides: Dict[str, Any], directory: Optional[str] = None) -> str:
    """Write a parameters file whose ``overrides`` win over ``params_file``; return its path.

    Args:
        params_file: the user's parameters file (read to learn its node-name patterns).
        overrides: parameter name -> value (launch arguments).
        directory: where to write it (default: the system's temporary folder, as launch_ros does
            for dict parameters).
    """
    content = overrides_content(params_file, overrides)
    fd, path = tempfile.mkstemp(prefix="repose_launch_params_", suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(content, f, default_flow_style=False)
    return path
