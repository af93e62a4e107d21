"""The reward model's losses (torch): Bradley-Terry on ordered pairs and GPRC on ordered triples.

* Bradley-Terry: ``L_BT = mean over pairs (i better than j) of -log sigmoid(s_i - s_j)``
  (``softplus(s_j - s_i)``);
* GPRC, the geometric projection reference constraint (our reading of MR-RML, arXiv 2511.16139,
  whose code is not released): for a (good, medium, poor) triple with representations
  ``h_g, h_m, h_p``, ``a = h_g - h_p``, ``b = h_m - h_p``, the medium answer's projection on the
  good-poor axis ``t = (a . b) / |a|^2`` should lie inside (0, 1) and its offset off the axis
  ``perp = |b - t a|^2 / |a|^2`` be small:
  ``L_GPRC = mean(relu(margin - t)^2 + relu(t - 1 + margin)^2 + perp_weight * perp)``.

:func:`projection` is the same ``(t, perp)`` in numpy, for the reports' medium-between rate.

    >>> import numpy as np
    >>> t, perp = projection(np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 0.0]]))
    >>> round(float(t[0]), 4), round(float(perp[0]), 4)
    (0.5, 0.25)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["EPS", "bt_loss", "gprc_loss", "projection"]

#: added to |a|^2 so a triple whose good and poor answers coincide in the representation stays finite
EPS = 1e-6


def bt_loss(scores: Any, pairs: Any, weights: Any = None) -> Any:
    """Bradley-Terry loss of ``scores`` (a 1-D tensor) over ``pairs`` ((n, 2) long tensor, better first)."""
    import torch.nn.functional as F

    if pairs.shape[0] == 0:
        return scores.sum() * 0.0
    margin = scores[pairs[:, 0]] - scores[pairs[:, 1]]
    loss = F.softplus(-margin)
    return loss.mean() if weights is None else (loss * weights).sum() / weights.sum()


def gprc_loss(h: Any, triples: Any, margin: float = 0.05, perp_weight: float = 0.1) -> Any:
    """GPRC loss of representations ``h`` ((n, d) tensor) over ``triples`` ((m, 3) long tensor: good, medium, poor)."""
    import torch

    if triples.shape[0] == 0:
        return h.sum() * 0.0
    hg, hm, hp = h[triples[:, 0]], h[triples[:, 1]], h[triples[:, 2]]
    a, b = hg - hp, hm - hp
    aa = (a * a).sum(-1) + EPS
    t = (a * b).sum(-1) / aa
    perp = ((b - t[:, None] * a) ** 2).sum(-1) / aa
    outside = torch.relu(margin - t) ** 2 + torch.relu(t - 1.0 + margin) ** 2
    return (outside + perp_weight * perp).mean()


def projection(hg: np.ndarray, hm: np.ndarray, hp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, perp)`` per triple, as in :func:`gprc_loss`."""
    a, b = hg - hp, hm - hp
    aa = (a * a).sum(-1) + EPS
    t = (a * b).sum(-1) / aa
    perp = ((b - t[:, None] * a) ** 2).sum(-1) / aa
    return t, perp
