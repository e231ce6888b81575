"""Image overlays: the blocks of a frame and its final detections as visualization_msgs/ImageMarker.

Two markers per frame on ``image_markers``, in the camera image's pixels and with the camera
image's header, so Foxglove's Image panel (and other ImageMarker viewers) draw them on the
camera topic itself: namespace ``blocks`` (one LINE_LIST with every block's outline, coloured by
edge server; left-out blocks grey) and namespace ``detections`` (one LINE_LIST, green). Each
replaces the previous one of its namespace (same id, ADD).
"""
from __future__ import annotations

from typing import Sequence, Tuple

from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import ImageMarker

from repose_ros.core.visualize import box_outline_segments

# colours per server (RGBA, 0..1); the same hues as the debug image
SERVER_COLOURS = ((1.0, 0.6, 0.0), (0.0, 0.6, 1.0), (1.0, 0.0, 0.8), (1.0, 1.0, 0.0), (0.6, 0.3, 1.0),
                  (0.0, 1.0, 1.0), (1.0, 0.3, 0.3), (0.5, 1.0, 0.5))
LEFT_OUT = (0.6, 0.6, 0.6)
DETECTION = (0.0, 1.0, 0.0)


def _colour(rgb, alpha: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


def line_list(header, ns: str, marker_id: int, xyxy, colours: Sequence[Tuple[float, float, float]],
              width: float) -> ImageMarker:
    """One LINE_LIST marker with the outline of every box; ``colours``: one RGB per box."""
    m = ImageMarker(header=header, ns=ns, id=int(marker_id), type=ImageMarker.LINE_LIST, action=ImageMarker.ADD,
                    scale=float(width), filled=0)
    m.outline_color = _colour(colours[0] if len(colours) else DETECTION)
    segs = box_outline_segments(xyxy)
    m.points = [Point(x=float(x), y=float(y), z=0.0) for x, y in segs]
    m.outline_colors = [_colour(colours[i // 8]) for i in range(len(segs))]
    return m


def frame_overlays(header, blocks, detections_xyxy, width: float = 3.0):
    """Return the two markers of a frame; ``blocks``: (xyxy, server id, or -1 for a left-out block) pairs."""
    block_colours = [LEFT_OUT if sid < 0 else SERVER_COLOURS[sid % len(SERVER_COLOURS)] for _, sid in blocks]
    return [line_list(header, "blocks", 0, [b for b, _ in blocks], block_colours, width),
            line_list(header, "detections", 1, detections_xyxy, [DETECTION] * len(detections_xyxy), width)]
