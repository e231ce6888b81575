"""Train RL-DCA's scale choice (:mod:`repose_ros.core.dca.scale`) from measured partition-study rows.

Data: JSON files of ``repose partition-study`` run with candidates ``meanshift`` and
``bandwidth:F``. Each (file, frame, budget) with every scale measured is one sample: its
observation (the row's ``features``) and one reward per scale (the frame's mAP50:95 under it;
``meanshift`` is scale 1.0).

Training: a one-step episode per sample whose every action was measured, so the expected reward
of the softmax policy, ``J = mean_s sum_a pi(a | s) (r(s, a) - mean_a r(s, a))``, and its
gradient are exact; the actor (two hidden layers of 128, ReLU) follows it with Adam, an entropy
bonus (``entropy``) and weight decay. Rewards are centred per sample (only differences between
scales matter) and divided by their overall spread so that settings do not depend on the
metric's range. Seeded: the same files and settings give the same policy.

:func:`cross_validate` holds frames out (all budgets of a frame together, folds by frame) and
reports the mean reward of the arg-max choice on the held-out frames next to always taking one
scale, so that a policy is judged on frames it did not learn from. :func:`cross_validate_studies`
holds out whole studies instead (fit on the others), which asks whether what was learnt on some
kinds of scene carries over to another: frames of one study share a scene or a camera, so
frame-wise folds can look better than a new place would.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from repose_ros.core.dca.scale import SCALE_FEATURES, ScalePolicy

__all__ = ["ScaleSamples", "load_study_samples", "fit_scale_policy", "cross_validate", "cross_validate_studies",
           "plot_scale_curve"]


class ScaleSamples:
    """Observations ``x`` (n, F), rewards ``r`` (n, A) per scale, ``groups`` (n,) frame ids, ``scales`` (A,).

    ``studies`` (n,): the index of the study file each sample came from (``None`` when unknown), what
    :func:`cross_validate_studies` holds out by.
    """

    def __init__(self, x: np.ndarray, r: np.ndarray, groups: np.ndarray, scales: Sequence[float],
                 budgets: np.ndarray, studies: Optional[np.ndarray] = None) -> None:
        self.x = np.asarray(x, np.float64).reshape(-1, len(SCALE_FEATURES))
        self.r = np.asarray(r, np.float64).reshape(len(self.x), -1)
        self.groups = np.asarray(groups)
        self.scales = tuple(float(s) for s in scales)
        self.budgets = np.asarray(budgets, np.float64)
        self.studies = None if studies is None else np.asarray(studies, np.int64)
        if self.r.shape[1] != len(self.scales) or len(self.groups) != len(self.x) or len(self.budgets) != len(self.x):
            raise ValueError("samples: x, r, groups and budgets must agree")
        if self.studies is not None and self.studies.shape != (len(self.x),):
            raise ValueError("samples: one study index per sample")

    def __len__(self) -> int:
        return len(self.x)


def _scale_of(candidate: str) -> Optional[float]:
    """Bandwidth multiplier of a partition-study candidate name (``meanshift``: 1.0), None for other kinds."""
    from repose_ros.evaluation.partition_study import parse_candidate

    c = parse_candidate(candidate)
    return 1.0 if c.kind == "meanshift" else c.arg if c.kind == "bandwidth" else None


def load_study_samples(paths: Sequence[str]) -> ScaleSamples:
    """Read partition-study JSONs into samples (module docstring); ValueError when they hold none.

    The scales are those measured in every file (``meanshift`` = 1.0, ``bandwidth:F`` = F); a
    (frame, budget) lacking one of them, its features or an AP (a frame without people) is left out.
    """
    studies = []
    for p in paths:
        d = json.loads(Path(p).read_text(encoding="utf-8"))
        if list(d.get("feature_names", [])) != list(SCALE_FEATURES):
            raise ValueError(f"{p}: rows carry features {d.get('feature_names')}, expected {list(SCALE_FEATURES)} "
                             "(run repose partition-study of this version)")
        studies.append((str(p), d))
    common: Optional[set] = None
    for _, d in studies:
        have = {s for s in (_scale_of(c) for c in d.get("candidates", [])) if s is not None}
        common = have if common is None else common & have
    scales = sorted(common or ())
    if len(scales) < 2:
        raise ValueError(f"the studies share fewer than two scales ({scales}): run them with --candidates "
                         "meanshift,bandwidth:F,...")
    xs, rs, groups, budgets, study_of = [], [], [], [], []
    for fi, (p, d) in enumerate(studies):
        cells: Dict[Tuple[int, float], Dict[float, Any]] = {}
        for row in d["rows"]:
            s = _scale_of(row["candidate"])
            if s is None or s not in scales:
                continue
            cells.setdefault((int(row["frame"]), float(row["budget_ms"])), {})[s] = row
        for (frame, budget), by in sorted(cells.items()):
            if len(by) != len(scales) or any(by[s].get("ap50_95") is None or "features" not in by[s] for s in scales):
                continue
            xs.append(by[1.0 if 1.0 in by else scales[0]]["features"])
            rs.append([by[s]["ap50_95"] for s in scales])
            groups.append(f"{fi}:{frame}")
            budgets.append(budget)
            study_of.append(fi)
    if not xs:
        raise ValueError("no (frame, budget) in the studies has every scale measured")
    return ScaleSamples(np.array(xs), np.array(rs), np.array(groups), scales, np.array(budgets), np.array(study_of))


def _advantages(r: np.ndarray) -> np.ndarray:
    """Rewards centred per sample and divided by their overall spread."""
    adv = r - r.mean(axis=1, keepdims=True)
    return adv / (float(adv.std()) or 1.0)


def _fixed(r: np.ndarray, scales: Sequence[float]) -> Dict[str, float]:
    """Mean reward of always taking each scale."""
    return {f"{s:g}": float(r[:, k].mean()) for k, s in enumerate(scales)}


def fit_scale_policy(samples: ScaleSamples, hidden: Sequence[int] = (128, 128), epochs: int = 300,
                     lr: float = 1e-3, weight_decay: float = 1e-3, entropy: float = 0.05, seed: int = 0,
                     index: Optional[np.ndarray] = None,
                     on_epoch: Optional[Callable[[int, float], None]] = None) -> Tuple[ScalePolicy, List[float]]:
    """Fit the actor on ``samples`` (or their rows ``index``); return ``(policy, objective per epoch)``.

    The objective is the mean centred, spread-normalised reward of the softmax policy (module
    docstring); full batch, Adam.
    """
    import torch

    from repose_ros.core.dca.policy import NumpyActor

    idx = np.arange(len(samples)) if index is None else np.asarray(index)
    if len(idx) == 0:
        raise ValueError("no samples to fit")
    x = samples.x[idx]
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    adv = _advantages(samples.r[idx])
    torch.manual_seed(int(seed))
    layers: List[Any] = []
    width = x.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
        width = int(h)
    head = torch.nn.Linear(width, len(samples.scales))
    torch.nn.init.zeros_(head.weight)  # start uniform over the scales
    torch.nn.init.zeros_(head.bias)
    net = torch.nn.Sequential(*layers, head)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    at = torch.as_tensor(adv, dtype=torch.float32)
    curve: List[float] = []
    for ep in range(int(epochs)):
        logp = torch.log_softmax(net(xt), dim=1)
        p = logp.exp()
        objective = (p * at).sum(dim=1).mean()
        ent = -(p * logp).sum(dim=1).mean()
        loss = -(objective + entropy * ent)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(float(objective.detach()))
        if on_epoch is not None:
            on_epoch(ep, curve[-1])
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    actor = NumpyActor([m.weight.detach().numpy() for m in lin], [m.bias.detach().numpy() for m in lin], "relu")
    policy = ScalePolicy(actor, samples.scales, mean, std,
                         {"hidden": list(hidden), "epochs": int(epochs), "lr": lr, "weight_decay": weight_decay,
                          "entropy": entropy, "seed": int(seed), "samples": int(len(idx))})
    return policy, curve


def _choose(policy: ScalePolicy, x: np.ndarray) -> np.ndarray:
    return np.asarray(policy.actor.act((x - policy.mean) / policy.std)).reshape(-1)


def evaluate_choice(policy: ScalePolicy, samples: ScaleSamples, index: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Mean reward (frame mAP50:95) of the policy's arg-max choice on ``samples[index]``, next to each fixed scale."""
    idx = np.arange(len(samples)) if index is None else np.asarray(index)
    a = _choose(policy, samples.x[idx])
    r = samples.r[idx]
    return {"policy": float(r[np.arange(len(idx)), a].mean()),
            "fixed": _fixed(r, samples.scales),
            "best_per_sample": float(r.max(axis=1).mean()),
            "chosen": {f"{s:g}": int(np.sum(a == k)) for k, s in enumerate(samples.scales)}}


