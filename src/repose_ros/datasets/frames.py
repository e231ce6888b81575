"""Frames from image files, folders of images and videos, in order (plain Python and OpenCV)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


def iter_frames(inputs: List[str], max_frames: int = 0, stride: int = 1) -> Iterator[Tuple[str, int, np.ndarray]]:
    """Yield (source name, frame index, BGR frame) from image files, folders and videos."""
    import cv2

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT)
            if not files:
                raise FileNotFoundError(f"no images in folder {path}")
            yield from iter_frames([str(p) for p in files], max_frames, stride)
        elif not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        elif path.suffix.lower() in VIDEO_EXT:
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise IOError(f"cannot open video {path}")
            i = n = 0
            try:
                while True:
                    ok, frame = cap.read()
                    if not ok or (max_frames and n >= max_frames):
                        break
                    if i % stride == 0:
                        yield path.name, i, frame
                        n += 1
                    i += 1
            finally:
                cap.release()
        else:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise IOError(f"cannot read image {path}")
            yield path.name, 0, frame
