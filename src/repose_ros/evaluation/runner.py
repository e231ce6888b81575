"""Accuracy-latency evaluation of RE-POSE against its baselines (``repose eval``), ROS-free.

Four parts:

* **Metrics** (:class:`DetectionEvaluator`): COCO-style mAP50:95, mAP50, mAP75 and AP by object
  size (small < 32^2 <= medium < 96^2 <= large, frame pixels) computed by pycocotools. Ignore
  regions (ambiguous annotations) are COCO ``iscrowd`` boxes: a detection that overlaps one by
  at least the IoU threshold, measured as intersection over the *detection's* area, and that
  matches no real object counts neither as a hit nor as a false positive.
* **Data sets** (:func:`load_dataset`): ``mot17:PATH`` as frames, as 2x2 mosaics of four
  different 1080p frames (3840x2160, :func:`mot_mosaic_2x2`) or as PANDA-like collages
  (:func:`mot_collage`); ``visdrone:ROOT`` (VisDrone-DET people at native resolution,
  :mod:`repose_ros.datasets.visdrone`); ``panda:IMAGES_ROOT:JSON`` resized to 4K; ``coco:JSON:IMAGES``; and
  ``synthetic`` scenes for the fake detector. Every frame knows the previous frame of its
  sequence (for the REMIX-style baseline, which plans from earlier frames).
* **Methods** (:class:`MethodSpec`, :class:`MethodRunner`): full-frame inference at each input
  size, uniform grids with 30% overlap spread over the servers, SAHI (the PyPI library), a
  REMIX-style planner (:func:`remix_partition`), and RE-POSE with MeanShift only or RL-DCA.
* **Reporting**: terminal table, JSON, latency-accuracy plot and the goal checks of the issue.

Latency accounting is the same for every method that splits a frame, and it is measured, never
shared out: each server's blocks run through :mod:`repose_ros.core.serving` (one block per
detector call, as the edge detector node runs them) and every server is timed on its own.
``parallel_latency_ms`` of a frame is the coarse stage as deployed (RE-POSE only: one call on the
camera host, or the slowest coarse block when the coarse stage runs on the edge servers) +
partition + planning + the slowest server's measured time + fusion. ``latency_ms`` is the serial
compute time of all stages in this process. Full-frame inference and SAHI run on one device, as
users run them, so their parallel latency is their latency.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.blocks import Block, Rect, uniform_grid
from repose_ros.core.detections import Detections
from repose_ros.datasets.annotated import MOT_IGNORE_CLASSES, EvalDataset, EvalFrame

FAMILIES = ("full_frame", "uniform", "sahi", "remix", "meanshift", "greedy", "rl_dca")
"""Method families, in table order."""

PANDA_BOXES = {"full": "full body", "visible": "visible body", "head": "head"}
"""``--panda-box`` choices -> PANDA ``rects`` keys."""

AREA_LABELS = ("all", "small", "medium", "large")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")
TARGET_4K = (3840, 2160)


# =========================================================================== metrics


def _coco_api() -> Tuple[Any, Any]:
    """Return pycocotools' ``(COCO, COCOeval)`` (imported lazily)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ImportError("repose eval needs pycocotools (pip install pycocotools==2.0.11)") from exc
    return COCO, COCOeval


def _as_boxes(xyxy: Any) -> np.ndarray:
    """Return ``xyxy`` as a float64 ``(N, 4)`` array."""
    b = np.asarray(xyxy if xyxy is not None else np.zeros((0, 4)), dtype=np.float64)
    return b.reshape(-1, 4)


class DetectionEvaluator:
    """Accumulate images (ground truth, ignore regions, detections) and compute COCO metrics.

    ``max_dets`` caps the detections kept per image (highest scores first); the COCO default
    of 100 is too low for 4K crowds, so it defaults to 1000.
    """

    def __init__(self, max_dets: int = 1000):
        self.max_dets = int(max_dets)
        self._images: List[Dict[str, Any]] = []
        self._gts: List[Dict[str, Any]] = []
        self._dts: List[Dict[str, Any]] = []
        self._n_gt = 0

    @property
    def n_images(self) -> int:
        """Number of images added."""
        return len(self._images)

    @property
    def n_gt(self) -> int:
        """Number of (non-ignored) ground-truth boxes added."""
        return self._n_gt

    @property
    def n_det(self) -> int:
        """Number of detections added."""
        return len(self._dts)

    def add(self, gt: Any, det_xyxy: Any, det_scores: Any, ignore: Any = None,
            width: int = 0, height: int = 0) -> int:
        """Add one image: ground truth and ignore boxes (xyxy) and scored detections (xyxy).

        Returns the image id. Degenerate ground-truth boxes (zero width or height) are dropped.
        """
        image_id = len(self._images) + 1
        g, ig, d = _as_boxes(gt), _as_boxes(ignore), _as_boxes(det_xyxy)
        s = np.asarray(det_scores, dtype=np.float64).reshape(-1)
        if len(s) != len(d):
            raise ValueError(f"{len(d)} detection boxes but {len(s)} scores")
        self._images.append({"id": image_id, "width": int(width), "height": int(height)})
        for boxes, crowd in ((g, 0), (ig, 1)):
            for x0, y0, x1, y1 in boxes:
                w, h = float(x1 - x0), float(y1 - y0)
                if w <= 0 or h <= 0:
                    continue
                self._gts.append({"id": len(self._gts) + 1, "image_id": image_id, "category_id": 1,
                                  "bbox": [float(x0), float(y0), w, h], "area": w * h,
                                  "iscrowd": crowd, "ignore": crowd})
                self._n_gt += 1 - crowd
        order = np.argsort(-s, kind="stable")[:self.max_dets]
        for i in order:
            x0, y0, x1, y1 = d[i]
            w, h = float(max(x1 - x0, 0.0)), float(max(y1 - y0, 0.0))
            self._dts.append({"image_id": image_id, "category_id": 1, "bbox": [float(x0), float(y0), w, h],
                              "score": float(s[i])})
        return image_id

    def add_detections(self, gt: Any, dets: Detections, ignore: Any = None, width: int = 0,
                       height: int = 0) -> int:
        """Add one image with a :class:`Detections` result (classes are ignored: one class)."""
        return self.add(gt, dets.xyxy, dets.scores, ignore, width, height)

    def summary(self) -> Dict[str, Any]:
        """Return ``map50_95``, ``map50``, ``map75``, ``ap_small``, ``ap_medium``, ``ap_large``.

        Also ``n_images``, ``n_gt``, ``n_det``. An AP is None when no ground truth falls in its
        size range; with ground truth but no detection it is 0.0.
        """
        out: Dict[str, Any] = {"n_images": self.n_images, "n_gt": self.n_gt, "n_det": self.n_det}
        keys = ("map50_95", "map50", "map75", "ap_small", "ap_medium", "ap_large")
        if self.n_gt == 0:
            out.update({k: None for k in keys})
            return out
        COCO, COCOeval = _coco_api()
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            gt = COCO()
            gt.dataset = {"images": list(self._images), "annotations": list(self._gts),
                          "categories": [{"id": 1, "name": "person"}]}
            gt.createIndex()
            if not self._dts:
                has = self._area_has_gt()
                areas = ("all", "all", "all", "small", "medium", "large")
                out.update({k: (0.0 if has[a] else None) for k, a in zip(keys, areas)})
                return out
            dt = gt.loadRes([dict(d) for d in self._dts])
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = [im["id"] for im in self._images]
            ev.params.maxDets = [self.max_dets]
            ev.evaluate()
            ev.accumulate()
        prec = ev.eval["precision"]  # [T, R, K, A, M]
        iou_thrs = np.asarray(ev.params.iouThrs)

        def ap(area: str, iou: Optional[float] = None) -> Optional[float]:
            a = list(ev.params.areaRngLbl).index(area)
            p = prec[:, :, 0, a, -1]
            if iou is not None:
                p = p[int(np.argmin(np.abs(iou_thrs - iou)))]
            valid = p[p > -1]
            return float(valid.mean()) if valid.size else None

        out.update({"map50_95": ap("all"), "map50": ap("all", 0.5), "map75": ap("all", 0.75),
                    "ap_small": ap("small"), "ap_medium": ap("medium"), "ap_large": ap("large")})
        return out

    def _area_has_gt(self) -> Dict[str, bool]:
        areas = np.array([g["area"] for g in self._gts if not g["iscrowd"]], dtype=np.float64)
        return {"all": areas.size > 0, "small": bool((areas < 32 ** 2).any()),
                "medium": bool(((areas >= 32 ** 2) & (areas < 96 ** 2)).any()),
                "large": bool((areas >= 96 ** 2).any())}