def cross_validate(samples: ScaleSamples, folds: int = 5, seed: int = 0, **fit_kwargs: Any) -> Dict[str, Any]:
    """Fit on all frames but one fold, choose on the fold; return the pooled held-out figures.

    Frames (all budgets of one frame together) are dealt to ``folds`` folds at random (``seed``).
    Returns the held-out mean reward of the policy and of each fixed scale, per budget too.
    """
    uniq = np.unique(samples.groups)
    if len(uniq) < folds or folds < 2:
        raise ValueError(f"need at least {max(folds, 2)} frames for {folds}-fold cross-validation, have {len(uniq)}")
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(uniq), np.arange(len(uniq)) % folds))
    fold = np.array([fold_of[g] for g in samples.groups])
    chosen = np.zeros(len(samples), np.int64)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        if len(test) == 0:
            continue
        pol, _ = fit_scale_policy(samples, seed=seed, index=np.flatnonzero(fold != k), **fit_kwargs)
        chosen[test] = _choose(pol, samples.x[test])
    got = samples.r[np.arange(len(samples)), chosen]
    out: Dict[str, Any] = {"folds": folds, "samples": len(samples), "policy": float(got.mean()),
                           "fixed": _fixed(samples.r, samples.scales),
                           "per_budget": {}}
    for b in sorted(set(samples.budgets.tolist())):
        m = samples.budgets == b
        out["per_budget"][f"{b:g}"] = {"n": int(m.sum()), "policy": float(got[m].mean()),
                                       **{f"scale {s:g}": float(samples.r[m, k].mean())
                                          for k, s in enumerate(samples.scales)}}
    out["chosen"] = {f"{s:g}": int(np.sum(chosen == k)) for k, s in enumerate(samples.scales)}
    return out


