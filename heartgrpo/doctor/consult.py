"""``heartgrpo doctor --run`` on a config with a ``consult:`` section: one two-turn consultation step.

One GRPO step through :func:`heartgrpo.train.grpo.run_grpo` with the consultation
``rollout_func`` (:func:`heartgrpo.consult.environment.make_rollout_func`) on the configured
backend, the doctor's model of the other checks, one shipped heart card and a patient that
always answers (so every episode has a patient turn whatever the untrained model says). The
check ``consult_episode`` passes when

- the trainer called the ``rollout_func`` (a trainer that ignores it, as unsloth#3573 reported of
  ``UnslothGRPOTrainer``, never does);
- every rollout holds a patient turn and its tokens carry ``env_mask`` 0, the doctor's 1;
- the reward function received the rollout's ``consult`` column and scored the final advice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.consult.cards import CaseCard, builtin_cards, card_rows
from heartgrpo.consult.gate import FactGate
from heartgrpo.consult.patient import PatientReply

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

__all__ = ["AlwaysAnswers", "consult_check", "masked_patient_turns"]

PATIENT_SAYS = "I am not sure, it started an hour ago."


class AlwaysAnswers:
    """A patient that answers every doctor turn with the same line and never ends the consultation."""

    def __init__(self, card: CaseCard) -> None:
        self.card, self.gate = card, FactGate(card)

    async def reply(self, doctor_turn: str) -> PatientReply:
        return PatientReply(PATIENT_SAYS)


def masked_patient_turns(env_mask: list[int]) -> bool:
    """True when the mask holds policy tokens, then environment tokens, then policy tokens again
    (doctor, patient, doctor).

    >>> masked_patient_turns([1, 1, 0, 0, 1]), masked_patient_turns([1, 1, 0]), masked_patient_turns([1, 1])
    (True, False, False)
    """
    s = "".join(str(m) for m in env_mask)
    return "10" in s and "1" in s[s.index("10") + 1:]


def consult_check(run_cfg: RunConfig, work: Path, judge: Any) -> dict[str, Any]:
    """Train one consultation step in ``work``; returns the check ``{"name", "ok", "detail"}``."""
    from heartgrpo.config.run import config_from_dict
    from heartgrpo.consult.environment import make_rollout_func
    from heartgrpo.consult.rewards import consult_reward_func
    from heartgrpo.train.grpo import run_grpo

    raw = run_cfg.model_dump(mode="json")
    raw.update(output_dir=str(work))
    raw["grpo"].update(max_steps=1, max_completion_length=max(raw["grpo"]["max_completion_length"], 48))
    cfg = config_from_dict(raw, source=f"{run_cfg.name}: doctor consultation step")
    card = builtin_cards()[0]
    rollout = make_rollout_func([card], AlwaysAnswers, max_turns=2, max_turn_tokens=8)
    seen: dict[str, list] = {"rollouts": [], "rewards": []}

    def recording_rollout(prompts: list, trainer: Any) -> dict[str, Any]:
        out = rollout(prompts, trainer)
        seen["rollouts"].append(out)
        return out

    reward = consult_reward_func(judge, "healthbench", turn_cost=0.0, num_generations=cfg.grpo.num_generations)

    async def recording_reward(**kwargs: Any) -> list[float | None]:
        r = await reward(**kwargs)
        seen["rewards"].append((kwargs.get("consult"), r))
        return r

    recording_reward.__name__ = "consult"
    error = ""
    try:
        run_grpo(cfg, rows=card_rows([card]), judge=judge, reward_funcs=[recording_reward], rollout_func=recording_rollout)
    except Exception as exc:  # the check reports it; the other checks keep their results
        error = f"; the step failed: {type(exc).__name__}: {str(exc)[:300]}"
    if not seen["rollouts"]:
        return {"name": "consult_episode", "ok": False, "detail": "the trainer never called rollout_func: it ignores multi-turn rollouts" + error}
    if error:
        return {"name": "consult_episode", "ok": False, "detail": f"rollout_func called {len(seen['rollouts'])} time(s){error}"}
    masks = [m for out in seen["rollouts"] for m in out["env_mask"]]
    two_turn = sum(masked_patient_turns(m) for m in masks)
    scored = [r for consult, rewards in seen["rewards"] if consult for r in rewards if r is not None]
    ok = two_turn == len(masks) and bool(scored)
    return {"name": "consult_episode", "ok": ok,
            "detail": f"rollout_func called {len(seen['rollouts'])} time(s); {two_turn} of {len(masks)} rollouts doctor-patient-doctor "
                      f"with the patient's tokens at env_mask 0; {len(scored)} final advices scored from the consult column"}
