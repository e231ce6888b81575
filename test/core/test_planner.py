"""Tests of repose_ros.core.planner: MCKP by DP, brute force, multi-server plans."""
import json
import math
import time

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from repose_ros.core.blocks import Block, Rect
from repose_ros.core.planner import Plan, _repair, brute_force_mckp, plan_blocks, solve_mckp
from repose_ros.core.profiles import Profiles

FAST = settings(max_examples=150, deadline=None)


# -- solve_mckp -------------------------------------------------------------------------------
@pytest.mark.parametrize("values, costs, cap, choice, value", [
    ([[1, 3], [2, 5]], [[1, 3], [1, 4]], 5, [0, 1], 6.0),          # beats (1, 0): cost 4, value 5
    ([[1, 3], [2, 5]], [[1, 3], [1, 4]], 7, [1, 1], 8.0),
    ([[1, 3], [2, 5]], [[1, 3], [1, 4]], 2, [0, 0], 3.0),
    ([[0, 0, 1]], [[0, 5, 2]], 0, [0], 0.0),                         # zero-cost option at capacity 0
    ([[4, 1]], [[math.inf, 1]], 10, [1], 1.0),                       # infinite cost forbids option 0
    ([[2, 2, 2]], [[5, 1, 3]], 10, [1], 2.0),                        # equal values: cheapest chosen
])
def test_solve_mckp_cases(values, costs, cap, choice, value):
    """Small instances with known optimum."""
    res = solve_mckp(np.array(values, float), np.array(costs, float), cap)
    assert res.feasible
    assert res.choice.tolist() == choice
    assert res.value == pytest.approx(value)
    assert res.cost <= cap


def test_solve_mckp_infeasible_returns_cheapest():
    """When even the cheapest options do not fit, the cheapest choice comes back, infeasible."""
    res = solve_mckp(np.array([[5.0, 1.0], [3.0, 2.0]]), np.array([[4.0, 2.0], [9.0, 3.0]]), 4)
    assert not res.feasible
    assert res.choice.tolist() == [1, 1]
    assert res.cost == 5.0


def test_solve_mckp_rounds_costs_up():
    """Rounded-up costs: 2 x 0.6 ms with 1 ms resolution needs 2 cells, so 1.2 ms does not fit."""
    v, c = np.ones((2, 1)), np.full((2, 1), 0.6)
    assert not solve_mckp(v, c, 1.2, resolution=1.0).feasible
    assert solve_mckp(v, c, 1.2, resolution=0.1).feasible
    assert solve_mckp(v, c, 2.0, resolution=1.0).feasible


@pytest.mark.parametrize("kwargs, match", [
    ({"values": np.ones((2, 2)), "costs": np.ones((2, 3))}, "shape"),
    ({"values": np.array([[np.nan]]), "costs": np.ones((1, 1))}, "finite"),
    ({"costs": -np.ones((1, 1))}, ">= 0"),
    ({"resolution": 0.0}, "resolution"),
    ({"capacity": -1.0}, "capacity"),
    ({"costs": np.full((3, 1), 1e6), "values": np.ones((3, 1)), "capacity": 1e9, "resolution": 1e-3},
     "too large"),
])
def test_solve_mckp_validation(kwargs, match):
    """Bad arguments raise ValueError."""
    args = {"values": np.ones((1, 1)), "costs": np.ones((1, 1)), "capacity": 5.0, "resolution": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solve_mckp(**args)


def test_solve_mckp_no_items():
    """Zero items: feasible, empty choice."""
    res = solve_mckp(np.zeros((0, 3)), np.zeros((0, 3)), 10)
    assert res.feasible and res.choice.size == 0 and res.value == 0.0


@st.composite
def mckp_instances(draw, integer_costs=True):
    """Random instances with <= 5 items and <= 4 options."""
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, 4))
    values = np.array(draw(st.lists(st.floats(0, 10), min_size=n * m, max_size=n * m))).reshape(n, m)
    if integer_costs:
        costs = np.array(draw(st.lists(st.integers(0, 20), min_size=n * m, max_size=n * m)), float)
    else:
        costs = np.array(draw(st.lists(st.floats(0, 20), min_size=n * m, max_size=n * m)))
    cap = draw(st.integers(0, 70))
    return values, costs.reshape(n, m), cap


