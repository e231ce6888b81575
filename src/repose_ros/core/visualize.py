"""Annotated images: blocks with their model and server, and the detections (ROS-free)."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from repose_ros.core.detections import Detections

# One colour per server (BGR).
_COLOURS = [(255, 128, 0), (0, 128, 255), (255, 0, 255), (0, 255, 255), (128, 0, 255), (255, 255, 0)]


def annotate(frame: np.ndarray, blocks: Sequence[Tuple[Tuple[int, int, int, int], str, int]],
             detections: Detections, caption: str = "", max_width: int = 0) -> np.ndarray:
    """Return an annotated copy of ``frame``.

    ``blocks`` holds ``((x0, y0, x1, y1), model_key, server_id)`` per block; each block is drawn
    in its server's colour with its index, model and server. Detections are green boxes.
    With ``max_width`` > 0 the image is downscaled to at most that width first.
    """
    import cv2

    scale = min(1.0, max_width / frame.shape[1]) if max_width > 0 else 1.0
    img = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame.copy()
    thick = max(1, int(round(2 * img.shape[1] / 1920)))
    font = 0.45 * max(1.0, img.shape[1] / 1920)
    for i, (rect, model, server) in enumerate(blocks):
        c = _COLOURS[int(server) % len(_COLOURS)]
        x0, y0, x1, y1 = (int(v * scale) for v in rect)
        cv2.rectangle(img, (x0, y0), (x1, y1), c, thick + 1)
        cv2.putText(img, f"#{i} {model} s{server}", (x0 + 4, y0 + int(18 * font / 0.45)), cv2.FONT_HERSHEY_SIMPLEX,
                    font, c, thick, cv2.LINE_AA)
    for x0, y0, x1, y1 in (detections.xyxy * scale).astype(int):
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 230, 0), thick)
    if caption:
        cv2.putText(img, caption, (8, img.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, font * 1.3, (255, 255, 255),
                    thick + 1, cv2.LINE_AA)
    return img


def box_outline_segments(xyxy) -> np.ndarray:
    """Return the outlines of boxes as line segments: shape (8 N, 2), point pairs (start, end) per edge."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b.T
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    pts = []
    for k in range(4):
        (ax, ay), (bx, by) = corners[k], corners[(k + 1) % 4]
        pts.append(np.stack([ax, ay, bx, by], axis=1))
    # per box: 4 edges x (start, end)
    return np.stack(pts, axis=1).reshape(-1, 2) if len(b) else np.zeros((0, 2))