def cross_validate_studies(samples: ScaleSamples, names: Optional[Sequence[str]] = None, seed: int = 0,
                           **fit_kwargs: Any) -> Dict[str, Any]:
    """Hold out each study in turn (fit on the others, choose on it); return the figures per held-out study.

    Per study: its samples, the held-out mean reward of the policy, of every fixed scale, and of
    ``trained_best``, the fixed scale best on the other studies (what a constant learnt there would
    pick). ``names``: the studies' names in the order of :func:`load_study_samples`' files.
    ValueError when the samples carry no study index or come from fewer than two studies.
    """
    if samples.studies is None:
        raise ValueError("hold-out by study needs each sample's study (samples of load_study_samples)")
    study = samples.studies
    ids = sorted(set(study.tolist()))
    if len(ids) < 2:
        raise ValueError("hold-out by study needs at least two studies")
    out: Dict[str, Any] = {}
    for sid in ids:
        test, train = np.flatnonzero(study == sid), np.flatnonzero(study != sid)
        pol, _ = fit_scale_policy(samples, seed=seed, index=train, **fit_kwargs)
        got = samples.r[test, _choose(pol, samples.x[test])]
        best = int(np.argmax(samples.r[train].mean(axis=0)))
        name = names[sid] if names is not None and sid < len(names) else sid
        constant = {"scale": samples.scales[best], "reward": float(samples.r[test, best].mean())}
        out[str(name)] = {"samples": int(len(test)), "policy": float(got.mean()),
                          "fixed": _fixed(samples.r[test], samples.scales), "trained_best": constant}
    return out


def plot_scale_curve(curve: Sequence[float], path: str, title: str = "RL-DCA scale choice") -> None:
    """Write the objective per epoch (mean centred reward of the softmax policy) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(curve) + 1), curve)
    ax.set_xlabel("epoch (full batch)")
    ax.set_ylabel("expected reward (centred, normalised)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