@FAST
@given(mckp_instances(integer_costs=True))
def test_dp_equals_brute_force(inst):
    """With integer costs (1 ms resolution) the DP value equals the brute-force optimum."""
    values, costs, cap = inst
    res = solve_mckp(values, costs, cap)
    best, best_value = brute_force_mckp(values, costs, cap)
    assert res.feasible == (best is not None)
    if best is not None:
        idx = np.arange(len(values))
        assert res.value == pytest.approx(best_value, abs=1e-9)
        assert res.value == pytest.approx(values[idx, res.choice].sum())
        assert costs[idx, res.choice].sum() <= cap


def _plain_mckp(values, costs, cap):
    """A textbook DP (every option tried, the first one wins ties, least-cost optimal cell) for comparison."""
    n, m = values.shape
    dp = np.zeros(cap + 1)
    choice = np.zeros((n, cap + 1), dtype=int)
    for b in range(n):
        nxt = np.full(cap + 1, -np.inf)
        for c in range(cap + 1):
            for o in range(m):
                k = int(costs[b, o])
                if k <= c and dp[c - k] + values[b, o] > nxt[c]:
                    nxt[c], choice[b, c] = dp[c - k] + values[b, o], o
        dp = nxt
    if not np.isfinite(dp[cap]):
        return None
    cell = int(np.argmax(dp >= dp[cap] - 1e-12 * max(1.0, abs(dp[cap]))))
    picked = []
    for b in range(n - 1, -1, -1):
        picked.append(choice[b, cell])
        cell -= int(costs[b, picked[-1]])
    return picked[::-1]


@FAST
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 40), st.data())
def test_dp_takes_the_plan_a_plain_dp_takes(n, m, cap, data):
    """Ties included (few distinct values and costs, repeated options), the DP's choice is the textbook DP's."""
    values = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5]), min_size=n * m, max_size=n * m)))
    costs = np.array(data.draw(st.lists(st.integers(0, 12), min_size=n * m, max_size=n * m)), float)
    values, costs = values.reshape(n, m), costs.reshape(n, m)
    res = solve_mckp(values, costs, cap)
    want = _plain_mckp(values, costs, cap)
    assert res.feasible == (want is not None)
    if want is not None:
        assert res.choice.tolist() == want


@FAST
@given(mckp_instances(integer_costs=False), st.sampled_from([0.25, 1.0, 3.0]))
def test_dp_with_rounding_never_exceeds(inst, resolution):
    """With real costs the DP never exceeds the capacity and never beats brute force."""
    values, costs, cap = inst
    res = solve_mckp(values, costs, cap, resolution)
    _, best_value = brute_force_mckp(values, costs, cap)
    if res.feasible:
        idx = np.arange(len(values))
        assert costs[idx, res.choice].sum() <= cap
        assert res.value <= best_value + 1e-9


# -- plan_blocks ------------------------------------------------------------------------------
def two_model_profile(fast_server=None):
    """small@100 (10 ms) and big@400 (30 ms); precision 0.05 / 0.1 / 0.9 by area."""
    lat_small, lat_big = {"default": 10.0}, {"default": 30.0}
    if fast_server:
        lat_small[fast_server], lat_big[fast_server] = 5.0, 15.0
    bins = [[10, 0.05], [100, 0.1], [math.inf, 0.9]]
    return Profiles.from_dict({
        "meta": {"source": "test"},
        "models": [{"key": "small@100", "weights": "s.pt", "imgsz": 100},
                   {"key": "big@400", "weights": "b.pt", "imgsz": 400}],
        "latency_ms": {"small@100": lat_small, "big@400": lat_big},
        "precision": {"small@100": bins, "big@400": bins},
    })


# Block A: 10 boxes gaining 0.8 each from the big model; block B: 1 box gaining 0.85.
BLOCKS_AB = [Rect(0, 0, 400, 400), Rect(400, 0, 800, 400)]
AREAS_AB = [np.full(10, 400.0), np.array([150.0])]


