"""Annotated data of the profile: ``--data`` specs, the shared folders, and the frames of each set."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.datasets.mot import find_mot_sequences
from repose_ros.profiling.samples import FrameSample, load_mot_samples, load_visdrone_samples, synthetic_samples


def shared_roots() -> List[Path]:
    """Folders that may hold the shared data sets: ``$REPOSE_SHARED_DATA``, then ``../shared/data`` of the checkout."""
    roots = []
    env = os.environ.get("REPOSE_SHARED_DATA")
    if env:
        roots.append(Path(env))
    root = os.environ.get("REPOSE_ROOT")
    here = Path(root) if root else Path(__file__).resolve().parents[3]
    roots.append(here.parent / "shared" / "data")
    return roots


def default_data() -> Optional[str]:
    """``mot17:...,visdrone:...`` for the shared data folders that exist (None when neither does)."""
    from repose_ros.datasets.visdrone import find_visdrone_split
    found: Dict[str, str] = {}
    for base in shared_roots():
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

    ``auto`` becomes the shared data folders that exist (:func:`default_data`). SystemExit on an
    unknown kind or when ``synthetic`` is combined with real data.
    """
    out: List[str] = []
    for item in [x.strip() for x in str(text or "").split(",") if x.strip()]:
        if item == "auto":
            out.extend(parse_data_specs(default_data()))
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


def per_spec_counts(text: Optional[str], n_specs: int, default: int) -> List[int]:
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


def makespan_frames(specs: Sequence[str], n_frames: int, seed: int) -> Tuple[str, List[np.ndarray]]:
    """Real frames for the makespan check: 4K collages of MOT17 when given, else the first data set's frames."""
    from repose_ros.datasets.load import load_dataset

    if not specs:
        raise SystemExit("--makespan-check needs annotated or real frames (--data)")
    spec = next((s for s in specs if s.startswith("mot17:")), specs[0])
    mosaic = "collage" if spec.startswith("mot17:") else "none"
    ds = load_dataset(spec, n_frames, mosaic, seed)
    return f"{spec} ({mosaic})", [f.load() for f in ds.frames]
