"""One source of defaults: config/repose.yaml states exactly the nodes' declared defaults, which take the core's."""
import pathlib

import pytest
import yaml

pytest.importorskip("rclpy")

from repose_ros.core.config import RePoseConfig  # noqa: E402
from repose_ros.nodes import aggregator, camera, edge_detector, partitioner, replay  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
YAML = yaml.safe_load((ROOT / "config" / "repose.yaml").read_text())
NODES = {"camera": camera.CAMERA_PARAMS, "partitioner": partitioner.PARAMS, "aggregator": aggregator.PARAMS,
         "edge_detector": edge_detector.PARAMS}


def _yaml_values(node):
    vals = dict(YAML["/**"]["ros__parameters"])
    vals.update((YAML.get(f"/**/{node}") or {}).get("ros__parameters", {}))
    return vals


@pytest.mark.parametrize("node", list(NODES))
def test_yaml_states_the_declared_defaults(node):
    declared = {p.name: p.default for p in NODES[node]}
    differ = {k: (declared[k], v) for k, v in _yaml_values(node).items() if k in declared and declared[k] != v}
    assert not differ, f"{node}: declared default vs config/repose.yaml: {differ}"


def test_every_yaml_parameter_is_declared_by_a_node():
    declared = set()
    for params in [*NODES.values(), replay.PARAMS]:
        declared |= {p.name for p in params}
    for key, block in YAML.items():
        stray = set(block["ros__parameters"]) - declared
        assert not stray, f"{key}: {sorted(stray)} are declared by no node"


def test_node_defaults_are_the_core_defaults():
    core = RePoseConfig()
    part = {p.name: p.default for p in partitioner.PARAMS}
    cam = {p.name: p.default for p in camera.CAMERA_PARAMS}
    for name in ("partitioner", "budget_ms", "budget_reserve_ms", "block_margin", "block_min_size", "search_share",
                 "policy", "policy_check", "policy_check_value", "hidden_spread", "plan_max_input_area",
                 "plan_upscale_gain", "block_margin_height", "hidden_whole", "plan_max_person_height"):
        assert part[name] == getattr(core, name), name
    for name in ("coarse_model", "coarse_conf", "coarse_iou", "coarse_budget_share", "coarse_artefact_span",
                 "coarse_artefact_aspect"):
        assert cam[name.replace("coarse_", "coarse.")] == getattr(core, name), name
    assert tuple(cam["coarse.sizes"]) == core.coarse_sizes
    assert cam["num_servers"] == part["num_servers"] == core.num_servers
    agg = {p.name: p.default for p in aggregator.PARAMS}
    for name in ("fusion_iou", "fusion_max_input_area", "fusion_drop_unconfirmed", "fusion_answer_oversized"):
        assert agg[name.replace("fusion_", "fusion.")] == getattr(core, name), name
    assert agg["fusion.method"] == core.fusion
