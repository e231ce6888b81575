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
* optionally (``--upscale-study``, :mod:`repose_ros.cli.profile_upscale`) AP50:95 and recall of
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
import datetime as _dt
import math
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from repose_ros.profiling.area_ap import (  # noqa: F401 - re-exported: the profile command's data and AP
    IOU_THRESHOLDS, LETTERBOX_GREY, MOT_IGNORE_CLASSES, SequenceData, FrameSample, find_mot_sequences,
    load_mot_sequence, mot_frame_boxes, load_mot_samples, load_visdrone_samples, synthetic_samples,
    ModelInput, make_model_input, match_detections, average_precision, AreaBinEvaluator)

DEFAULT_MODELS = "yolov8s@320,yolov8s@480,yolov8s@640,yolov8s@960,yolov8s@1280,yolov8s@1600,yolov8s@1920"
DEFAULT_BINS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, math.inf)
BINS_RATIONALE = ("log-spaced bounds, x2 in area (x1.41 in side) from 16 to 65536 model-input px^2 (4x4 to "
                  "256x256 px): the measured precision rises from 0 to its plateau over about 256..16384 px^2, "
                  "so x2 steps keep the step between neighbouring bins small where the planner's choice "
                  "depends on it, while every bin still holds enough ground truth (min_gt) from a few tens of "
                  "frames; below 16 px^2 nothing is detected, above 65536 px^2 precision is flat (last bin inf)")
DEFAULT_RECALL_CONF = 0.05
DEFAULT_UPSCALE_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)
QUICK_UPSCALE_FACTORS = (1.0, 2.0, 4.0)
PLACEHOLDER_LATENCY_MS = 1.0e6
"""Latency written for models that have no measured latency (only into --missing-latency-out files)."""
DEFAULT_SCALES = (0.08, 0.14, 0.25, 0.45, 0.8, 1.4)
QUICK_SCALES = (0.2, 0.8)
PRIOR_PRECISION = ((16, 0.02), (64, 0.15), (256, 0.45), (1024, 0.7), (4096, 0.82), (16384, 0.88),
                   (math.inf, 0.9))


def _fill_untrusted(n: int, trusted: Sequence[int], fitted: Sequence[float]) -> List[float]:
    """Spread fitted values of the trusted bins over all ``n`` bins (see :func:`monotone_bins`)."""
    out = [0.0] * n
    for i, v in zip(trusted, fitted):
        out[i] = v
    first, last = trusted[0], trusted[-1]
    for i in range(n):
        if i < first:
            out[i] = 0.0 if i < 2 else out[first]
        elif i > last:
            out[i] = out[last]
        elif i not in trusted:                         # gap between trusted bins: previous value
            out[i] = out[i - 1]
    return [round(float(v), 4) for v in out]


def monotone_bins(values: Sequence[Optional[float]], weights: Sequence[int], min_count: int) -> List[float]:
    """Turn raw per-bin values into a non-decreasing step profile.

    Bins with fewer than ``min_count`` ground-truth boxes are not trusted: below the first
    trusted bin they get 0.0 when the bin is one of the two smallest (objects of a few pixels), else
    the first trusted value; above the last trusted bin they get the last trusted value. Trusted
    values are made non-decreasing by weighted pool-adjacent-violators (isotonic regression).
    """
    n = len(values)
    trusted = [i for i in range(n) if values[i] is not None and weights[i] >= min_count]
    if not trusted:
        raise ValueError("no area bin has enough ground truth to measure precision")
    fitted, _ = _pava([float(values[i]) for i in trusted], [float(weights[i]) for i in trusted])
    return _fill_untrusted(n, trusted, fitted)


