"""Output shared by the benchmark commands."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional


def print_result(res: dict, path: Optional[str] = None) -> None:
    """Print a benchmark's result as JSON, and write it to ``path`` when given."""
    print(json.dumps(res, indent=2))
    if path:
        Path(path).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
