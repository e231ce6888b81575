"""``python -m repose_ros.cli.soak``: run the launched pipeline for minutes and watch its memory.

It starts ``ros2 launch repose_ros pipeline.launch.py`` with the ``fake`` detector back-end
(bright blobs on dark synthetic frames, so no neural network is needed), publishes frames at a
steady camera rate (open loop: the next frame does not wait for the previous answer), samples
the resident memory (RSS) of every pipeline process every few seconds, and prints frames sent,
answered (exactly once), unanswered, degraded and dropped, the latency, and the memory of each
process after warm-up and at the end.

    python -m repose_ros.cli.soak --minutes 10 --rate 5

The run itself is :func:`repose_ros.testing.soak.run_soak`; the client it shares with the fault
tests is :class:`repose_ros.testing.stream.Stream`, the ``/proc`` helpers are in
:mod:`repose_ros.testing.procfs`.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from repose_ros.testing.soak import run_soak


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repose soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="duration of the run (default 10)")
    p.add_argument("--rate", type=float, default=5.0, help="camera rate in Hz (default 5)")
    p.add_argument("--servers", type=int, default=2, help="edge detector processes (default 2)")
    p.add_argument("--width", type=int, default=1920, help="frame width (default 1920)")
    p.add_argument("--height", type=int, default=1080, help="frame height (default 1080)")
    p.add_argument("--warmup-s", type=float, default=60.0,
                   help="memory after this many seconds is the reference (default 60)")
    p.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling period (default 5 s)")
    p.add_argument("--namespace", default="soak")
    p.add_argument("--params-file", default=None, help="parameters (default: the package's config/repose.yaml)")
    p.add_argument("--transports", default=None,
                   help="FASTDDS_BUILTIN_TRANSPORTS for every process, e.g. LARGE_DATA (default: the environment's)")
    p.add_argument("--log", default="/tmp/repose_soak_launch.log", help="launch log file")
    p.add_argument("--json", default=None, help="write the figures to this file")
    p.add_argument("--max-growth-mb", type=float, default=20.0,
                   help="exit code 1 when a process's RSS drifts up by more than this between the middle and "
                        "the last third of the run after warm-up (default 20)")
    return p


def main_soak(argv: Optional[List[str]] = None) -> int:
    """Run the soak benchmark; exit code 0 when every frame was answered once and memory stayed bounded."""
    return run_soak(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main_soak())
