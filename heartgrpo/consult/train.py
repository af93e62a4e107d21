"""``run_consult_grpo``: multi-turn consultation GRPO through TRL (the config's ``consult:`` section).

The rows are the cards' chief complaints (:func:`~heartgrpo.consult.cards.card_rows`, or the exact
task's :func:`~heartgrpo.consult.task.task_rows`), the rollout is
:func:`~heartgrpo.consult.environment.make_rollout_func` (patients: scripted or the LLM at
``consult.patient_endpoint``), the reward :func:`~heartgrpo.consult.rewards.consult_reward_func`
over the run's judge, and the trainer :func:`heartgrpo.train.grpo.run_grpo` (checkpoints, step
log, judge-down guard, unscorable completions left out).

    >>> result = run_consult_grpo(load_config("configs/qwen3-4b-consult.yaml"))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.consult.cards import CaseCard, builtin_cards, card_rows, load_cards

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

__all__ = ["consult_cards", "consult_rows", "log_summary", "patient_factory_for", "prepare_model", "run_consult_grpo",
           "warm_start"]


def consult_cards(cases: Any) -> list[CaseCard]:
    """The cards of ``consult.cases``: ``builtin``, ``exact`` or a list of files/folders."""
    if cases == "builtin":
        return builtin_cards()
    if cases == "exact":
        from heartgrpo.consult.task import task_cards

        return task_cards()
    return load_cards([Path(p) for p in cases])


def consult_rows(cases: Any, cards: Sequence[CaseCard]) -> list[dict]:
    """GRPO rows for ``cards`` (the exact task's rubrics carry checker tags)."""
    if cases == "exact":
        from heartgrpo.consult.task import task_rows

        return task_rows(cards)
    return card_rows(cards)


def patient_factory_for(cfg: RunConfig) -> Callable[[CaseCard], Any]:
    """A new patient per episode: scripted, the exact task's, or the LLM patient on one shared endpoint."""
    c = cfg.consult
    assert c is not None
    if c.patient == "llm":
        from heartgrpo.consult.patient import LLMPatient
        from heartgrpo.io.endpoint import Endpoint

        assert c.patient_endpoint is not None
        endpoint = Endpoint.from_settings(c.patient_endpoint)
        return lambda card: LLMPatient(card, endpoint, temperature=c.patient_endpoint.temperature,
                                       max_tokens=c.patient_endpoint.max_tokens)
    if c.cases == "exact":
        from heartgrpo.consult.task import scripted_patient

        return scripted_patient
    from heartgrpo.consult.patient import ScriptedPatient

    return ScriptedPatient


def run_consult_grpo(cfg: RunConfig, *, cards: Sequence[CaseCard] | None = None, judge: Any = None,
                     patient_factory: Callable[[CaseCard], Any] | None = None, adapter: Path | None = None,
                     callbacks: Sequence[Any] = ()) -> Any:
    """Train; returns :class:`heartgrpo.train.grpo.GRPOResult`. ``judge`` defaults to the
    config's (the exact task's checker for ``cases: exact``)."""
    from heartgrpo.consult.environment import make_rollout_func
    from heartgrpo.consult.rewards import consult_reward_func
    from heartgrpo.train.grpo import run_grpo

    c = cfg.consult
    if c is None:
        raise ValueError("run_consult_grpo needs a consult: section in the run config")
    cards = list(cards) if cards is not None else consult_cards(c.cases)
    if judge is None and c.cases == "exact":
        from heartgrpo.consult.task import ExactConsultJudge

        judge = ExactConsultJudge()
    rollout = make_rollout_func(cards, patient_factory or patient_factory_for(cfg), max_turns=c.max_turns,
                                max_turn_tokens=c.max_turn_tokens)

    from heartgrpo.judge.factory import judge_in_use
    from heartgrpo.judge.guarded import GuardedJudge

    with judge_in_use(cfg.judge, judge) as used:
        guarded = used if isinstance(used, GuardedJudge) else GuardedJudge(used)
        reward = consult_reward_func(guarded, c.strategy, judge_weight=c.judge_weight, coverage_weight=c.coverage_weight,
                                     turn_cost=c.turn_cost, level_weights=c.level_weights,
                                     num_generations=cfg.grpo.num_generations)
        return run_grpo(cfg, rows=consult_rows(c.cases, cards), adapter=adapter, judge=guarded, reward_funcs=[reward],
                        reward_weights=[1.0], callbacks=callbacks, rollout_func=rollout)


def prepare_model(cfg: RunConfig) -> Path | str:
    """The doctor model: for ``cases: exact``, the tiny phrase-token Qwen3 built at
    ``model.name_or_path`` when it is not there yet; otherwise the configured model as it is."""
    c = cfg.consult
    if c is not None and c.cases == "exact":
        from heartgrpo.consult.task import build_consult_model

        return build_consult_model(cfg.model.name_or_path, seed=cfg.seed)
    return cfg.model.name_or_path


def warm_start(cfg: RunConfig, n_rows: int | None = None) -> Path | None:
    """The SFT warm start of the exact task (:func:`heartgrpo.consult.task.sft_rows`) when
    ``sft.enabled``; ``None`` otherwise (the heart-case recipe starts from the instruct model)."""
    c = cfg.consult
    if c is None or c.cases != "exact" or not cfg.sft.enabled:
        return None
    from heartgrpo.consult.task import sft_rows, task_cards
    from heartgrpo.train.sft import run_sft

    n = n_rows or cfg.sft.max_steps * cfg.sft.per_device_train_batch_size
    return run_sft(cfg, sft_rows(task_cards(), n, cfg.seed)).adapter_dir


TERMS = ("reward", "consult/judge", "consult/coverage", "consult/turn_cost", "consult/questions", "consult/asking_rate",
         "consult/unscorable_rate", "consult/oversharing_rate")


def log_summary(history: Sequence[dict], terms: Sequence[str] = TERMS) -> list[dict]:
    """Per logged term, its mean over the first and the last quarter of the training steps.

    >>> log_summary([{"reward": 0.0}, {"reward": 1.0}, {"reward": 2.0}, {"reward": 3.0}], ["reward"])
    [{'term': 'reward', 'first_quarter': 0.0, 'last_quarter': 3.0}]
    """
    out = []
    for t in terms:
        values = [float(h[t]) for h in history if t in h]
        if not values:
            continue
        q = max(1, len(values) // 4)
        out.append({"term": t, "first_quarter": sum(values[:q]) / q, "last_quarter": sum(values[-q:]) / q})
    return out