@pytest.mark.parametrize("weight, upgraded", [("boxes", 0), ("uniform", 1)])
def test_weighting_changes_the_choice(weight, upgraded):
    """Box-count weighting upgrades the crowded block; uniform weighting the better-gaining one."""
    plan = plan_blocks(BLOCKS_AB, AREAS_AB, two_model_profile(), 40, 1, weight=weight)
    assert plan.feasible and plan.reason == ""
    assert [bp.model_key for bp in plan.blocks] == [
        "big@400" if i == upgraded else "small@100" for i in range(2)]
    assert plan.makespan_ms == 40.0 and plan.weight == weight
    assert [bp.n_boxes for bp in plan.blocks] == [10, 1]


@pytest.mark.parametrize("budget, servers, feasible, models", [
    (5, 1, False, ["small@100", "small@100"]),      # no model fits at all
    (15, 1, False, ["small@100", "small@100"]),     # cheapest plan needs 20 ms on one server
    (19.9, 1, False, ["small@100", "small@100"]),   # ... also when only slightly over
    (20, 1, True, ["small@100", "small@100"]),
    (15, 2, True, ["small@100", "small@100"]),      # one block per server
    (30, 2, True, ["big@400", "big@400"]),
    (60, 1, True, ["big@400", "big@400"]),
])
def test_budget_and_servers(budget, servers, feasible, models):
    """Feasibility, per-server loads and choices for a table of budgets and server counts."""
    plan = plan_blocks(BLOCKS_AB, AREAS_AB, two_model_profile(), budget, servers)
    assert plan.feasible is feasible
    assert [bp.model_key for bp in plan.blocks] == models
    assert (plan.reason == "") is feasible
    assert set(plan.server_load_ms) == set(range(servers))
    for sid, load in plan.server_load_ms.items():
        assert load == pytest.approx(sum(bp.expected_latency_ms for bp in plan.blocks_on(sid)))
    assert plan.makespan_ms == max(plan.server_load_ms.values())


def test_heterogeneous_servers_use_the_fast_one():
    """A server twice as fast takes twice the work; its own latencies are reported."""
    prof = two_model_profile(fast_server="gpu")
    blocks = [Rect(0, 0, 400, 400)] * 3
    areas = [np.full(5, 400.0)] * 3
    plan = plan_blocks(blocks, areas, prof, 30, ["gpu", "cpu"])
    assert plan.feasible
    assert plan.server_load_ms["gpu"] <= 30 and plan.server_load_ms["cpu"] <= 30
    assert [bp.model_key for bp in plan.blocks] == ["big@400"] * 3
    assert sorted(bp.server_id for bp in plan.blocks) == ["cpu", "gpu", "gpu"]
    assert {bp.expected_latency_ms for bp in plan.blocks_on("gpu")} == {15.0}


def test_harmonic_mean_capacity_needs_no_repair():
    """Servers 2x apart: the DP's harmonic-mean costs pick a plan that packs without downgrades.

    Aggregate costs are 20 ms (big) and 6.7 ms (small) for 2 x 30 ms of capacity, so the DP takes
    two big models; they fit (gpu: 15 + 15, cpu: 10 + 10). Three big models would not.
    """
    prof = two_model_profile(fast_server="gpu")
    plan = plan_blocks([Rect(0, 0, 400, 400)] * 4, [np.full(5, 400.0)] * 4, prof, 30, ["gpu", "cpu"])
    assert plan.feasible and plan.stats["downgrades"] == 0
    assert sorted(bp.model_key for bp in plan.blocks) == ["big@400"] * 2 + ["small@100"] * 2
    assert plan.server_load_ms == {"gpu": 30.0, "cpu": 20.0}


def test_repair_prefers_a_sufficient_downgrade():
    """Two servers, models 10/20/25 ms: the DP's (big, big, small) overloads one server by 5 ms.

    Downgrading block 0 to mid (saves 5 ms, loses 0.1) removes the excess; the per-ms rule alone
    would take small (saves 15 ms, loses 0.2, less per ms) and end with a worse plan.
    """
    bins = [[25, 0.5], [100, 0.6], [math.inf, 0.7]]
    prof = Profiles.from_dict({
        "models": [{"key": f"m@{s}", "weights": "m.pt", "imgsz": s} for s in (100, 200, 400)],
        "latency_ms": {"m@100": {"default": 10.0}, "m@200": {"default": 20.0}, "m@400": {"default": 25.0}},
        "precision": {f"m@{s}": bins for s in (100, 200, 400)}})
    plan = plan_blocks([Rect(0, 0, 400, 400)] * 3, [[400.0], [400.0], []], prof, 30, 2)
    assert plan.feasible and plan.stats["downgrades"] == 1
    assert [bp.model_key for bp in plan.blocks] == ["m@200", "m@400", "m@100"]
    assert plan.total_value == pytest.approx(1.3)


