"""``repose profile``: measure the latency-precision profile of detector models on this machine.

For every model key (``"<name>@<imgsz>"``; default yolov8s at 320, 480, 640, 960, 1280, 1600 and
1920) the command measures

* **latency**: the median wall time of R calls of ``detect_crops`` with one square block
  (letterboxed to exactly ``imgsz x imgsz``), batch size 1, after a warm-up; this is the time an
  edge server spends on one block (pre-processing, forward pass, NMS);
* **precision versus object area** on annotated data, several data sets measured together
  (``--data mot17:PATH,visdrone:PATH``; default both shared folders when present): frames are
  rescaled by a set of factors ``r`` and cut into ``imgsz x imgsz`` model inputs around people (a
  frame smaller than the input is padded with the letterbox grey), so that the same people appear
  at many sizes in model-input pixels. Detections are matched to the ground truth COCO-style per
  log-spaced area bin (x2 in area from 16 to 65536 model-input px^2; bin ``i`` covers
  ``(bound[i-1], bound[i]]``; ground truth outside the bin, cut by the input border, heavily
  occluded, of the MOT ignore classes or VisDrone ignore regions, and detections matched to
  them, are ignored). The profile stores one number per bin (``--metric``, AP50:95 by default),
  one curve per input size (``--pool``: one per weights file), rising with area and falling where
  the data say so for very large objects (``--curve-shape``; ``--refit`` fits stored raw numbers
  again without running the detector); the
  raw numbers per bin (per key and per data set) are kept in ``meta``;
* **recall** (the profile's ``recall`` section): the fraction of the ground truth matched at IoU
  0.5 by a detection of score >= ``--recall-conf`` (0.05, the coarse pass's threshold), per area
  bin and model key, made non-decreasing in area;
* optionally (``--upscale-study``, :mod:`repose_ros.profiling.upscale`) AP50:95 and recall of
  the same source objects when native crops are enlarged by 1-4x, and the ``upscale_cap`` derived
  from it (written to the profile; the table to ``meta.upscale``).

The output is a YAML file in the format of :mod:`repose_ros.core.profiles`, with a comment block
on top saying how each section was obtained. The annotated data are read where they lie (never
copied). Without data the command still measures latency and takes precision and recall from
``--precision-from`` / ``--update`` or from a generic prior that ``meta`` flags as not measured.
``--skip-latency --update FILE`` keeps the latency sections of FILE and measures precision only;
models FILE has no latency for go, with a flagged placeholder latency, to
``--missing-latency-out`` (never into config/). ``--backend fake`` (with ``--data synthetic``)
exercises everything without torch.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import List, Optional, Sequence

from repose_ros.cli.args import comma_list
from repose_ros.profiling.data import parse_data_specs, per_spec_counts
from repose_ros.profiling.fitting import CURVE_SHAPES
from repose_ros.profiling.profile_file import PLACEHOLDER_LATENCY_MS, refit_profile
from repose_ros.profiling.options import ProfileOptions
from repose_ros.profiling.run import run_profile

DEFAULT_MODELS = "yolov8s@320,yolov8s@480,yolov8s@640,yolov8s@960,yolov8s@1280,yolov8s@1600,yolov8s@1920"
DEFAULT_BINS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, math.inf)
DEFAULT_RECALL_CONF = 0.05
DEFAULT_UPSCALE_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)
QUICK_UPSCALE_FACTORS = (1.0, 2.0, 4.0)
DEFAULT_SCALES = (0.08, 0.14, 0.25, 0.45, 0.8, 1.4)
QUICK_SCALES = (0.2, 0.8)


def _parse_bins(text: str) -> List[float]:
    items = [x for x in str(text).replace(" ", "").split(",") if x]
    out = [math.inf if x.lower() in ("inf", ".inf") else float(x) for x in items]
    if not out or any(b <= 0 for b in out) or any(b2 <= b1 for b1, b2 in zip(out, out[1:])):
        raise ValueError(f"--bins must be positive and strictly increasing, got {text!r}")
    if not math.isinf(out[-1]):
        out.append(math.inf)
    return out


def _command_line(argv: Optional[Sequence[str]]) -> str:
    """Return the command line for meta, with the (long) --note text left out."""
    import shlex
    items = list(argv if argv is not None else sys.argv[1:])
    out = []
    skip = False
    for item in items:
        if skip:
            skip = False
            continue
        if item == "--note":
            skip = True
            continue
        if item.startswith("--note="):
            continue
        out.append(item)
    return shlex.join(["repose", "profile", *out])


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``repose profile``."""
    p = argparse.ArgumentParser(prog="repose profile", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for add in (_add_model_arguments, _add_precision_arguments, _add_update_arguments, _add_study_arguments,
                _add_output_arguments):
        add(p)
    return p


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of models, weights, back-end and latency measurement."""
    g = p.add_argument_group('models, weights, back-end and latency measurement')
    g.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model keys <name>@<imgsz>")
    g.add_argument("--weights", action="append", default=[], metavar="NAME=SPEC",
                   help="weights of a model name (file path or builtin:yolov8s-person); repeatable. "
                        "Default: yolov8s=builtin:yolov8s-person")
    g.add_argument("--class-map", default="auto",
                   help="auto, identity, person or all (see detector.build_class_map)")
    g.add_argument("--backend", choices=("ultralytics", "fake"), default="ultralytics")
    g.add_argument("--device", default="cpu", help="cpu or cuda:N")
    g.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    g.add_argument("--server-id", default="default",
                   help="latency_ms entry to write (e.g. an edge server id)")
    g.add_argument("--repeats", type=int, default=None,
                   help="timed calls per model (median); default 9, quick 3")
    g.add_argument("--warmup", type=int, default=None, help="untimed calls per model; default 2, quick 1")
    g.add_argument("--shapes", action=argparse.BooleanOptionalAction, default=True,
                   help="measure latency on blocks of several aspect ratios too (the profile's latency_shapes, "
                        "which make the planner's latency model shape-aware); --no-shapes: square blocks only")
    g.add_argument("--seed", type=int, default=0)


def _add_precision_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of annotated data, area bins, metric and curve fitting."""
    g = p.add_argument_group('annotated data, area bins, metric and curve fitting')
    g.add_argument("--data", default="auto",
                   help="annotated data, comma-separated (measured together): mot17:PATH (MOT folders with "
                        "gt/gt.txt and img1/), visdrone:PATH (VisDrone-DET split with images/ and annotations/, "
                        "or a folder holding one), synthetic (generated layouts, fake back-end only), none, "
                        "or auto (../shared/data/mot17_mini and ../shared/data/visdrone_people when present)")
    g.add_argument("--max-frames", default=None,
                   help="annotated frames per data set, one number or one per --data item (e.g. 20,30); "
                        "default 10, quick 2")
    g.add_argument("--scales", default=None, help="frame rescale factors for the precision inputs; default "
                   + ",".join(str(s) for s in DEFAULT_SCALES))
    g.add_argument("--bins", default=",".join(str(b) for b in DEFAULT_BINS),
                   help="area bin upper bounds in model-input pixels^2 (last: inf)")
    g.add_argument("--metric", choices=("ap50", "ap50_95", "recall50"), default="ap50_95",
                   help="per-bin number written as the profile's precision (COCO-style AP50:95, AP50, or "
                        "recall at IoU 0.5 and score 0.25)")
    g.add_argument("--recall-conf", type=float, default=DEFAULT_RECALL_CONF,
                   help="confidence of the profile's recall section (the coarse pass's threshold); >= --conf")
    g.add_argument("--min-gt", type=int, default=None,
                   help="ground-truth boxes a bin needs to be trusted; default 10, quick 2")
    g.add_argument("--min-visibility", type=float, default=0.3,
                   help="MOT pedestrians less visible than this are ignore regions")
    g.add_argument("--conf", type=float, default=0.01, help="detection threshold for the precision runs")
    g.add_argument("--curve-shape", choices=CURVE_SHAPES, default="unimodal",
                   help="precision curves: unimodal (rise with area, may fall for very large objects; default) or "
                        "monotone (non-decreasing)")
    g.add_argument("--pool", action=argparse.BooleanOptionalAction, default=False,
                   help="share one precision and recall curve between the keys of one weights file (measured "
                        "on all their inputs, less noise); by default every input size has its own curve")


def _add_update_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of earlier profiles: update, keep, refit, latency or precision only."""
    g = p.add_argument_group('earlier profiles: update, keep, refit, latency or precision only')
    g.add_argument("--precision-from", default=None,
                   help="profile YAML to take precision from when there is no data")
    g.add_argument("--update", default=None,
                   help="existing profile to update (other servers' latencies are kept)")
    g.add_argument("--refit", default=None, metavar="FILE",
                   help="no measurement: fit FILE's precision curves again (--curve-shape) from the raw per-bin "
                        "numbers it keeps (meta.precision.raw, meta.kept_models.precision_raw) or, for keys it "
                        "has none for, those of --raw-from; everything else is kept; writes --out")
    g.add_argument("--raw-from", default=None, metavar="FILE",
                   help="with --refit: a profile whose meta.precision.raw holds the raw numbers of FILE's other keys")
    g.add_argument("--keep-models", action="store_true",
                   help="with --update FILE: keep FILE's models that --models does not name, unchanged (latency, "
                        "shapes, precision, recall; their provenance goes to meta.kept_models), e.g. to add input "
                        "sizes to a profile without measuring the others again")
    g.add_argument("--latency-only", action="store_true",
                   help="measure latency only (on a few data frames if any); precision is kept from "
                        "--update/--precision-from or set to the generic prior")
    g.add_argument("--skip-latency", action="store_true",
                   help="keep the latency sections of --update FILE (latency_ms, latency_shapes, meta.latency) "
                        "and measure precision only")
    g.add_argument("--missing-latency-out", default=None, metavar="FILE",
                   help="with --skip-latency: models that --update FILE has no latency for are measured too; "
                        "--out gets the others, FILE (outside the repository's config/) gets every model, "
                        f"with a {PLACEHOLDER_LATENCY_MS:g} ms placeholder latency flagged in meta.latency for the "
                        "missing ones (a later run measures it: --latency-only --update FILE, or "
                        "--precision-from FILE)")


def _add_study_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the makespan check and the upscale study."""
    g = p.add_argument_group('the makespan check and the upscale study')
    g.add_argument("--makespan-check", type=int, default=0, metavar="FRAMES",
                   help="after profiling, run RE-POSE with the new profile on FRAMES real frames (4K collages of "
                        "the MOT17 data when given, else the data frames) and print the planner's predicted "
                        "against the measured makespan (slowest server), per frame and budget")
    g.add_argument("--makespan-budgets", default="1000,2000,4000", help="budgets (ms) of --makespan-check")
    g.add_argument("--upscale-study", action="store_true",
                   help="also measure AP50:95 and recall of the same objects when native crops are enlarged "
                        "by --upscale-factors, and write the derived upscale_cap and the table (meta.upscale)")
    g.add_argument("--upscale-factors", default=None,
                   help="enlargement factors of the study; default 1,1.5,2,3,4 (quick 1,2,4)")
    g.add_argument("--upscale-sizes", default="640", help="model input sizes of the study (e.g. 640,1280)")
    g.add_argument("--upscale-anchors", type=int, default=None,
                   help="crops (centred on random people) per frame and input size; default 3, quick 1")
    g.add_argument("--upscale-small-area", type=float, default=1024.0,
                   help="source-pixel area up to which an object is small for the cap rule (32x32)")
    g.add_argument("--upscale-min-gain", type=float, default=0.01,
                   help="AP50:95 gain of small objects an enlargement step must bring to raise the cap")


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of output, notes and progress."""
    g = p.add_argument_group('output, notes and progress')
    g.add_argument("--note", default="", help="free text added to meta.notes")
    g.add_argument("--quick", action="store_true", help="few repeats and frames (tests, smoke runs)")
    g.add_argument("--out", default="profile.yaml", help="output YAML file")
    g.add_argument("--plot", default=None, help="also draw latency and precision curves into this PNG")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def options_from_args(args: argparse.Namespace, argv: Optional[Sequence[str]] = None) -> ProfileOptions:
    """Resolve the defaults of the parsed command line (``--quick`` and friends) into :class:`ProfileOptions`.

    SystemExit with a message for an invalid combination that needs no data to be found out.
    """
    from repose_ros.core.keys import parse_key

    keys = comma_list(args.models)
    if not keys:
        raise SystemExit("--models is empty")
    try:
        parsed = [parse_key(k) for k in keys]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 9)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    scales = comma_list(args.scales, float) if args.scales else list(QUICK_SCALES if args.quick else DEFAULT_SCALES)
    if repeats < 1 or warmup < 0 or not scales or any(s <= 0 for s in scales):
        raise SystemExit("--repeats must be >= 1, --warmup >= 0, --scales positive")
    try:
        bounds = _parse_bins(args.bins)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if not 0.0 <= args.conf <= args.recall_conf <= 1.0:
        raise SystemExit(f"--recall-conf ({args.recall_conf}) must lie in [--conf ({args.conf}), 1]: the "
                         "recall is read off detections kept at --conf")
    specs = parse_data_specs(args.data)
    counts = per_spec_counts(args.max_frames, len(specs), 2 if args.quick else 10)
    upscale_factors = (comma_list(args.upscale_factors, float) if args.upscale_factors
                       else list(QUICK_UPSCALE_FACTORS if args.quick else DEFAULT_UPSCALE_FACTORS))
    same = {k: v for k, v in vars(args).items() if k in ProfileOptions.__dataclass_fields__}
    same.update(
        keys=keys, parsed=parsed, specs=specs, counts=counts, bounds=bounds, scales=scales, repeats=repeats,
        warmup=warmup, min_gt=args.min_gt if args.min_gt is not None else (2 if args.quick else 10),
        makespan_budgets=comma_list(args.makespan_budgets, float), upscale_factors=upscale_factors,
        upscale_sizes=[int(v) for v in comma_list(args.upscale_sizes, float)],
        upscale_anchors=args.upscale_anchors if args.upscale_anchors is not None else (1 if args.quick else 3),
        progress=not args.no_progress, data_auto=args.data == "auto", command=_command_line(argv))
    return ProfileOptions(**same)


def main_profile(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose profile`` with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.refit:
        out = refit_profile(args.refit, args.out, args.curve_shape, args.raw_from)
        print(f"repose profile: wrote {out} (precision curves fitted again, {args.curve_shape})", file=sys.stderr)
        return 0
    return run_profile(options_from_args(args, argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_profile())
