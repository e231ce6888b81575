"""Settings of the RE-POSE method (:class:`RePoseConfig`): the single source of its defaults.

The nodes declare their parameters from these defaults and ``config/repose.yaml`` repeats them
(``test/ros/test_defaults.py`` checks that the three agree).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Tuple

from repose_ros.core.coarse import DEFAULT_ARTEFACT_ASPECT, DEFAULT_ARTEFACT_SPAN
from repose_ros.core.fusion import DEFAULT_MAX_INPUT_AREA

PARTITIONERS = ("rl_dca", "meanshift", "greedy", "uniform")
CHECK_VALUES = ("spent", "plan")
#: How ``RePose.run`` charges the stages before detection to the budget (``budget_clock``, see there).
BUDGET_CLOCKS = ("measured", "profile")


@dataclass
class RePoseConfig:
    """Settings of the method; every field has a working default (see config/repose.yaml)."""

    num_servers: int = 4
    weights: Dict[str, str] = field(default_factory=lambda: {"yolov8s": "builtin:yolov8s-person"})
    device: str = "cpu"
    coarse_model: str = "yolov8s@640"
    # coarse input sizes to choose from per frame (the largest whose predicted time fits
    # coarse_budget_share of the budget); 960 gains on sparse scenes at 2000 ms and more (README)
    coarse_sizes: Tuple[int, ...] = (960,)
    coarse_budget_share: float = 0.4
    coarse_conf: float = 0.05
    coarse_iou: float = 0.5
    # coarse boxes spanning a whole tile's height while as wide as tall are detector artefacts,
    # dropped before merging (core/coarse.py; docs/rl_dca.md, twenty-sixth round); span 0: kept
    coarse_artefact_span: float = DEFAULT_ARTEFACT_SPAN
    coarse_artefact_aspect: float = DEFAULT_ARTEFACT_ASPECT
    conf: float = 0.25
    iou: float = 0.5
    # rl_dca since 2026-12-05 (with `policy` below: mean shift at a finer bandwidth since 2026-12-07):
    # ahead of MeanShift alone on the mosaics at every budget, level or behind on VisDrone at 2-4 s;
    # greedy searches ~100x longer (README, RL-DCA section). meanshift: MeanShift alone.
    partitioner: str = "rl_dca"
    # rl_dca's policy: scale:0.45 (mean shift at 0.45 x the bandwidth on every frame) since the
    # twenty-eighth round: on fresh mosaics at or above the learned scale policy (builtin:scale) in
    # every cell, and level with it on held-out sets; both ahead of the keep / merge / split PPO
    # policy ("" or builtin:ppo) end to end (docs/rl_dca.md)
    policy: str = "scale:0.45"
    # rl_dca: keep a policy's choice only when it raises the planner's value (plan_value): the scale
    # policy's bandwidth against the configured one (two plans), or each keep / merge / split
    # action, stopping at the first that does not (one plan per step). Off since the twenty-fourth
    # round (docs/rl_dca.md): with plan_max_person_height the check moved mAP50:95 by +0.0001 on
    # average over 18 set-budgets and cost about 3 ms a frame at 300 boxes.
    policy_check: bool = False
    # What the scale policy's check compares: "spent" the two clusterings' plans after budget
    # spending (RePose.plan_frame: what would run), "plan" the knapsack plans before it. A coarse
    # clustering leaves budget that plan_frame then spends, which its bare plan does not show;
    # measured: "spent" keeps MeanShift's clusters more often at 4 s (docs/rl_dca.md, fourteenth round).
    policy_check_value: str = "spent"
    y_gamma: Optional[float] = None
    bandwidth: Optional[float] = None
    block_margin: int = 32
    # Each block's margin is at least this times the median height of its cluster's boxes (0: off):
    # with 0.5 a person as large as the cluster's, centred on the edge of its boxes' hull, is wholly
    # inside. Off: not adopted (twentieth round, docs/rl_dca.md: it cost resolution at 1000 ms).
    block_margin_height: float = 0.0
    block_min_size: int = 64
    uniform_grid: Tuple[int, int] = (2, 2)
    uniform_overlap: float = 0.3
    profile: str = ""
    models: List[str] = field(default_factory=list)
    budget_ms: float = 3000.0
    budget_reserve_ms: float = 10.0
    coarse_on_edge: bool = False
    skip_blocks: bool = True
    recall_weighting: bool = True
    max_box_weight: float = 5.0
    # The people a coarse box stands for beyond itself (its recall weight - 1) are spread around it
    # (a Gaussian, sigma = hidden_spread x the box's height); a block is credited with the share it
    # covers. 0: all of them at the box (a block gains nothing by covering its boxes' surroundings).
    # 1.0 since 2026-12-04: with MeanShift at or above 0 on all three evaluation sets (README).
    hidden_spread: float = 1.0
    # Those missed people count only where a person as large as their box fits wholly in the block
    # (blocks.kernel_share whole=True): one cut by a block's edge is rarely found. Off: not adopted
    # (twenty-first round, docs/rl_dca.md: at 4000 ms it helped, at 1000 ms it cost up to 0.008).
    hidden_whole: bool = False
    spend_splits: int = 8
    spend_min_slack: float = 0.1
    spend_margins: Tuple[int, ...] = (64, 96, 128, 192, 256)
    greedy_steps: int = 8
    # rl_dca: after the policy (and its check), search on with the greedy partitioner's one-step
    # look-ahead (refine_by_plan) from the policy's clusters while the partition has taken less
    # than this share of the detection budget (wall clock; the search stops mid-step at the limit
    # and keeps the best candidate found). 0: no search (the policy alone).
    search_share: float = 0.0
    coverage: bool = False  # measured: no gain on the collage or VisDrone sets (see README)
    coverage_value: float = 0.01
    fusion: str = "nms"
    fusion_iou: float = 0.5
    # A block detection larger than this at its block's model input (px^2) is answered by the coarse
    # box of the same object (core/fusion.py swap_oversized): the default profile's precision falls
    # above 65536 px^2 at every input from 960 up. 0 keeps every block detection.
    fusion_max_input_area: float = DEFAULT_MAX_INPUT_AREA
    # Such an oversized block detection that no coarse box confirms is dropped (the coarse pass sees
    # people of that size; on held-out frames nearly all of these were false positives; sixteenth
    # round, docs/rl_dca.md). False keeps them.
    fusion_drop_unconfirmed: bool = True
    # A coarse box of a person larger than fusion_max_input_area at the input of every block that
    # holds it, and that no block detection answers, is published itself (core/fusion.py
    # coarse_answers; eighteenth round, docs/rl_dca.md). False: such people are answered only where a
    # block detection matched their coarse box.
    fusion_answer_oversized: bool = True
    # The planner values a box larger than this at its block's model input (px^2) by the coarse
    # pass's precision, which is what the swap above delivers for it; 0: by the profile's precision.
    # On since 2026-12-06 (fifteenth round, docs/rl_dca.md: held-out sets, rule fixed before the runs).
    plan_max_input_area: float = DEFAULT_MAX_INPUT_AREA
    # True: the planner values a person in an enlarged block (scale > 1) by its native size plus
    # the measured gain of that enlargement (the profile's upscale_gain section; core/profiles.py
    # precision_at) instead of by its area at the input. Off: on held-out sets it raised MeanShift
    # on dense 2x2 mosaics (+0.005 to +0.010 at 1000 and 2000 ms) and lowered both partitioners on
    # PANDA-like collages (up to -0.04 at 4000 ms). Nineteenth round, docs/rl_dca.md.
    plan_upscale_gain: bool = False
    # A block is enlarged at most so far that its coarse boxes' median height reaches this many
    # pixels at the model input (never limited below native size); a larger model input runs the
    # block at that limit instead. The detector's score for the same person falls when a block
    # enlarges people already this tall, which the profile's precision-versus-area curve, measured
    # across people, does not show. 160 since 2026-12-06 (twenty-third round, docs/rl_dca.md: rule
    # fixed before the runs; rl_dca +0.009 mean over 18 cells, dense sets +0.008 to +0.031, collages
    # down to -0.009 at 2000-4000 ms). 0: off.
    plan_max_person_height: float = 160.0
    # Plan with the servers' measured / predicted latency ratios, as the partitioner node does with
    # ServerStatus (off: the profile as is, so that evaluations do not depend on timing noise).
    adapt_latency: bool = False
    latency_smoothing: float = 0.3
    latency_margin_sigmas: float = 1.0

    def __post_init__(self):
        if self.num_servers < 1:
            raise ValueError("num_servers must be >= 1")
        if self.partitioner not in PARTITIONERS:
            raise ValueError(f"partitioner must be one of {PARTITIONERS}, got '{self.partitioner}'")
        if self.policy_check_value not in CHECK_VALUES:
            raise ValueError(f"policy_check_value must be one of {CHECK_VALUES}, got '{self.policy_check_value}'")
        if self.budget_ms <= 0:
            raise ValueError("budget_ms must be > 0")
        if not 0.0 <= self.coarse_artefact_span <= 1.0 or not 0.0 < self.coarse_artefact_aspect < math.inf:
            raise ValueError("coarse_artefact_span must be in [0, 1] (0: off) and coarse_artefact_aspect > 0")
        if not self.fusion_max_input_area >= 0:
            raise ValueError("fusion_max_input_area must be >= 0 (0: off)")
        if not self.plan_max_input_area >= 0:
            raise ValueError("plan_max_input_area must be >= 0 (0: off)")
        if not self.plan_max_person_height >= 0 or math.isinf(self.plan_max_person_height):
            raise ValueError("plan_max_person_height must be a finite number >= 0 (0: off)")
        if not 0.0 <= self.block_margin_height <= 10.0:
            raise ValueError("block_margin_height must be in [0, 10] (0: off)")
        if self.budget_reserve_ms < 0:
            raise ValueError("budget_reserve_ms must be >= 0")
        if self.max_box_weight < 1:
            raise ValueError("max_box_weight must be >= 1")
        if not 0.0 <= self.hidden_spread <= 100.0:
            raise ValueError("hidden_spread must be in [0, 100]")
        if self.spend_splits < 0 or not 0.0 <= self.spend_min_slack <= 1.0:
            raise ValueError("spend_splits must be >= 0 and spend_min_slack in [0, 1]")
        if not 0.0 < self.latency_smoothing <= 1.0 or self.latency_margin_sigmas < 0:
            raise ValueError("latency_smoothing must be in (0, 1] and latency_margin_sigmas >= 0")
        if self.greedy_steps < 0:
            raise ValueError("greedy_steps must be >= 0")
        if not 0.0 <= self.search_share < 1.0:
            raise ValueError("search_share must be in [0, 1)")
        if not 0.0 < self.coarse_budget_share <= 1.0:
            raise ValueError("coarse_budget_share must be in (0, 1]")
        self.coarse_sizes = tuple(int(v) for v in self.coarse_sizes)
        if any(v < 32 for v in self.coarse_sizes):
            raise ValueError("coarse_sizes must be >= 32")
        self.uniform_grid = tuple(int(v) for v in self.uniform_grid)
        self.spend_margins = tuple(int(v) for v in self.spend_margins)
        if any(v < 0 for v in self.spend_margins):
            raise ValueError("spend_margins must be >= 0")

    @classmethod
    def from_dict(cls, values: dict) -> "RePoseConfig":
        """Build a config from a mapping; unknown keys are an error (typos must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str) -> "RePoseConfig":
        """Read a config from a YAML file (a mapping, optionally under a ``repose:`` key)."""
        import yaml

        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        return cls.from_dict(data.get("repose", data))

    def to_dict(self) -> dict:
        """Return the config as plain types."""
        d = asdict(self)
        d["uniform_grid"] = list(self.uniform_grid)
        d["spend_margins"] = list(self.spend_margins)
        d["coarse_sizes"] = list(self.coarse_sizes)
        return d