def coco_metrics(images: Sequence[Tuple[Any, Any, Any, Any]], max_dets: int = 1000) -> Dict[str, Any]:
    """Return :meth:`DetectionEvaluator.summary` of ``[(gt_xyxy, det_xyxy, det_scores, ignore_xyxy)]``."""
    ev = DetectionEvaluator(max_dets)
    for gt, det, scores, ignore in images:
        ev.add(gt, det, scores, ignore)
    return ev.summary()


# =========================================================================== data sets


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


# ---------------------------------------------------------------------------- MOT


@dataclass
class MotSequence:
    """A MOT sequence: ground-truth rows and image paths in frame order."""

    name: str
    rows: np.ndarray
    images: List[Path]
    frame_ids: List[int]
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.images)

    def boxes(self, frame_id: int, min_visibility: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(gt, ignore)`` xyxy of ``frame_id``.

        Ground truth: ``conf == 1`` and ``class == 1`` with visibility >= ``min_visibility``;
        ignore: classes 2, 7, 8, 12 and pedestrians below the visibility threshold.
        """
        _, gt, ignore = self.tracks(frame_id, min_visibility)
        return gt, ignore

    def tracks(self, frame_id: int, min_visibility: float = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(track ids, gt xyxy, ignore xyxy)`` of ``frame_id`` (ground truth and ignore as :meth:`boxes`)."""
        r = self.rows[self.rows[:, 0] == frame_id] if self.rows.size else np.zeros((0, 9))
        if len(r) == 0:
            return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)
        xyxy = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
        ped = (r[:, 6] == 1) & (r[:, 7] == 1)
        vis = r[:, 8] if r.shape[1] > 8 else np.ones(len(r))
        gt = ped & (vis >= min_visibility)
        ign = np.isin(r[:, 7], MOT_IGNORE_CLASSES) | (ped & ~gt)
        return r[gt, 1].astype(np.int64), xyxy[gt].astype(np.float32), xyxy[ign].astype(np.float32)

    def all_boxes(self, frame_id: int) -> np.ndarray:
        """Return every annotated box of ``frame_id`` (any class, any flag)."""
        r = self.rows[self.rows[:, 0] == frame_id] if self.rows.size else np.zeros((0, 9))
        return np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1).reshape(-1, 4)

    def read(self, index: int) -> np.ndarray:
        """Read image ``index`` (0-based position in the sequence) as BGR."""
        import cv2

        img = cv2.imread(str(self.images[index]), cv2.IMREAD_COLOR)
        if img is None:
            raise IOError(f"cannot read {self.images[index]}")
        return img


def find_mot_sequences(root: str | os.PathLike) -> List[MotSequence]:
    """Load every MOT sequence (``gt/gt.txt`` + ``img1/``) under ``root`` or ``root/train``."""
    base = Path(root).expanduser()
    out: List[MotSequence] = []
    for folder in (base, base / "train"):
        if not folder.is_dir():
            continue
        for d in sorted(p for p in folder.iterdir() if p.is_dir()):
            gt, img_dir = d / "gt" / "gt.txt", d / "img1"
            if not gt.is_file() or not img_dir.is_dir():
                continue
            rows = np.loadtxt(gt, delimiter=",", ndmin=2, dtype=np.float64)
            if rows.size and rows.shape[1] < 8:
                raise ValueError(f"{gt}: expected at least 8 columns, got {rows.shape[1]}")
            imgs = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXT and p.stem.isdigit())
            if not imgs:
                continue
            size = _seqinfo_size(d)
            if size is None:
                import cv2

                probe = cv2.imread(str(imgs[0]), cv2.IMREAD_COLOR)
                if probe is None:
                    continue
                size = (probe.shape[1], probe.shape[0])
            out.append(MotSequence(d.name, rows, imgs, [int(p.stem) for p in imgs], size[0], size[1]))
    return out


def _seqinfo_size(seq_dir: Path) -> Optional[Tuple[int, int]]:
    from repose_ros.datasets.layouts import read_seqinfo

    return read_seqinfo(seq_dir)


def _take_round_robin(groups: Sequence[Sequence[Any]], n: int) -> List[Any]:
    """Take items of ``groups`` in turn (first of each, then second of each ...), up to ``n``."""
    out: List[Any] = []
    depth = 0
    while len(out) < n and any(depth < len(g) for g in groups):
        for g in groups:
            if depth < len(g) and len(out) < n:
                out.append(g[depth])
        depth += 1
    return out


def mot_frames(seqs: Sequence[MotSequence], n_frames: int, min_visibility: float = 0.0) -> List[EvalFrame]:
    """Frames of the sequences as they are (frame 2 onwards, so that each has a previous frame)."""
    groups = []
    for s in seqs:
        items = []
        for i in range(1 if len(s) > 1 else 0, len(s)):
            gt, ign = s.boxes(s.frame_ids[i], min_visibility)
            items.append(EvalFrame(
                name=f"{s.name}/{s.frame_ids[i]:06d}", sequence=s.name, index=i, width=s.width,
                height=s.height, gt=gt, ignore=ign, load=(lambda s=s, i=i: s.read(i)),
                load_history=(lambda s=s, i=i: s.read(i - 1)) if i > 0 else None))
        groups.append(items)
    return _take_round_robin(groups, n_frames)


def _transform(xyxy: np.ndarray, ox: float, oy: float, sx: float, sy: float, dx: float, dy: float) -> np.ndarray:
    """Map boxes: subtract the crop origin, scale, add the destination offset."""
    b = _as_boxes(xyxy).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - ox) * sx + dx
    b[:, [1, 3]] = (b[:, [1, 3]] - oy) * sy + dy
    return b


