"""Evaluation data sets by spec (``mot17:PATH``, ``visdrone:ROOT``, ``panda:...``, ``coco:...``, ``synthetic``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple


from repose_ros.datasets.annotated import EvalDataset
from repose_ros.datasets.visdrone import find_visdrone_split, visdrone_frames
from repose_ros.datasets.coco import PANDA_BOXES, coco_frames, panda_frames
from repose_ros.datasets.collage import mot_collage
from repose_ros.datasets.mot import TARGET_4K, find_mot_sequences, mot_frames, mot_mosaic_2x2
from repose_ros.datasets.synthetic import synthetic_frames


def parse_dataset_spec(spec: str) -> Tuple[str, List[str]]:
    """Split ``KIND:PATH[:PATH]`` into ``(kind, [paths])``; ValueError when malformed.

    Kinds: ``mot17:ROOT``, ``visdrone:ROOT`` (a VisDrone-DET split or a folder holding one, see
    :mod:`repose_ros.datasets.visdrone`), ``panda:IMAGES_ROOT:JSON``, ``coco:JSON:IMAGES``, ``synthetic``.
    """
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic":
        return kind, []
    if kind in ("mot17", "visdrone"):
        if not rest:
            raise ValueError(f"{kind} needs a folder: {kind}:PATH")
        return kind, [rest]
    if kind in ("panda", "coco"):
        parts = rest.rsplit(":", 1) if rest.count(":") >= 1 else []
        if len(parts) != 2 or not all(parts):
            want = "panda:IMAGES_ROOT:JSON" if kind == "panda" else "coco:JSON:IMAGES"
            raise ValueError(f"{kind} needs two paths: {want}, got {spec!r}")
        return kind, parts
    raise ValueError(f"unknown data set kind {kind!r} in {spec!r}; use mot17:PATH, visdrone:PATH, "
                     "panda:IMAGES_ROOT:JSON, coco:JSON:IMAGES or synthetic")


def default_mot_root() -> Optional[Path]:
    """Return ``../shared/data/mot17_mini`` (beside the checkout, or ``$REPOSE_SHARED_DATA``) if present."""
    roots = []
    env = os.environ.get("REPOSE_SHARED_DATA")
    if env:
        roots.append(Path(env) / "mot17_mini")
    roots.append(Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mot17_mini")
    roots.append(Path.cwd().parent / "shared" / "data" / "mot17_mini")
    for r in roots:
        if r.is_dir() and find_mot_sequences(r):
            return r
    return None


def load_dataset(spec: str, n_frames: int = 8, mosaic: str = "none", seed: int = 0, panda_box: str = "full",
                 min_visibility: float = 0.0, synthetic_size: Tuple[int, int] = TARGET_4K) -> EvalDataset:
    """Load a data set given as ``KIND:PATH`` (see :func:`parse_dataset_spec`).

    ``mosaic`` ("none", "2x2", "collage") applies to MOT data only.
    """
    kind, paths = parse_dataset_spec(spec)
    if mosaic not in ("none", "2x2", "collage"):
        raise ValueError(f"mosaic must be none, 2x2 or collage, got {mosaic!r}")
    if mosaic != "none" and kind != "mot17":
        raise ValueError(f"--mosaic {mosaic} needs mot17 data, not {kind}")
    if n_frames < 1:
        raise ValueError("need at least one frame")
    if kind == "synthetic":
        frames = synthetic_frames(n_frames, seed, synthetic_size)
        return EvalDataset("synthetic", f"{len(frames)} generated PANDA-like {synthetic_size[0]}x{synthetic_size[1]} "
                           f"scenes (seed {seed})", frames, fake=True,
                           notes=["FAKE DETECTOR: the figures come from a simulated detector on generated boxes "
                                  "(misses people smaller than its min_input_px at the model input, drops and "
                                  "jitters boxes); they exercise the machinery and say nothing about real accuracy"],
                           title="synthetic scenes, FAKE detector")
    if kind == "mot17":
        seqs = find_mot_sequences(paths[0])
        if not seqs:
            raise FileNotFoundError(f"no MOT sequences (gt/gt.txt + img1/) under {paths[0]}")
        names = ", ".join(s.name for s in seqs)
        if mosaic == "2x2":
            frames = mot_mosaic_2x2(seqs, n_frames, seed, min_visibility=min_visibility)
            desc = f"2x2 mosaics (3840x2160) of MOT frames from {names}"
        elif mosaic == "collage":
            frames = mot_collage(seqs, n_frames, seed, min_visibility=min_visibility)
            desc = f"PANDA-like collages (3840x2160) of MOT frames from {names}"
        else:
            frames = mot_frames(seqs, n_frames, min_visibility)
            desc = f"MOT frames from {names}"
        title = {"2x2": "MOT17 2x2 mosaics (4K)", "collage": "MOT17 PANDA-like collages (4K)"}.get(mosaic,
                                                                                                   "MOT17 frames")
        return EvalDataset(f"mot17:{paths[0]}" + (f" --mosaic {mosaic}" if mosaic != "none" else ""), desc, frames,
                           info={"sequences": [s.name for s in seqs], "mosaic": mosaic}, title=title)
    if kind == "panda":
        frames = panda_frames(paths[0], paths[1], n_frames, panda_box)
        return EvalDataset(spec, f"PANDA images resized to 4K ({PANDA_BOXES[panda_box]} boxes)", frames,
                           title=f"PANDA 4K ({PANDA_BOXES[panda_box]})")
    if kind == "visdrone":
        split = find_visdrone_split(paths[0])
        frames = visdrone_frames(split, n_frames)
        return EvalDataset(f"visdrone:{paths[0]}", f"VisDrone-DET images at native resolution from {split} "
                           "(persons: categories 1 and 2; ignore: category 0 and score-0 persons)", frames,
                           title="VisDrone-DET people (native resolution)",
                           notes=["still images have no previous frame: remix uses its uniform fall-back plan"],
                           info={"split": str(split)})
    frames = coco_frames(paths[0], paths[1], n_frames)
    return EvalDataset(spec, "COCO-format images", frames, title="COCO-format images",
                       notes=["still images have no previous frame: remix uses its uniform fall-back plan"])