def test_repair_falls_back_to_least_loss_per_ms():
    """One server 20 ms over budget, no single downgrade saves that much: least loss per ms first.

    Models cost 10 / 18 / 25 ms. Block 0 -> mid loses 0.1 for 7 ms (the best ratio); then block 1
    -> small saves 15 >= the remaining 13 ms of excess. The result is the optimum (mid, small).
    """
    values = np.array([[0.3, 0.9, 1.0], [0.45, 0.5, 1.0]])
    lat = np.array([[10.0], [18.0], [25.0]])
    model_of, server_of, load, n = _repair(np.array([2, 2]), values, lat, lat[:, 0], np.ones(3, bool), 30.0)
    assert model_of.tolist() == [1, 0] and n == 2 and load.tolist() == [28.0]
    best, best_value = brute_force_mckp(values, np.tile(lat[:, 0], (2, 1)), 30.0)
    assert best == (1, 0) and best_value == pytest.approx(1.35)


def test_block_inputs_and_empty_blocks():
    """Blocks may be Block, Rect or (w, h); zero-box blocks get the cheapest model; no blocks is fine."""
    prof = two_model_profile()
    blocks = [Block(Rect(0, 0, 400, 400), np.arange(3)), Rect(0, 0, 400, 400), (400, 400)]
    plan = plan_blocks(blocks, [np.full(3, 400.0), [], np.full(2, 400.0)], prof, 1000, 1)
    assert [bp.model_key for bp in plan.blocks] == ["big@400", "small@100", "big@400"]
    assert plan.blocks[1].expected_precision == 0.0
    empty = plan_blocks([], [], prof, 10, 2)
    assert empty.feasible and empty.blocks == [] and empty.server_load_ms == {0: 0.0, 1: 0.0}


def test_model_subset_and_json():
    """model_keys restricts the candidates; to_dict is JSON-serialisable."""
    plan = plan_blocks(BLOCKS_AB, AREAS_AB, two_model_profile(), 1000, 2, model_keys=["small@100"])
    assert {bp.model_key for bp in plan.blocks} == {"small@100"}
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["feasible"] is True and len(d["blocks"]) == 2 and set(d["server_load_ms"]) == {"0", "1"}
    assert isinstance(plan, Plan)


@pytest.mark.parametrize("kwargs, exc", [
    ({"weight": "area"}, ValueError),
    ({"budget_ms": -1}, ValueError),
    ({"servers": 0}, ValueError),
    ({"servers": ["a", "a"]}, ValueError),
    ({"servers": []}, ValueError),
    ({"box_areas_per_block": [[1.0]]}, ValueError),
    ({"model_keys": ["nope@1"]}, KeyError),
])
def test_plan_blocks_validation(kwargs, exc):
    """Bad arguments raise."""
    args = {"blocks": BLOCKS_AB, "box_areas_per_block": AREAS_AB, "profiles": two_model_profile(),
            "budget_ms": 40, "servers": 1}
    args.update(kwargs)
    with pytest.raises(exc):
        plan_blocks(**args)