# --------------------------------------------------------------------------- machine info


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("torch", "ultralytics", "numpy", "cv2"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__version__", None):
            out[mod] = str(m.__version__)
    return out


def device_description(device: str) -> str:
    """Describe the compute device (GPU name for CUDA, CPU model otherwise)."""
    if device.startswith("cuda"):
        try:
            import torch
            return f"{device} ({torch.cuda.get_device_name(int(device.split(':')[1]))})"
        except Exception:  # noqa: BLE001 - description only
            return device
    return f"cpu ({cpu_model()})"


# --------------------------------------------------------------------------- measurement


def _parse_list(text: str, cast=float) -> List[Any]:
    return [cast(x) for x in str(text).replace(" ", "").split(",") if x]


def _parse_bins(text: str) -> List[float]:
    items = [x for x in str(text).replace(" ", "").split(",") if x]
    out = [math.inf if x.lower() in ("inf", ".inf") else float(x) for x in items]
    if not out or any(b <= 0 for b in out) or any(b2 <= b1 for b1, b2 in zip(out, out[1:])):
        raise ValueError(f"--bins must be positive and strictly increasing, got {text!r}")
    if not math.isinf(out[-1]):
        out.append(math.inf)
    return out


def _shared_roots() -> List[Path]:
    roots = []
    env = os.environ.get("REPOSE_SHARED_DATA")
    if env:
        roots.append(Path(env))
    root = os.environ.get("REPOSE_ROOT")
    here = Path(root) if root else Path(__file__).resolve().parents[3]
    roots.append(here.parent / "shared" / "data")
    return roots


def _default_data() -> Optional[str]:
    """``mot17:...,visdrone:...`` for the shared data folders that exist (None when neither does)."""
    from repose_ros.datasets.visdrone import find_visdrone_split
    found: Dict[str, str] = {}
    for base in _shared_roots():
        mot = base / "mot17_mini"
        if "mot17" not in found and mot.is_dir() and find_mot_sequences(mot):
            found["mot17"] = f"mot17:{mot}"
        vis = base / "visdrone_people"
        if "visdrone" not in found and vis.is_dir():
            try:
                find_visdrone_split(vis)
                found["visdrone"] = f"visdrone:{vis}"
            except (OSError, ValueError):
                pass
    return ",".join(found[k] for k in ("mot17", "visdrone") if k in found) or None


def parse_data_specs(text: Optional[str]) -> List[str]:
    """Split ``--data`` into specs (``mot17:PATH``, ``visdrone:PATH``, ``synthetic``); none/empty: ``[]``.

    ``auto`` becomes the shared data folders that exist (:func:`_default_data`). SystemExit on an
    unknown kind or when ``synthetic`` is combined with real data.
    """
    out: List[str] = []
    for item in [x.strip() for x in str(text or "").split(",") if x.strip()]:
        if item == "auto":
            out.extend(parse_data_specs(_default_data()))
        elif item == "none":
            continue
        elif item == "synthetic" or item.split(":", 1)[0] in ("mot17", "visdrone"):
            if item != "synthetic" and not item.split(":", 1)[1]:
                raise SystemExit(f"--data: {item!r} needs a folder ({item.rstrip(':')}:PATH)")
            out.append(item)
        else:
            raise SystemExit(f"--data items must be mot17:PATH, visdrone:PATH, synthetic, none or auto, got {item!r}")
    if "synthetic" in out and len(out) > 1:
        raise SystemExit("--data synthetic cannot be combined with annotated data")
    return out


def _per_spec_counts(text: Optional[str], n_specs: int, default: int) -> List[int]:
    """``--max-frames``: one number for every data set, or one per data set (comma-separated)."""
    if text is None:
        return [default] * n_specs
    try:
        values = [int(x) for x in str(text).replace(" ", "").split(",") if x]
    except ValueError:
        raise SystemExit(f"--max-frames must be an integer or a comma-separated list of integers, got {text!r}")
    if len(values) == 1:
        values = values * n_specs
    if len(values) != n_specs:
        raise SystemExit(f"--max-frames has {len(values)} numbers for {n_specs} data sets")
    if any(v < 0 for v in values):
        raise SystemExit("--max-frames must be >= 0")
    return values


def load_data_sets(specs: Sequence[str], counts: Sequence[int], min_visibility: float, seed: int,
                   backend: str) -> List[Tuple[str, str, List[FrameSample]]]:
    """Load ``(label, description, samples)`` per data spec; labels are the kinds (numbered when repeated)."""
    out: List[Tuple[str, str, List[FrameSample]]] = []
    seen: Dict[str, int] = {}
    for spec, n in zip(specs, counts):
        kind = spec.split(":", 1)[0]
        seen[kind] = seen.get(kind, 0) + 1
        label = kind if seen[kind] == 1 else f"{kind}{seen[kind]}"
        if n <= 0:
            continue
        if kind == "synthetic":
            if backend != "fake":
                raise SystemExit("--data synthetic only makes sense with --backend fake (a real "
                                 "network finds no people in generated layouts); "
                                 "use --data mot17:PATH,visdrone:PATH or none")
            samples = synthetic_samples(n, seed)
            desc = f"synthetic PANDA-like layouts ({len(samples)} frames, seed {seed})"
        elif kind == "mot17":
            root = Path(spec.split(":", 1)[1]).expanduser()
            if not find_mot_sequences(root):
                raise SystemExit(f"no MOT sequences (gt/gt.txt + img1/) under {root}")
            samples = load_mot_samples(root, n, min_visibility)
            desc = f"MOT format at {root} ({len(samples)} frames: {', '.join(s.name for s in samples)})"
        else:
            root = Path(spec.split(":", 1)[1]).expanduser()
            try:
                samples = load_visdrone_samples(root, n)
            except (OSError, ValueError) as exc:
                raise SystemExit(f"--data {spec}: {exc}") from None
            n_gt = sum(len(s.gt) for s in samples)
            desc = (f"VisDrone-DET people at {root} ({len(samples)} frames, {n_gt} persons: "
                    f"{', '.join(s.name.split('/', 1)[1] for s in samples)})")
        out.append((label, desc, samples))
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
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model keys <name>@<imgsz>")
    p.add_argument("--weights", action="append", default=[], metavar="NAME=SPEC",
                   help="weights of a model name (file path or builtin:yolov8s-person); repeatable. "
                        "Default: yolov8s=builtin:yolov8s-person")
    p.add_argument("--class-map", default="auto",
                   help="auto, identity, person or all (see detector.build_class_map)")
    p.add_argument("--backend", choices=("ultralytics", "fake"), default="ultralytics")
    p.add_argument("--device", default="cpu", help="cpu or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: usable CPUs)")
    p.add_argument("--server-id", default="default",
                   help="latency_ms entry to write (e.g. an edge server id)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per model (median); default 9, quick 3")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls per model; default 2, quick 1")
    p.add_argument("--data", default="auto",
                   help="annotated data, comma-separated (measured together): mot17:PATH (MOT folders with "
                        "gt/gt.txt and img1/), visdrone:PATH (VisDrone-DET split with images/ and annotations/, "
                        "or a folder holding one), synthetic (generated layouts, fake back-end only), none, "
                        "or auto (../shared/data/mot17_mini and ../shared/data/visdrone_people when present)")
    p.add_argument("--max-frames", default=None,
                   help="annotated frames per data set, one number or one per --data item (e.g. 20,30); "
                        "default 10, quick 2")
    p.add_argument("--scales", default=None, help="frame rescale factors for the precision inputs; default "
                   + ",".join(str(s) for s in DEFAULT_SCALES))
    p.add_argument("--bins", default=",".join(str(b) for b in DEFAULT_BINS),
                   help="area bin upper bounds in model-input pixels^2 (last: inf)")
    p.add_argument("--metric", choices=("ap50", "ap50_95", "recall50"), default="ap50_95",
                   help="per-bin number written as the profile's precision (COCO-style AP50:95, AP50, or "
                        "recall at IoU 0.5 and score 0.25)")
    p.add_argument("--recall-conf", type=float, default=DEFAULT_RECALL_CONF,
                   help="confidence of the profile's recall section (the coarse pass's threshold); >= --conf")
    p.add_argument("--min-gt", type=int, default=None,
                   help="ground-truth boxes a bin needs to be trusted; default 10, quick 2")
    p.add_argument("--min-visibility", type=float, default=0.3,
                   help="MOT pedestrians less visible than this are ignore regions")
    p.add_argument("--conf", type=float, default=0.01, help="detection threshold for the precision runs")
    p.add_argument("--precision-from", default=None,
                   help="profile YAML to take precision from when there is no data")
    p.add_argument("--update", default=None,
                   help="existing profile to update (other servers' latencies are kept)")
    p.add_argument("--note", default="", help="free text added to meta.notes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shapes", action=argparse.BooleanOptionalAction, default=True,
                   help="measure latency on blocks of several aspect ratios too (the profile's latency_shapes, "
                        "which make the planner's latency model shape-aware); --no-shapes: square blocks only")
    p.add_argument("--makespan-check", type=int, default=0, metavar="FRAMES",
                   help="after profiling, run RE-POSE with the new profile on FRAMES real frames (4K collages of "
                        "the MOT17 data when given, else the data frames) and print the planner's predicted "
                        "against the measured makespan (slowest server), per frame and budget")
    p.add_argument("--makespan-budgets", default="1000,2000,4000", help="budgets (ms) of --makespan-check")
    p.add_argument("--curve-shape", choices=CURVE_SHAPES, default="unimodal",
                   help="precision curves: unimodal (rise with area, may fall for very large objects; default) or "
                        "monotone (non-decreasing)")
    p.add_argument("--refit", default=None, metavar="FILE",
                   help="no measurement: fit FILE's precision curves again (--curve-shape) from the raw per-bin "
                        "numbers it keeps (meta.precision.raw, meta.kept_models.precision_raw) or, for keys it "
                        "has none for, those of --raw-from; everything else is kept; writes --out")
    p.add_argument("--raw-from", default=None, metavar="FILE",
                   help="with --refit: a profile whose meta.precision.raw holds the raw numbers of FILE's other keys")
    p.add_argument("--keep-models", action="store_true",
                   help="with --update FILE: keep FILE's models that --models does not name, unchanged (latency, "
                        "shapes, precision, recall; their provenance goes to meta.kept_models), e.g. to add input "
                        "sizes to a profile without measuring the others again")
    p.add_argument("--latency-only", action="store_true",
                   help="measure latency only (on a few data frames if any); precision is kept from "
                        "--update/--precision-from or set to the generic prior")
    p.add_argument("--skip-latency", action="store_true",
                   help="keep the latency sections of --update FILE (latency_ms, latency_shapes, meta.latency) "
                        "and measure precision only")
    p.add_argument("--missing-latency-out", default=None, metavar="FILE",
                   help="with --skip-latency: models that --update FILE has no latency for are measured too; "
                        "--out gets the others, FILE (outside the repository's config/) gets every model, "
                        f"with a {PLACEHOLDER_LATENCY_MS:g} ms placeholder latency flagged in meta.latency for the "
                        "missing ones (a later run measures it: --latency-only --update FILE, or "
                        "--precision-from FILE)")
    p.add_argument("--pool", action=argparse.BooleanOptionalAction, default=False,
                   help="share one precision and recall curve between the keys of one weights file (measured "
                        "on all their inputs, less noise); by default every input size has its own curve")
    p.add_argument("--upscale-study", action="store_true",
                   help="also measure AP50:95 and recall of the same objects when native crops are enlarged "
                        "by --upscale-factors, and write the derived upscale_cap and the table (meta.upscale)")
    p.add_argument("--upscale-factors", default=None,
                   help="enlargement factors of the study; default 1,1.5,2,3,4 (quick 1,2,4)")
    p.add_argument("--upscale-sizes", default="640", help="model input sizes of the study (e.g. 640,1280)")
    p.add_argument("--upscale-anchors", type=int, default=None,
                   help="crops (centred on random people) per frame and input size; default 3, quick 1")
    p.add_argument("--upscale-small-area", type=float, default=1024.0,
                   help="source-pixel area up to which an object is small for the cap rule (32x32)")
    p.add_argument("--upscale-min-gain", type=float, default=0.01,
                   help="AP50:95 gain of small objects an enlargement step must bring to raise the cap")
    p.add_argument("--quick", action="store_true", help="few repeats and frames (tests, smoke runs)")
    p.add_argument("--out", default="profile.yaml", help="output YAML file")
    p.add_argument("--plot", default=None, help="also draw latency and precision curves into this PNG")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _build_zoo(args: argparse.Namespace, names: Sequence[str]):
    from repose_ros.detectors.weights import BUILTIN_PERSON
    from repose_ros.detectors.fake import FakeDetector
    from repose_ros.detectors.zoo import ModelZoo
    if args.backend == "fake":
        fake = FakeDetector(min_input_px=10.0, dropout=0.05, jitter=0.03, latency_ms_at_640=4.0,
                            latency_base_ms=0.5, seed=args.seed)
        return ModelZoo.fake(fake, names), fake
    weights = {n: BUILTIN_PERSON for n in names if n == "yolov8s"}
    for item in args.weights:
        if "=" not in item:
            raise SystemExit(f"--weights expects NAME=SPEC, got {item!r}")
        name, spec = item.split("=", 1)
        weights[name.strip()] = spec.strip()
    missing = [n for n in names if n not in weights]
    if missing:
        raise SystemExit(f"no weights for model names {missing}: give --weights NAME=/path/to/file.pt")
    return ModelZoo(weights, device=args.device, class_map=args.class_map, torch_threads=args.threads), None


def measure_latency(zoo, keys: Sequence[str], samples: List[FrameSample], repeats: int, warmup: int,
                    rng: np.random.Generator, bar, shapes: bool = True) -> Dict[str, Dict[str, Any]]:
    """Return per key: median/p90/min ms of one block per call, on the edge server's code path.

    Blocks are cut from the data frames (random noise without data) and run through
    :func:`repose_ros.core.serving.run_block`, as an edge detector runs them
    (:func:`repose_ros.profiling.latency.measure_shape_latency`). With ``shapes`` the blocks take
    the aspect ratios of :data:`repose_ros.profiling.latency.ASPECTS` (landscape, and portrait
    for some), and every measured tensor shape is kept in ``points`` (``[tensor_h, tensor_w,
    ms]``, the profile's ``latency_shapes``); the square block's figures are the key's
    ``median_ms``, ``p90_ms``, ``min_ms``.
    """
    from repose_ros.profiling.latency import ASPECTS, PORTRAIT, measure_shape_latency

    frames = [s.image for s in samples] or [rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)]
    aspects, portrait = (ASPECTS, PORTRAIT) if shapes else ((1.0,), ())
    for key in keys:
        zoo.get(key)[0].load()
    measured = measure_shape_latency(zoo, keys, frames, repeats, warmup, aspects, portrait,
                                     seed=int(rng.integers(1 << 31)), progress=bar.update)
    out = {}
    for key, m in measured.items():
        square = next(r for r in m["shapes"] if r["block"][0] == r["block"][1])
        out[key] = {"median_ms": square["median_ms"], "p90_ms": square["p90_ms"], "min_ms": square["min_ms"],
                    "n": square["n"]}
        if shapes:
            out[key]["points"] = m["points"]
            out[key]["shapes"] = m["shapes"]
    return out


