"""Reader of the VisDrone-DET layout for person detection (evaluation and profiling share it).

Layout (the standard VisDrone2019-DET one)::

    <split>/images/<name>.jpg
    <split>/annotations/<name>.txt

:func:`find_visdrone_split` accepts the split folder itself or a folder that holds exactly one
split folder (e.g. ``visdrone_people/`` holding ``VisDrone2019-DET-train/``).

An annotation file holds one object per line, comma separated::

    bbox_left, bbox_top, bbox_width, bbox_height, score, object_category, truncation, occlusion

(pixels; truncation and occlusion may be absent, a trailing comma is tolerated, blank lines are
skipped). For a person detector (:func:`parse_visdrone_annotation`):

* **ground truth**: categories 1 (pedestrian) and 2 (people: sitting, riding ...) with a non-zero
  score;
* **ignore regions**: category 0 ("ignored region") and the person rows with score 0 (VisDrone's
  mark of a box to ignore): a detection on them counts neither as a hit nor as a false positive;
* everything else (bicycles, cars, ... and the score-0 rows of those categories, which are not
  people) is dropped; ``other_score0_as_ignore=True`` turns those score-0 rows into ignore regions
  as well.

A line that is not 6 to 8 numbers, or has a negative width or height, raises
:class:`VisDroneFormatError` naming the file and the line. Frames keep their native resolution.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

PERSON_CATEGORIES = (1, 2)
"""VisDrone categories that are people: 1 pedestrian, 2 people (not standing or walking)."""

IGNORE_CATEGORY = 0
"""VisDrone category of ignored regions."""

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")
STILLS_SCENE = "9999999"
"""Name prefix of VisDrone's unrelated still images (each one is its own scene)."""


class VisDroneFormatError(ValueError):
    """An annotation line is malformed (the message names the file and the line)."""


@dataclass
class VisDroneAnnotation:
    """Boxes of one annotation file: ``gt`` and ``ignore`` as ``(N, 4)`` float32 xyxy, frame pixels.

    ``n_persons_score0`` and ``n_others`` count the person rows with score 0 (part of ``ignore``)
    and the rows of the other categories (not people, dropped unless made ignore regions).
    """

    gt: np.ndarray
    ignore: np.ndarray
    n_persons_score0: int = 0
    n_others: int = 0


def parse_visdrone_annotation(text: str, source: str = "<annotation>",
                              other_score0_as_ignore: bool = False) -> VisDroneAnnotation:
    """Parse the text of one VisDrone-DET annotation file (see the module docstring)."""
    gt: List[List[float]] = []
    ignore: List[List[float]] = []
    n_score0 = n_others = 0
    for lineno, raw in enumerate(str(text).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if fields and fields[-1] == "":
            fields = fields[:-1]                        # trailing comma
        if not 6 <= len(fields) <= 8:
            raise VisDroneFormatError(f"{source}, line {lineno}: expected 6 to 8 comma-separated numbers "
                                      f"(left, top, width, height, score, category[, truncation, occlusion]), "
                                      f"got {len(fields)} in {line!r}")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise VisDroneFormatError(f"{source}, line {lineno}: not a number in {line!r}") from None
        if not all(np.isfinite(values)):
            raise VisDroneFormatError(f"{source}, line {lineno}: non-finite value in {line!r}")
        left, top, width, height, score, category = values[:6]
        if width < 0 or height < 0:
            raise VisDroneFormatError(f"{source}, line {lineno}: negative box size in {line!r}")
        if category != int(category):
            raise VisDroneFormatError(f"{source}, line {lineno}: category must be an integer, got {fields[5]!r}")
        box = [left, top, left + width, top + height]
        cat = int(category)
        if cat == IGNORE_CATEGORY:
            ignore.append(box)
        elif cat in PERSON_CATEGORIES:
            if score == 0:
                ignore.append(box)
                n_score0 += 1
            else:
                gt.append(box)
        else:
            n_others += 1
            if other_score0_as_ignore and score == 0:
                ignore.append(box)
    return VisDroneAnnotation(np.asarray(gt, np.float32).reshape(-1, 4),
                              np.asarray(ignore, np.float32).reshape(-1, 4), n_score0, n_others)


def read_visdrone_annotation(path: str | os.PathLike, other_score0_as_ignore: bool = False) -> VisDroneAnnotation:
    """Read one annotation file (:func:`parse_visdrone_annotation`); FileNotFoundError when absent."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"VisDrone annotation file {p} not found")
    text = p.read_text(encoding="utf-8", errors="replace")
    return parse_visdrone_annotation(text, str(p), other_score0_as_ignore)


def _is_split(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "annotations").is_dir()


def find_visdrone_split(root: str | os.PathLike) -> Path:
    """Return the split folder (holding ``images/`` and ``annotations/``) at or directly under ``root``.

    FileNotFoundError when there is none; ValueError when ``root`` holds several (give one).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"VisDrone folder {base} not found")
    if _is_split(base):
        return base
    splits = sorted(d for d in base.iterdir() if d.is_dir() and _is_split(d))
    if not splits:
        raise FileNotFoundError(f"no VisDrone-DET split (images/ + annotations/) at or under {base}")
    if len(splits) > 1:
        raise ValueError(f"{base} holds several VisDrone-DET splits ({', '.join(d.name for d in splits)}); "
                         "give one of them")
    return splits[0]