@st.composite
def planning_instances(draw, integer_latency=True, max_servers=3, square_blocks=False):
    """Random profile (<= 4 models, per-server latencies), <= 5 blocks, budget, server list.

    With ``square_blocks`` every block is square, so that its shape-aware latency is exactly the
    profiled figure (whole milliseconds with ``integer_latency``).
    """
    n_models = draw(st.integers(1, 4))
    sizes = sorted(draw(st.lists(st.sampled_from([64, 128, 256, 512, 1024]), min_size=n_models,
                                 max_size=n_models, unique=True)))
    n_servers = draw(st.integers(1, max_servers))
    servers = ["s0", "s1", "s2"][:n_servers]
    lat_value = st.integers(1, 60).map(float) if integer_latency else st.floats(0.5, 60)
    models, latency, precision = [], {}, {}
    for s in sizes:
        key = f"m@{s}"
        models.append({"key": key, "weights": "m.pt", "imgsz": s})
        latency[key] = {"default": draw(lat_value)}
        for sid in servers:
            if draw(st.booleans()):
                latency[key][sid] = draw(lat_value)
        bounds = sorted(draw(st.lists(st.integers(1, 100000), min_size=1, max_size=5, unique=True)))
        precision[key] = [[b, draw(st.floats(0, 1))] for b in bounds]
    prof = Profiles.from_dict({"models": models, "latency_ms": latency, "precision": precision})
    n_blocks = draw(st.integers(1, 5))
    blocks = [(draw(st.integers(8, 2000)), draw(st.integers(8, 2000))) for _ in range(n_blocks)]
    if square_blocks:
        blocks = [(w, w) for w, _ in blocks]
    areas = [draw(st.lists(st.floats(1, 40000), max_size=6)) for _ in range(n_blocks)]
    budget = draw(st.integers(0, 150))
    weight = draw(st.sampled_from(["boxes", "uniform"]))
    return prof, blocks, areas, budget, servers, weight


def _check_plan(plan, prof, budget, servers, blocks):
    loads = {s: 0.0 for s in servers}
    for bp in plan.blocks:
        w, h = blocks[bp.block_index]
        assert bp.expected_latency_ms == pytest.approx(prof.block_latency(bp.model_key, w, h, bp.server_id))
        loads[bp.server_id] += bp.expected_latency_ms
    for s in servers:
        assert plan.server_load_ms[s] == pytest.approx(loads[s])
        if plan.feasible:
            assert loads[s] <= budget


@FAST
@given(planning_instances(integer_latency=False))
def test_feasible_plans_never_exceed_budget(inst):
    """Whatever the servers, a plan that says feasible keeps every server within the budget."""
    prof, blocks, areas, budget, servers, weight = inst
    plan = plan_blocks(blocks, areas, prof, budget, servers, weight=weight)
    _check_plan(plan, prof, budget, servers, blocks)
    assert plan.feasible == (plan.reason == "")


@FAST
@given(planning_instances(integer_latency=False, max_servers=1))
def test_one_server_feasible_iff_brute_force(inst):
    """On one server the plan is feasible exactly when brute force finds a feasible choice."""
    prof, blocks, areas, budget, servers, weight = inst
    plan = plan_blocks(blocks, areas, prof, budget, servers, weight=weight)
    costs = prof.block_latency_matrix(blocks, servers)[:, :, 0]
    best, _ = brute_force_mckp(np.zeros_like(costs), costs, budget)
    assert plan.feasible == (best is not None)
    _check_plan(plan, prof, budget, servers, blocks)


@FAST
@given(planning_instances(integer_latency=True, max_servers=1, square_blocks=True))
def test_one_server_plan_is_optimal(inst):
    """On one server with whole-ms latencies the plan's value equals the brute-force optimum."""
    prof, blocks, areas, budget, servers, weight = inst
    plan = plan_blocks(blocks, areas, prof, budget, servers, weight=weight)
    prec = prof.expected_precision_matrix(blocks, areas)
    w = np.array([len(a) for a in areas], float) if weight == "boxes" else np.ones(len(blocks))
    values = prec * w[:, None]
    costs = prof.block_latency_matrix(blocks, servers)[:, :, 0]
    best, best_value = brute_force_mckp(values, costs, budget)
    assume(best is not None)
    assert plan.feasible
    assert plan.total_value == pytest.approx(best_value, abs=1e-9)
    assert plan.total_value == pytest.approx(
        sum(bp.expected_precision * (bp.n_boxes if weight == "boxes" else 1) for bp in plan.blocks))


def test_plan_speed_default_profile():
    """15 blocks x 5 models at 3000 ms on 4 servers plans in a few ms (loose bound for slow CI)."""
    prof = Profiles.default()
    rng = np.random.default_rng(0)
    blocks = [Rect(0, 0, int(w), int(h)) for w, h in rng.integers(200, 2000, (15, 2))]
    areas = [rng.uniform(100, 20000, n) for n in rng.multinomial(300, [1 / 15] * 15)]
    times = []
    for _ in range(7):
        t = time.perf_counter()
        plan = plan_blocks(blocks, areas, prof, 3000, 4)
        times.append(time.perf_counter() - t)
    assert plan.feasible and plan.makespan_ms <= 3000
    assert sorted(times)[3] < 0.05


