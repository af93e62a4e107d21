"""The reward model: a small network over answer features, scored in numpy, saved without pickle.

``z = (x - mean) / std`` (the features of :mod:`.features`, standardised on the training set),
representation ``h = tanh(z W + b)`` (``hidden`` units, where the GPRC term of :mod:`.losses`
acts), scores ``s = h V + c``: column 0 the overall score (what :class:`.judge.RewardModelJudge`
rates by), then one head per dimension of :data:`heads` (:mod:`.dimensions`). Scores are
log-odds of a Bradley-Terry preference: only differences within a conversation mean anything.

Saved as one ``.npz`` (float arrays and the settings and figures as JSON bytes; loaded with
``allow_pickle=False``, so reading a model runs no code).

    >>> import numpy as np
    >>> m = RewardModel.init(3, hidden=4, heads=("overall",), seed=0)
    >>> m.scores(np.zeros((2, 3))).shape
    (2, 1)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "RewardModel"]

FORMAT = "heartgrpo-reward-model/1"
_ARRAYS = ("mean", "std", "w", "b", "v", "c")


@dataclass
class RewardModel:
    """Weights and settings of the model of the module docstring."""

    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: np.ndarray
    v: np.ndarray
    c: np.ndarray
    heads: tuple[str, ...] = ("overall",)
    feature_names: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def init(cls, n_features: int, hidden: int = 32, heads: Sequence[str] = ("overall",), seed: int = 0,
             feature_names: Sequence[str] = ()) -> RewardModel:
        """Small random weights (seeded), identity standardisation."""
        rng = np.random.default_rng(seed)
        return cls(np.zeros(n_features), np.ones(n_features), rng.normal(0, 1 / np.sqrt(n_features), (n_features, hidden)),
                   np.zeros(hidden), rng.normal(0, 0.1, (hidden, len(heads))), np.zeros(len(heads)), tuple(heads),
                   tuple(feature_names))

    def represent(self, x: np.ndarray) -> np.ndarray:
        """``h = tanh(((x - mean) / std) W + b)``, one row per answer."""
        return np.tanh(((np.asarray(x, dtype=np.float64) - self.mean) / self.std) @ self.w + self.b)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``(n, heads)`` scores; column 0 is the overall score."""
        return self.represent(x) @ self.v + self.c

    def score(self, x: np.ndarray) -> np.ndarray:
        """Overall score per answer."""
        return self.scores(x)[:, 0]

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.npz``), whole then renamed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "heads": list(self.heads), "feature_names": list(self.feature_names), "info": self.info}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.savez_compressed(f, **{k: np.asarray(getattr(self, k), dtype=np.float64) for k in _ARRAYS},
                                meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RewardModel:
        """Read a file of :meth:`save`; ValueError names the file when it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                arrays = {k: np.array(data[k]) for k in _ARRAYS}
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a reward model file ({e})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        return cls(**arrays, heads=tuple(meta["heads"]), feature_names=tuple(meta["feature_names"]), info=dict(meta.get("info") or {}))
