"""Argument helpers shared by the commands."""
from __future__ import annotations

from typing import Any, Callable, List


def comma_list(text: Any, cast: Callable[[str], Any] = str) -> List[Any]:
    """Split a comma-separated option into ``cast`` items (spaces removed, empty items skipped)."""
    return [cast(x) for x in str(text).replace(" ", "").split(",") if x]
