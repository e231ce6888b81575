"""The benchmark goals judged on method entries (repose_ros.cli.eval_goals)."""
from repose_ros.cli.eval_goals import best_at_most, goal_checks, points


def m(fam, setting, mp, par, budget=None, p95=None):
    out = {"family": fam, "setting": setting, "map50_95": mp, "parallel_latency_ms": par}
    if budget is not None:
        out.update(budget_ms=budget, parallel_latency_p95_ms=p95 if p95 is not None else par)
    return out


METHODS = {
    "full_frame@640": m("full_frame", "640", 0.05, 300.0),
    "full_frame@3840": m("full_frame", "3840", 0.20, 9000.0),
    "uniform@2x2-640": m("uniform", "2x2-640", 0.08, 400.0),
    "uniform@2x2-1920": m("uniform", "2x2-1920", 0.14, 1900.0),
    "sahi@640-nms": m("sahi", "640-nms", 0.12, 9000.0),
    "sahi@640-greedynmm": m("sahi", "640-greedynmm", 0.30, 9000.0),
    "remix@1000": m("remix", "1000", 0.10, 950.0, 1000),
    "meanshift@1000": m("meanshift", "1000", 0.11, 900.0, 1000),
    "meanshift@2000": m("meanshift", "2000", 0.17, 1900.0, 2000),
    "rl_dca@1000": m("rl_dca", "1000", 0.12, 950.0, 1000, p95=1050.0),
    "rl_dca@2000": m("rl_dca", "2000", 0.21, 1950.0, 2000, p95=2150.0),
}


def _checks(methods, kind="sparse"):
    return {c["goal"]: c["met"] for c in goal_checks(methods, kind)}


def test_points_and_best_at_most():
    uni = points(METHODS, "uniform")
    assert [p[0] for p in uni] == ["uniform@2x2-640", "uniform@2x2-1920"]
    assert best_at_most(uni, 1000.0)[0] == "uniform@2x2-640"
    assert best_at_most(uni, 100.0) is None


def test_sparse_goals():
    c = _checks(METHODS)
    # 0.12 / 0.08 = 1.5 and 0.21 / 0.14 = 1.5 -> met
    assert c[">= 1.25x best uniform tiling at equal or lower latency"] is True
    assert c[">= REMIX-style at equal or lower latency"] is True
    assert c[">= 1.25x best full frame at equal or lower latency"] is True
    # SAHI's NMS entry is the reference (not its greedy-NMM one); rl_dca@2000 at <= 4.5 s beats 0.12
    assert c[">= best SAHI (NMS merging) at <= half its latency"] is True
    assert c["moonshot: >= full frame at native 3840 at <= 1/4 of its latency"] is True
    assert c["p95 parallel latency <= 1.1x budget"] is True  # 1.05x and 1.075x
    assert c["rl_dca >= meanshift + 0.005 at every budget"] is True


def test_sparse_goals_missed():
    methods = dict(METHODS)
    methods["rl_dca@2000"] = m("rl_dca", "2000", 0.17, 1950.0, 2000, p95=2300.0)
    c = _checks(methods)
    assert c[">= 1.25x best uniform tiling at equal or lower latency"] is False   # 0.17 / 0.14 = 1.21
    assert c["p95 parallel latency <= 1.1x budget"] is False                        # 1.15x
    assert c["rl_dca >= meanshift + 0.005 at every budget"] is False               # 0.17 vs 0.17
    assert c["moonshot: >= full frame at native 3840 at <= 1/4 of its latency"] is False


def test_moonshot_only_at_the_native_width():
    """Full frame at 3840 is native for 4K frames only; frames of mixed or other widths are not judged."""
    moon = "moonshot: >= full frame at native 3840 at <= 1/4 of its latency"
    assert moon in _checks(METHODS)
    assert not any(g["goal"].startswith("moonshot") for g in goal_checks(METHODS, "sparse", native_width=None))
    assert not any(g["goal"].startswith("moonshot") for g in goal_checks(METHODS, "sparse", native_width=1920))


def test_dense_goal_allows_a_small_margin():
    methods = {"uniform@2x2-1280": m("uniform", "2x2-1280", 0.20, 900.0),
               "rl_dca@1000": m("rl_dca", "1000", 0.196, 990.0, 1000)}
    assert _checks(methods, "dense")[">= uniform tiling at equal latency (within 0.005)"] is True
    methods["rl_dca@1000"]["map50_95"] = 0.194
    assert _checks(methods, "dense")[">= uniform tiling at equal latency (within 0.005)"] is False


def test_nothing_to_compare_is_not_a_verdict():
    methods = {"uniform@2x2-1920": m("uniform", "2x2-1920", 0.14, 1900.0),
               "rl_dca@1000": m("rl_dca", "1000", 0.12, 950.0, 1000)}
    assert _checks(methods)[">= 1.25x best uniform tiling at equal or lower latency"] is None
    assert goal_checks({}, "sparse")[0]["met"] is None


def test_goal_detail_carries_the_paired_interval_of_its_reference():
    methods = {k: dict(v) for k, v in METHODS.items()}
    methods["rl_dca@1000"]["paired"] = {"vs": "meanshift@1000", "diff": 0.01, "low": -0.004, "high": 0.021,
                                        "level": 0.95}
    details = {c["goal"]: c["detail"] for c in goal_checks(methods, "sparse")}
    ms = details["rl_dca >= meanshift + 0.005 at every budget"]
    assert "rl_dca@1000 0.120 vs 0.110 (diff +0.010, 95% interval [-0.004, +0.021])" in ms
    assert "rl_dca@2000 0.210 vs 0.170;" not in ms and ms.endswith("rl_dca@2000 0.210 vs 0.170")  # not paired
