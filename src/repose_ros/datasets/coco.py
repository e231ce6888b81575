"""PANDA and COCO annotations (JSON) as evaluation frames, resized to a target size."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from repose_ros.datasets.annotated import EvalFrame
from repose_ros.datasets.compose import resize_image, take_round_robin
from repose_ros.datasets.mot import TARGET_4K


PANDA_BOXES = {"full": "full body", "visible": "visible body", "head": "head"}
"""``--panda-box`` choices -> PANDA ``rects`` keys."""


def _read_reduced(path: Path, src_w: int, src_h: int, target: Tuple[int, int]) -> np.ndarray:
    """Read a (possibly gigapixel) image decoded at a reduced size, resized to fit ``target``."""
    import cv2

    factor = 1
    for f in (8, 4, 2):
        if src_w / f >= target[0] and src_h / f >= target[1]:
            factor = f
            break
    flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    img = cv2.imread(str(path), flag)
    if img is None:
        raise IOError(f"cannot read {path}")
    return img


def _fit(src_w: int, src_h: int, target: Tuple[int, int]) -> Tuple[int, int]:
    s = min(target[0] / float(src_w), target[1] / float(src_h))
    return max(1, int(round(src_w * s))), max(1, int(round(src_h * s)))


def panda_frames(images_root: str | os.PathLike, json_path: str | os.PathLike, n_frames: int,
                 box: str = "full", target: Tuple[int, int] = TARGET_4K) -> List[EvalFrame]:
    """PANDA images with person boxes (``box``: full, visible or head), resized to fit 4K.

    ``person`` objects give the ground truth; every other category of the JSON (``ignore``,
    ``crowd``, ``fake person``, ``people`` ...) is an ignore region. Coordinates in the JSON are
    normalised to [0, 1] (pixel coordinates are accepted too). Images of one scene folder form a
    sequence in name order.
    """
    if box not in PANDA_BOXES:
        raise ValueError(f"box must be one of {sorted(PANDA_BOXES)}, got {box!r}")
    key = PANDA_BOXES[box]
    root = Path(images_root).expanduser()
    with open(json_path, encoding="utf-8") as fh:
        data = json.load(fh)
    names = sorted(data)
    by_scene: Dict[str, List[str]] = {}
    for n in names:
        by_scene.setdefault(str(Path(n).parent), []).append(n)
    groups = []
    for scene, members in by_scene.items():
        items = []
        for i, name in enumerate(members):
            info = data[name]
            size = info.get("image size", {})
            sw, sh = int(size.get("width", 0)), int(size.get("height", 0))
            if sw <= 0 or sh <= 0:
                continue
            ow, oh = _fit(sw, sh, target)
            gts, igns = [], []
            for obj in info.get("objects list", []):
                cat = str(obj.get("category", "")).lower()
                rect = obj.get("rects", {}).get(key) if cat == "person" else obj.get("rect")
                if not rect:
                    continue
                x0, y0 = float(rect["tl"]["x"]), float(rect["tl"]["y"])
                x1, y1 = float(rect["br"]["x"]), float(rect["br"]["y"])
                if max(x0, y0, x1, y1) > 1.5:  # pixel coordinates
                    x0, x1, y0, y1 = x0 / sw, x1 / sw, y0 / sh, y1 / sh
                b = [min(x0, x1) * ow, min(y0, y1) * oh, max(x0, x1) * ow, max(y0, y1) * oh]
                (gts if cat == "person" else igns).append(b)
            path = root / name
            prev = root / members[i - 1] if i > 0 else None

            def load(path: Path = path, sw: int = sw, sh: int = sh, ow: int = ow, oh: int = oh) -> np.ndarray:
                return resize_image(_read_reduced(path, sw, sh, (ow, oh)), ow, oh)

            prev_size = data[members[i - 1]].get("image size", {}) if i > 0 else {}
            items.append(EvalFrame(
                name=name, sequence=scene, index=i, width=ow, height=oh,
                gt=np.asarray(gts, np.float32).reshape(-1, 4), ignore=np.asarray(igns, np.float32).reshape(-1, 4),
                load=load,
                load_history=(lambda p=prev, ps=prev_size, ow=ow, oh=oh: resize_image(
                    _read_reduced(p, int(ps.get("width", ow)), int(ps.get("height", oh)), (ow, oh)), ow, oh))
                if prev is not None else None))
        groups.append(items)
    return take_round_robin(groups, n_frames)


def coco_frames(json_path: str | os.PathLike, images_dir: str | os.PathLike, n_frames: int,
                category: str = "person") -> List[EvalFrame]:
    """Frames of a COCO-format JSON; boxes of ``category`` (all categories if absent) are evaluated.

    ``iscrowd`` annotations of the category become ignore regions. Still images have no previous
    frame (the REMIX-style baseline falls back to a uniform plan on them).
    """
    with open(json_path, encoding="utf-8") as fh:
        data = json.load(fh)
    cats = [c["id"] for c in data.get("categories", []) if str(c.get("name", "")).lower() == category]
    anns: Dict[int, List[Dict[str, Any]]] = {}
    for a in data.get("annotations", []):
        if cats and a.get("category_id") not in cats:
            continue
        anns.setdefault(int(a["image_id"]), []).append(a)
    root = Path(images_dir).expanduser()
    out = []
    for im in sorted(data.get("images", []), key=lambda d: d["id"])[:n_frames]:
        gts, igns = [], []
        for a in anns.get(int(im["id"]), []):
            x, y, w, h = (float(v) for v in a["bbox"])
            (igns if a.get("iscrowd") else gts).append([x, y, x + w, y + h])
        path = root / im["file_name"]

        def load(path: Path = path) -> np.ndarray:
            import cv2

            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise IOError(f"cannot read {path}")
            return img

        out.append(EvalFrame(name=str(im["file_name"]), sequence=str(im["file_name"]), index=0,
                             width=int(im.get("width", 0)), height=int(im.get("height", 0)),
                             gt=np.asarray(gts, np.float32).reshape(-1, 4),
                             ignore=np.asarray(igns, np.float32).reshape(-1, 4), load=load))
    return out