def _clip_visible(xyxy: np.ndarray, region: Tuple[float, float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to ``region``; return the clipped boxes and the fraction of each box kept."""
    x0, y0, x1, y1 = region
    b = _as_boxes(xyxy)
    c = b.copy()
    c[:, [0, 2]] = np.clip(c[:, [0, 2]], x0, x1)
    c[:, [1, 3]] = np.clip(c[:, [1, 3]], y0, y1)
    area = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    inside = np.prod(np.clip(c[:, 2:] - c[:, :2], 0, None), axis=1)
    return c, np.divide(inside, area, out=np.zeros_like(area), where=area > 0)


def _place_boxes(gt: np.ndarray, ignore: np.ndarray, crop: Tuple[int, int, int, int], sx: float, sy: float,
                 dx: float, dy: float, min_inside: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Move a source frame's boxes into a canvas tile; boxes mostly cut off become ignore regions."""
    x0, y0, x1, y1 = crop
    g, frac = _clip_visible(gt, crop)
    i, ifrac = _clip_visible(ignore, crop)
    keep = frac >= min_inside
    cut = (frac > 0) & ~keep
    gt_out = _transform(g[keep], x0, y0, sx, sy, dx, dy)
    ign_out = _transform(np.concatenate([g[cut], i[ifrac > 0]]), x0, y0, sx, sy, dx, dy)
    return gt_out.astype(np.float32), ign_out.astype(np.float32)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if img.shape[1] == w and img.shape[0] == h:
        return img
    interp = cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (int(w), int(h)), interpolation=interp)


def mot_mosaic_2x2(seqs: Sequence[MotSequence], n_frames: int, seed: int = 0,
                   tile: Tuple[int, int] = (1920, 1080), min_visibility: float = 0.0) -> List[EvalFrame]:
    """2x2 mosaics of four different frames (each resized to ``tile``) with their boxes shifted.

    A mosaic sequence takes the t-th frame of four sequences (distinct when there are at least
    four); consecutive t give consecutive mosaics, so each mosaic (from t = 2) has a previous
    one. Frames are taken round-robin over the mosaic sequences, then over t.
    """
    if not seqs:
        return []
    rng = np.random.default_rng(seed)
    tw, th = tile
    if len(seqs) >= 4:
        combos = [list(c) for c in itertools.combinations(range(len(seqs)), 4)]
        combos = [combos[i] for i in rng.permutation(len(combos))]
    else:
        combos = [list(rng.choice(len(seqs), size=4, replace=True)) for _ in range(4)]
    groups: List[List[EvalFrame]] = []
    for g, combo in enumerate(combos):
        order = [combo[i] for i in rng.permutation(4)]
        quads = [seqs[i] for i in order]
        length = min(len(s) for s in quads)

        def load(t: int, quads: List[MotSequence] = quads) -> np.ndarray:
            canvas = np.zeros((2 * th, 2 * tw, 3), np.uint8)
            for q, s in enumerate(quads):
                x, y = (q % 2) * tw, (q // 2) * th
                canvas[y:y + th, x:x + tw] = _resize(s.read(t), tw, th)
            return canvas

        items = []
        for t in range(1 if length > 1 else 0, length):
            gts, igns = [], []
            for q, s in enumerate(quads):
                gt, ign = s.boxes(s.frame_ids[t], min_visibility)
                sx, sy = tw / float(s.width), th / float(s.height)
                a, b = _place_boxes(gt, ign, (0, 0, s.width, s.height), sx, sy, (q % 2) * tw, (q // 2) * th)
                gts.append(a)
                igns.append(b)
            name = "+".join(f"{s.name}/{s.frame_ids[t]:06d}" for s in quads)
            items.append(EvalFrame(
                name=f"mosaic{g}:{name}", sequence=f"mosaic{g}", index=t, width=2 * tw, height=2 * th,
                gt=np.concatenate(gts), ignore=np.concatenate(igns), load=(lambda t=t, f=load: f(t)),
                load_history=(lambda t=t, f=load: f(t - 1)) if t > 0 else None,
                info={"sources": [s.name for s in quads]}))
        groups.append(items)
    return _take_round_robin(groups, n_frames)


# ---------------------------------------------------------------------------- collage


@dataclass(frozen=True)
class CollageTile:
    """A crop of a source sequence placed on the canvas: source crop, scale, destination."""

    seq: int
    crop: Tuple[int, int, int, int]
    scale: float
    x: int
    y: int
    w: int
    h: int


@dataclass
class CollageLayout:
    """Tiles of one collage sequence, the background fill, and layout statistics."""

    tiles: List[CollageTile]
    background: np.ndarray
    free_fraction: float
    grid_distance: float


COLLAGE_BANDS = (
    # (scale of a 1080-row frame, number of tiles, crop width fraction range, crop height fraction range)
    ((0.30, 0.38), 4, (1.0, 1.0), (1.0, 1.0)),
    ((0.52, 0.62), 3, (0.72, 0.9), (0.8, 0.92)),
    ((0.85, 0.98), 2, (0.55, 0.75), (0.66, 0.8)),
)
"""Bands of the collage from top to bottom: far (small) people at the top, near ones at the bottom."""

GRID_SPLITS = (2, 3, 4)
"""Regular grids whose lines no collage seam may lie on (within ``seam_tolerance`` pixels)."""


def _seam_distance(tiles: Sequence[CollageTile], canvas_w: int, canvas_h: int) -> float:
    """Smallest distance (px) of a tile edge to a line of a 2x2, 3x3 or 4x4 grid of the canvas."""
    lines_x = [canvas_w * k / n for n in GRID_SPLITS for k in range(1, n)]
    lines_y = [canvas_h * k / n for n in GRID_SPLITS for k in range(1, n)]
    best = math.inf
    for t in tiles:
        for e in (t.x, t.x + t.w):
            if 0 < e < canvas_w:
                best = min(best, min(abs(e - v) for v in lines_x))
        for e in (t.y, t.y + t.h):
            if 0 < e < canvas_h:
                best = min(best, min(abs(e - v) for v in lines_y))
    return best


def _best_crop(boxes: np.ndarray, src_w: int, src_h: int, cw: int, ch: int, rng: np.random.Generator
               ) -> Tuple[int, int, int, int]:
    """Return the ``cw x ch`` window of the source frame holding the most whole boxes."""
    if cw >= src_w and ch >= src_h:
        return 0, 0, src_w, src_h
    xs = np.unique(np.linspace(0, src_w - cw, 6).round().astype(int))
    ys = np.unique(np.linspace(0, src_h - ch, 6).round().astype(int))
    best, best_n = (0, 0, cw, ch), -1.0
    for x in xs:
        for y in ys:
            inside = ((boxes[:, 0] >= x) & (boxes[:, 2] <= x + cw) & (boxes[:, 1] >= y) & (boxes[:, 3] <= y + ch))
            n = float(inside.sum()) + float(rng.uniform(0, 0.5))  # random tie-break
            if n > best_n:
                best, best_n = (int(x), int(y), int(x + cw), int(y + ch)), n
    return best


def _background_patches(seqs: Sequence[MotSequence], rng: np.random.Generator, per_seq: int = 8,
                        margin: int = 24) -> List[np.ndarray]:
    """Crops of the sequences' first frames that hold no annotated box (any class) nearby."""
    patches = []
    for s in seqs:
        img = s.read(0)
        h, w = img.shape[:2]
        mask = np.zeros((h + 1, w + 1), np.int64)
        occ = np.zeros((h, w), np.uint8)
        for x0, y0, x1, y1 in s.all_boxes(s.frame_ids[0]):
            ya, yb = max(0, int(y0) - margin), min(h, int(y1) + margin)
            occ[ya:yb, max(0, int(x0) - margin):min(w, int(x1) + margin)] = 1
        mask[1:, 1:] = occ.cumsum(0).cumsum(1)
        got = 0
        for _ in range(400):
            pw = int(rng.uniform(0.12, 0.3) * w)
            ph = max(16, int(pw * rng.uniform(0.45, 0.7)))
            if pw >= w or ph >= h:
                continue
            x, y = int(rng.integers(0, w - pw)), int(rng.integers(0, h - ph))
            used = mask[y + ph, x + pw] - mask[y, x + pw] - mask[y + ph, x] + mask[y, x]
            if used == 0:
                patches.append(img[y:y + ph, x:x + pw].copy())
                got += 1
                if got >= per_seq:
                    break
    return patches


def _fill_background(patches: Sequence[np.ndarray], seqs: Sequence[MotSequence], canvas_w: int, canvas_h: int,
                     rng: np.random.Generator, blur_sigma: float = 2.5) -> np.ndarray:
    """Cover the canvas with people-free patches (jittered cells), blurred to hide small details.

    Cells are an 8x8 grid of the canvas with jittered sizes; ``blur_sigma`` is for a 2160-row
    canvas and scales with the canvas height.
    """
    import cv2

    blur_sigma = max(0.5, blur_sigma * canvas_h / 2160.0)

    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    if not patches:  # no person-free patch: a strongly blurred, dimmed frame
        base = _resize(seqs[0].read(0), canvas_w, canvas_h)
        return cv2.GaussianBlur(base, (0, 0), 25)
    cell_w, cell_h = max(8, canvas_w // 8), max(8, canvas_h // 8)
    y = 0
    while y < canvas_h:
        ch = int(cell_h * rng.uniform(0.8, 1.2))
        x = -int(rng.integers(0, cell_w // 2))
        while x < canvas_w:
            cw = int(cell_w * rng.uniform(0.8, 1.3))
            p = _resize(patches[int(rng.integers(len(patches)))], cw, ch)
            if rng.random() < 0.5:
                p = p[:, ::-1]
            xa, xb = max(x, 0), min(x + cw, canvas_w)
            yb = min(y + ch, canvas_h)
            canvas[y:yb, xa:xb] = p[:yb - y, xa - x:xb - x]
            x += cw
        y += ch
    return cv2.GaussianBlur(canvas, (0, 0), blur_sigma)


def collage_layout(seqs: Sequence[MotSequence], rng: np.random.Generator, canvas: Tuple[int, int] = TARGET_4K,
                   seam_tolerance: Optional[float] = None, min_free: float = 0.3, tries: int = 300,
                   bands: Sequence[Tuple[Any, ...]] = COLLAGE_BANDS) -> CollageLayout:
    """Draw a PANDA-like collage layout of MOT frames (see :func:`mot_collage`).

    Bands from top to bottom hold frames scaled so that people grow from the top of the canvas
    to the bottom (scales are relative to a frame of half the canvas height); tiles are placed
    with random gaps, redrawn until no tile edge lies within ``seam_tolerance`` pixels (default
    48 px on a 2160-row canvas, scaled) of a 2x2, 3x3 or 4x4 grid line and at least
    ``min_free`` of the canvas is outside every tile (that area shows people-free background
    patches). If no draw keeps that distance, the draw that comes
    closest is used (:attr:`CollageLayout.grid_distance` tells).
    """
    cw_, ch_ = canvas
    if seam_tolerance is None:
        seam_tolerance = 48.0 * ch_ / 2160.0
    ref = seqs[0]
    best: Optional[Tuple[float, List[CollageTile]]] = None
    for _ in range(tries):
        tiles: List[CollageTile] = []
        band_specs = []
        for (s_lo, s_hi), n, (fw_lo, fw_hi), (fh_lo, fh_hi) in bands:
            order = rng.permutation(len(seqs))
            chosen = [int(order[i % len(seqs)]) for i in range(n)]
            scale = rng.uniform(s_lo, s_hi)
            specs = []
            for si in chosen:
                s = seqs[si]
                f = scale * (ch_ / 2.0) / s.height * rng.uniform(0.95, 1.05)
                cwid = int(round(s.width * rng.uniform(fw_lo, fw_hi)))
                chgt = int(round(s.height * rng.uniform(fh_lo, fh_hi)))
                specs.append((si, f, cwid, chgt, int(round(cwid * f)), int(round(chgt * f))))
            band_specs.append(specs)
        heights = [max(sp[5] for sp in specs) for specs in band_specs]
        spare_y = ch_ - sum(heights)
        widths_ok = all(sum(sp[4] for sp in specs) < cw_ for specs in band_specs)
        if spare_y <= 0 or not widths_ok:
            continue
        gaps_y = rng.dirichlet(np.ones(len(heights) + 1)) * spare_y
        y = gaps_y[0]
        for bi, specs in enumerate(band_specs):
            spare_x = cw_ - sum(sp[4] for sp in specs)
            gaps_x = rng.dirichlet(np.ones(len(specs) + 1)) * spare_x
            x = gaps_x[0]
            for k, (si, f, cwid, chgt, tw, th) in enumerate(specs):
                ty = int(round(y + rng.uniform(0, heights[bi] - th)))
                # crop position is chosen once the geometry is accepted (below)
                tiles.append(CollageTile(si, (0, 0, cwid, chgt), float(f), int(round(x)), ty, tw, th))
                x += tw + gaps_x[k + 1]
            y += heights[bi] + gaps_y[bi + 1]
        covered = sum(t.w * t.h for t in tiles) / float(cw_ * ch_)
        dist = _seam_distance(tiles, cw_, ch_)
        if 1.0 - covered < min_free:
            continue
        if best is None or dist > best[0]:
            best = (dist, tiles)
        if dist >= seam_tolerance:
            break
    if best is None:
        raise ValueError("could not draw a collage layout; the bands do not fit the canvas")
    dist, tiles = best
    placed = []
    for t in tiles:
        s = seqs[t.seq]
        crop = _best_crop(s.boxes(s.frame_ids[0])[0], s.width, s.height, t.crop[2], t.crop[3], rng)
        placed.append(CollageTile(t.seq, crop, t.scale, t.x, t.y, t.w, t.h))
    tiles = placed
    background = _fill_background(_background_patches(seqs, rng), [ref], cw_, ch_, rng)
    free = 1.0 - sum(t.w * t.h for t in tiles) / float(cw_ * ch_)
    return CollageLayout(tiles, background, float(free), float(dist))


def _render_collage(layout: CollageLayout, seqs: Sequence[MotSequence], t: int) -> np.ndarray:
    canvas = layout.background.copy()
    for tile in layout.tiles:
        s = seqs[tile.seq]
        x0, y0, x1, y1 = tile.crop
        canvas[tile.y:tile.y + tile.h, tile.x:tile.x + tile.w] = _resize(s.read(t)[y0:y1, x0:x1], tile.w, tile.h)
    return canvas


def _collage_boxes(layout: CollageLayout, seqs: Sequence[MotSequence], t: int,
                   min_visibility: float) -> Tuple[np.ndarray, np.ndarray]:
    gts, igns = [np.zeros((0, 4), np.float32)], [np.zeros((0, 4), np.float32)]
    for tile in layout.tiles:
        s = seqs[tile.seq]
        gt, ign = s.boxes(s.frame_ids[t], min_visibility)
        sx = tile.w / float(tile.crop[2] - tile.crop[0])
        sy = tile.h / float(tile.crop[3] - tile.crop[1])
        a, b = _place_boxes(gt, ign, tile.crop, sx, sy, tile.x, tile.y)
        gts.append(a)
        igns.append(b)
    return np.concatenate(gts), np.concatenate(igns)


def mot_collage(seqs: Sequence[MotSequence], n_frames: int, seed: int = 0, canvas: Tuple[int, int] = TARGET_4K,
                min_visibility: float = 0.0, n_layouts: Optional[int] = None) -> List[EvalFrame]:
    """PANDA-like 4K collages of MOT frames, seeded and deterministic.

    Each collage sequence has its own layout (:func:`collage_layout`): frames scaled so that
    people grow from the top of the canvas to the bottom, placed so that no seam lies on a
    regular grid, at least 30% of the canvas free of people and filled with blurred crops of
    box-free regions of the frames. Its t-th collage shows the t-th frame of every tile's
    sequence, so consecutive collages are consecutive video frames. Boxes cut by a crop edge
    (less than half inside) become ignore regions.
    """
    if not seqs:
        return []
    n_layouts = n_layouts or max(1, n_frames)
    groups = []
    for g in range(n_layouts):
        rng = np.random.default_rng([int(seed), g])
        layout = collage_layout(seqs, rng, canvas)
        length = min(len(seqs[t.seq]) for t in layout.tiles)
        items = []
        for t in range(1 if length > 1 else 0, length):
            gt, ign = _collage_boxes(layout, seqs, t, min_visibility)
            items.append(EvalFrame(
                name=f"collage{g}/t{t + 1}", sequence=f"collage{g}", index=t, width=canvas[0], height=canvas[1],
                gt=gt, ignore=ign, load=(lambda t=t, lay=layout: _render_collage(lay, seqs, t)),
                load_history=(lambda t=t, lay=layout: _render_collage(lay, seqs, t - 1)) if t > 0 else None,
                info={"free_fraction": layout.free_fraction, "grid_distance": layout.grid_distance,
                      "tiles": len(layout.tiles)}))
        groups.append(items)
    return _take_round_robin(groups, n_frames)


# ---------------------------------------------------------------------------- VisDrone

from repose_ros.datasets.visdrone import find_visdrone_split, visdrone_frames  # noqa: E402

# ---------------------------------------------------------------------------- PANDA, COCO


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
                return _resize(_read_reduced(path, sw, sh, (ow, oh)), ow, oh)

            prev_size = data[members[i - 1]].get("image size", {}) if i > 0 else {}
            items.append(EvalFrame(
                name=name, sequence=scene, index=i, width=ow, height=oh,
                gt=np.asarray(gts, np.float32).reshape(-1, 4), ignore=np.asarray(igns, np.float32).reshape(-1, 4),
                load=load,
                load_history=(lambda p=prev, ps=prev_size, ow=ow, oh=oh: _resize(
                    _read_reduced(p, int(ps.get("width", ow)), int(ps.get("height", oh)), (ow, oh)), ow, oh))
                if prev is not None else None))
        groups.append(items)
    return _take_round_robin(groups, n_frames)


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


# ---------------------------------------------------------------------------- synthetic


def synthetic_frames(n_frames: int, seed: int = 0, size: Tuple[int, int] = TARGET_4K,
                     boxes: Tuple[int, int] = (60, 200), ignore_fraction: float = 0.03) -> List[EvalFrame]:
    """Generate PANDA-like scenes for the fake detector (grey images: a real network sees nothing).

    Each frame has a previous frame (the same people moved slightly); a few people are marked
    as ignore regions (the fake detector still reports them). Scores are random per person so
    that the ranking of detections matters.
    """
    from repose_ros.datasets.layouts import panda_like_layout

    w, h = size
    out = []
    for i in range(n_frames):
        rng = np.random.default_rng([int(seed), i])
        base = panda_like_layout(rng, w, h, n_boxes=int(rng.integers(boxes[0], boxes[1] + 1))).astype(np.float64)
        hgt = (base[:, 3] - base[:, 1])[:, None]
        prev = base + rng.normal(0.0, 0.05, base.shape) * hgt
        prev[:, [0, 2]] = np.clip(prev[:, [0, 2]], 0, w)
        prev[:, [1, 3]] = np.clip(prev[:, [1, 3]], 0, h)
        scores = rng.uniform(0.3, 1.0, len(base)).astype(np.float32)
        ign = rng.random(len(base)) < ignore_fraction
        ids = np.zeros(len(base), np.int32)
        out.append(EvalFrame(
            name=f"synthetic/{i:03d}", sequence=f"synthetic{i}", index=1, width=w, height=h,
            gt=base[~ign].astype(np.float32), ignore=base[ign].astype(np.float32),
            load=(lambda: np.full((h, w, 3), 114, np.uint8)),
            load_history=(lambda: np.full((h, w, 3), 114, np.uint8)),
            fake_gt=Detections(base.astype(np.float32), scores, ids),
            fake_history_gt=Detections(prev.astype(np.float32), scores, ids)))
    return out


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


# =========================================================================== methods


@dataclass(frozen=True)
class MethodSpec:
    """One method and setting; ``key`` is ``<family>@<setting>`` (e.g. ``rl_dca@2000``)."""

    family: str
    setting: str
    budget_ms: Optional[float] = None
    imgsz: Optional[int] = None
    grid: Optional[Tuple[int, int]] = None
    merge: Optional[str] = None

    @property
    def key(self) -> str:
        """Return ``<family>@<setting>``."""
        return f"{self.family}@{self.setting}"


def parse_grid_setting(text: str) -> Tuple[Tuple[int, int], int]:
    """Parse ``"RxC-IMGSZ"`` (e.g. ``"3x3-640"``) into ``((rows, cols), imgsz)``."""
    try:
        grid, _, size = str(text).strip().lower().partition("-")
        rows, cols = (int(v) for v in grid.split("x"))
        imgsz = int(size)
    except ValueError:
        raise ValueError(f"uniform setting {text!r} is not of the form RxC-IMGSZ (e.g. 3x3-640)") from None
    if rows < 1 or cols < 1 or imgsz < 32:
        raise ValueError(f"uniform setting {text!r}: rows, cols >= 1 and imgsz >= 32 needed")
    return (rows, cols), imgsz


SAHI_MERGES = {"greedynmm": ("GREEDYNMM", "IOS"), "nms": ("NMS", "IOU")}
"""SAHI post-processing settings: its default (greedy NMM, IOS 0.5) and NMS (IoU 0.5)."""


def build_methods(families: Sequence[str], full_sizes: Sequence[int], uniform: Sequence[str],
                  budgets: Sequence[float], sahi_merges: Sequence[str] = ("greedynmm", "nms"),
                  sahi_slice: int = 640) -> List[MethodSpec]:
    """Expand the selected families into method specs (one per setting)."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(FAMILIES)}")
    if any(b <= 0 for b in budgets):
        raise ValueError("budgets must be > 0 ms")
    out: List[MethodSpec] = []
    for fam in FAMILIES:
        if fam not in families:
            continue
        if fam == "full_frame":
            out += [MethodSpec(fam, str(int(s)), imgsz=int(s)) for s in full_sizes]
        elif fam == "uniform":
            for text in uniform:
                grid, imgsz = parse_grid_setting(text)
                out.append(MethodSpec(fam, f"{grid[0]}x{grid[1]}-{imgsz}", imgsz=imgsz, grid=grid))
        elif fam == "sahi":
            for m in sahi_merges:
                if m not in SAHI_MERGES:
                    raise ValueError(f"unknown SAHI merge {m!r}; choose from {sorted(SAHI_MERGES)}")
                out.append(MethodSpec(fam, f"{int(sahi_slice)}-{m}", imgsz=int(sahi_slice), merge=m))
        else:
            out += [MethodSpec(fam, f"{float(b):g}", budget_ms=float(b)) for b in budgets]
    return out


@dataclass
class FrameResult:
    """Detections of one method on one frame and its measured latencies (ms).

    ``server_ms``: measured detector time of each server (empty for one-device methods);
    ``coarse_ms``: the coarse stage as deployed (RE-POSE only).
    """

    detections: Detections
    latency_ms: float
    parallel_ms: float
    info: Dict[str, Any] = field(default_factory=dict)
    server_ms: List[float] = field(default_factory=list)
    coarse_ms: Optional[float] = None


def _assign_boxes(history: np.ndarray, rects: Sequence[Rect]) -> List[np.ndarray]:
    """Give each box (by its centre) to the rect whose centre is nearest among those containing it."""
    c = (history[:, :2] + history[:, 2:]) / 2.0 if len(history) else np.zeros((0, 2))
    owner = np.full(len(c), -1, np.int64)
    best = np.full(len(c), np.inf)
    for i, r in enumerate(rects):
        inside = r.contains_points(c)
        d = np.hypot(c[:, 0] - (r.x0 + r.x1) / 2.0, c[:, 1] - (r.y0 + r.y1) / 2.0)
        better = inside & (d < best)
        owner[better], best[better] = i, d[better]
    return [np.flatnonzero(owner == i) for i in range(len(rects))]


def _quadtree(centres: np.ndarray, rect: Tuple[float, float, float, float], depth: int, max_boxes: int,
              max_depth: int, min_side: float) -> List[Tuple[float, float, float, float]]:
    x0, y0, x1, y1 = rect
    inside = ((centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1))
    n = int(inside.sum())
    if n == 0:
        return []
    if n <= max_boxes or depth >= max_depth or min(x1 - x0, y1 - y0) / 2.0 < min_side:
        return [rect]
    mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    out: List[Tuple[float, float, float, float]] = []
    for r in ((x0, y0, mx, my), (mx, y0, x1, my), (x0, my, mx, y1), (mx, my, x1, y1)):
        out += _quadtree(centres[inside], r, depth + 1, max_boxes, max_depth, min_side)
    return out


REMIX_GRIDS = ((1, 1), (1, 2), (2, 2), (2, 3), (3, 4), (4, 6))
REMIX_QUADTREE = (6, 15, 40)


def remix_candidates(history: np.ndarray, frame_w: int, frame_h: int, overlap: float = 0.15,
                     grids: Sequence[Tuple[int, int]] = REMIX_GRIDS,
                     quadtree_max_boxes: Sequence[int] = REMIX_QUADTREE,
                     max_depth: int = 3) -> Dict[str, List[Rect]]:
    """Candidate partitions of the REMIX-style baseline, from the boxes of earlier frames.

    Uniform grids (blocks holding no earlier box are skipped, as REMIX skips regions where
    objects did not appear) and quadtrees that split a region while it holds more than
    ``max_boxes`` earlier boxes. Every block grows by ``overlap`` of its size (clipped).
    """
    h = _as_boxes(history)
    centres = (h[:, :2] + h[:, 2:]) / 2.0
    out: Dict[str, List[Rect]] = {}
    for rows, cols in grids:
        rects = uniform_grid(frame_w, frame_h, rows, cols, overlap)
        kept = [r for r in rects if r.contains_points(centres).any()] if len(h) else rects
        if kept:
            out[f"grid{rows}x{cols}"] = kept
    if len(h):
        for k in quadtree_max_boxes:
            leaves = _quadtree(centres, (0.0, 0.0, float(frame_w), float(frame_h)), 0, k, max_depth, 128.0)
            rects = []
            for x0, y0, x1, y1 in leaves:
                mx, my = (x1 - x0) * overlap / 2.0, (y1 - y0) * overlap / 2.0
                rects.append(Rect(int(math.floor(x0 - mx)), int(math.floor(y0 - my)), int(math.ceil(x1 + mx)),
                                  int(math.ceil(y1 + my))).clip(frame_w, frame_h))
            if rects:
                out[f"quadtree{k}"] = rects
    return out


def remix_partition(history: np.ndarray, frame_w: int, frame_h: int, profiles: Any, budget_ms: float,
                    servers: Sequence[int], model_keys: Optional[Sequence[str]] = None
                    ) -> Tuple[List[Block], Any, str]:
    """Choose the REMIX-style partition and per-block models from earlier frames' boxes.

    Every candidate of :func:`remix_candidates` is planned by the same knapsack planner as
    RE-POSE (:func:`repose_ros.core.planner.plan_blocks`, value = expected number of detected
    boxes); the feasible plan of highest value wins (ties: lower makespan). Without earlier
    boxes every block of the 1x1 ... grids is kept and the planner sees no boxes. Returns
    ``(blocks, plan, candidate name)``.
    """
    from repose_ros.core.planner import plan_blocks

    h = _as_boxes(history)
    areas = (h[:, 2] - h[:, 0]) * (h[:, 3] - h[:, 1]) if len(h) else np.zeros(0)
    best = None
    for name, rects in remix_candidates(h, frame_w, frame_h).items():
        owners = _assign_boxes(h, rects)
        blocks = [Block(r, idx) for r, idx in zip(rects, owners)]
        plan = plan_blocks(blocks, [areas[idx] for idx in owners], profiles, budget_ms, list(servers),
                           model_keys=model_keys)
        key = (bool(plan.feasible), round(float(plan.total_value), 9), -float(plan.makespan_ms))
        if best is None or key > best[0]:
            best = (key, blocks, plan, name)
    assert best is not None
    return best[1], best[2], best[3]


class _SahiAdapterFactory:
    """Build a SAHI ``DetectionModel`` around one of our detectors (the fake detector's path).

    SAHI hands the model slices without their position, and the fake detector knows only
    frame coordinates, so the adapter detects when SAHI converts the predictions (it then
    passes each slice's offset): it runs ``detect_crops`` on that rectangle of ``frame_bgr``
    (set before each frame) and returns slice-relative boxes, which SAHI shifts back.
    """

    @staticmethod
    def build(detector: Any, imgsz: int, conf: float, iou: float) -> Any:
        from sahi.models.base import DetectionModel
        from sahi.prediction import ObjectPrediction
        from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list

        class RePoseSahiModel(DetectionModel):
            """SAHI model that runs a repose_ros detector on rectangles of the current frame."""

            frame_bgr: Optional[np.ndarray] = None

            def load_model(self) -> None:
                """Use the given detector."""
                self.model = detector

            def set_model(self, model: Any, **kwargs: Any) -> None:
                """Use ``model`` as the detector."""
                self.model = model

            def perform_inference(self, image: np.ndarray) -> None:
                """Record one image (detection happens at conversion, where its offset is known)."""
                self.perform_batch_inference([image])

            def perform_batch_inference(self, images: List[np.ndarray]) -> None:
                """Record the images' shapes (see :meth:`perform_inference`)."""
                self._original_shapes = [im.shape for im in images]
                self._original_predictions = None
                self._batch_images = None

            def _create_object_prediction_list_from_original_predictions(
                    self, shift_amount_list: Any = [[0, 0]], full_shape_list: Any = None) -> None:
                shifts = fix_shift_amount_list(shift_amount_list) or [[0, 0]]
                shapes = fix_full_shape_list(full_shape_list)
                frame = self.frame_bgr
                assert frame is not None, "set frame_bgr before predicting"
                out = []
                for i, shape in enumerate(self._original_shapes or []):
                    sx, sy = (int(v) for v in shifts[i])
                    rect = (sx, sy, sx + int(shape[1]), sy + int(shape[0]))
                    dets = self.model.detect_crops(frame, [rect], imgsz=imgsz, conf=self.confidence_threshold,
                                                   iou=iou)[0].shift(-sx, -sy)
                    preds = []
                    for box, score, cls in zip(dets.xyxy, dets.scores, dets.class_ids):
                        if box[2] <= box[0] or box[3] <= box[1]:
                            continue
                        preds.append(ObjectPrediction(
                            bbox=[float(v) for v in box], category_id=int(cls), category_name="person",
                            score=float(score), shift_amount=[sx, sy], full_shape=shapes[i] if shapes else None))
                    out.append(preds)
                self._object_prediction_list_per_image = out

        return RePoseSahiModel(model=detector, confidence_threshold=conf, image_size=imgsz, device="cpu")


class MethodRunner:
    """Run method specs on frames with one shared model zoo and profile.

    ``fake`` is the :class:`FakeDetector` behind the zoo when the data set is synthetic (its
    ground truth is switched per frame). ``coarse`` detections of RE-POSE are computed once
    per frame (timed once, as deployed: ``coarse_on_edge``) and shared by the MeanShift and
    RL-DCA runs at every budget: the computation is the same, so each run is charged the same
    measured coarse time.
    """

    def __init__(self, zoo: Any, profiles: Any, servers: int = 4, conf: float = 0.05, iou: float = 0.5,
                 model_name: str = "yolov8s", coarse_model: str = "yolov8s@640", coarse_conf: float = 0.05,
                 policy: str = "", fusion: str = "nms", fusion_iou: float = 0.5, fake: Any = None,
                 weights_path: Optional[str] = None, device: str = "cpu", coarse_on_edge: bool = False,
                 budget_reserve_ms: float = 10.0, coarse_sizes: Sequence[int] = (), coarse_budget_share: float = 0.3,
                 coverage: bool = False):
        if servers < 1:
            raise ValueError("servers must be >= 1")
        self.zoo = zoo
        self.profiles = profiles
        self.servers = int(servers)
        self.conf = float(conf)
        self.iou = float(iou)
        self.model_name = model_name
        self.coarse_model = coarse_model
        self.coarse_conf = float(coarse_conf)
        self.policy = policy
        self.fusion = fusion
        self.fusion_iou = float(fusion_iou)
        self.fake = fake
        self.weights_path = weights_path
        self.device = device
        self.coarse_on_edge = bool(coarse_on_edge)
        self.coarse_sizes = tuple(int(v) for v in coarse_sizes)
        self.coarse_budget_share = float(coarse_budget_share)
        self.coverage = bool(coverage)
        self.budget_reserve_ms = float(budget_reserve_ms)
        self._repose: Dict[str, Any] = {}
        self._sahi_model: Any = None
        self._frame_cache: Dict[str, Any] = {}
        self.notes: List[str] = []

    # -- shared state per frame -----------------------------------------------------------------
    def begin_frame(self, frame: EvalFrame) -> None:
        """Forget the previous frame's cached coarse and history detections; set the fake's view."""
        self._frame_cache = {}
        if self.fake is not None:
            self.fake.set_ground_truth(frame.fake_gt)

    def repose(self, partitioner: str) -> Any:
        """Return the (cached) RePose instance of ``partitioner``."""
        if partitioner not in self._repose:
            from repose_ros.core.pipeline import RePose, RePoseConfig

            cfg = RePoseConfig(num_servers=self.servers, coarse_model=self.coarse_model, coarse_conf=self.coarse_conf,
                               conf=self.conf, iou=self.iou, partitioner=partitioner, policy=self.policy,
                               fusion=self.fusion, fusion_iou=self.fusion_iou, coarse_on_edge=self.coarse_on_edge,
                               budget_reserve_ms=self.budget_reserve_ms, coarse_sizes=self.coarse_sizes,
                               coarse_budget_share=self.coarse_budget_share, coverage=self.coverage)
            self._repose[partitioner] = RePose(cfg, zoo=self.zoo, profiles=self.profiles)
        return self._repose[partitioner]

    def _coarse(self, image: np.ndarray, key: Optional[str] = None) -> Any:
        """Return the frame's coarse stage with coarse model ``key`` (:class:`CoarseStage`), run once per key."""
        key = key or self.coarse_model
        cache = self._frame_cache.setdefault("coarse", {})
        if key not in cache:
            cache[key] = self.repose("meanshift").coarse_stage(image, model_key=key)
        return cache[key]

    def _history(self, frame: EvalFrame) -> Optional[np.ndarray]:
        """Boxes of the previous frame (coarse detector, not timed), or None without one."""
        if "history" not in self._frame_cache:
            boxes = None
            if frame.load_history is not None:
                prev = frame.load_history()
                if self.fake is not None:
                    self.fake.set_ground_truth(frame.fake_history_gt)
                try:
                    boxes = self.repose("meanshift").coarse(prev).xyxy
                finally:
                    if self.fake is not None:
                        self.fake.set_ground_truth(frame.fake_gt)
            self._frame_cache["history"] = boxes
        return self._frame_cache["history"]

    def warmup(self, specs: Sequence[MethodSpec], image: np.ndarray, skip: Dict[str, str]) -> None:
        """Run every input size (and SAHI) once on a crop of ``image``, untimed.

        The first call of a model sets its predictor up (and loads SAHI's copy of the weights),
        which must not count as latency. A SAHI method that cannot start is put in ``skip``.
        """
        h, w = image.shape[:2]
        sizes = {s.imgsz for s in specs if s.family in ("full_frame", "uniform") and s.imgsz}
        if any(s.family in ("remix", "meanshift", "greedy", "rl_dca") for s in specs):
            sizes |= {self.profiles.model(k).imgsz for k in self.repose("meanshift").models}
            sizes.add(int(self.coarse_model.rpartition("@")[2]))
            sizes |= set(self.coarse_sizes)
        crop = (0, 0, min(w, 960), min(h, 540))
        for size in sorted(sizes):
            self.zoo.detect_crops(self._key(size), image, [crop], conf=self.conf, iou=self.iou)
        for s in specs:
            if s.family != "sahi" or s.key in skip:
                continue
            try:
                from sahi.predict import get_prediction

                model = self._sahi(s.imgsz)
                if hasattr(model, "frame_bgr"):
                    model.frame_bgr = image
                get_prediction(np.ascontiguousarray(image[:crop[3], :crop[2], ::-1]), model)
            except (ImportError, OSError, TypeError, RuntimeError, ValueError) as exc:
                for t in specs:
                    if t.family == "sahi":
                        skip[t.key] = f"SAHI could not run the weights offline: {type(exc).__name__}: {exc}"
            break

    # -- methods --------------------------------------------------------------------------------
    def run(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        """Run ``spec`` on ``image`` (the frame's BGR pixels)."""
        fn = getattr(self, f"_run_{spec.family}", None)
        if fn is None:
            raise ValueError(f"unknown method family {spec.family!r}")
        return fn(spec, image, frame)

    def _key(self, imgsz: int) -> str:
        return f"{self.model_name}@{int(imgsz)}"

    def _run_full_frame(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        dets = self.zoo.detect_crops(self._key(spec.imgsz), image, [(0, 0, w, h)], conf=self.conf, iou=self.iou)[0]
        ms = (time.perf_counter() - t0) * 1000.0
        return FrameResult(dets, ms, ms)

    def _run_uniform(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        from repose_ros.core.fusion import fuse_blocks
        from repose_ros.core.serving import BlockJob, collect, run_servers, slowest_ms

        h, w = image.shape[:2]
        rects = uniform_grid(w, h, spec.grid[0], spec.grid[1], 0.3)
        jobs: Dict[int, List[Any]] = {}
        for i, r in enumerate(rects):  # tile i on server i mod S: one tile per server and round
            jobs.setdefault(i % self.servers, []).append(BlockJob(i, r.as_tuple(), self._key(spec.imgsz)))
        t0 = time.perf_counter()
        runs = run_servers(self.zoo, image, jobs, self.conf, self.iou)
        t1 = time.perf_counter()
        fused = fuse_blocks(collect(runs, len(rects)), rects, w, h, method=self.fusion, iou=self.fusion_iou)
        t2 = time.perf_counter()
        fuse_ms = (t2 - t1) * 1000.0
        return FrameResult(fused, (t2 - t0) * 1000.0, slowest_ms(runs) + fuse_ms,
                           {"blocks": len(rects), "rounds": math.ceil(len(rects) / self.servers)},
                           server_ms=[runs[s].total_ms if s in runs else 0.0 for s in range(self.servers)])

    def _sahi(self, imgsz: int) -> Any:
        if self._sahi_model is None:
            if self.fake is not None:
                self._sahi_model = _SahiAdapterFactory.build(self.fake, imgsz, self.conf, self.iou)
            else:
                from sahi import AutoDetectionModel

                self._sahi_model = AutoDetectionModel.from_pretrained(
                    model_type="ultralytics", model_path=str(self.weights_path), confidence_threshold=self.conf,
                    device=self.device, image_size=int(imgsz))
        return self._sahi_model

    def _run_sahi(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        from sahi.predict import get_sliced_prediction

        model = self._sahi(spec.imgsz)
        ptype, metric = SAHI_MERGES[spec.merge or "greedynmm"]
        threads = getattr(self.zoo.detector(self._key(spec.imgsz)), "torch_threads", None)
        if threads and self.fake is None:
            import torch

            torch.set_num_threads(int(threads))  # ultralytics resets it; give SAHI the same threads
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        if hasattr(model, "frame_bgr"):
            model.frame_bgr = image
        t0 = time.perf_counter()
        res = get_sliced_prediction(rgb, model, slice_height=int(spec.imgsz), slice_width=int(spec.imgsz),
                                    overlap_height_ratio=0.2, overlap_width_ratio=0.2, postprocess_type=ptype,
                                    postprocess_match_metric=metric, postprocess_match_threshold=0.5,
                                    postprocess_class_agnostic=True, force_postprocess_type=True, verbose=0)
        ms = (time.perf_counter() - t0) * 1000.0
        preds = res.object_prediction_list
        xyxy = np.array([p.bbox.to_xyxy() for p in preds], np.float32).reshape(-1, 4)
        scores = np.array([p.score.value for p in preds], np.float32)
        return FrameResult(Detections(xyxy, scores, np.zeros(len(preds), np.int32)), ms, ms)

    def _run_repose(self, spec: MethodSpec, image: np.ndarray, partitioner: str) -> FrameResult:
        rp = self.repose(partitioner)
        key = rp.coarse_key(image.shape[1], image.shape[0], spec.budget_ms)
        res = rp.run(image, spec.budget_ms, coarse=self._coarse(image, key))
        t = res.timings
        blocks = res.partition.blocks
        cover = _coverage(blocks, image.shape[1], image.shape[0])
        planned = [b for b in range(len(blocks)) if b not in set(res.plan.skipped)]
        return FrameResult(res.detections, t["total_ms"], t["parallel_ms"],
                           {"feasible": bool(res.plan.feasible), "blocks": len(blocks), "coverage": cover,
                            "coverage_planned": _coverage([blocks[b] for b in planned], image.shape[1],
                                                          image.shape[0]),
                            "skipped": len(res.plan.skipped), "coarse_boxes": len(res.coarse.detections),
                            "coarse_model": res.coarse.model_key,
                            "planned_makespan_ms": res.plan.makespan_ms,
                            "detection_budget_ms": t["detection_budget_ms"], "detect_ms": t["detect_ms"],
                            "models": [bp.model_key for bp in res.plan.blocks]},
                           server_ms=[res.servers[s].total_ms if s in res.servers else 0.0
                                      for s in range(self.servers)],
                           coarse_ms=res.coarse.ms)

    def _run_meanshift(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        return self._run_repose(spec, image, "meanshift")

    def _run_greedy(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        return self._run_repose(spec, image, "greedy")

    def _run_rl_dca(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        return self._run_repose(spec, image, "rl_dca")

    def _run_remix(self, spec: MethodSpec, image: np.ndarray, frame: EvalFrame) -> FrameResult:
        from repose_ros.core.fusion import fuse_blocks
        from repose_ros.core.serving import collect, slowest_ms

        h, w = image.shape[:2]
        rp = self.repose("meanshift")
        history = self._history(frame)
        budget = max(0.0, spec.budget_ms - self.budget_reserve_ms)
        t0 = time.perf_counter()
        if history is None:
            blocks, plan, name = self._remix_fallback(w, h, budget)
        else:
            blocks, plan, name = remix_partition(history, w, h, self.profiles, budget,
                                                 list(range(self.servers)), model_keys=rp.models)
        t1 = time.perf_counter()
        runs = rp._run_servers(image, blocks, plan)
        t2 = time.perf_counter()
        fused = fuse_blocks(collect(runs, len(blocks)), [b.rect for b in blocks], w, h, method=self.fusion,
                            iou=self.fusion_iou) if blocks else Detections.empty()
        t3 = time.perf_counter()
        plan_ms, fuse_ms = (t1 - t0) * 1000.0, (t3 - t2) * 1000.0
        parallel = plan_ms + slowest_ms(runs) + fuse_ms
        return FrameResult(fused, (t3 - t0) * 1000.0, parallel,
                           {"feasible": bool(plan.feasible), "blocks": len(blocks), "candidate": name,
                            "coverage": _coverage(blocks, w, h), "history": history is not None,
                            "planned_makespan_ms": plan.makespan_ms, "detect_ms": slowest_ms(runs),
                            "models": [bp.model_key for bp in plan.blocks]},
                           server_ms=[runs[s].total_ms if s in runs else 0.0 for s in range(self.servers)])

    def _remix_fallback(self, w: int, h: int, budget_ms: float) -> Tuple[List[Block], Any, str]:
        """No earlier frame: one grid block per server, each with the largest model within the budget."""
        from repose_ros.core.coarse import coarse_blocks
        from repose_ros.core.planner import plan_blocks

        rects = coarse_blocks(w, h, self.servers, overlap=0.15)
        blocks = [Block(r) for r in rects]
        keys = self.repose("meanshift").models
        r0 = rects[0]
        cost = {k: self.profiles.block_latency(k, r0.w, r0.h) for k in keys}
        fits = [k for k in keys if cost[k] <= budget_ms] or [min(keys, key=cost.get)]
        best = max(fits, key=lambda k: self.profiles.model(k).imgsz)
        plan = plan_blocks(blocks, [np.zeros(0)] * len(blocks), self.profiles, budget_ms,
                           list(range(self.servers)), model_keys=[best])
        return blocks, plan, "fallback"


def _coverage(blocks: Sequence[Block], w: int, h: int) -> float:
    """Fraction of the frame covered by the union of the blocks."""
    if not blocks or w <= 0 or h <= 0:
        return 0.0
    mask = np.zeros((h // 8 + 1, w // 8 + 1), bool)
    for b in blocks:
        r = b.rect
        mask[r.y0 // 8:(r.y1 + 7) // 8, r.x0 // 8:(r.x1 + 7) // 8] = True
    return float(mask[:h // 8 or 1, :w // 8 or 1].mean())


# =========================================================================== the evaluation loop


@dataclass
class MethodStats:
    """Accumulated results of one method over the frames."""

    spec: MethodSpec
    evaluator: DetectionEvaluator = field(default_factory=DetectionEvaluator)
    latency_ms: List[float] = field(default_factory=list)
    parallel_ms: List[float] = field(default_factory=list)
    infos: List[Dict[str, Any]] = field(default_factory=list)
    server_ms: List[List[float]] = field(default_factory=list)
    coarse_ms: List[float] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """Metrics, mean latencies and plan statistics as the JSON entry of the method."""
        m = self.evaluator.summary()
        out: Dict[str, Any] = {
            "family": self.spec.family, "setting": self.spec.setting,
            "map50_95": m["map50_95"], "map50": m["map50"], "map75": m["map75"],
            "ap_small": m["ap_small"], "ap_medium": m["ap_medium"], "ap_large": m["ap_large"],
            "latency_ms": float(np.mean(self.latency_ms)) if self.latency_ms else None,
            "parallel_latency_ms": float(np.mean(self.parallel_ms)) if self.parallel_ms else None,
            "parallel_latency_p95_ms": float(np.percentile(self.parallel_ms, 95)) if self.parallel_ms else None,
            "latency_measured": True,
            "budget_ms": self.spec.budget_ms, "frames": len(self.latency_ms),
            "n_gt": m["n_gt"], "n_det": m["n_det"],
        }
        if self.server_ms:
            out["server_ms"] = [float(v) for v in np.mean(np.array(self.server_ms, dtype=np.float64), axis=0)]
        if self.coarse_ms:
            out["coarse_ms"] = float(np.mean(self.coarse_ms))
        if self.spec.budget_ms is not None and self.parallel_ms:
            out["within_budget_fraction"] = float(np.mean(np.array(self.parallel_ms) <= self.spec.budget_ms))
            out["p95_over_budget"] = float(np.percentile(self.parallel_ms, 95) / self.spec.budget_ms)
        if self.spec.imgsz is not None:
            out["imgsz"] = self.spec.imgsz
        feas = [i["feasible"] for i in self.infos if "feasible" in i]
        if feas:
            out["feasible_fraction"] = float(np.mean(feas))
        for k in ("blocks", "coverage", "coverage_planned", "skipped", "coarse_boxes", "planned_makespan_ms",
                  "detect_ms", "detection_budget_ms"):
            vals = [i[k] for i in self.infos if k in i]
            if vals:
                out[f"mean_{k}"] = float(np.mean(vals))
        cands = [i["candidate"] for i in self.infos if "candidate" in i]
        if cands:
            out["candidates"] = {c: cands.count(c) for c in sorted(set(cands))}
        models = [k for i in self.infos for k in i.get("models", [])]
        if models:
            out["block_models"] = {k: models.count(k) for k in sorted(set(models), key=lambda k: (len(k), k))}
        return out


def evaluate(dataset: EvalDataset, runner: MethodRunner, specs: Sequence[MethodSpec],
             progress: Optional[Callable[[str], None]] = None,
             skip: Optional[Dict[str, str]] = None, warmup: bool = True) -> Dict[str, MethodStats]:
    """Run every spec on every frame of ``dataset``; return the accumulated stats by method key.

    ``progress(text)`` is called after each (frame, method). Before the first frame every
    model is run once untimed (``warmup``); SAHI methods that cannot start then are skipped
    (the reason goes into ``skip``, as for keys already in ``skip``).
    """
    skip = skip if skip is not None else {}
    stats = {s.key: MethodStats(s) for s in specs}
    for n, frame in enumerate(dataset.frames):
        image = frame.load()
        if frame.width <= 0 or frame.height <= 0:
            frame.height, frame.width = image.shape[:2]
        runner.begin_frame(frame)
        if n == 0 and warmup:
            runner.warmup(specs, image, skip)
        for spec in specs:
            if spec.key in skip:
                if progress:
                    progress(spec.key)
                continue
            res = runner.run(spec, image, frame)
            st = stats[spec.key]
            st.evaluator.add_detections(frame.gt, res.detections, frame.ignore, frame.width, frame.height)
            st.latency_ms.append(res.latency_ms)
            st.parallel_ms.append(res.parallel_ms)
            st.infos.append(res.info)
            if res.server_ms:
                st.server_ms.append(list(res.server_ms))
            if res.coarse_ms is not None:
                st.coarse_ms.append(res.coarse_ms)
            if progress:
                progress(spec.key)
    return {k: v for k, v in stats.items() if k not in skip}


# =========================================================================== reporting


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def format_table(methods: Dict[str, Dict[str, Any]]) -> str:
    """Return a Markdown table of the method entries (latencies in seconds)."""
    head = ("| method | mAP50:95 | mAP50 | AP_S | AP_M | AP_L | latency s | parallel s | budget ms | blocks | "
            "feasible |")
    lines = [head, "|" + "---|" * 11]
    for key, m in methods.items():
        lat = m.get("latency_ms")
        par = m.get("parallel_latency_ms")
        lines.append(
            f"| {key} | {_fmt(m.get('map50_95'))} | {_fmt(m.get('map50'))} | {_fmt(m.get('ap_small'))} | "
            f"{_fmt(m.get('ap_medium'))} | {_fmt(m.get('ap_large'))} | "
            f"{_fmt(lat / 1000.0 if lat is not None else None, 2)} | "
            f"{_fmt(par / 1000.0 if par is not None else None, 2)} | "
            f"{_budget(m)} | "
            f"{_fmt(m.get('mean_blocks'), 1)} | {_fmt(m.get('feasible_fraction'), 2)} |")
    return "\n".join(lines)


def _budget(m: Dict[str, Any]) -> str:
    b = m.get("budget_ms")
    return "-" if b is None else f"{b:g}"


def plot_results(methods: Dict[str, Dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Draw mAP50:95 against parallel latency, one curve per method family, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    markers = dict(zip(FAMILIES, ("o", "s", "^", "D", "v", "P", "*")))
    colors = dict(zip(FAMILIES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:olive",
                                 "tab:brown")))
    curves: Dict[Tuple[str, str], List[Tuple[float, float, str]]] = {}
    for k, m in methods.items():
        fam = m.get("family", k.split("@")[0])
        if fam not in FAMILIES or m.get("map50_95") is None or m.get("parallel_latency_ms") is None:
            continue
        setting = m.get("setting", k.split("@", 1)[1])
        group = setting.split("-")[0] if fam == "uniform" else ""  # one curve per grid
        curves.setdefault((fam, group), []).append((m["parallel_latency_ms"] / 1000.0, m["map50_95"], setting))
    styles = ("-", "--", ":", "-.")
    seen: Dict[str, int] = {}
    for (fam, group), pts in sorted(curves.items(), key=lambda kv: (FAMILIES.index(kv[0][0]), kv[0][1])):
        pts.sort()
        n = seen.get(fam, 0)
        seen[fam] = n + 1
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[fam], color=colors[fam],
                ls=styles[n % len(styles)], ms=8 if fam == "rl_dca" else 6, lw=2.2 if fam == "rl_dca" else 1.2,
                label=f"{fam} {group}".strip())
        for x, y, s in pts:
            ax.annotate(s, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points", alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("parallel latency per frame (s, log scale; full_frame and sahi: one device)")
    ax.set_ylabel("mAP50:95")
    ax.set_title(title or "latency-accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_json(path: str | os.PathLike, payload: Dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON (creating the folder); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