def measure_precision(zoo, keys: Sequence[str], samples: List[FrameSample], scales: Sequence[float],
                      bounds: Sequence[float], conf: float, rng: np.random.Generator, bar,
                      fake=None) -> Dict[str, "AreaBinEvaluator"]:
    """Return per key the :class:`AreaBinEvaluator` filled over all samples x scales."""
    by_data = measure_precision_by_data(zoo, keys, [("data", "", samples)], scales, bounds, conf, rng, bar, fake)
    return {k: v["data"] for k, v in by_data.items()}


def measure_precision_by_data(zoo, keys: Sequence[str], data_sets: Sequence[Tuple[str, str, List[FrameSample]]],
                              scales: Sequence[float], bounds: Sequence[float], conf: float,
                              rng: np.random.Generator, bar, fake=None) -> Dict[str, Dict[str, "AreaBinEvaluator"]]:
    """Per key and data-set label, the :class:`AreaBinEvaluator` filled over its samples x scales.

    ``data_sets``: ``(label, description, samples)``. Every key sees the same frames, cut at
    random positions drawn from one generator per key (seeded from ``rng``).
    """
    from repose_ros.core.detections import Detections
    out: Dict[str, Dict[str, AreaBinEvaluator]] = {}
    for key in keys:
        det, imgsz = zoo.get(key)
        key_rng = np.random.default_rng(rng.integers(1 << 31))
        out[key] = {}
        for label, _desc, samples in data_sets:
            ev = out[key].setdefault(label, AreaBinEvaluator(bounds))
            for sample in samples:
                inputs = [make_model_input(sample, imgsz, s, key_rng) for s in scales]
                if fake is not None:
                    results = []
                    for mi in inputs:
                        fake.set_ground_truth(Detections(mi.gt, np.full(len(mi.gt), 0.9, np.float32),
                                                         np.zeros(len(mi.gt), np.int32)))
                        results.append(det.detect(mi.image, imgsz=imgsz, conf=conf, iou=0.7))
                else:
                    results = det.detect_batch([mi.image for mi in inputs], imgsz=imgsz, conf=conf, iou=0.7)
                for mi, dets in zip(inputs, results):
                    ev.add(dets.xyxy, dets.scores, mi.gt, mi.ignore)
                bar.update(len(inputs))
    return out


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass


