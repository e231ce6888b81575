"""Built-in demo input: 4K frames made from a real pedestrian clip, or generated scenes.

The clip is ``vtest.avi`` (768x576, people walking in a plaza) from Debian's ``opencv-doc``
package; tools/setup.sh puts it in ``.cache/demo``. Each 4K frame is a PANDA-like
composition: a row of small views of the clip along the top of the canvas (far away, small
people) and a few enlarged views lower down (near, large people), on a plain background,
so that the frame has empty regions and a wide spread of object sizes. Without the clip,
:func:`repose_ros.datasets.synthetic.blob_scenes` draws bright figures on a dark background
(for the ``fake`` back-end).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np

from repose_ros.datasets.synthetic import blob_scenes

CANVAS = (3840, 2160)

# (x, y, scale) of each view of the clip on the 3840x2160 canvas; the clip is 768x576.
_LAYOUT = [(0, 0, 0.9), (760, 40, 0.9), (1520, 0, 0.9), (2280, 40, 0.9), (3040, 20, 0.9),
           (150, 700, 1.6), (1700, 760, 1.9)]


def find_demo_clip(root: Optional[os.PathLike] = None) -> Optional[Path]:
    """Return the path of vtest.avi if it is available, else None."""
    here = Path(__file__).resolve()
    candidates = [Path(os.environ["REPOSE_DEMO_CLIP"])] if os.environ.get("REPOSE_DEMO_CLIP") else []
    if root is not None:
        candidates.append(Path(root) / ".cache" / "demo" / "vtest.avi")
    if os.environ.get("REPOSE_ROOT"):
        candidates.append(Path(os.environ["REPOSE_ROOT"]) / ".cache" / "demo" / "vtest.avi")
    candidates += [here.parents[3] / ".cache" / "demo" / "vtest.avi",
                   Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")]
    return next((p for p in candidates if p.is_file()), None)


def compose(views: List[np.ndarray], canvas=CANVAS, background: int = 96) -> np.ndarray:
    """Place clip frames on a canvas following the built-in layout."""
    import cv2

    w, h = canvas
    out = np.full((h, w, 3), background, np.uint8)
    for (x, y, s), view in zip(_LAYOUT, views):
        v = cv2.resize(view, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        vh, vw = min(v.shape[0], h - y), min(v.shape[1], w - x)
        out[y:y + vh, x:x + vw] = v[:vh, :vw]
    return out


def clip_frames(path: os.PathLike, count: int = 6, stride: int = 25) -> Iterator[np.ndarray]:
    """Yield ``count`` 4K demo frames composed from the clip (each view from a different time)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    try:
        for i in range(count):
            views = []
            for j in range(len(_LAYOUT)):
                cap.set(cv2.CAP_PROP_POS_FRAMES, (i * stride + j * 97) % total)
                ok, frame = cap.read()
                if not ok:
                    raise IOError(f"cannot read frame from {path}")
                views.append(frame)
            yield compose(views)
    finally:
        cap.release()


def demo_frames(count: int = 6, prefer_clip: bool = True) -> tuple:
    """Return (frames, description): the clip composition when available, else synthetic scenes."""
    clip = find_demo_clip() if prefer_clip else None
    if clip is not None:
        return list(clip_frames(clip, count)), f"{count} PANDA-like 4K compositions of {clip.name}"
    return list(blob_scenes(count)), f"{count} generated 4K scenes (no demo clip found)"