def visdrone_scene(name: str) -> str:
    """Scene of an image name ``<scene>_<frame>_d_<index>``; each still of scene 9999999 is its own scene."""
    prefix = str(name).split("_", 1)[0]
    return str(name) if prefix == STILLS_SCENE else prefix


def _image_size(path: Path) -> Tuple[int, int]:
    """``(width, height)`` of an image, from its header when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        Image = None
    if Image is not None:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except OSError:
            pass
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f"cannot read {path}")
    return int(img.shape[1]), int(img.shape[0])


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f"cannot read {path}")
    return img


def list_visdrone_images(root: str | os.PathLike, order: str = "scenes") -> List[Path]:
    """Image paths of the split at ``root`` in a deterministic order.

    ``order="name"``: sorted by file name; ``"scenes"`` (default): round-robin over the scenes
    (:func:`visdrone_scene`, scenes in name order, images of a scene in name order), so that the
    first frames of a limited run come from different videos.
    """
    if order not in ("scenes", "name"):
        raise ValueError(f"order must be 'scenes' or 'name', got {order!r}")
    split = find_visdrone_split(root)
    images = sorted((p for p in (split / "images").iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_EXT), key=lambda p: p.name)
    if order == "name":
        return images
    groups: Dict[str, List[Path]] = {}
    for p in images:
        groups.setdefault(visdrone_scene(p.stem), []).append(p)
    queues = [groups[k] for k in sorted(groups)]
    out: List[Path] = []
    depth = 0
    while len(out) < len(images):
        for q in queues:
            if depth < len(q):
                out.append(q[depth])
        depth += 1
    return out


def visdrone_frames(root: str | os.PathLike, n_frames: Optional[int] = None, order: str = "scenes",
                    other_score0_as_ignore: bool = False) -> List[Any]:
    """Return the evaluation frames (:class:`repose_ros.datasets.annotated.EvalFrame`) of a VisDrone-DET split.

    Up to ``n_frames`` images (all when None) in the order of :func:`list_visdrone_images`, at
    native resolution, with the persons as ground truth and the ignore regions of
    :func:`parse_visdrone_annotation`. Every image needs its annotation file
    (``annotations/<stem>.txt``; FileNotFoundError naming it otherwise). Still images: no
    previous frame.
    """
    from repose_ros.datasets.annotated import EvalFrame

    if n_frames is not None and n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    split = find_visdrone_split(root)
    paths = list_visdrone_images(split, order)
    if n_frames is not None:
        paths = paths[:n_frames]
    out = []
    for path in paths:
        ann_path = split / "annotations" / f"{path.stem}.txt"
        if not ann_path.is_file():
            raise FileNotFoundError(f"VisDrone image {path} has no annotation file {ann_path}")
        ann = read_visdrone_annotation(ann_path, other_score0_as_ignore)
        w, h = _image_size(path)
        scene = visdrone_scene(path.stem)
        out.append(EvalFrame(name=path.stem, sequence=scene, index=0, width=w, height=h, gt=ann.gt,
                             ignore=ann.ignore, load=(lambda p=path: _read_image(p)),
                             info={"source": "visdrone", "path": str(path),
                                   "persons_score0": ann.n_persons_score0, "others": ann.n_others}))
    return out


def count_boxes(frames: Sequence[Any]) -> Dict[str, int]:
    """``{"frames", "persons", "ignore"}`` totals of a list of frames."""
    return {"frames": len(frames), "persons": int(sum(len(f.gt) for f in frames)),
            "ignore": int(sum(len(f.ignore) for f in frames))}