def plot_profile(profiles, latency_detail: Dict[str, Dict[str, Any]], path: str,
                 raw: Optional[Dict[str, List[Dict[str, Any]]]] = None, metric: str = "ap50") -> Path:
    """Draw latency versus imgsz and precision versus model-input area (dots: raw ``metric``) into a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    by_name: Dict[str, List[Tuple[int, float]]] = {}
    for m in profiles.models:
        by_name.setdefault(m.name, []).append((m.imgsz, profiles.latency(m.key)))
    for name, pts in by_name.items():
        pts.sort()
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    ax1.set_xlabel("model input size (px)")
    ax1.set_ylabel("latency per block (ms, median)")
    ax1.set_title("latency")
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    for m in profiles.models:
        bins = profiles.precision[m.key]
        finite = [b for b, _ in bins if math.isfinite(b)]
        top = finite[-1] * 4 if finite else 1e5
        edges = [bins[0][0] / 4 if math.isfinite(bins[0][0]) else 1.0]
        edges += [b if math.isfinite(b) else top for b, _ in bins]
        ax2.stairs([p for _, p in bins], edges, label=m.key)
        if raw and m.key in raw:
            pts = [(r["area_max"] if math.isfinite(r["area_max"]) else top, r.get(metric))
                   for r in raw[m.key]]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                ax2.plot([p[0] for p in pts], [p[1] for p in pts], ".", alpha=0.5)
    ax2.set_xscale("log")
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("object area in model-input pixels^2 (bin upper bound)")
    ax2.set_ylabel("precision (profile)")
    ax2.set_title(f"precision vs area (steps: profile; dots: raw {metric})")
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _inside_config(path: Path) -> bool:
    """Whether ``path`` lies in the repository's (or the installed package's) ``config/`` folder."""
    dirs = []
    root = os.environ.get("REPOSE_ROOT")
    dirs.append((Path(root) if root else Path(__file__).resolve().parents[3]) / "config")
    try:
        from repose_ros.core.paths import find_config_file
        from repose_ros.core.profiles import DEFAULT_PROFILE
        dirs.append(find_config_file(DEFAULT_PROFILE).resolve().parents[1])
    except Exception:  # noqa: BLE001 - no installed config: only the checkout's folder counts
        pass
    target = path.expanduser().resolve()
    return any(target == d.resolve() or d.resolve() in target.parents for d in dirs)


def placeholder_keys(profile) -> List[str]:
    """Model keys whose latency in ``profile`` is a placeholder (``meta.latency.placeholder_keys``)."""
    lat = profile.meta.get("latency") if isinstance(profile.meta, dict) else None
    keys = lat.get("placeholder_keys", []) if isinstance(lat, dict) else []
    return [str(k) for k in keys] if isinstance(keys, list) else []


def _pava(values: Sequence[float], weights: Sequence[float]) -> Tuple[List[float], float]:
    """Weighted non-decreasing least-squares fit (pool adjacent violators) and its weighted squared error."""
    blocks: List[List[float]] = []        # [value, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    fitted: List[float] = []
    for v, _w, c in blocks:
        fitted.extend([v] * int(c))
    err = sum(w * (f - v) ** 2 for f, v, w in zip(fitted, values, weights))
    return fitted, float(err)


def unimodal_bins(values: Sequence[Optional[float]], weights: Sequence[int], min_count: int) -> List[float]:
    """Turn raw per-bin values into a step profile that rises with area, then may fall.

    Like :func:`monotone_bins` (the same trust rule and filling of untrusted bins), but the
    trusted values are fitted by weighted *unimodal* regression: non-decreasing up to a peak and
    non-increasing after it, the peak chosen for the least weighted squared error. A detector
    trained at 640 loses precision on objects far larger than it was trained on (measured: the
    largest area bin, objects over ~256 px at the model input, drops at every input size that sees
    enough of them), and the planner must see that, or it enlarges blocks of large people past the
    point where it helps.
    """
    n = len(values)
    trusted = [i for i in range(n) if values[i] is not None and weights[i] >= min_count]
    if not trusted:
        raise ValueError("no area bin has enough ground truth to measure precision")
    vals = [float(values[i]) for i in trusted]
    ws = [float(weights[i]) for i in trusted]
    best: Optional[Tuple[float, List[float]]] = None
    for k in range(1, len(vals) + 1):              # [0, k) rises, [k, end) falls
        up, e1 = _pava(vals[:k], ws[:k])
        down_rev, e2 = _pava(vals[k:][::-1], ws[k:][::-1])
        if best is None or e1 + e2 < best[0] - 1e-12:
            best = (e1 + e2, up + down_rev[::-1])
    assert best is not None
    return _fill_untrusted(n, trusted, best[1])


CURVE_SHAPES = ("unimodal", "monotone")


def fit_curve(rows: Sequence[Dict[str, Any]], metric: str, min_gt: int, shape: str = "unimodal") -> List[float]:
    """Raw per-bin ``rows`` (:meth:`AreaBinEvaluator.summary` layout) -> step values (unimodal or isotonic)."""
    fit = unimodal_bins if shape == "unimodal" else monotone_bins
    return fit([r[metric] for r in rows], [r["n_gt"] for r in rows], min_gt)


def _wrap(prefix: str, text: str, indent: str = "#     ") -> List[str]:
    import textwrap
    return textwrap.wrap(text, width=110, initial_indent=prefix, subsequent_indent=indent) or [prefix.rstrip()]


def _shape_text(pre: Dict[str, Any]) -> str:
    shape = pre.get("curve_shape", "monotone")
    text = ("fitted rising then (for very large objects) falling, unimodal," if shape == "unimodal"
            else "made non-decreasing")
    refit = pre.get("refit")
    if isinstance(refit, dict):
        text += f" (fitted again on {refit.get('date')} from the stored raw numbers, meta.precision.refit)"
    return text


def profile_header(prof) -> str:
    """Comment block for the top of a profile YAML: how each section was obtained (from its meta)."""
    meta = prof.meta
    lat = meta.get("latency", {}) if isinstance(meta.get("latency"), dict) else {}
    pre = meta.get("precision", {}) if isinstance(meta.get("precision"), dict) else {}
    lines = ["# Latency-precision profile of repose_ros, written by `repose profile` (repose_ros/cli/profile.py).",
             "# Regenerate it on the machines that run the edge servers: latency depends on the hardware.",
             *_wrap("# This run: ", f"{meta.get('date')} on {meta.get('host')} ({meta.get('device')}); "
                    f"{meta.get('command')}", "#   "),
             "#", "# How each section was obtained (details in meta):"]
    if lat.get("placeholder_keys"):
        lines += _wrap("#   latency_ms: ", f"PLACEHOLDER ({PLACEHOLDER_LATENCY_MS:g} ms, NOT measured) for "
                       f"{', '.join(lat['placeholder_keys'])}; the others as below. Do not deploy this file.")
    lat_text = str(lat.get("source") or ("measured by this run: " + str(lat.get("definition", "see meta.latency"))))
    if lat.get("kept_from"):
        lat_text = f"kept unchanged from {lat['kept_from']} ({lat_text})"
    lines += _wrap("#   latency_ms: ", lat_text)
    if prof.latency_shapes:
        lines += _wrap("#   latency_shapes: ", "measured shape points, kept with the latency section "
                       "(see meta.latency)")
    src = str(pre.get("source", ""))
    if src == "measured" or src.startswith("measured,"):
        how = ("one curve per weights file (pooled over its input sizes)" if pre.get("pooled")
               else "one curve per input size")
        lines += _wrap("#   precision: ", f"{pre.get('metric')} (COCO-style) per model-input area bin (px^2; bin i "
                       f"covers (bound[i-1], bound[i]]), {how}, measured on {', '.join(pre.get('data_sets', []))} "
                       f"({pre.get('frames')} frames x rescale factors {pre.get('scales')}); {_shape_text(pre)} in "
                       f"area, bins with < {pre.get('min_gt')} ground-truth boxes filled from neighbours; raw "
                       "per-bin numbers in meta.precision.raw")
        if src != "measured":
            lines += _wrap("#     ", src)
    else:
        lines += _wrap("#   precision: ", src or "see meta.precision")
    if prof.recall:
        rec = meta.get("recall", {}) if isinstance(meta.get("recall"), dict) else {}
        lines += _wrap("#   recall: ", str(rec.get("source") or prof.recall.get("definition")
                                           or f"recall at conf {prof.recall.get('conf')}"))
    if prof.upscale_cap is not None:
        up = meta.get("upscale", {}) if isinstance(meta.get("upscale"), dict) else {}
        lines += _wrap("#   upscale_cap: ", str(up.get("source") or "see meta.upscale") + "; rule: "
                       + str(up.get("rule", "see meta.upscale")))
    kept = meta.get("kept_models")
    if isinstance(kept, dict) and kept.get("keys"):
        refit = " (precision fitted again since, see precision)" if isinstance(pre.get("refit"), dict) else ""
        lines += _wrap("#   kept models: ", f"{', '.join(kept['keys'])}: every section {kept.get('source')}{refit}; "
                       "the sections above describe the other models (details in meta.kept_models)")
    check = meta.get("makespan_check")
    if isinstance(check, dict) and check.get("median_abs_error") is not None:
        lines += _wrap("#   makespan check: ", f"planned vs measured slowest server on {check.get('frames')}: "
                       f"median |error| {100 * check['median_abs_error']:.1f}% over {check.get('n')} plans "
                       "(meta.makespan_check)")
    lines += ["# Format: see the module docstring of repose_ros.core.profiles.", ""]
    return "\n".join(lines)


def write_profile(prof, path: Union[str, Path]) -> Path:
    """Save ``prof`` as YAML (:meth:`Profiles.save`) with :func:`profile_header` on top; return the path."""
    path = prof.save(path)
    body = path.read_text(encoding="utf-8")
    path.write_text(profile_header(prof) + body, encoding="utf-8")
    return path


def _load_sources(paths: Sequence[Optional[str]]) -> List[Tuple[str, Any]]:
    from repose_ros.core.profiles import Profiles
    out, seen = [], set()
    for p in paths:
        if p and Path(p).is_file() and str(Path(p).resolve()) not in seen:
            seen.add(str(Path(p).resolve()))
            out.append((p, Profiles.load(p)))
    return out


def refit_profile(path: str, out: str, shape: str, raw_from: Optional[str] = None) -> Path:
    """Fit the precision curves of profile ``path`` again from stored raw per-bin numbers; write ``out``.

    Raw rows come from ``meta.precision.raw`` of ``path``, else ``meta.kept_models.precision_raw``,
    else ``meta.precision.raw`` of ``raw_from`` (same bins and metric required). Every raw row
    used is stored in the output's ``meta.precision.raw``, so that it can be fitted again.
    """
    from repose_ros.core.profiles import Profiles

    prof = Profiles.load(path)
    pre = prof.meta.setdefault("precision", {})
    metric, bins, min_gt = pre.get("metric", "ap50_95"), pre.get("bins"), int(pre.get("min_gt", 10))
    sources: Dict[str, str] = {}
    raw: Dict[str, Any] = {}
    kept_raw = (prof.meta.get("kept_models") or {}).get("precision_raw") or {}
    other = Profiles.load(raw_from).meta.get("precision", {}) if raw_from else {}
    if other and (other.get("metric") != metric or other.get("bins") != bins):
        raise SystemExit(f"--raw-from {raw_from}: its metric/bins differ from {path}'s")
    for key in prof.model_keys:
        for label, table in ((path, pre.get("raw") or {}), (f"{path} (kept models)", kept_raw),
                             (str(raw_from), other.get("raw") or {})):
            if key in table:
                raw[key], sources[key] = table[key], label
                break
        else:
            raise SystemExit(f"--refit: no raw per-bin numbers for {key} (give --raw-from FILE)")
        fitted = fit_curve(raw[key], metric, min_gt, shape)
        prof.precision[key] = [(float(b), float(v)) for b, v in zip(bins, fitted)]
    pre["raw"] = raw
    pre["refit"] = {"date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                    "shape": shape, "min_gt": min_gt, "raw_sources": sources,
                    "note": "curves fitted again from the raw per-bin numbers, no detector run"}
    pre["curve_shape"] = shape
    prof.validate()
    return write_profile(prof, out)


def keep_models(prof, prev, prev_path: str) -> List[str]:
    """Copy ``prev``'s models that ``prof`` lacks into ``prof`` (in place), with their provenance.

    Latency, shape points, precision and (when measured at the same confidence) recall are kept
    as they are; ``meta.kept_models`` names them with the earlier run's date, command and
    precision data. Models are ordered by name and input size. Returns the kept keys.
    """
    from repose_ros.core.profiles import ModelSpec

    kept = [m for m in prev.models if m.key not in prof.model_keys]
    if not kept:
        return []
    same_recall = prof.recall and prev.recall and float(prof.recall["conf"]) == float(prev.recall["conf"])
    for m in kept:
        prof.latency_ms[m.key] = dict(prev.latency_ms[m.key])
        prof.precision[m.key] = [tuple(b) for b in prev.precision[m.key]]
        if m.key in prev.latency_shapes:
            prof.latency_shapes[m.key] = dict(prev.latency_shapes[m.key])
        if same_recall and prev.has_recall(m.key):
            prof.recall["bins"][m.key] = [list(b) for b in prev.recall["bins"][m.key]]
    prof.models = sorted(list(prof.models) + [ModelSpec(m.key, m.weights, m.imgsz) for m in kept],
                         key=lambda m: (m.name, m.imgsz))
    pm = prev.meta if isinstance(prev.meta, dict) else {}
    prev_raw = (pm.get("precision") or {}).get("raw") or {}
    prev_raw = {**((pm.get("kept_models") or {}).get("precision_raw") or {}), **prev_raw}
    prof.meta["kept_models"] = {
        "keys": [m.key for m in kept],
        "precision_raw": {m.key: prev_raw[m.key] for m in kept if m.key in prev_raw},
        "source": f"kept unchanged from {prev_path} (profile dated {pm.get('date')})",
        "command": pm.get("command"),
        "latency": {k: v for k, v in (pm.get("latency") or {}).items() if k != "per_model"},
        "latency_per_model": {m.key: (pm.get("latency") or {}).get("per_model", {}).get(m.key) for m in kept},
        "precision": {k: v for k, v in (pm.get("precision") or {}).items()
                      if k not in ("raw", "raw_by_data", "raw_pooled_by_weights")},
    }
    prof.validate()
    return [m.key for m in kept]


def makespan_frames(specs: Sequence[str], n_frames: int, seed: int) -> Tuple[str, List[np.ndarray]]:
    """Real frames for the makespan check: 4K collages of MOT17 when given, else the first data set's frames."""
    from repose_ros.datasets.load import load_dataset

    if not specs:
        raise SystemExit("--makespan-check needs annotated or real frames (--data)")
    spec = next((s for s in specs if s.startswith("mot17:")), specs[0])
    mosaic = "collage" if spec.startswith("mot17:") else "none"
    ds = load_dataset(spec, n_frames, mosaic, seed)
    return f"{spec} ({mosaic})", [f.load() for f in ds.frames]