# -- shape-aware costs and leaving blocks out ---------------------------------------------------
def test_shape_aware_costs_fit_more_wide_blocks():
    """A 400x100 strip costs a quarter of the square at big@400 (tensor 128x416 vs 416x416 pixels)."""
    prof = two_model_profile()
    strips = [(400, 100)] * 4
    areas = [np.full(5, 400.0)] * 4
    shaped = plan_blocks(strips, areas, prof, 40, 1)
    square = plan_blocks(strips, areas, prof, 40, 1, shape_aware=False)
    assert [bp.model_key for bp in square.blocks].count("big@400") == 0  # 4 x 10 ms fill the budget
    assert [bp.model_key for bp in shaped.blocks].count("big@400") >= 3
    assert shaped.feasible and shaped.makespan_ms <= 40
    for bp in shaped.blocks:
        assert bp.expected_latency_ms == pytest.approx(prof.block_latency(bp.model_key, 400, 100))


def test_skip_option_leaves_out_the_least_valuable_blocks():
    """Budget for one big block of three: the others are left out (their skip value), the plan fits."""
    prof = two_model_profile()
    blocks = [Rect(0, 0, 400, 400)] * 3
    areas = [np.full(10, 400.0), np.full(2, 400.0), np.full(1, 400.0)]
    plan = plan_blocks(blocks, areas, prof, 30, 1, skip_values=[0.0, 0.0, 0.5])
    assert plan.feasible and plan.reason == ""
    assert [bp.block_index for bp in plan.blocks] == [0] and plan.blocks[0].model_key == "big@400"
    assert plan.skipped == [1, 2]
    assert plan.total_value == pytest.approx(9.0 + 0.5)
    # budget 0: everything is left out, still a feasible (empty) plan
    none = plan_blocks(blocks, areas, prof, 0, 2, skip_values=[0.0] * 3)
    assert none.feasible and none.blocks == [] and none.skipped == [0, 1, 2] and none.makespan_ms == 0.0


def test_box_weights_make_a_block_count_more():
    """Weights (people a coarse box stands for) move the upgrade to the block whose boxes weigh more."""
    prof = two_model_profile()
    areas = [np.full(2, 400.0), np.full(3, 400.0)]
    plain = plan_blocks(BLOCKS_AB, areas, prof, 40, 1)
    weighted = plan_blocks(BLOCKS_AB, areas, prof, 40, 1, box_weights_per_block=[np.full(2, 4.0), np.ones(3)])
    assert [bp.model_key for bp in plain.blocks] == ["small@100", "big@400"]
    assert [bp.model_key for bp in weighted.blocks] == ["big@400", "small@100"]
    assert [bp.n_boxes for bp in weighted.blocks] == [2, 3]  # n_boxes stays the number of boxes


def test_upscale_cap_runs_small_blocks_below_the_key_size():
    """With upscale_cap 2 a 100x50 block runs big@400 at 224 (ceil32 of 200), cheaper than at 400."""
    d = two_model_profile().to_dict()
    d["upscale_cap"] = 2.0
    prof = Profiles.from_dict(d)
    plan = plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, model_keys=["big@400"])
    assert plan.blocks[0].imgsz == 224
    assert plan.blocks[0].expected_latency_ms < prof.latency("big@400")


def _decision(p):
    return p.block_index, p.model_key, p.server_id, p.expected_latency_ms, p.expected_precision, p.imgsz


