"""One ``repose profile`` run: measure, fit, assemble and write a latency-precision profile.

:func:`run_profile` takes :class:`~repose_ros.profiling.options.ProfileOptions` (the command line
with its defaults resolved, :mod:`repose_ros.cli.profile`) and does the whole job in steps
(:class:`ProfileRun`): load the annotated data, check the options against an earlier profile
(``--update``), measure latency, precision and the optional upscale study, turn the raw per-bin
numbers into curves (or keep earlier ones), assemble the profile with its provenance (``meta``)
and write it.
"""
from __future__ import annotations

import datetime as _dt
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.evaluation.area_bins import AreaBinEvaluator
from repose_ros.profiling.samples import FrameSample
from repose_ros.profiling.data import load_data_sets
from repose_ros.profiling.fitting import PRIOR_PRECISION, fit_curve, monotone_bins
from repose_ros.profiling.machine import cpu_model, device_description, library_versions
from repose_ros.profiling.measure import (NoBar, build_zoo, format_makespan_check, measure_latency,
                                          measure_precision_by_data, run_makespan_check)
from repose_ros.profiling.options import ProfileOptions
from repose_ros.profiling.plot import plot_profile
from repose_ros.profiling.profile_file import (PLACEHOLDER_LATENCY_MS, inside_config, keep_models, load_sources,
                                               placeholder_keys, write_profile)

BINS_RATIONALE = ("log-spaced bounds, x2 in area (x1.41 in side) from 16 to 65536 model-input px^2 (4x4 to "
                  "256x256 px): the measured precision rises from 0 to its plateau over about 256..16384 px^2, "
                  "so x2 steps keep the step between neighbouring bins small where the planner's choice "
                  "depends on it, while every bin still holds enough ground truth (min_gt) from a few tens of "
                  "frames; below 16 px^2 nothing is detected, above 65536 px^2 precision is flat (last bin inf)")
PRECISION_DEFINITION = (
    "per area bin (model-input px^2; bin i covers (bound[i-1], bound[i]]): COCO-style "
    "AP at IoU 0.5 (ap50), mean over IoU 0.5:0.95 (ap50_95), and recall/precision at "
    "IoU 0.5 for score >= 0.25; frames rescaled by each of the scales and cut into "
    "imgsz x imgsz inputs around random people; ground truth outside the bin, cut by "
    "the input border, less visible than min_visibility or of MOT ignore classes 2,7,8,12, "
    "VisDrone ignored regions (category 0) and score-0 persons are ignored. The profile "
    "holds the metric fitted in area (curve_shape: unimodal = non-decreasing up to a peak, "
    "then non-increasing; monotone = isotonic), bins with fewer than "
    "min_gt boxes filled from neighbours; one curve per model key unless pooled "
    "(then the keys of one weights file share the curve of all their inputs, "
    "raw_pooled_by_weights).")
LATENCY_DEFINITION = ("median wall time of one block per detector call on the edge server's code path "
                      "(repose_ros.core.serving.run_block: pre-processing + forward + NMS), after warm-up; "
                      "latency_ms: a square block letterboxed to imgsz x imgsz")


def run_profile(options: ProfileOptions) -> int:
    """Measure and write the profile that ``options`` ask for; return the exit code (0)."""
    return ProfileRun(options).run()


def _say(text: str) -> None:
    print(text, file=sys.stderr)


