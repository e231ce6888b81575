"""``repose bench batching``: k same-shape blocks in k detector calls or in one batch, on this machine.

An edge server runs each block in its own call. This measures what running a frame's same-shape
blocks of one model as one batch would take instead (:func:`repose_ros.profiling.batching.measure_batching`),
per model key, block size and k, on a real frame (the shared MOT17 frames when present, else the
built-in demo frame). Run it on the edge hardware: the gain depends on it.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _pairs(text: str) -> List[tuple]:
    try:
        out = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        out = []
    if not out or any(len(p) != 2 or min(p) < 32 for p in out):
        raise SystemExit(f"--blocks must be WxH[,WxH...] with sides >= 32, got {text!r}")
    return out


def main_bench_batching(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run the measurement, print the table and the JSON."""
    from repose_ros.profiling.batching import DEFAULT_BLOCKS

    p = argparse.ArgumentParser(prog="repose bench batching", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="yolov8s@640", help="comma-separated model keys")
    p.add_argument("--weights", default="builtin:yolov8s-person", help="weights of the model name")
    p.add_argument("--backend", choices=("ultralytics", "fake"), default="ultralytics")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the edge nodes)")
    p.add_argument("--blocks", default=",".join(f"{w}x{h}" for w, h in DEFAULT_BLOCKS), help="block sizes WxH")
    p.add_argument("--k", default="2,4", help="blocks per batch")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per setting (median)")
    p.add_argument("--plans", type=int, default=0,
                   help="also plan this many demo frames with the default configuration and count the blocks that "
                        "share server, model, input and crop size with another block of their frame (what a batch "
                        "could take); 0: skip")
    p.add_argument("--servers", default="1,2,4", help="server counts of --plans")
    p.add_argument("--budgets", default="1000,3000,6000", help="frame budgets (ms) of --plans")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    from repose_ros.cli.args import comma_list
    from repose_ros.core.keys import parse_key
    from repose_ros.datasets.demo import demo_frames
    from repose_ros.datasets.load import default_mot_root
    from repose_ros.datasets.mot import find_mot_sequences
    from repose_ros.detectors.backends import make_zoo
    from repose_ros.profiling.batching import format_batching, measure_batching
    from repose_ros.profiling.machine import cpu_model, device_description

    keys = comma_list(args.models)
    try:
        names = sorted({parse_key(k)[0] for k in keys})
        ks = comma_list(args.k, int)
        servers, budgets = comma_list(args.servers, int), comma_list(args.budgets, float)
    except ValueError as exc:
        raise SystemExit(f"repose bench batching: {exc}") from None
    if not keys or not ks or min(ks) < 1 or args.repeats < 1:
        raise SystemExit("repose bench batching: --models, --k >= 1 and --repeats >= 1 needed")
    zoo = make_zoo(args.backend, names, [args.weights] * len(names), args.device, args.threads)
    root = default_mot_root()
    seqs = find_mot_sequences(root) if root is not None else []
    frame, source = (seqs[0].read(0), f"{seqs[0].name} frame 1") if seqs else (demo_frames(1)[0][0], "demo frame")
    rows = measure_batching(zoo, keys, frame, _pairs(args.blocks), ks, repeats=args.repeats)
    print(format_batching(rows))
    res = {"rows": rows, "frame": source, "threads": args.threads, "repeats": args.repeats,
           "device": "fake" if args.backend == "fake" else device_description(args.device), "cpu": cpu_model()}
    if args.plans > 0:
        res["plans"] = _plans(args, zoo, servers, budgets)
    from repose_ros.cli.output import print_result

    print_result(res, args.json)
    return 0


def _plans(args, zoo, servers: List[int], budgets: List[float]) -> dict:
    """Count batchable blocks in the plans of ``args.plans`` demo frames; print one line per setting."""
    from repose_ros.core.config import RePoseConfig
    from repose_ros.core.pipeline import RePose
    from repose_ros.datasets.demo import demo_frames
    from repose_ros.profiling.batching import batchable_blocks

    if not servers or not budgets or min(servers) < 1 or min(budgets) <= 0:
        raise SystemExit("repose bench batching: --servers >= 1 and --budgets > 0 needed with --plans")
    frames, what = demo_frames(args.plans, prefer_clip=args.backend != "fake")
    weights = {"yolov8s": args.weights}
    rows = batchable_blocks(lambda s: RePose(RePoseConfig(num_servers=s, weights=weights), zoo=zoo),
                            frames, servers, budgets)
    for r in rows:
        print(f"plans, {r['servers']} servers, budget {r['budget_ms']:.0f} ms: {r['blocks']} blocks run on "
              f"{r['frames']} frames, {r['batchable']} share server, model, input and crop size with another")
    return {"input": what, "rows": rows}


if __name__ == "__main__":
    sys.exit(main_bench_batching())