def test_memo_gives_the_same_plans_and_computes_each_block_once(monkeypatch):
    prof = Profiles.default()
    rng = np.random.default_rng(7)
    blocks = [Rect(0, 0, int(w), int(h)) for w, h in rng.integers(64, 1500, (6, 2))]
    areas = [rng.uniform(200, 8000, int(n)) for n in rng.integers(0, 12, 6)]
    weights = [rng.uniform(1, 3, a.size) for a in areas]
    # block 6: block 0's size with other boxes (the memo must tell them apart)
    blocks.append(Rect(10, 10, 10 + blocks[0].w, 10 + blocks[0].h))
    areas.append(rng.uniform(200, 8000, 5))
    weights.append(np.ones(5))
    computed = {"fresh": 0, "memo": 0}
    mode = ["fresh"]
    real = prof.block_latency_matrix

    def counting(wh, *args, **kwargs):
        computed[mode[0]] += len(wh)
        return real(wh, *args, **kwargs)

    monkeypatch.setattr(prof, "block_latency_matrix", counting)
    memo = {}
    for budget in (40.0, 150.0, 900.0):
        for subset in ([0, 1, 2, 3, 4, 5], [5, 3, 1], [2, 4], [6, 0]):
            kw = dict(box_weights_per_block=[weights[i] for i in subset], skip_values=[0.5] * len(subset))
            args = ([blocks[i] for i in subset], [areas[i] for i in subset], prof, budget, 3)
            mode[0] = "fresh"
            a = plan_blocks(*args, **kw)
            mode[0] = "memo"
            b = plan_blocks(*args, memo=memo, **kw)
            assert [_decision(p) for p in a.blocks] == [_decision(p) for p in b.blocks]
            assert (a.total_value, a.makespan_ms, a.feasible, a.skipped) == \
                (b.total_value, b.makespan_ms, b.feasible, b.skipped)
    # Without the memo every call computes every block (3 budgets x 13 blocks); with it, each block once.
    assert computed == {"fresh": 39, "memo": 7}


def test_cap_values_reach_the_plan_and_the_memo_tells_them_apart():
    """cap_area / cap_values_per_block: plans with and without them differ, a memo keeps them apart."""
    prof = Profiles.default()
    blocks = [Rect(0, 0, 640, 640), Rect(0, 0, 300, 300)]
    areas = [np.array([200.0 * 500.0, 30.0 * 60.0]), np.array([80.0 * 150.0])]
    caps = [np.array([0.95, np.nan]), np.array([0.95])]
    memo = {}
    plain = plan_blocks(blocks, areas, prof, 100000.0, 2)
    capped = plan_blocks(blocks, areas, prof, 100000.0, 2, cap_area=65536.0, cap_values_per_block=caps)
    for m in (memo, None):
        again = plan_blocks(blocks, areas, prof, 100000.0, 2, cap_area=65536.0, cap_values_per_block=caps, memo=m)
        assert again.total_value == pytest.approx(capped.total_value)
        assert plan_blocks(blocks, areas, prof, 100000.0, 2, memo=m).total_value == pytest.approx(plain.total_value)
    # an oversized person worth 0.95 via its coarse box: the plan is worth more than by the profile's fall
    assert capped.total_value > plain.total_value + 0.1
    assert plan_blocks(blocks, areas, prof, 100000.0, 2, cap_area=0.0,
                       cap_values_per_block=caps).total_value == pytest.approx(plain.total_value)
    with pytest.raises(ValueError, match="one cap value list per block"):
        plan_blocks(blocks, areas, prof, 1000.0, 2, cap_area=65536.0, cap_values_per_block=caps[:1])


def test_an_enlargement_limit_runs_a_block_at_the_limit_and_the_memo_tells_limits_apart():
    """enlarge_per_block: the block runs at the limited size with that size's latency; another limit, another row."""
    prof = two_model_profile()
    free = plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, model_keys=["big@400"])
    limited = plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, model_keys=["big@400"],
                          enlarge_per_block=[1.5])
    assert free.blocks[0].imgsz == 400 and limited.blocks[0].imgsz == 160  # ceil32(150)
    assert limited.blocks[0].expected_latency_ms < free.blocks[0].expected_latency_ms
    memo: dict = {}
    a = plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, model_keys=["big@400"], memo=memo,
                    enlarge_per_block=[1.5])
    b = plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, model_keys=["big@400"], memo=memo,
                    enlarge_per_block=[math.inf])
    assert (a.blocks[0].imgsz, b.blocks[0].imgsz) == (160, 400)
    with pytest.raises(ValueError, match="one enlargement limit per block"):
        plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, enlarge_per_block=[1.0, 2.0])
    with pytest.raises(ValueError, match="must be > 0"):
        plan_blocks([(100, 50)], [np.full(1, 100.0)], prof, 1000, 1, enlarge_per_block=[0.0])