class ProfileRun:
    """The state of one profile run; each step fills the attributes that the next ones read."""

    def __init__(self, options: ProfileOptions):
        self.o = options
        self.names = sorted({n for n, _ in options.parsed})
        self.rng = np.random.default_rng(options.seed)
        self.prev_profile = None
        self.prev_placeholders: List[str] = []
        self.missing_latency: List[str] = []
        self.upscale: Optional[Dict[str, Any]] = None
        self.evals_by_data: Dict[str, Dict[str, AreaBinEvaluator]] = {}
        self.precision: Dict[str, List[List[float]]] = {}
        self.recall_bins: Dict[str, List[List[float]]] = {}
        self.precision_source = "measured"
        self.recall_source = ""
        self.earlier: Optional[Dict[str, Any]] = None
        self.kept_recall_conf: Optional[float] = None

    def run(self) -> int:
        """Do every step; return 0."""
        self.load_data()
        self.check_update()
        self.measure()
        self.raw_tables()
        if self.raw:
            self.fit_tables()
        self.sources = load_sources([self.o.precision_from, self.o.update])
        if not self.raw:
            self.kept_tables()
        self.latency_tables()
        self.meta = self.profile_meta()
        self.write()
        return 0

    # ------------------------------------------------------------------ inputs

    def load_data(self) -> None:
        """Load the annotated data sets (a few frames only with ``latency_only``)."""
        o = self.o
        counts = [min(c, 3) for c in o.counts] if o.latency_only else list(o.counts)
        self.data_sets = load_data_sets(o.specs, counts, o.min_visibility, o.seed, o.backend)
        self.samples: List[FrameSample] = [s for _label, _desc, ss in self.data_sets for s in ss]
        if not o.specs and o.data_auto:
            _say("repose profile: no annotated data found (../shared/data/mot17_mini, "
                 "../shared/data/visdrone_people); measuring latency only")
        self.data_for_precision = [] if o.latency_only else self.data_sets
        self.precision_samples = [] if o.latency_only else self.samples

    def check_update(self) -> None:
        """Read ``--update FILE`` and check the options that depend on it and on the data (SystemExit)."""
        o = self.o
        from repose_ros.core.profiles import Profiles
        if o.update and Path(o.update).is_file():
            self.prev_profile = Profiles.load(o.update)
            self.prev_placeholders = placeholder_keys(self.prev_profile)
        if o.skip_latency:
            if o.latency_only:
                raise SystemExit("--skip-latency and --latency-only exclude each other")
            if self.prev_profile is None:
                raise SystemExit("--skip-latency needs --update FILE holding the latencies")
            self.missing_latency = [k for k in o.keys if k not in self.prev_profile.latency_ms
                                    or k in self.prev_placeholders]
            if self.missing_latency and not o.missing_latency_out:
                raise SystemExit(f"--skip-latency: {o.update} has no measured latency for "
                                 f"{', '.join(self.missing_latency)}; measure it first, drop those --models, or "
                                 "give --missing-latency-out FILE (a scratch file outside config/) to get their "
                                 "precision with a placeholder latency")
        if o.missing_latency_out:
            if not o.skip_latency:
                raise SystemExit("--missing-latency-out only applies to --skip-latency runs")
            if inside_config(Path(o.missing_latency_out)):
                raise SystemExit(f"--missing-latency-out {o.missing_latency_out}: a file with placeholder "
                                 "latencies must not go into config/ (write it to a scratch folder)")
            if Path(o.missing_latency_out).expanduser().resolve() == Path(o.out).expanduser().resolve():
                raise SystemExit("--missing-latency-out must differ from --out")
        if o.upscale_study:
            if not self.precision_samples:
                raise SystemExit("--upscale-study needs annotated data (--data) and no --latency-only")
            if not o.upscale_factors or min(o.upscale_factors) < 1 or not o.upscale_sizes \
                    or min(o.upscale_sizes) < 32:
                raise SystemExit("--upscale-factors must be >= 1 and --upscale-sizes >= 32")
            if len(self.names) > 1:
                raise SystemExit("--upscale-study uses one model name; give --models of one name")

    # ------------------------------------------------------------------ measurement

    def _bar(self):
        from repose_ros.profiling.latency import ASPECTS, PORTRAIT, calls_per_key
        o = self.o
        n_upscale = 0
        if o.upscale_study:
            n_upscale = len(o.upscale_sizes) * len(o.upscale_factors) * o.upscale_anchors * len(self.precision_samples)
        lat_calls = calls_per_key(o.keys, self.zoo, o.repeats, o.warmup,
                                  *((ASPECTS, PORTRAIT) if o.shapes else ((1.0,), ())))
        total = (0 if o.skip_latency else lat_calls) \
            + len(o.keys) * len(self.precision_samples) * len(o.scales) + n_upscale
        if not o.progress:
            return NoBar()
        from tqdm import tqdm
        return tqdm(total=total, desc="profile", unit="call", file=sys.stderr)

    def measure(self) -> None:
        """Build the zoo and measure latency, precision and the upscale study (progress bar over all calls)."""
        o = self.o
        self.zoo, self.fake = build_zoo(self.names, o.backend, o.weights, o.device, o.class_map, o.threads, o.seed)
        bar = self._bar()
        t_start = time.perf_counter()
        try:
            if o.skip_latency:
                self.lat = self.prev_profile.meta.get("latency", {}).get("per_model", {})
            else:
                bar.set_description("latency")
                self.lat = measure_latency(self.zoo, o.keys, self.samples, o.repeats, o.warmup, self.rng, bar,
                                           shapes=o.shapes)
            if self.precision_samples:
                bar.set_description("precision")
                self.evals_by_data = measure_precision_by_data(self.zoo, o.keys, self.data_for_precision, o.scales,
                                                               o.bounds, o.conf, self.rng, bar, self.fake)
            if o.upscale_study:
                from repose_ros.profiling.upscale import run_upscale_study
                bar.set_description("upscale study")
                self.upscale = run_upscale_study(self.zoo, self.names[0], self.data_for_precision, o.upscale_sizes,
                                                 o.upscale_factors, o.upscale_anchors, o.conf, o.recall_conf,
                                                 o.upscale_small_area, o.upscale_min_gain, self.rng, bar, self.fake)
        finally:
            bar.close()
        self.elapsed = time.perf_counter() - t_start

    # ------------------------------------------------------------------ tables

    def raw_tables(self) -> None:
        """Raw per-bin numbers: per key (data sets together), per data set, pooled per weights file."""
        o = self.o
        evals = {k: AreaBinEvaluator.pooled(list(v.values())) for k, v in self.evals_by_data.items()}
        self.raw = {k: ev.summary() for k, ev in evals.items()}
        self.raw_recall = {k: ev.recall_at(o.recall_conf) for k, ev in evals.items()}
        self.raw_by_data: Dict[str, Dict[str, List[List[Any]]]] = {}
        for k, per in self.evals_by_data.items():
            for label, ev in per.items():
                rec = ev.recall_at(o.recall_conf)
                self.raw_by_data.setdefault(label, {})[k] = [[r["area_max"], r["n_gt"], r[o.metric], rc]
                                                             for r, rc in zip(ev.summary(), rec)]
        self.curve, self.curve_recall = dict(self.raw), dict(self.raw_recall)
        self.pooled_raw: Dict[str, List[Dict[str, Any]]] = {}
        self.pooled_recall: Dict[str, List[Optional[float]]] = {}
        if self.raw and o.pool:
            groups: Dict[str, List[str]] = {}
            for k in o.keys:
                groups.setdefault(self.zoo.resolve(k)[0], []).append(k)
            for spec, members in groups.items():
                pev = AreaBinEvaluator.pooled([evals[k] for k in members])
                self.pooled_raw[spec], self.pooled_recall[spec] = pev.summary(), pev.recall_at(o.recall_conf)
                for k in members:
                    self.curve[k], self.curve_recall[k] = self.pooled_raw[spec], self.pooled_recall[spec]

    def fit_tables(self) -> None:
        """Precision and recall curves fitted to this run's raw numbers (the generic prior where too few)."""
        o = self.o
        for key in o.keys:
            try:
                fitted = fit_curve(self.curve[key], o.metric, o.min_gt, o.curve_shape)
            except ValueError as exc:
                _say(f"repose profile: {key}: {exc} (use more --max-frames or --scales, or a lower "
                     "--min-gt); writing the generic prior for it")
                self.precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                self.precision_source = "measured, except the generic prior (NOT measured) for " + key
                continue
            self.precision[key] = [[b, v] for b, v in zip(o.bounds, fitted)]
            try:
                rec = monotone_bins(self.curve_recall[key], [r["n_gt"] for r in self.curve[key]], o.min_gt)
                self.recall_bins[key] = [[b, v] for b, v in zip(o.bounds, rec)]
            except ValueError:
                pass
        self.recall_source = (f"measured by this run: recall at score >= {o.recall_conf:g}, IoU 0.5, per "
                              "model-input area bin (same data, inputs and bins as precision), made "
                              "non-decreasing in area")

    def kept_tables(self) -> None:
        """Without data: precision and recall from ``--precision-from`` / ``--update``, else the generic prior."""
        copied, prior, used = [], [], []
        for key in self.o.keys:
            src = next(((p, prof) for p, prof in self.sources if key in prof.precision), None)
            if src is None:
                self.precision[key] = [[b, p] for b, p in PRIOR_PRECISION]
                prior.append(key)
                continue
            self.precision[key] = [[b, p] for b, p in src[1].precision[key]]
            copied.append(key)
            if src[0] not in used:
                used.append(src[0])
            if src[1].has_recall(key):
                conf = float(src[1].recall["conf"])
                if self.kept_recall_conf is None or conf == self.kept_recall_conf:
                    self.kept_recall_conf = conf
                    self.recall_bins[key] = [[b, r] for b, r in src[1].recall["bins"][key]]
        parts = []
        if copied:
            dated = ", ".join(f"{p} (profile dated {prof.meta.get('date')})" for p, prof in self.sources if p in used)
            parts.append(f"kept from {dated}, not measured in this run, for {', '.join(copied)}")
            prev = next(prof for p, prof in self.sources if p == used[0])
            self.earlier = {k: prev.meta.get(k) for k in ("date", "host", "command", "duration_s", "notes")}
            if isinstance(prev.meta.get("precision"), dict):
                self.earlier.update(prev.meta["precision"])
        if prior:
            parts.append(f"generic prior, NOT measured (no annotated data), for {', '.join(prior)}")
        self.precision_source = "; ".join(parts)
        if self.recall_bins:
            self.recall_source = f"kept from {', '.join(used)} (not measured in this run)"

    def latency_tables(self) -> None:
        """``latency_ms`` and ``latency_shapes``, merged into those of ``--update FILE`` when given."""
        o, prev = self.o, self.prev_profile
        prev_lat: Dict[str, Dict[str, float]] = prev.latency_ms if prev is not None else {}
        self.latency_ms: Dict[str, Dict[str, float]] = {}
        for key in o.keys:
            entry = {} if key in self.prev_placeholders else dict(prev_lat.get(key, {}))
            if not o.skip_latency:
                entry[str(o.server_id)] = self.lat[key]["median_ms"]
                entry.setdefault("default", self.lat[key]["median_ms"])
            self.latency_ms[key] = entry
        self.latency_shapes: Dict[str, Dict[str, Any]] = {}
        if prev is not None:
            self.latency_shapes = {k: dict(v) for k, v in prev.latency_shapes.items()
                                   if k in o.keys and k not in self.prev_placeholders}
        if not o.skip_latency:
            for key in o.keys:
                if self.lat[key].get("points"):
                    entry = self.latency_shapes.setdefault(key, {})
                    entry[str(o.server_id)] = self.lat[key]["points"]
                    entry.setdefault("default", self.lat[key]["points"])

    # ------------------------------------------------------------------ provenance

    def latency_meta(self, threads: Optional[int]) -> Dict[str, Any]:
        """``meta.latency``: how this run measured latency, or where the kept latencies came from."""
        o = self.o
        if o.skip_latency:
            out = dict(self.prev_profile.meta.get("latency", {}))
            out.pop("placeholder_keys", None)
            out["kept_from"] = f"{o.update} (profile dated {self.prev_profile.meta.get('date')})"
            out.setdefault("source", "kept from an earlier run (see kept_from)")
            return out
        from repose_ros.profiling.latency import ASPECTS, PORTRAIT
        definition = LATENCY_DEFINITION
        if o.shapes:
            definition += (f"; latency_shapes: blocks with long side imgsz at aspect ratios {list(ASPECTS)} "
                           f"(portrait too at {list(PORTRAIT)}), [tensor_h, tensor_w, median ms]")
        return {
            "definition": definition,
            "server_id": str(o.server_id), "repeats": o.repeats, "warmup": o.warmup, "torch_threads": threads,
            "images": ("blocks cut at random positions of the data frames" if self.samples
                       else "blocks cut from a random-noise 1920x1080 image"),
            "per_model": {k: {f: v for f, v in m.items() if f != "points"} for k, m in self.lat.items()},
        }

    def precision_meta(self) -> Dict[str, Any]:
        """``meta.precision``: data, metric, bins and raw numbers (or what was kept without data)."""
        o, raw = self.o, self.raw
        out: Dict[str, Any] = {
            "source": self.precision_source,
            "data": [d for _l, d, _s in self.data_for_precision] if raw else "none in this run",
            "data_sets": [lab for lab, _d, _s in self.data_for_precision] if raw else [],
            "frames": len(self.precision_samples),
            "metric": o.metric,
            "curve_shape": o.curve_shape,
            "definition": PRECISION_DEFINITION,
            "bins": [float(b) for b in o.bounds],
            "bins_rationale": BINS_RATIONALE,
            "scales": [float(s) for s in o.scales],
            "conf": o.conf, "min_gt": o.min_gt, "min_visibility": o.min_visibility,
            "pooled": bool(o.pool) and bool(raw),
            "raw": raw,
            "raw_by_data": {"columns": ["area_max", "n_gt", o.metric, f"recall@{o.recall_conf:g}"],
                            **self.raw_by_data},
            "raw_pooled_by_weights": self.pooled_raw,
        }
        if not raw:
            for k in ("scales", "conf", "min_gt", "min_visibility", "raw", "raw_by_data", "raw_pooled_by_weights",
                      "pooled", "frames", "data_sets", "bins", "bins_rationale"):
                out.pop(k, None)
            out["metric"] = (self.earlier or {}).get("metric", "unknown (kept)")
        if self.earlier is not None:
            out["earlier_measurement"] = self.earlier
        return out

    def recall_section(self) -> Dict[str, Any]:
        """Return the profile's ``recall`` section (empty when no key has a recall curve)."""
        if not self.recall_bins:
            return {}
        rconf = self.o.recall_conf if self.raw else self.kept_recall_conf
        return {"conf": float(rconf), "bins": self.recall_bins,
                "definition": f"fraction of the (non-ignored) ground truth matched at IoU >= 0.5 by a "
                              f"detection of score >= {rconf:g}, per model-input area bin (px^2, same "
                              "bin rule as precision), non-decreasing in area"}

    def upscale_meta(self) -> Tuple[Optional[float], Optional[Dict[str, Any]]]:
        """``(upscale_cap, meta.upscale)``: measured by this run, kept from an earlier profile, or none."""
        up = self.upscale
        if up is not None:
            return up["cap"], dict(up, source=f"measured by this run (--upscale-study): AP50:95 of the same source "
                                              f"objects at enlargement factors {up['factors']}, input sizes "
                                              f"{up['sizes']}")
        src = next(((p, prof) for p, prof in self.sources if prof.upscale_cap is not None), None)
        if src is None:
            return None, None
        meta: Dict[str, Any] = {"source": f"upscale_cap kept from {src[0]} (not measured in this run)"}
        prev_up = src[1].meta.get("upscale")
        if isinstance(prev_up, dict):
            meta.update({k: v for k, v in prev_up.items() if k != "source"})
            meta["source"] = f"kept from {src[0]} ({prev_up.get('source', 'earlier run')})"
        return src[1].upscale_cap, meta

    def upscale_gain_section(self) -> Dict[str, Any]:
        """Return ``upscale_gain``: from this run's upscale study, kept from an earlier profile, or none (``{}``)."""
        if self.upscale is not None:
            gain = self.upscale.get("gain") or {}
            return dict(gain, source="measured by this run (--upscale-study)") if gain else {}
        src = next(((p, prof) for p, prof in self.sources if prof.upscale_gain), None)
        if src is None:
            return {}
        gain = src[1].upscale_gain
        return dict(gain, source=f"kept from {src[0]} ({gain.get('source', 'earlier run')})")

    def profile_meta(self) -> Dict[str, Any]:
        """Return the profile's ``meta``: machine, versions, command, and how each section was obtained."""
        o = self.o
        any_det = self.zoo.detector(o.keys[0])
        threads = getattr(any_det, "torch_threads", None)
        device = "fake" if o.backend == "fake" else any_det.device
        meta: Dict[str, Any] = {
            "source": "measured by 'repose profile'",
            "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "host": socket.gethostname(),
            "backend": o.backend,
            "device": device_description(device) if o.backend != "fake" else "fake detector (no network)",
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": threads,
            "versions": library_versions(),
            "command": o.command,
            "duration_s": round(self.elapsed, 1),
            "latency": self.latency_meta(threads),
            "precision": self.precision_meta(),
            "notes": o.note,
        }
        if self.recall_bins:
            meta["recall"] = {"source": self.recall_source}
            if self.raw:
                meta["recall"].update({"raw": self.raw_recall, "raw_pooled_by_weights": self.pooled_recall,
                                       "n_gt": {k: [r["n_gt"] for r in v] for k, v in self.raw.items()}})
        self.upscale_cap, upscale = self.upscale_meta()
        if upscale is not None:
            meta["upscale"] = upscale
        if self.prev_profile is not None and o.skip_latency:
            for k, v in self.prev_profile.meta.items():      # sections of other tools (e.g. makespan checks) survive
                meta.setdefault(k, v)
        return meta

    # ------------------------------------------------------------------ output

    def build(self, model_keys: Sequence[str], placeholders: Sequence[str]):
        """Return the :class:`~repose_ros.core.profiles.Profiles` of ``model_keys`` (``placeholders``: flagged)."""
        from repose_ros.core.profile_schema import ModelSpec
        from repose_ros.core.profiles import Profiles
        o = self.o
        lat_ms = {k: (self.latency_ms[k] if k not in placeholders else {"default": PLACEHOLDER_LATENCY_MS})
                  for k in model_keys}
        m = dict(self.meta, latency=dict(self.meta["latency"]))
        if placeholders:
            m["latency"]["placeholder_keys"] = list(placeholders)
            m["latency"]["placeholder_note"] = (f"latency_ms of {', '.join(placeholders)} is a "
                                                f"{PLACEHOLDER_LATENCY_MS:g} ms PLACEHOLDER, NOT measured: measure "
                                                "it before use (repose profile --latency-only --update THIS_FILE)")
        section = self.recall_section()
        rec = dict(section, bins={k: v for k, v in section["bins"].items() if k in model_keys}) if section else {}
        if rec and not rec["bins"]:
            rec = {}
        index = {k: i for i, k in enumerate(o.keys)}
        models = [ModelSpec(k, self.zoo.resolve(k)[0], o.parsed[index[k]][1]) for k in model_keys]
        stride = self.prev_profile.stride if self.prev_profile is not None else 32
        return Profiles(models, lat_ms, {k: self.precision[k] for k in model_keys}, m,
                        latency_shapes={k: v for k, v in self.latency_shapes.items() if k in model_keys},
                        recall=rec, upscale_cap=self.upscale_cap, stride=stride,
                        upscale_gain=self.upscale_gain_section())

    def write(self) -> None:
        """Write ``--out`` (and ``--missing-latency-out``), print the curves, run the makespan check, plot."""
        o = self.o
        out_keys = [k for k in o.keys if k not in self.missing_latency]
        prof = self.build(out_keys or o.keys, [] if out_keys else self.missing_latency)
        if o.keep_models:
            if self.prev_profile is None:
                raise SystemExit("--keep-models needs --update FILE")
            keep_models(prof, self.prev_profile, o.update)
        if out_keys:
            path = write_profile(prof, o.out)
            _say(f"repose profile: wrote {path} ({len(out_keys)} models, {self.elapsed:.0f} s)")
        else:
            _say(f"repose profile: no model has a measured latency in {o.update}; {o.out} not written")
        if o.missing_latency_out:
            if self.missing_latency:
                side = write_profile(self.build(o.keys, self.missing_latency), o.missing_latency_out)
                _say(f"repose profile: wrote {side} (all {len(o.keys)} models; PLACEHOLDER latency for "
                     f"{', '.join(self.missing_latency)})")
            else:
                _say(f"repose profile: every model has a latency; {o.missing_latency_out} not written")
        self.print_curves()
        if o.makespan_check > 0 and out_keys:
            check = run_makespan_check(self.zoo, prof, o.specs, o.makespan_check, o.makespan_budgets, o.seed,
                                       bar_enabled=o.progress)
            prof.meta["makespan_check"] = check
            write_profile(prof, o.out)
            _say(format_makespan_check(check))
        if self.upscale is not None:
            from repose_ros.profiling.upscale import format_upscale_table
            _say(format_upscale_table(self.upscale))
        if o.plot:
            plot_profile(prof, self.lat, o.plot, self.raw or None,
                         o.metric if o.metric in ("ap50", "ap50_95") else "ap50")
            _say(f"repose profile: plot in {o.plot}")

    def print_curves(self) -> None:
        """One line per key: latency, precision per bin and recall per bin."""
        for key in self.o.keys:
            ms = "  (no latency)" if key in self.missing_latency else f"{self.latency_ms[key]['default']:9.1f} ms"
            rec_text = ""
            if key in self.recall_bins:
                rec_text = "   recall " + " ".join(f"{r:.2f}" for _, r in self.recall_bins[key])
            _say(f"  {key:>16}: {ms}   precision " + " ".join(f"{p:.2f}" for _, p in self.precision[key])
                 + rec_text)
