"""The methods compared by ``repose eval``: full frame, uniform grids, SAHI and RE-POSE, and how each runs."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.blocks import Block, uniform_grid
from repose_ros.core.detections import Detections
from repose_ros.datasets.annotated import EvalFrame
from repose_ros.evaluation.record import block_entry, block_trace
from repose_ros.evaluation.remix import remix_partition


FAMILIES = ("full_frame", "uniform", "sahi", "remix", "meanshift", "greedy", "rl_dca")
"""Method families, in table order."""
#: The families that are RE-POSE with one of its partitioners (``RePoseConfig.partitioner``).
PARTITIONER_FAMILIES = ("meanshift", "greedy", "rl_dca")


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
    ``coarse_ms``: the coarse stage as deployed (RE-POSE only); ``trace``: what the method decided,
    for ``repose eval --record`` (``blocks``: :func:`repose_ros.evaluation.record.block_trace`;
    ``coarse``: RE-POSE's coarse boxes with their scores).
    """

    detections: Detections
    latency_ms: float
    parallel_ms: float
    info: Dict[str, Any] = field(default_factory=dict)
    server_ms: List[float] = field(default_factory=list)
    coarse_ms: Optional[float] = None
    trace: Dict[str, Any] = field(default_factory=dict)


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

    RE-POSE's own settings (coarse stage, policy and its check, reserve) not given are
    :class:`~repose_ros.core.config.RePoseConfig`'s defaults; ``repose eval`` passes the deployed
    ones (config/repose.yaml).
    """

    def __init__(self, zoo: Any, profiles: Any, servers: int = 4, conf: float = 0.05, iou: float = 0.5,
                 model_name: str = "yolov8s", coarse_model: Optional[str] = None, coarse_conf: Optional[float] = None,
                 policy: Optional[str] = None, fusion: str = "nms", fusion_iou: float = 0.5, fake: Any = None,
                 weights_path: Optional[str] = None, device: str = "cpu", coarse_on_edge: Optional[bool] = None,
                 budget_reserve_ms: Optional[float] = None, coarse_sizes: Optional[Sequence[int]] = None,
                 coarse_budget_share: Optional[float] = None, coverage: bool = False,
                 policy_check: Optional[bool] = None, policy_check_value: Optional[str] = None,
                 search_share: Optional[float] = None, budget_clock: str = "measured",
                 plan_max_person_height: Optional[float] = None):
        from repose_ros.core.config import RePoseConfig

        if servers < 1:
            raise ValueError("servers must be >= 1")

        def core(value: Any, name: str) -> Any:  # RE-POSE's own settings: the core default unless given
            return getattr(RePoseConfig, name) if value is None else value

        self.zoo = zoo
        self.profiles = profiles
        self.servers = int(servers)
        self.conf = float(conf)
        self.iou = float(iou)
        self.model_name = model_name
        self.coarse_model = str(core(coarse_model, "coarse_model"))
        self.coarse_conf = float(core(coarse_conf, "coarse_conf"))
        self.policy = str(core(policy, "policy"))
        self.policy_check = bool(core(policy_check, "policy_check"))
        self.policy_check_value = str(core(policy_check_value, "policy_check_value"))
        self.search_share = float(core(search_share, "search_share"))
        self.plan_max_person_height = float(core(plan_max_person_height, "plan_max_person_height"))
        from repose_ros.core.pipeline import check_budget_clock

        self.budget_clock = check_budget_clock(budget_clock)
        self.fusion = fusion
        self.fusion_iou = float(fusion_iou)
        self.fake = fake
        self.weights_path = weights_path
        self.device = device
        self.coarse_on_edge = bool(core(coarse_on_edge, "coarse_on_edge"))
        self.coarse_sizes = tuple(int(v) for v in core(coarse_sizes, "coarse_sizes"))
        self.coarse_budget_share = float(core(coarse_budget_share, "coarse_budget_share"))
        self.coverage = bool(coverage)
        self.budget_reserve_ms = float(core(budget_reserve_ms, "budget_reserve_ms"))
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
            from repose_ros.core.config import RePoseConfig
            from repose_ros.core.pipeline import RePose

            cfg = RePoseConfig(num_servers=self.servers, coarse_model=self.coarse_model, coarse_conf=self.coarse_conf,
                               conf=self.conf, iou=self.iou, partitioner=partitioner, policy=self.policy,
                               fusion=self.fusion, fusion_iou=self.fusion_iou, coarse_on_edge=self.coarse_on_edge,
                               budget_reserve_ms=self.budget_reserve_ms, coarse_sizes=self.coarse_sizes,
                               coarse_budget_share=self.coarse_budget_share, coverage=self.coverage,
                               policy_check=self.policy_check, policy_check_value=self.policy_check_value,
                               search_share=self.search_share, plan_max_person_height=self.plan_max_person_height)
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
        if any(s.family in ("remix", *PARTITIONER_FAMILIES) for s in specs):
            sizes |= {self.profiles.model(k).imgsz for k in self.repose("meanshift").models}
            sizes.add(int(self.coarse_model.rpartition("@")[2]))
            sizes |= set(self.coarse_sizes)
        crop = (0, 0, min(w, 960), min(h, 540))
        for size in sorted(sizes):
            self.zoo.detect_crops(self._key(size), image, [crop], conf=self.conf, iou=self.iou)
        self._warm_partitioners([s.family for s in specs], w, h)
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

    def _warm_partitioners(self, families: Sequence[str], w: int, h: int) -> None:
        """Partition and plan a few made-up boxes once per RE-POSE partitioner in ``families``, untimed.

        The first partition of a process loads the RL-DCA policy and imports what its features
        need (about 0.3 s here), which the partitioner node does when it is configured, before any
        frame; counted in the first frame it would take that from the first frame's budget.
        """
        boxes = np.array([[0.1, 0.2, 0.12, 0.26], [0.5, 0.5, 0.53, 0.58], [0.52, 0.55, 0.55, 0.63],
                          [0.8, 0.7, 0.84, 0.8]], np.float32) * np.array([w, h, w, h], np.float32)
        dets = Detections(boxes, np.full(len(boxes), 0.5, np.float32), np.zeros(len(boxes), np.int32))
        for fam in dict.fromkeys(families):
            if fam in PARTITIONER_FAMILIES:
                rp = self.repose(fam)
                memo: Dict[Any, Any] = {}
                part = rp.partition(dets, w, h, 1000.0, memo=memo)
                rp.plan_frame(part, dets, w, h, 1000.0, memo=memo)

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
                           server_ms=[runs[s].total_ms if s in runs else 0.0 for s in range(self.servers)],
                           trace={"blocks": [block_entry(r.as_tuple(), self._key(spec.imgsz), spec.imgsz,
                                                         i % self.servers) for i, r in enumerate(rects)]})

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
        res = rp.run(image, spec.budget_ms, coarse=self._coarse(image, key), budget_clock=self.budget_clock)
        t = res.timings
        blocks = res.partition.blocks
        cover = _coverage(blocks, image.shape[1], image.shape[0])
        planned = [b for b in range(len(blocks)) if b not in set(res.plan.skipped)]
        search = {f"search_{k}": v for k, v in rp.last_search.items() if k in ("steps", "plans")}
        if "scale" in rp.last_check:  # the bandwidth multiplier the scale policy picked
            search["policy_scale"] = float(rp.last_check["scale"])
        if rp.last_check.get("kept") is not None:  # 1 where the check kept the scale policy's clusters
            search["policy_kept"] = float(rp.last_check["kept"])
        return FrameResult(res.detections, t["total_ms"], t["parallel_ms"],
                           {"feasible": bool(res.plan.feasible), "blocks": len(blocks), "coverage": cover,
                            "coverage_planned": _coverage([blocks[b] for b in planned], image.shape[1],
                                                          image.shape[0]),
                            "skipped": len(res.plan.skipped), "coarse_boxes": len(res.coarse.detections),
                            "coarse_artefacts": res.coarse.artefacts,
                            "coarse_model": res.coarse.model_key,
                            "planned_makespan_ms": res.plan.makespan_ms,
                            "detection_budget_ms": t["detection_budget_ms"], "detect_ms": t["detect_ms"],
                            "partition_ms": t["partition_ms"], **search,
                            "swapped_to_coarse": res.plan.stats.get("swapped_to_coarse", 0),
                            "dropped_unconfirmed": res.plan.stats.get("dropped_unconfirmed", 0),
                            "answered_by_coarse": res.plan.stats.get("answered_by_coarse", 0),
                            "models": [bp.model_key for bp in res.plan.blocks]},
                           server_ms=[res.servers[s].total_ms if s in res.servers else 0.0
                                      for s in range(self.servers)],
                           coarse_ms=res.coarse.ms,
                           trace={"blocks": block_trace([b.rect.as_tuple() for b in blocks], res.plan.blocks,
                                                        res.plan.skipped),
                                  "coarse": np.column_stack([res.coarse.detections.xyxy,
                                                             res.coarse.detections.scores]).reshape(-1, 5)})

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
                           server_ms=[runs[s].total_ms if s in runs else 0.0 for s in range(self.servers)],
                           trace={"blocks": block_trace([b.rect.as_tuple() for b in blocks], plan.blocks,
                                                        plan.skipped)})

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