def run_makespan_check(zoo, prof, specs: Sequence[str], args: argparse.Namespace, bar_enabled: bool = True
                       ) -> Dict[str, Any]:
    """Run RE-POSE with the new profile on real frames; the planner's predicted vs measured makespan."""
    from repose_ros.core.pipeline import RePose, RePoseConfig
    from repose_ros.profiling.latency import makespan_check

    budgets = _parse_list(args.makespan_budgets)
    label, frames = makespan_frames(specs, args.makespan_check, args.seed)
    coarse = next((m.key for m in prof.models if m.imgsz == 640), prof.models[0].key)
    rp = RePose(RePoseConfig(num_servers=4, coarse_model=coarse, partitioner="meanshift"), zoo=zoo, profiles=prof)
    bar: Any = _NoBar()
    if bar_enabled:
        from tqdm import tqdm
        bar = tqdm(total=len(frames) * len(budgets), desc="makespan check", unit="plan", file=sys.stderr)
    try:
        out = makespan_check(rp, frames, budgets, progress=bar.update)
    finally:
        bar.close()
    out.update(frames=label, servers=4, partitioner="meanshift", budgets_ms=budgets)
    return out


def format_makespan_check(check: Dict[str, Any]) -> str:
    """Table of the makespan check (one row per frame and budget) and the median absolute error."""
    lines = [f"makespan check on {check['frames']}, S={check['servers']}: planned vs measured slowest server",
             f"  {'frame':>5} {'budget':>7} {'blocks':>6} {'predicted':>10} {'measured':>9} {'error':>7}"]
    for r in check["rows"]:
        err = f"{100 * r['error']:+6.1f}%" if r["error"] is not None else "    -"
        lines.append(f"  {r['frame']:>5} {r['budget_ms']:>7.0f} {r['blocks']:>6} {r['predicted_ms']:>10.1f} "
                     f"{r['measured_ms']:>9.1f} {err:>7}")
    med = check.get("median_abs_error")
    lines.append(f"  median |error| {100 * med:.1f}% over {check['n']} plans" if med is not None
                 else "  no plan ran a block")
    return "\n".join(lines)


