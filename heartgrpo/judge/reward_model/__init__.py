"""A reward model that orders answers to the same conversation as the GPT-4.1 grader does
(our reading of MR-RML, arXiv 2511.16139, whose code is not released).

Modules: :mod:`.dimensions` (which aspect a criterion is about), :mod:`.features` (CPU features
of an answer), :mod:`.pairs` (ordered pairs and triples), :mod:`.losses` (Bradley-Terry, GPRC),
:mod:`.model` (the network, saved without pickle), :mod:`.train` (the fit), :mod:`.data` and
:mod:`.run` (train on dev, measure on eval), :mod:`.judge` (``judge.kind: reward_model``),
:mod:`.transformer` (the same losses over a small causal LM, for a GPU).
"""

from heartgrpo.judge.reward_model.judge import RewardModelJudge
from heartgrpo.judge.reward_model.model import RewardModel
from heartgrpo.judge.reward_model.train import FitSettings, fit_reward_model

__all__ = ["FitSettings", "RewardModel", "RewardModelJudge", "fit_reward_model"]
