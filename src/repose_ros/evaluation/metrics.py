"""COCO-style detection metrics (pycocotools): mAP50:95, mAP50, mAP75 and AP by object size."""
from __future__ import annotations

import contextlib
import io
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.boxes import box_array
from repose_ros.core.detections import Detections
from repose_ros.evaluation.paired import FrameMatches


AREA_LABELS = ("all", "small", "medium", "large")


def _coco_api() -> Tuple[Any, Any]:
    """Return pycocotools' ``(COCO, COCOeval)`` (imported lazily)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ImportError("repose eval needs pycocotools (pip install pycocotools==2.0.11)") from exc
    return COCO, COCOeval


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
        self._evaluated: Optional[Tuple[Tuple[int, int, int], Any]] = None  # (sizes, COCOeval) of the last evaluation

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
        g, ig, d = box_array(gt), box_array(ignore), box_array(det_xyxy)
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
        if not self._dts:
            has = self._area_has_gt()
            areas = ("all", "all", "all", "small", "medium", "large")
            out.update({k: (0.0 if has[a] else None) for k, a in zip(keys, areas)})
            return out
        ev = self._coco_eval()
        with contextlib.redirect_stdout(io.StringIO()):
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

    def _coco_eval(self) -> Any:
        """Return pycocotools' COCOeval of the images added so far, after ``evaluate()`` (needs detections).

        The evaluation (pycocotools' slowest step) is kept until an image is added, so ``summary()``
        and ``frame_matches()`` share it.
        """
        sizes = (len(self._images), len(self._gts), len(self._dts))
        if self._evaluated is not None and self._evaluated[0] == sizes:
            return self._evaluated[1]
        COCO, COCOeval = _coco_api()
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO()
            gt.dataset = {"images": list(self._images), "annotations": list(self._gts),
                          "categories": [{"id": 1, "name": "person"}]}
            gt.createIndex()
            dt = gt.loadRes([dict(d) for d in self._dts])
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = [im["id"] for im in self._images]
            ev.params.maxDets = [self.max_dets]
            ev.evaluate()
        self._evaluated = (sizes, ev)
        return ev

    def frame_matches(self) -> List[FrameMatches]:
        """Return how COCO matched each image's detections (area range "all"), one entry per image added.

        :func:`repose_ros.evaluation.paired.map50_95` of all of them is ``summary()["map50_95"]``; of a
        subset (or a resample), what COCO would report on those images.
        """
        n_thr = 10  # COCO's IoU thresholds 0.50:0.05:0.95
        gt_count: Dict[int, int] = {}
        for g in self._gts:
            if not g["iscrowd"]:
                gt_count[g["image_id"]] = gt_count.get(g["image_id"], 0) + 1
        out = {im["id"]: FrameMatches(np.zeros(0), np.zeros((n_thr, 0), bool), np.zeros((n_thr, 0), bool),
                                      gt_count.get(im["id"], 0)) for im in self._images}
        if self._dts:
            ev = self._coco_eval()
            area_all = [list(a) for a in ev.params.areaRng][list(ev.params.areaRngLbl).index("all")]
            for e in ev.evalImgs:
                if e is None or list(e["aRng"]) != area_all:
                    continue
                out[e["image_id"]] = FrameMatches(np.asarray(e["dtScores"], dtype=np.float64),
                                                  np.asarray(e["dtMatches"]) > 0, np.asarray(e["dtIgnore"], bool),
                                                  int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)))
        return [out[im["id"]] for im in self._images]

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
