"""Fitting the reward model (torch on CPU, full batch, Adam): Bradley-Terry + dimension heads + GPRC.

Loss, for features ``x`` of answers grouped by conversation, the grader's overall scores and its
per-dimension scores (:mod:`.dimensions`)::

    L = BT(s_overall; pairs of overall scores)
        + dim_weight * mean_d BT(s_d; pairs of dimension-d scores)
        + gprc_weight * GPRC(h; good/medium/poor triples of overall scores)
        + l2 * (|W|^2 + |V|^2)

(:mod:`.losses`, :mod:`.pairs`; ``gprc_weight = 0`` is the ablation). The fitted weights go back
into a numpy :class:`.model.RewardModel`.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0); x = rng.normal(size=(40, 3)); ref = list(x[:, 0])
    >>> m = fit_reward_model(x, [i // 4 for i in range(40)], ref, settings=FitSettings(epochs=60, hidden=4))
    >>> bool(np.corrcoef(m.score(x), x[:, 0])[0, 1] > 0.9)
    True
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from heartgrpo.judge.reward_model.losses import bt_loss, gprc_loss
from heartgrpo.judge.reward_model.model import RewardModel
from heartgrpo.judge.reward_model.pairs import ordered_pairs, ordered_triples

__all__ = ["FitSettings", "fit_reward_model"]


@dataclass(frozen=True)
class FitSettings:
    """Settings of :func:`fit_reward_model` (defaults chosen by grouped cross-validation on dev)."""

    hidden: int = 16
    epochs: int = 300
    lr: float = 0.02
    l2: float = 1e-2
    dim_weight: float = 0.3
    gprc_weight: float = 1.0
    margin: float = 0.05
    perp_weight: float = 0.1
    max_triples_per_group: int = 40
    seed: int = 0
    #: torch threads during the fit: the problem is small, more threads only contend
    threads: int = 1


def fit_reward_model(x: np.ndarray, groups: Sequence[Any], ref: Sequence[float], dim_refs: Mapping[str, Sequence[float | None]] | None = None,
                     settings: FitSettings = FitSettings(), feature_names: Sequence[str] = ()) -> RewardModel:
    """Fit on answers ``x`` ((n, f)) of conversations ``groups`` with grader scores ``ref`` (and per
    dimension ``dim_refs``); see the module docstring."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _fit(x, groups, ref, dim_refs, settings, feature_names)
    finally:
        torch.set_num_threads(before)


def _fit(x: np.ndarray, groups: Sequence[Any], ref: Sequence[float], dim_refs: Mapping[str, Sequence[float | None]] | None,
         settings: FitSettings, feature_names: Sequence[str]) -> RewardModel:
    import torch

    x = np.asarray(x, dtype=np.float64)
    dim_refs = dict(dim_refs or {})
    heads = ("overall", *dim_refs)
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = RewardModel.init(x.shape[1], settings.hidden, heads, settings.seed, feature_names)
    model.mean = x.mean(0)
    std = x.std(0)
    model.std = np.where(std > 1e-9, std, 1.0)
    z = torch.tensor((x - model.mean) / model.std, dtype=torch.float32)
    pairs = [torch.tensor(ordered_pairs(groups, ref))] + [torch.tensor(ordered_pairs(groups, r)) for r in dim_refs.values()]
    triples = torch.tensor(ordered_triples(groups, ref, settings.max_triples_per_group, settings.seed))
    w = torch.tensor(model.w, dtype=torch.float32, requires_grad=True)
    b = torch.zeros(settings.hidden, requires_grad=True)
    v = torch.tensor(model.v, dtype=torch.float32, requires_grad=True)
    c = torch.zeros(len(heads), requires_grad=True)
    opt = torch.optim.Adam([w, b, v, c], lr=settings.lr)
    history = []
    for epoch in range(settings.epochs):
        opt.zero_grad()
        h = torch.tanh(z @ w + b)
        s = h @ v + c
        loss_bt = bt_loss(s[:, 0], pairs[0])
        loss_dim = (sum(bt_loss(s[:, k + 1], p) for k, p in enumerate(pairs[1:])) / len(pairs[1:])) if len(pairs) > 1 else s.sum() * 0
        loss_gprc = gprc_loss(h, triples, settings.margin, settings.perp_weight)
        loss = loss_bt + settings.dim_weight * loss_dim + settings.gprc_weight * loss_gprc + settings.l2 * ((w * w).sum() + (v * v).sum())
        loss.backward()
        opt.step()
        if epoch == 0 or epoch == settings.epochs - 1:
            history.append({"epoch": epoch, **{k: float(v.detach()) for k, v in (("loss", loss), ("bt", loss_bt), ("dim", loss_dim), ("gprc", loss_gprc))}})
    model.w, model.b = w.detach().double().numpy(), b.detach().double().numpy()
    model.v, model.c = v.detach().double().numpy(), c.detach().double().numpy()
    model.info = {"settings": asdict(settings), "trained_on": {"answers": int(x.shape[0]), "conversations": len(set(groups)),
                                                               "pairs": int(pairs[0].shape[0]), "triples": int(triples.shape[0])},
                  "loss": history, "seconds_fit": round(time.perf_counter() - t0, 2)}
    return model
