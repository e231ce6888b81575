"""Tests of RL-DCA: state features, merge/split actions, reward, environment, policy inference."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repose_ros.training import dca as T
from repose_ros.core.dca import actions as dca_actions
from repose_ros.core.dca import paper_reward as dca_paper_reward
from repose_ros.core.dca import policy as dca_policy
from repose_ros.core.dca import state as dca_state
from repose_ros.datasets.layouts import panda_like_layout

M = dca_state.DEFAULT_MAX_CLUSTERS


def _boxes(centres, size=4.0):
    c = np.asarray(centres, dtype=np.float32)
    return np.concatenate([c - size / 2, c + size / 2], axis=1)


def _same_partition(a, b):
    """Return True when two labelings group the boxes identically."""
    a, b = np.asarray(a), np.asarray(b)
    return all(len(set(b[a == k])) == 1 for k in set(a)) and len(set(a)) == len(set(b))


# ----------------------------------------------------------------------------- actions


def test_merge_merges_exactly_the_closest_pair():
    # four clusters; centroids of clusters 1 and 3 are the closest pair
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [0.5, 0.5], [0.5, 0.6], [1.0, 0.0], [0.55, 0.72]])
    labels = np.array([0, 0, 1, 1, 2, 3])
    merged = dca_actions.merge_closest(labels, pts)
    assert merged.max() + 1 == 3
    np.testing.assert_array_equal(merged, [0, 0, 1, 1, 2, 1])
    # a single cluster cannot be merged
    np.testing.assert_array_equal(dca_actions.merge_closest(np.zeros(3, int), pts[:3]), [0, 0, 0])


def test_merge_uses_given_centroids():
    pts = np.array([[0.0, 0.0], [0.2, 0.0], [1.0, 0.0]])
    labels = np.array([0, 1, 2])
    # real centroids: (0,1) closest; pretend (1,2) coincide
    out = dca_actions.merge_closest(labels, pts, centroids=np.array([[0.0, 0.0], [0.5, 0.0], [0.5, 0.0]]))
    np.testing.assert_array_equal(out, [0, 1, 1])


@pytest.mark.parametrize("axis", [0, 1])
def test_split_along_larger_variance_axis(axis):
    rng = np.random.default_rng(axis)
    n = 40
    pts = np.zeros((n, 2))
    pts[:, axis] = np.concatenate([rng.uniform(0.0, 0.3, n // 2), rng.uniform(0.6, 0.9, n // 2)])
    pts[:, 1 - axis] = rng.uniform(0.4, 0.5, n)  # small spread on the other axis
    other = np.array([[0.95, 0.95], [0.96, 0.95]])
    all_pts = np.concatenate([pts, other])
    labels = np.concatenate([np.zeros(n, int), np.ones(2, int)])
    out = dca_actions.split_cluster(labels, 0, all_pts)
    assert out.max() + 1 == 3
    np.testing.assert_array_equal(dca_actions.split_cluster(labels, 0, all_pts, k=2), out)  # K given
    np.testing.assert_array_equal(out[n:], [1, 1])  # other clusters untouched
    a, b = pts[out[:n] == 0, axis], pts[out[:n] == 2, axis]
    assert len(a) and len(b)
    assert a.max() < b.min()  # separable by a threshold on the split axis
    # the found cut is the obvious gap
    assert a.max() <= 0.3 and b.min() >= 0.6


def test_split_prefers_y_on_ties_and_rejects_degenerate():
    pts = np.array([[0.0, 0.0], [1.0, 1.0]])  # equal variances -> y
    out = dca_actions.split_cluster(np.zeros(2, int), 0, pts)
    assert sorted(out.tolist()) == [0, 1]
    same = np.array([[0.3, 0.3], [0.3, 0.3], [0.3, 0.3]])
    np.testing.assert_array_equal(dca_actions.split_cluster(np.zeros(3, int), 0, same), [0, 0, 0])
    np.testing.assert_array_equal(dca_actions.split_cluster(np.array([0, 1]), 1, pts), [0, 1])  # one box


def _sse(x):
    return float(((x - x.mean()) ** 2).sum())


def test_two_means_1d_is_exact():
    rng = np.random.default_rng(1)
    for _ in range(30):
        v = np.sort(rng.normal(size=int(rng.integers(2, 25))))
        t = dca_actions.two_means_1d(v)
        costs = [_sse(v[:i]) + _sse(v[i:]) for i in range(1, len(v))]
        assert t == int(np.argmin(costs)) + 1
    assert dca_actions.two_means_1d(np.array([1.0, 1.0, 1.0])) == 0
    assert dca_actions.two_means_1d(np.array([0.0, 1.0, 1.0, 1.0])) == 1


def test_apply_action_validity():
    b = _boxes([[10, 10], [12, 10], [90, 90]])
    s = dca_state.ClusterState(b, [0, 0, 1], 100, 100)
    same, valid = dca_actions.apply_action(s, dca_state.ACTION_KEEP, M)
    assert valid and same is s
    # order: the 2-box cluster first, so split index 1 is the 1-box cluster -> invalid
    assert dca_actions.apply_action(s, 2 + 1, M)[1] is False
    assert dca_actions.apply_action(s, 2 + 5, M)[1] is False  # beyond K
    s2, valid = dca_actions.apply_action(s, 2 + 0, M)
    assert valid and s2.k == 3
    one = dca_state.ClusterState(b, [0, 0, 0], 100, 100)
    assert dca_actions.apply_action(one, dca_state.ACTION_MERGE, M)[1] is False


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
    actions=st.lists(st.integers(min_value=0, max_value=1 + M), max_size=25),
)
def test_every_box_always_labelled(n, seed, actions):
    rng = np.random.default_rng(seed)
    b = _boxes(rng.uniform(5, 95, (n, 2)))
    s = dca_state.ClusterState(b, rng.integers(0, 4, n), 100, 100)
    for a in actions:
        s, _ = dca_actions.apply_action(s, a, M)
        assert s.labels.shape == (n,)
        assert set(s.labels.tolist()) == set(range(s.k))
        assert 1 <= s.k <= n
        assert s.features(M).shape == (5 * M + 1,)


# ----------------------------------------------------------------------------- state


def test_features_shape_order_and_padding():
    b = _boxes([[10, 10], [20, 10], [30, 10], [80, 60]], size=10)
    s = dca_state.ClusterState(b, [5, 5, 5, 2], 100, 200)
    f = s.features(4)
    assert f.shape == (21,) and f.dtype == np.float32
    # largest cluster first: centroid (0.2, 0.05), size (0.1, 0.05), 3/4 of the boxes
    np.testing.assert_allclose(f[:5], [0.2, 0.05, 0.1, 0.05, 0.75], rtol=1e-6)
    np.testing.assert_allclose(f[5:10], [0.8, 0.3, 0.1, 0.05, 0.25], rtol=1e-6)
    assert np.all(f[10:20] == 0)
    assert f[-1] == pytest.approx(2 / 4)


def test_features_truncate():
    b = _boxes([[10 * i + 5, 50] for i in range(6)])
    s = dca_state.ClusterState(b, np.arange(6), 100, 100)
    f = s.features(3)
    assert f.shape == (16,)
    assert np.all(f[:15].reshape(3, 5)[:, 4] > 0)  # all slots filled
    assert f[-1] == pytest.approx(2.0)  # K / max_clusters
    # ties in count: sorted by y then x
    np.testing.assert_allclose(f[0], 0.05, rtol=1e-6)


def test_extended_features_add_spreads():
    b = _boxes([[10, 10], [30, 10], [80, 60]], size=10)
    s = dca_state.ClusterState(b, [0, 0, 1], 100, 100)
    f = s.features(3, extended=True)
    assert f.shape == (dca_state.feature_size(3, True),) == (25,)
    np.testing.assert_allclose(f[:5], s.features(3)[:5])
    np.testing.assert_allclose(f[5:8], [0.1, 0.0, 0.0], atol=1e-7)  # std x = 0.1, equal areas
    np.testing.assert_allclose(f[13:16], 0.0)  # single box: no spread
    assert np.all(f[16:24] == 0) and f[-1] == pytest.approx(2 / 3)
    env = T.make_env(max_clusters=3, extended_state=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (25,) and env.observation_space.contains(obs)


def test_rldca_infers_extended_state():
    n_in = dca_state.feature_size(4, True)
    bias = np.zeros(6)
    bias[dca_state.ACTION_MERGE] = 1.0
    actor = dca_policy.NumpyActor([np.zeros((6, n_in))], [bias])
    r = dca_policy.RLDCA(actor=actor, max_steps=1)
    assert r.extended_state and r.max_clusters == 4
    b = panda_like_layout(np.random.default_rng(0), n_boxes=80)
    init = dca_policy.RLDCA.meanshift_only().cluster(b, 3840, 2160)
    assert r.refine(b, 3840, 2160).max() == init.max() - 1
    with pytest.raises(ValueError):
        dca_policy.RLDCA(actor=actor, extended_state=False)


def test_features_empty():
    s = dca_state.ClusterState(np.zeros((0, 4), np.float32), np.zeros(0, int), 100, 100)
    assert s.k == 0 and np.all(s.features(4) == 0)


# ----------------------------------------------------------------------------- reward


def _tiny_state():
    # centres (0.1, 0.1), (0.3, 0.1), (0.9, 0.9); areas 4, 12, 8 px^2 (relative 0.5, 1.5, 1.0)
    b = np.array([[9, 9, 11, 11], [29, 7, 31, 13], [89, 88, 91, 92]], dtype=np.float32)
    return dca_state.ClusterState(b, [0, 0, 1], 100, 100)


def test_reward_terms_hand_computed():
    s = _tiny_state()
    np.testing.assert_allclose(s.rel_areas, [0.5, 1.5, 1.0])
    assert dca_paper_reward.tightness(s.points, s.labels, "boxes") == pytest.approx(2 * 0.1 / 3)
    assert dca_paper_reward.tightness(s.points, s.labels, "clusters") == pytest.approx(0.05)
    assert dca_paper_reward.area_variance(s.rel_areas, s.labels, "boxes") == pytest.approx(2 * 0.25 / 3)
    assert dca_paper_reward.area_variance(s.rel_areas, s.labels, "clusters") == pytest.approx(0.125)
    assert dca_paper_reward.count_penalty(1, 2, 8) == 1.0
    assert dca_paper_reward.count_penalty(11, 2, 8) == 3.0
    assert dca_paper_reward.count_penalty(5, 2, 8) == 0.0
    assert dca_paper_reward.count_penalty(1, 2, 8, n_boxes=1) == 0.0
    assert dca_paper_reward.close_penalty(np.array([[0, 0], [0.05, 0], [1, 1], [1, 1.01]]), 0.08) == 2.0
    cfg = dca_paper_reward.RewardConfig(k_min=3, d_min=0.5)
    t = dca_paper_reward.reward_terms(s, cfg)
    assert t["count"] == 1.0 and t["close"] == 0.0
    expected = -(cfg.w_tight * 0.2 / 3 + cfg.w_area * 0.5 / 3 + cfg.w_count * 1.0)
    assert dca_paper_reward.cluster_score(s, cfg) == pytest.approx(expected)


def test_planner_hook():
    calls = []

    def hook(xyxy, labels, w, h):
        calls.append((xyxy.shape, labels.tolist(), w, h))
        return 0.8

    s = _tiny_state()
    base = dca_paper_reward.cluster_score(s, dca_paper_reward.RewardConfig())
    cfg = dca_paper_reward.RewardConfig(planner_value=hook)
    assert dca_paper_reward.cluster_score(s, cfg) == pytest.approx(base)  # weight 0
    assert not calls
    with_hook = dca_paper_reward.cluster_score(s, dca_paper_reward.RewardConfig(w_planner=2.0, planner_value=hook))
    assert with_hook == pytest.approx(base + 1.6)
    assert calls == [((3, 4), [0, 0, 1], 100.0, 100.0)]


def test_box_weighting_does_not_reward_splitting_off_outliers():
    # one cluster of 20 packed boxes plus one box slightly off: cutting that box off makes a
    # singleton; with uniform averaging that halves the mean tightness, with box weighting it
    # barely changes it.
    pts = np.concatenate([np.full((20, 2), 50.0) + np.linspace(-2, 2, 20)[:, None], [[60.0, 50.0]]])
    s = dca_state.ClusterState(_boxes(pts), np.zeros(21, int), 100, 100)
    cut = s.with_labels(np.r_[np.zeros(20, int), 1])
    for w in ("boxes", "clusters"):
        before = dca_paper_reward.tightness(s.points, s.labels, w)
        after = dca_paper_reward.tightness(cut.points, cut.labels, w)
        if w == "clusters":
            assert after < 0.6 * before
        else:
            assert after > 0.6 * before


def test_reward_config_roundtrip():
    cfg = dca_paper_reward.RewardConfig(w_tight=2.0, k_max=5, planner_value=lambda *a: 0.0)
    d = cfg.to_dict()
    assert d["planner_hook"] is True and "planner_value" not in d
    json.dumps(d)
    back = dca_paper_reward.RewardConfig.from_dict(d)
    assert back.w_tight == 2.0 and back.k_max == 5 and back.planner_value is None


# ----------------------------------------------------------------------------- environment


def test_env_is_deterministic_with_seed():
    actions = [2, 1, 3, 0, 2, 4, 1, 2]

    def run(seed):
        env = T.make_env(max_steps=8)
        obs, _ = env.reset(seed=seed)
        trace = [obs]
        for a in actions:
            obs, r, term, trunc, info = env.step(a)
            trace.append(np.r_[obs, r, float(term), float(trunc)])
        return np.concatenate(trace)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_env_rewards_are_score_differences():
    env = T.make_env(max_steps=8, reward_config=dca_paper_reward.RewardConfig(step_cost=0.0))
    _, info = env.reset(seed=1)
    score = info["score"]
    total = 0.0
    for a in [2, 2, 1, 3]:
        _, r, _, _, info = env.step(a)
        total += r
        if info["valid"]:
            assert r == pytest.approx(info["score"] - score)
        score = info["score"]
    assert env.observation_space.contains(env.state.features(env.max_clusters))


def test_env_invalid_action_penalty_and_truncation():
    layouts = [_boxes([[100, 100], [3000, 2000]])]
    cfg = dca_paper_reward.RewardConfig()
    env = T.make_env(layout_source=layouts, max_steps=3, reward_config=cfg)
    env.reset(seed=0)
    k = env.state.k
    _, r, term, trunc, info = env.step(2 + 10)  # split an absent cluster
    assert r == pytest.approx(-cfg.invalid_penalty) and not info["valid"] and env.state.k == k
    _, r, term, trunc, _ = env.step(0)
    assert r == 0.0 and not term and not trunc
    _, _, term, trunc, _ = env.step(0)
    assert trunc and not term


def test_env_layout_with_size():
    env = T.make_env(layout_source=lambda rng: (_boxes(rng.uniform(0, 600, (5, 2))), 640, 480))
    obs, _ = env.reset(seed=0)
    assert env.state.frame_w == 640 and obs.shape == (5 * M + 1,)


# ----------------------------------------------------------------------------- policy inference


def _ppo_model(env):
    """A small untrained PPO model of the shipped architecture on ``env`` (seed 0)."""
    import torch
    from stable_baselines3 import PPO

    torch.manual_seed(0)
    return PPO("MlpPolicy", env, policy_kwargs=dict(net_arch=T.NET_ARCH, activation_fn=torch.nn.ReLU),
               device="cpu", seed=0, n_steps=64, batch_size=64)


def _ppo(max_clusters=4):
    import torch

    env = T.make_env(max_clusters=max_clusters)
    model = _ppo_model(env)
    with torch.no_grad():  # larger logits than the near-uniform initial head: no near-ties
        model.policy.action_net.weight.mul_(300.0)
        model.policy.action_net.bias.zero_()
    return model


def test_numpy_actor_matches_sb3_predict(tmp_path):
    model = _ppo()
    actor = dca_policy.extract_actor_weights(model)
    rng = np.random.default_rng(0)
    obs = rng.random((300, 21)).astype(np.float32)
    obs[:, -1] *= 2
    ref, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actor.act(obs), ref)
    assert len(set(ref.tolist())) > 1
    for o, a in zip(obs[:20], ref[:20]):
        assert actor.act(o) == int(a)
    # npz round trip
    actor.save_npz(tmp_path / "p.npz", {"max_clusters": 4})
    back, meta = dca_policy.NumpyActor.load_npz(tmp_path / "p.npz")
    assert meta["max_clusters"] == 4
    np.testing.assert_array_equal(back.act(obs), ref)


def test_rldca_loads_zip_without_npz(tmp_path):
    model = _ppo()
    model.save(str(tmp_path / "p.zip"))
    r = dca_policy.RLDCA(tmp_path / "p.zip")
    assert r.max_clusters == 4
    obs = np.random.default_rng(1).random((50, 21)).astype(np.float32)
    np.testing.assert_array_equal(r.actor.act(obs), model.predict(obs, deterministic=True)[0])


def _const_actor(action, max_clusters=M):
    n_in, n_act = 5 * max_clusters + 1, 2 + max_clusters
    bias = np.zeros(n_act)
    bias[action] = 1.0
    return dca_policy.NumpyActor([np.zeros((n_act, n_in))], [bias])


def test_refine_runs_policy_and_stops_on_keep():
    rng = np.random.default_rng(0)
    b = panda_like_layout(rng, n_boxes=120)
    ms = dca_policy.RLDCA.meanshift_only()
    init = ms.cluster(b, 3840, 2160)
    assert init.max() + 1 >= 3
    keep = dca_policy.RLDCA(actor=_const_actor(dca_state.ACTION_KEEP))
    np.testing.assert_array_equal(keep.refine(b, 3840, 2160), init)
    merge = dca_policy.RLDCA(actor=_const_actor(dca_state.ACTION_MERGE), max_steps=2)
    out = merge.refine(b, 3840, 2160, labels=init)
    assert out.max() + 1 == init.max() + 1 - 2
    merge_all = dca_policy.RLDCA(actor=_const_actor(dca_state.ACTION_MERGE), max_steps=50)
    np.testing.assert_array_equal(merge_all.refine(b, 3840, 2160), np.zeros(len(b)))
    split = dca_policy.RLDCA(actor=_const_actor(2), max_steps=3)
    assert split.refine(b, 3840, 2160).max() + 1 == init.max() + 1 + 3


def test_refine_with_a_value_check_keeps_only_actions_that_raise_it():
    rng = np.random.default_rng(0)
    b = panda_like_layout(rng, n_boxes=120)
    init = dca_policy.RLDCA.meanshift_only().cluster(b, 3840, 2160)
    k0 = init.max() + 1
    merge = dca_policy.RLDCA(actor=_const_actor(dca_state.ACTION_MERGE), max_steps=5)
    seen = []

    def fewer_down_to(k_min):
        def value(labels):
            seen.append(labels.max() + 1)
            return -abs(labels.max() + 1 - k_min)
        return value

    # a value that peaks two merges below the start: two merges kept, the third (lower) refused
    out = merge.refine(b, 3840, 2160, labels=init, value=fewer_down_to(k0 - 2))
    assert out.max() + 1 == k0 - 2 and seen == [k0, k0 - 1, k0 - 2, k0 - 3]
    # a value no action raises: the clustering is left as it was, after one plan for the first action
    seen.clear()
    out = merge.refine(b, 3840, 2160, labels=init, value=lambda labels: seen.append(1) or 0.0)
    np.testing.assert_array_equal(out, init)
    assert len(seen) == 2
    # a value every action raises: what the policy does unchecked
    np.testing.assert_array_equal(merge.refine(b, 3840, 2160, labels=init, value=lambda labels: -labels.max()),
                                  merge.refine(b, 3840, 2160, labels=init))


def test_raises_value_ignores_float_noise_relative_to_the_value():
    from repose_ros.core.dca.state import raises_value

    assert raises_value(1.01, 1.0) and not raises_value(1.0, 1.0)
    assert not raises_value(1.0 + 5e-7, 1.0) and raises_value(1.0 + 2e-6, 1.0)
    # relative to large values, absolute (1e-6) near zero and for negative values
    assert not raises_value(1000.0 + 5e-4, 1000.0) and raises_value(1000.0 + 2e-3, 1000.0)
    assert raises_value(2e-6, 0.0) and not raises_value(5e-7, 0.0)
    assert raises_value(-1.0, -2.0) and not raises_value(-2.0 + 1e-6, -2.0)
    assert not raises_value(float("-inf"), float("-inf")) and raises_value(0.0, float("-inf"))


def test_refine_small_inputs():
    r = dca_policy.RLDCA(actor=_const_actor(dca_state.ACTION_MERGE))
    assert r.refine(np.zeros((0, 4), np.float32), 100, 100).shape == (0,)
    np.testing.assert_array_equal(r.refine(np.array([[0, 0, 5, 5]], np.float32), 100, 100), [0])


def test_meanshift_only_needs_no_policy(tmp_path):
    r = dca_policy.RLDCA(tmp_path / "missing.zip", use_policy=False)
    b = _boxes([[10, 10], [12, 12]])
    np.testing.assert_array_equal(r.cluster(b, 100, 100), [0, 0])
    with pytest.raises(FileNotFoundError):
        dca_policy.RLDCA(tmp_path / "missing.zip").cluster(b, 100, 100)


def test_rldca_rejects_mismatched_policy(tmp_path):
    with pytest.raises(ValueError):
        dca_policy.RLDCA(actor=_const_actor(0, max_clusters=4), max_clusters=5)
    assert dca_policy.RLDCA(actor=_const_actor(0, max_clusters=4)).max_clusters == 4
    _const_actor(0, max_clusters=4).save_npz(tmp_path / "p.npz", {"max_clusters": 4})
    with pytest.raises(ValueError):
        dca_policy.RLDCA(tmp_path / "p.zip", max_clusters=6).load()


def test_default_policy_path():
    p = dca_policy.default_policy_path()
    assert p.name == "rl_dca_policy.zip" and p.parent.name == "data"
    assert p.parent.parent.name == "repose_ros"


def test_shipped_policy_loads_and_matches_zip():
    p = dca_policy.default_policy_path()
    if not p.is_file() or not p.with_suffix(".npz").is_file():
        pytest.skip("no shipped policy")
    from stable_baselines3 import PPO

    r = dca_policy.RLDCA()
    m = r.max_clusters
    model = PPO.load(str(p), device="cpu")
    obs = np.random.default_rng(2).random((200, dca_state.feature_size(m, r.extended_state, r.uses_context)))
    obs = obs.astype(np.float32)
    np.testing.assert_array_equal(r.actor.act(obs), model.predict(obs, deterministic=True)[0])


def test_train_policy_small_and_reproducible(tmp_path):
    kw = dict(total_timesteps=256, n_envs=2, max_clusters=4, max_steps=4, progress_bar=False,
              n_eval_layouts=2, ppo_kwargs=dict(n_steps=64, batch_size=64, n_epochs=2))
    s1 = T.train_policy(tmp_path / "a.zip", seed=3, **kw)
    s2 = T.train_policy(tmp_path / "b", seed=3, **kw)
    for ext in (".zip", ".npz", ".json"):
        assert (tmp_path / f"a{ext}").is_file() and (tmp_path / f"b{ext}").is_file()
    a, _ = dca_policy.NumpyActor.load_npz(tmp_path / "a.npz")
    b, _ = dca_policy.NumpyActor.load_npz(tmp_path / "b.npz")
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)
    side = json.loads((tmp_path / "a.json").read_text())
    assert side["seed"] == 3 and side["max_clusters"] == 4 and "final_mean_episode_reward" in side
    assert s1["curve"] == s2["curve"]
    assert dca_policy.RLDCA(tmp_path / "a.zip").max_steps == 4


# ----------------------------------------------------------------------------- context (budget, servers)


def test_context_features_scale_and_clip():
    np.testing.assert_allclose(dca_state.context_features(250.0, 4), [0.0, 0.5])
    np.testing.assert_allclose(dca_state.context_features(16000.0, 8), [1.0, 1.0])
    assert dca_state.context_features(500.0, 2)[0] == pytest.approx(1 / 6)
    assert dca_state.context_features(1.0, 100).tolist() == [0.0, 2.0]
    assert dca_state.context_features(1e9, 1)[0] == pytest.approx(1.5)


def test_features_with_context_need_it_and_append_it():
    b = panda_like_layout(np.random.default_rng(0), n_boxes=40)
    s = dca_state.ClusterState(b, dca_policy.RLDCA.meanshift_only().cluster(b, 3840, 2160), 3840, 2160)
    with pytest.raises(ValueError, match="context"):
        s.features(M, context=True)
    s.context = {"budget_ms": 1000.0, "servers": 4}
    f = s.features(M, True, context=True)
    assert f.shape == (dca_state.feature_size(M, True, True),) == (8 * M + 3,)
    np.testing.assert_array_equal(f[:-2], s.features(M, True))
    np.testing.assert_array_equal(f[-2:], dca_state.context_features(1000.0, 4))
    s.context = {"budget_ms": 4000.0, "servers": 2}  # another frame's context: its own values
    np.testing.assert_array_equal(s.features(M, True, context=True)[-2:], dca_state.context_features(4000.0, 2))
    assert s.with_labels(np.zeros(len(b), np.int64)).context == s.context


def _budget_actor(max_clusters=M):
    """Split the largest cluster when the budget is large, keep when it is small (linear, no hidden layer)."""
    n_in, n_act = dca_state.feature_size(max_clusters, False, True), 2 + max_clusters
    w = np.zeros((n_act, n_in))
    bias = np.zeros(n_act)
    w[2, n_in - 2] = 10.0  # budget feature
    bias[2] = -5.0  # split wins above feature 0.5 (a 2 s budget)
    return dca_policy.NumpyActor([w], [bias])


def test_rldca_with_context_reads_budget_and_servers():
    b = panda_like_layout(np.random.default_rng(1), n_boxes=120)
    init = dca_policy.RLDCA.meanshift_only().cluster(b, 3840, 2160)
    r = dca_policy.RLDCA(actor=_budget_actor(), max_steps=2)
    assert r.uses_context and not r.extended_state
    np.testing.assert_array_equal(r.refine(b, 3840, 2160, init, budget_ms=500.0, servers=4), init)
    assert r.refine(b, 3840, 2160, init, budget_ms=8000.0, servers=4).max() == init.max() + 2
    assert r.refine(b, 3840, 2160, init).max() == init.max() + 2  # default 3000 ms
    with pytest.raises(ValueError):
        dca_policy.RLDCA(actor=_budget_actor(), context=False)


def test_env_context_is_observed_and_reaches_the_planner_hook():
    seen = []

    def hook(xyxy, labels, w, h, budget_ms=None, servers=None):
        seen.append((budget_ms, servers))
        return float(labels.max() + 1) / 10.0

    cfg = dca_paper_reward.RewardConfig(w_tight=0, w_area=0, w_count=0, w_close=0, w_planner=1.0, planner_value=hook,
                                        step_cost=0)
    env = T.make_env(reward_config=cfg, context_sampler=lambda rng: (float(rng.choice([500.0, 4000.0])), 3),
                     max_steps=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (dca_state.feature_size(M, False, True),)
    assert env.observation_space.contains(obs)
    assert seen and seen[-1][0] in (500.0, 4000.0) and seen[-1][1] == 3
    np.testing.assert_allclose(obs[-2:], dca_state.context_features(*seen[-1]))
    k = env.state.k
    _, r, *_ = env.step(2)  # split the largest cluster: one more cluster, +0.1
    assert env.state.k == k + 1 and r == pytest.approx(0.1)


# ----------------------------------------------------------------------------- imitation of the greedy look-ahead


def test_greedy_demonstrations_replay_the_greedy_refinement():
    env = T.make_env(max_clusters=6, max_steps=5)
    obs, acts = T.greedy_demonstrations(env, episodes=4, seed=11)
    assert obs.shape == (len(acts), env.observation_space.shape[0]) and obs.dtype == np.float32
    assert len(acts) >= 4 and ((acts >= 0) & (acts < 2 + 6)).all()
    # replay episode by episode: each is what greedy_refine does from the same mean-shift start
    i = 0
    for e in range(4):
        first, _ = env.reset(seed=11 + e)
        start = env.state
        np.testing.assert_array_equal(obs[i], first)
        final = T.greedy_refine(start, env.reward_config, 6, 5)
        state, steps = start, 0
        while i < len(acts) and steps < 5:
            a = int(acts[i])
            i += 1
            if a == dca_state.ACTION_KEEP:
                break
            state, valid = dca_actions.apply_action(state, a, 6)
            assert valid
            steps += 1
        np.testing.assert_array_equal(state.labels, final.labels)
    assert i == len(acts)


def test_demonstrations_can_follow_another_policy_and_label_with_greedy():
    env = T.make_env(max_clusters=6, max_steps=5)
    # a follower that always merges: it visits other states than greedy; each is labelled with greedy's action
    obs, acts = T.greedy_demonstrations(env, episodes=3, seed=4, follow=lambda o: dca_state.ACTION_MERGE)
    i = 0
    for e in range(3):
        first, _ = env.reset(seed=4 + e)
        state = env.state
        for step in range(5):
            np.testing.assert_array_equal(obs[i], state.features(6))
            assert acts[i] == T.greedy_action(state, env.reward_config, 6)
            i += 1
            state, valid = dca_actions.apply_action(state, dca_state.ACTION_MERGE, 6)
            if not valid:
                break
    assert i == len(acts)
    # the follower that keeps at once: one labelled state per layout
    obs, acts = T.greedy_demonstrations(env, episodes=3, seed=4, follow=lambda o: dca_state.ACTION_KEEP)
    assert len(acts) == 3


def test_lookahead_gains_are_the_score_change_of_every_action_and_greedy_takes_the_best():
    env = T.make_env(max_clusters=6, max_steps=5)
    seen_invalid = seen_gain = False
    for e in range(6):
        env.reset(seed=30 + e)
        state, cfg = env.state, env.reward_config
        g = T.lookahead_gains(state, cfg, 6)
        assert g.shape == (8,) and g[dca_state.ACTION_KEEP] == 0.0
        base = dca_paper_reward.cluster_score(state, cfg)
        for a in range(1, 8):
            new, valid = dca_actions.apply_action(state, a, 6)
            if valid:
                assert g[a] == pytest.approx(dca_paper_reward.cluster_score(new, cfg) - base)
            else:
                assert np.isnan(g[a])
                seen_invalid = True
        a = T.greedy_action(state, cfg, 6)
        if np.nanmax(g) > 1e-9:
            assert g[a] == np.nanmax(g)
            seen_gain = True
        else:
            assert a == dca_state.ACTION_KEEP
    assert seen_invalid and seen_gain
    # with gains, demonstrations label each state with the best of its gains
    obs, acts, gains = T.greedy_demonstrations(env, episodes=3, seed=30, with_gains=True)
    assert gains.shape == (len(acts), 8)
    for row, a in zip(gains, acts):
        assert (a == dca_state.ACTION_KEEP and np.nanmax(row) <= 1e-12) or row[a] == np.nanmax(row)


def test_soft_targets_and_regret():
    nan = np.nan
    gains = np.array([[0.0, 0.01, nan, 0.0099], [0.0, -0.02, -0.01, nan]])
    p = T.soft_targets(gains, 0.001)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 2] == 0.0 and p[1, 3] == 0.0
    # a near-tie shares the probability; a gain one temperature behind is e times less likely
    assert p[0, 1] / p[0, 3] == pytest.approx(np.exp(0.1)) and p[0, 1] / p[0, 0] == pytest.approx(np.exp(10))
    assert T.soft_targets(gains, 1e-6)[1].argmax() == 0  # cold: the best action alone (keep here)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            T.soft_targets(gains, bad)
    demo = np.array([1, 0])
    assert T.imitation_regret(gains, demo, demo) == 0.0
    # the near-tie gives up 0.0001; an action that cannot apply stops the refinement: it gives up what keep does
    assert T.imitation_regret(gains, demo, np.array([3, 0])) == pytest.approx(0.0001 / 2)
    assert T.imitation_regret(gains, demo, np.array([2, 0])) == pytest.approx(0.01 / 2)
    # a losing merge where keep was best
    assert T.imitation_regret(gains, demo, np.array([1, 1])) == pytest.approx(0.02 / 2)


def test_imitate_fits_the_actor_to_the_demonstrated_actions():
    env = T.make_env(max_clusters=4, max_steps=4)
    model = _ppo_model(env)
    rng = np.random.default_rng(0)
    obs = rng.random((600, env.observation_space.shape[0])).astype(np.float32)
    acts = np.argmax(obs[:, :3], axis=1)  # a rule the actor can learn
    before = (dca_policy.extract_actor_weights(model).act(obs) == acts).mean()
    res = T.imitate(model.policy, obs, acts, epochs=150, seed=0)
    after = dca_policy.extract_actor_weights(model).act(obs)
    assert res["samples"] == 600 and res["agreement"] == pytest.approx((after == acts).mean())
    assert res["agreement"] > 0.9 > before
    with pytest.raises(ValueError, match="no demonstrations"):
        T.imitate(model.policy, obs[:0], acts[:0])
    with pytest.raises(ValueError, match="gains"):
        T.imitate(model.policy, obs, acts, temperature=0.01)


def test_imitate_with_a_temperature_learns_the_gains_not_only_the_winner():
    env = T.make_env(max_clusters=4, max_steps=4)
    n_act = env.action_space.n
    rng = np.random.default_rng(1)
    obs = rng.random((800, env.observation_space.shape[0])).astype(np.float32)
    # gains: action 1 or 2 is best by the first feature, the other within a hair of it; 3+ lose a lot
    gains = np.full((800, n_act), -0.05)
    gains[:, 0] = 0.0
    first = obs[:, 0] > 0.5
    gains[:, 1] = np.where(first, 0.02, 0.0199)
    gains[:, 2] = np.where(first, 0.0199, 0.02)
    gains[:, 3] = np.nan
    acts = np.where(first, 1, 2)
    model = _ppo_model(env)
    res = T.imitate(model.policy, obs, acts, epochs=100, seed=0, gains=gains, temperature=0.002)
    chosen = dca_policy.extract_actor_weights(model).act(obs)
    assert set(np.unique(chosen)) <= {1, 2}  # never keep, never a losing or impossible action
    assert res["regret"] == pytest.approx(T.imitation_regret(gains, acts, chosen)) and res["regret"] < 1e-4
    assert res["agreement"] == pytest.approx((chosen == acts).mean())


def test_train_policy_imitation_only_keeps_the_cloned_actor(tmp_path):
    def source(rng):
        return panda_like_layout(rng, n_boxes=60)

    kw = dict(total_timesteps=0, n_envs=1, max_clusters=4, max_steps=4, progress_bar=False, n_eval_layouts=5,
              imitation_episodes=30, imitation_epochs=40)
    s = T.train_policy(tmp_path / "bc.zip", layout_source=source, seed=1, **kw)
    im = s["imitation"]
    assert im["episodes"] == 30 and im["samples"] >= 30 and 0.0 <= im["agreement"] <= 1.0 and im["rounds"] == 1
    # DAgger: a second round adds the states the cloned actor visits (greedy-labelled) and fits again
    s2 = T.train_policy(tmp_path / "dagger.zip", layout_source=source, seed=1, imitation_rounds=2,
                        **dict(kw, n_eval_layouts=0))
    assert s2["imitation"]["rounds"] == 2 and s2["imitation"]["samples"] > im["samples"]
    assert s2["imitation"]["agreement_per_round"][0] == im["agreement"]
    assert im["temperature"] == 0.0 and im["regret"] >= 0.0
    # soft targets from the look-ahead's gains: same demonstrations, another fit
    s3 = T.train_policy(tmp_path / "soft.zip", layout_source=source, seed=1, imitation_temperature=0.01,
                        **dict(kw, n_eval_layouts=0))
    assert s3["imitation"]["temperature"] == 0.01 and s3["imitation"]["samples"] == im["samples"]
    assert s3["imitation"]["loss"] != im["loss"]
    assert s["total_timesteps"] == 0 and s["curve"] == []
    r = dca_policy.RLDCA(tmp_path / "bc.zip")
    env = T.make_env(layout_source=source, max_clusters=4, max_steps=4)
    obs, acts = T.greedy_demonstrations(env, episodes=30, seed=1 + 50_000)
    assert (r.actor.act(obs) == acts).mean() == pytest.approx(im["agreement"], abs=1e-6)