def main_profile(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``repose profile`` with command-line arguments ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.refit:
        out = refit_profile(args.refit, args.out, args.curve_shape, args.raw_from)
        print(f"repose profile: wrote {out} (precision curves fitted again, {args.curve_shape})", file=sys.stderr)
        return 0
    from repose_ros.core.keys import parse_key
    from repose_ros.core.profiles import ModelSpec, Profiles

    keys = _parse_list(args.models, str)
    if not keys:
        raise SystemExit("--models is empty")
    try:
        parsed = [parse_key(k) for k in keys]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    names = sorted({n for n, _ in parsed})
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 9)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    scales = _parse_list(args.scales) if args.scales else list(QUICK_SCALES if args.quick else DEFAULT_SCALES)
    if repeats < 1 or warmup < 0 or not scales or any(s <= 0 for s in scales):
        raise SystemExit("--repeats must be >= 1, --warmup >= 0, --scales positive")
    min_gt = args.min_gt if args.min_gt is not None else (2 if args.quick else 10)
    try:
        bounds = _parse_bins(args.bins)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if not 0.0 <= args.conf <= args.recall_conf <= 1.0:
        raise SystemExit(f"--recall-conf ({args.recall_conf}) must lie in [--conf ({args.conf}), 1]: the "
                         "recall is read off detections kept at --conf")
    rng = np.random.default_rng(args.seed)

    # annotated data
    specs = parse_data_specs(args.data)
    counts = _per_spec_counts(args.max_frames, len(specs), 2 if args.quick else 10)
    if args.latency_only:
        counts = [min(c, 3) for c in counts]
    data_sets = load_data_sets(specs, counts, args.min_visibility, args.seed, args.backend)
    samples = [s for _label, _desc, ss in data_sets for s in ss]
    if not specs and args.data == "auto":
        print("repose profile: no annotated data found (../shared/data/mot17_mini, ../shared/data/visdrone_people); "
              "measuring latency only", file=sys.stderr)

    prev_profile = Profiles.load(args.update) if args.update and Path(args.update).is_file() else None
    prev_placeholders = placeholder_keys(prev_profile) if prev_profile is not None else []
    missing_latency: List[str] = []
    if args.skip_latency:
        if args.latency_only:
            raise SystemExit("--skip-latency and --latency-only exclude each other")
        if prev_profile is None:
            raise SystemExit("--skip-latency needs --update FILE holding the latencies")
        missing_latency = [k for k in keys if k not in prev_profile.latency_ms or k in prev_placeholders]
        if missing_latency and not args.missing_latency_out:
            raise SystemExit(f"--skip-latency: {args.update} has no measured latency for {', '.join(missing_latency)}; "
                             "measure it first, drop those --models, or give --missing-latency-out FILE "
                             "(a scratch file outside config/) to get their precision with a placeholder latency")
    if args.missing_latency_out:
        if not args.skip_latency:
            raise SystemExit("--missing-latency-out only applies to --skip-latency runs")
        if _inside_config(Path(args.missing_latency_out)):
            raise SystemExit(f"--missing-latency-out {args.missing_latency_out}: a file with placeholder latencies "
                             "must not go into config/ (write it to a scratch folder)")
        if Path(args.missing_latency_out).expanduser().resolve() == Path(args.out).expanduser().resolve():
            raise SystemExit("--missing-latency-out must differ from --out")
    upscale_factors = (_parse_list(args.upscale_factors) if args.upscale_factors
                       else list(QUICK_UPSCALE_FACTORS if args.quick else DEFAULT_UPSCALE_FACTORS))
    upscale_sizes = [int(v) for v in _parse_list(args.upscale_sizes)]
    upscale_anchors = args.upscale_anchors if args.upscale_anchors is not None else (1 if args.quick else 3)
    precision_samples = [] if args.latency_only else samples
    if args.upscale_study:
        if not precision_samples:
            raise SystemExit("--upscale-study needs annotated data (--data) and no --latency-only")
        if not upscale_factors or min(upscale_factors) < 1 or not upscale_sizes or min(upscale_sizes) < 32:
            raise SystemExit("--upscale-factors must be >= 1 and --upscale-sizes >= 32")
        if len(names) > 1:
            raise SystemExit("--upscale-study uses one model name; give --models of one name")
    zoo, fake = _build_zoo(args, names)
    data_for_precision = [] if args.latency_only else data_sets
    n_upscale = 0
    if args.upscale_study:
        n_upscale = len(upscale_sizes) * len(upscale_factors) * upscale_anchors * len(precision_samples)
    from repose_ros.profiling.latency import ASPECTS, PORTRAIT, calls_per_key
    lat_calls = calls_per_key(keys, zoo, repeats, warmup, *((ASPECTS, PORTRAIT) if args.shapes else ((1.0,), ())))
    total = (0 if args.skip_latency else lat_calls) \
        + len(keys) * len(precision_samples) * len(scales) + n_upscale
    if args.no_progress:
        bar: Any = _NoBar()
    else:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="profile", unit="call", file=sys.stderr)
    t_start = time.perf_counter()
    upscale: Optional[Dict[str, Any]] = None
    evals_by_data: Dict[str, Dict[str, AreaBinEvaluator]] = {}
    try:
        if args.skip_latency:
            lat = prev_profile.meta.get("latency", {}).get("per_model", {})
        else:
            bar.set_description("latency")
            lat = measure_latency(zoo, keys, samples, repeats, warmup, rng, bar, shapes=args.shapes)
        if precision_samples:
            bar.set_description("precision")
            evals_by_data = measure_precision_by_data(zoo, keys, data_for_precision, scales, bounds, args.conf,
                                                      rng, bar, fake)
        if args.upscale_study:
            from repose_ros.cli.profile_upscale import run_upscale_study
            bar.set_description("upscale study")
            upscale = run_upscale_study(zoo, names[0], data_for_precision, upscale_sizes, upscale_factors,
                                        upscale_anchors, args.conf, args.recall_conf, args.upscale_small_area,
                                        args.upscale_min_gain, rng, bar, fake)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start

    # raw per-bin numbers: per key (all data sets together), per data set, pooled per weights file
    evals = {k: AreaBinEvaluator.pooled(list(v.values())) for k, v in evals_by_data.items()}
    raw = {k: ev.summary() for k, ev in evals.items()}
    raw_recall = {k: ev.recall_at(args.recall_conf) for k, ev in evals.items()}
    raw_by_data: Dict[str, Dict[str, List[List[Any]]]] = {}
    for k, per in evals_by_data.items():
        for label, ev in per.items():
            rec = ev.recall_at(args.recall_conf)
            raw_by_data.setdefault(label, {})[k] = [[r["area_max"], r["n_gt"], r[args.metric], rc]
                                                    for r, rc in zip(ev.summary(), rec)]
    curve, curve_recall = dict(raw), dict(raw_recall)
    pooled_raw: Dict[str, List[Dict[str, Any]]] = {}
    pooled_recall: Dict[str, List[Optional[float]]] = {}
    if raw and args.pool:
        groups: Dict[str, List[str]] = {}
        for k in keys:
            groups.setdefault(zoo.resolve(k)[0], []).append(k)
        for spec, members in groups.items():
            pev = AreaBinEvaluator.pooled([evals[k] for k in members])
            pooled_raw[spec], pooled_recall[spec] = pev.summary(), pev.recall_at(args.recall_conf)
            for k in members:
                curve[k], curve_recall[k] = pooled_raw[spec], pooled_recall[spec]

    # precision and recall tables
    precision: Dict[str, List[List[float]]] = {}
    recall_bins: Dict[str, List[List[float]]] = {}
    precision_source = "measured"
    earlier: Optional[Dict[str, Any]] = None
    kept_recall_conf: Optional[float] = None
    kept_cap: Optional[float] = None
    recall_source = ""
    if raw:
        for key in keys:
            try:
                fitted = fit_curve(curve[key], args.metric, min_gt, args.curve_shape)
            except ValueError as exc:
                print(f"repose profile: {key}: {exc} (use more --max-frames or --scales, or a lower "
                      "--min-gt); writing the generic prior for it", file=sys.stderr)
                precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                precision_source = "measured, except the generic prior (NOT measured) for " + key
                continue
            precision[key] = [[b, v] for b, v in zip(bounds, fitted)]
            try:
                rec = monotone_bins(curve_recall[key], [r["n_gt"] for r in curve[key]], min_gt)
                recall_bins[key] = [[b, v] for b, v in zip(bounds, rec)]
            except ValueError:
                pass
        recall_source = (f"measured by this run: recall at score >= {args.recall_conf:g}, IoU 0.5, per model-input "
                         "area bin (same data, inputs and bins as precision), made non-decreasing in area")
    sources = _load_sources([args.precision_from, args.update])
    if not raw:
        copied, prior = [], []
        used: List[str] = []
        for key in keys:
            src = next(((p, prof) for p, prof in sources if key in prof.precision), None)
            if src is None:
                precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                prior.append(key)
                continue
            precision[key] = [[b, p] for b, p in src[1].precision[key]]
            copied.append(key)
            if src[0] not in used:
                used.append(src[0])
            if src[1].has_recall(key):
                conf = float(src[1].recall["conf"])
                if kept_recall_conf is None or conf == kept_recall_conf:
                    kept_recall_conf = conf
                    recall_bins[key] = [[b, r] for b, r in src[1].recall["bins"][key]]
        parts = []
        if copied:
            dated = ", ".join(f"{p} (profile dated {prof.meta.get('date')})" for p, prof in sources if p in used)
            parts.append(f"kept from {dated}, not measured in this run, for {', '.join(copied)}")
            prev = next(prof for p, prof in sources if p == used[0])
            earlier = {k: prev.meta.get(k) for k in ("date", "host", "command", "duration_s", "notes")}
            if isinstance(prev.meta.get("precision"), dict):
                earlier.update(prev.meta["precision"])
        if prior:
            parts.append(f"generic prior, NOT measured (no annotated data), for {', '.join(prior)}")
        precision_source = "; ".join(parts)
        if recall_bins:
            recall_source = f"kept from {', '.join(used)} (not measured in this run)"
    if upscale is None:
        kept_cap = next((prof.upscale_cap for _p, prof in sources if prof.upscale_cap is not None), None)

    # latency table (optionally merged into an existing profile)
    prev_lat: Dict[str, Dict[str, float]] = prev_profile.latency_ms if prev_profile is not None else {}
    latency_ms: Dict[str, Dict[str, float]] = {}
    for key in keys:
        entry = {} if key in prev_placeholders else dict(prev_lat.get(key, {}))
        if not args.skip_latency:
            entry[str(args.server_id)] = lat[key]["median_ms"]
            entry.setdefault("default", lat[key]["median_ms"])
        latency_ms[key] = entry
    latency_shapes: Dict[str, Dict[str, Any]] = {}
    if prev_profile is not None:
        latency_shapes = {k: dict(v) for k, v in prev_profile.latency_shapes.items()
                          if k in keys and k not in prev_placeholders}
    if not args.skip_latency:
        for key in keys:
            if lat[key].get("points"):
                entry = latency_shapes.setdefault(key, {})
                entry[str(args.server_id)] = lat[key]["points"]
                entry.setdefault("default", lat[key]["points"])

    any_det = zoo.detector(keys[0])
    threads = getattr(any_det, "torch_threads", None)
    device = "fake" if args.backend == "fake" else any_det.device
    weights = {}
    for n, size in parsed:
        spec, _ = zoo.resolve(f"{n}@{size}")
        weights[f"{n}@{size}"] = spec
    if args.skip_latency:
        latency_meta = dict(prev_profile.meta.get("latency", {}))
        latency_meta.pop("placeholder_keys", None)
        latency_meta["kept_from"] = f"{args.update} (profile dated {prev_profile.meta.get('date')})"
        latency_meta.setdefault("source", "kept from an earlier run (see kept_from)")
    else:
        definition = ("median wall time of one block per detector call on the edge server's code path "
                      "(repose_ros.core.serving.run_block: pre-processing + forward + NMS), after warm-up; "
                      "latency_ms: a square block letterboxed to imgsz x imgsz")
        if args.shapes:
            definition += (f"; latency_shapes: blocks with long side imgsz at aspect ratios {list(ASPECTS)} "
                           f"(portrait too at {list(PORTRAIT)}), [tensor_h, tensor_w, median ms]")
        latency_meta = {
            "definition": definition,
            "server_id": str(args.server_id), "repeats": repeats, "warmup": warmup, "torch_threads": threads,
            "images": ("blocks cut at random positions of the data frames" if samples
                       else "blocks cut from a random-noise 1920x1080 image"),
            "per_model": {k: {f: v for f, v in m.items() if f != "points"} for k, m in lat.items()},
        }
    n_frames = len(precision_samples)
    meta: Dict[str, Any] = {
        "source": "measured by 'repose profile'",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "host": socket.gethostname(),
        "backend": args.backend,
        "device": device_description(device) if args.backend != "fake" else "fake detector (no network)",
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "versions": _versions(),
        "command": _command_line(argv),
        "duration_s": round(elapsed, 1),
        "latency": latency_meta,
        "precision": {
            "source": precision_source,
            "data": [d for _l, d, _s in data_for_precision] if raw else "none in this run",
            "data_sets": [lab for lab, _d, _s in data_for_precision] if raw else [],
            "frames": n_frames,
            "metric": args.metric,
            "curve_shape": args.curve_shape,
            "definition": "per area bin (model-input px^2; bin i covers (bound[i-1], bound[i]]): COCO-style "
                          "AP at IoU 0.5 (ap50), mean over IoU 0.5:0.95 (ap50_95), and recall/precision at "
                          "IoU 0.5 for score >= 0.25; frames rescaled by each of the scales and cut into "
                          "imgsz x imgsz inputs around random people; ground truth outside the bin, cut by "
                          "the input border, less visible than min_visibility or of MOT ignore classes 2,7,8,12, "
                          "VisDrone ignored regions (category 0) and score-0 persons are ignored. The profile "
                          "holds the metric fitted in area (curve_shape: unimodal = non-decreasing up to a peak, "
                          "then non-increasing; monotone = isotonic), bins with fewer than "
                          "min_gt boxes filled from neighbours; one curve per model key unless pooled "
                          "(then the keys of one weights file share the curve of all their inputs, "
                          "raw_pooled_by_weights).",
            "bins": [float(b) for b in bounds],
            "bins_rationale": BINS_RATIONALE,
            "scales": [float(s) for s in scales],
            "conf": args.conf, "min_gt": min_gt, "min_visibility": args.min_visibility,
            "pooled": bool(args.pool) and bool(raw),
            "raw": raw,
            "raw_by_data": {"columns": ["area_max", "n_gt", args.metric, f"recall@{args.recall_conf:g}"],
                            **raw_by_data},
            "raw_pooled_by_weights": pooled_raw,
        },
        "notes": args.note,
    }
    if not raw:
        for k in ("scales", "conf", "min_gt", "min_visibility", "raw", "raw_by_data", "raw_pooled_by_weights",
                  "pooled", "frames", "data_sets", "bins", "bins_rationale"):
            meta["precision"].pop(k, None)
        meta["precision"]["metric"] = (earlier or {}).get("metric", "unknown (kept)")
    if earlier is not None:
        meta["precision"]["earlier_measurement"] = earlier
    recall_section: Dict[str, Any] = {}
    if recall_bins:
        rconf = args.recall_conf if raw else kept_recall_conf
        recall_section = {"conf": float(rconf), "bins": recall_bins,
                          "definition": f"fraction of the (non-ignored) ground truth matched at IoU >= 0.5 by a "
                                        f"detection of score >= {rconf:g}, per model-input area bin (px^2, same "
                                        "bin rule as precision), non-decreasing in area"}
        meta["recall"] = {"source": recall_source}
        if raw:
            meta["recall"].update({"raw": raw_recall, "raw_pooled_by_weights": pooled_recall,
                                   "n_gt": {k: [r["n_gt"] for r in v] for k, v in raw.items()}})
    upscale_cap = kept_cap
    if upscale is not None:
        upscale_cap = upscale["cap"]
        meta["upscale"] = dict(upscale, source=f"measured by this run (--upscale-study): AP50:95 of the same source "
                                               f"objects at enlargement factors {upscale['factors']}, input sizes "
                                               f"{upscale['sizes']}")
    elif kept_cap is not None:
        src = next(p for p, prof in sources if prof.upscale_cap is not None)
        meta["upscale"] = {"source": f"upscale_cap kept from {src} (not measured in this run)"}
        prev_up = next(prof for _p, prof in sources if prof.upscale_cap is not None).meta.get("upscale")
        if isinstance(prev_up, dict):
            meta["upscale"].update({k: v for k, v in prev_up.items() if k != "source"})
            meta["upscale"]["source"] = f"kept from {src} ({prev_up.get('source', 'earlier run')})"
    if prev_profile is not None and args.skip_latency:
        for k, v in prev_profile.meta.items():      # sections of other tools (e.g. makespan checks) survive
            meta.setdefault(k, v)
    stride = prev_profile.stride if prev_profile is not None else 32

    def build(model_keys: Sequence[str], placeholders: Sequence[str]):
        lat_ms = {k: (latency_ms[k] if k not in placeholders else {"default": PLACEHOLDER_LATENCY_MS})
                  for k in model_keys}
        m = dict(meta, latency=dict(meta["latency"]))
        if placeholders:
            m["latency"]["placeholder_keys"] = list(placeholders)
            m["latency"]["placeholder_note"] = (f"latency_ms of {', '.join(placeholders)} is a "
                                                f"{PLACEHOLDER_LATENCY_MS:g} ms PLACEHOLDER, NOT measured: measure "
                                                "it before use (repose profile --latency-only --update THIS_FILE)")
        rec = dict(recall_section, bins={k: v for k, v in recall_section.get("bins", {}).items()
                                         if k in model_keys}) if recall_section else {}
        if rec and not rec["bins"]:
            rec = {}
        index = {k: i for i, k in enumerate(keys)}
        models = [ModelSpec(k, weights[k], parsed[index[k]][1]) for k in model_keys]
        return Profiles(models, lat_ms, {k: precision[k] for k in model_keys}, m,
                        latency_shapes={k: v for k, v in latency_shapes.items() if k in model_keys},
                        recall=rec, upscale_cap=upscale_cap, stride=stride)

    out_keys = [k for k in keys if k not in missing_latency]
    prof = build(out_keys or keys, [] if out_keys else missing_latency)
    if args.keep_models:
        if prev_profile is None:
            raise SystemExit("--keep-models needs --update FILE")
        keep_models(prof, prev_profile, args.update)
    if out_keys:
        path = write_profile(prof, args.out)
        print(f"repose profile: wrote {path} ({len(out_keys)} models, {elapsed:.0f} s)", file=sys.stderr)
    else:
        print(f"repose profile: no model has a measured latency in {args.update}; {args.out} not written",
              file=sys.stderr)
    if args.missing_latency_out:
        if missing_latency:
            side = write_profile(build(keys, missing_latency), args.missing_latency_out)
            print(f"repose profile: wrote {side} (all {len(keys)} models; PLACEHOLDER latency for "
                  f"{', '.join(missing_latency)})", file=sys.stderr)
        else:
            print(f"repose profile: every model has a latency; {args.missing_latency_out} not written",
                  file=sys.stderr)
    for key in keys:
        ms = "  (no latency)" if key in missing_latency else f"{latency_ms[key]['default']:9.1f} ms"
        rec_text = ""
        if key in recall_bins:
            rec_text = "   recall " + " ".join(f"{r:.2f}" for _, r in recall_bins[key])
        print(f"  {key:>16}: {ms}   precision " + " ".join(f"{p:.2f}" for _, p in precision[key]) + rec_text,
              file=sys.stderr)
    if args.makespan_check > 0 and out_keys:
        check = run_makespan_check(zoo, prof, specs, args, bar_enabled=not args.no_progress)
        prof.meta["makespan_check"] = check
        write_profile(prof, args.out)
        print(format_makespan_check(check), file=sys.stderr)
    if upscale is not None:
        from repose_ros.cli.profile_upscale import format_upscale_table
        print(format_upscale_table(upscale), file=sys.stderr)
    if args.plot:
        plot_profile(prof, lat, args.plot, raw or None, args.metric if args.metric in ("ap50", "ap50_95") else "ap50")
        print(f"repose profile: plot in {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_profile())
