"""Model keys ``"<name>@<imgsz>"``: the one way a block, a profile and a zoo name a detector at an input size.

A key names a configured model (``weights_names``), never a file: the name holds no ``@`` and no white
space, and the input size is a positive integer.
"""
from __future__ import annotations

import re
from typing import Tuple

_KEY_RE = re.compile(r"^(?P<name>[^@\s]+)@(?P<imgsz>[1-9][0-9]*)$")


class ModelKeyError(ValueError):
    """A model key is not of the form ``"<name>@<imgsz>"``."""


def make_key(name: str, imgsz: int) -> str:
    """Return the model key ``"<name>@<imgsz>"``."""
    return f"{name}@{int(imgsz)}"


def parse_key(key: str) -> Tuple[str, int]:
    """Split a model key ``"<name>@<imgsz>"`` into ``(name, imgsz)``; ModelKeyError if malformed."""
    m = _KEY_RE.match(str(key))
    if not m:
        raise ModelKeyError(f"model key {key!r} is not of the form '<name>@<imgsz>' (e.g. 'yolov8s@640')")
    return m.group("name"), int(m.group("imgsz"))
