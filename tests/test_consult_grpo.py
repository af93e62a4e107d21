"""A full multi-turn GRPO step through TRL's GRPOTrainer: the tiny model as doctor, an LLM
patient on a loopback server, a judge on another that fails some requests. Checks the loss mask
TRL uses (patient tokens 0) and that a judge failure is a None reward (advantage 0), not a zero."""

from __future__ import annotations

from pathlib import Path

import pytest
from t4_stack import consult_trl_missing

from heartgrpo.config.run import config_from_dict
from heartgrpo.consult.environment import make_rollout_func
from heartgrpo.consult.patient import LLMPatient
from heartgrpo.consult.rewards import consult_reward_func
from heartgrpo.consult.task import ASK_PHRASES, build_consult_model, task_cards, task_rows
from heartgrpo.io.endpoint import Endpoint
from heartgrpo.io.loopback import LoopbackServer, Reply, grading_responder
from heartgrpo.judge.openai_judge import OpenAIJudge

pytestmark = [pytest.mark.slow, pytest.mark.skipif(consult_trl_missing() is not None, reason=str(consult_trl_missing()))]
PATIENT_SAYS = "aspirin_allergy no_blood_thinner"


def _cfg(model: Path, out: Path) -> object:
    return config_from_dict({
        "name": "consult-step", "output_dir": str(out), "seed": 1,
        "model": {"name_or_path": str(model), "backend": "hf", "max_seq_length": 128},
        "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "lm_head"]},
        "sft": {"max_steps": 15, "learning_rate": 1e-2, "per_device_train_batch_size": 8, "max_length": 64, "save_steps": 1000,
                "trl_extra": {"disable_tqdm": True, "loss_type": "nll"}},
        "grpo": {"max_steps": 1, "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 40,
                 "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 1000, "beta": 0.0, "top_k": 0, "min_p": None,
                 "trl_extra": {"disable_tqdm": True}},
        "consult": {"cases": "exact", "max_turns": 2, "max_turn_tokens": 6},
        "judge": {"kind": "approximate"},
    })


def test_multi_turn_grpo_step_masks_patient_tokens_and_excludes_judge_failures(tmp_path: Path, monkeypatch) -> None:
    from trl import GRPOTrainer

    from heartgrpo.train.grpo import run_grpo
    from heartgrpo.train.sft import run_sft

    monkeypatch.setenv("LOOPBACK_KEY", "x")
    cards = task_cards()[:2]
    model = build_consult_model(tmp_path / "model")
    cfg = _cfg(model, tmp_path / "run")
    # teach the format (ask first) so that most rollouts have a patient turn
    sft = [{"prompt": [{"role": "user", "content": c.chief_complaint}], "completion": [{"role": "assistant", "content": " ".join(ASK_PHRASES)}]}
           for c in cards] * 8
    adapter = run_sft(cfg, sft).adapter_dir

    grade = grading_responder()
    seen: dict[str, list] = {"rollouts": [], "rewards": [], "loss_inputs": []}
    original = GRPOTrainer._compute_loss

    def spy_loss(self, model, inputs):
        seen["loss_inputs"].append({k: v.detach().clone() for k, v in inputs.items() if k in ("completion_ids", "completion_mask", "tool_mask", "advantages")})
        return original(self, model, inputs)

    monkeypatch.setattr(GRPOTrainer, "_compute_loss", spy_loss)
    with LoopbackServer(lambda req, i: Reply(PATIENT_SAYS)) as patient_server, \
            LoopbackServer(lambda req, i: Reply(status=500, body={"error": "x"}) if i == 0 else grade(req, i)) as judge_server:
        endpoint = Endpoint("patient", patient_server.base_url, "LOOPBACK_KEY", max_retries=0, timeout=10)
        rollout = make_rollout_func(cards, lambda card: LLMPatient(card, endpoint), max_turns=2, max_turn_tokens=6)

        def recording_rollout(prompts, trainer):
            out = rollout(prompts, trainer)
            seen["rollouts"].append(out)
            return out

        judge = OpenAIJudge("judge", base_url=judge_server.base_url, api_key_env="LOOPBACK_KEY", max_retries=0, timeout=10)
        reward = consult_reward_func(judge, "healthbench", num_generations=4)

        async def recording_reward(**kwargs):
            r = await reward(**kwargs)
            seen["rewards"].append(r)
            return r

        recording_reward.__name__ = "consult"
        result = run_grpo(cfg, rows=task_rows(cards), adapter=adapter, judge=judge, reward_funcs=[recording_reward],
                          rollout_func=recording_rollout)
        assert len(patient_server.requests) > 0
    assert result.steps == 1

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    out = seen["rollouts"][0]
    multi = 0
    for ids, mask, summary in zip(out["completion_ids"], out["env_mask"], out["consult"]):
        assert len(ids) == len(mask)
        doctor = tok.decode([t for t, m in zip(ids, mask) if m == 1], skip_special_tokens=True).split()
        env = tok.decode([t for t, m in zip(ids, mask) if m == 0], skip_special_tokens=False)
        assert doctor == " ".join(t["content"] for t in summary["turns"] if t["role"] == "assistant").split()
        if summary["questions"]:
            multi += 1
            assert PATIENT_SAYS in env and "user" in env  # the patient's turn, rendered as a user message, is mask 0
            assert not set(PATIENT_SAYS.split()) & set(doctor)
    assert multi > 0, "no rollout reached the patient: the mask check would be empty"

    # the mask TRL trains with: completion_mask * tool_mask equals our env_mask on every rollout
    loss = seen["loss_inputs"][0]
    trained = (loss["completion_mask"] * loss["tool_mask"]).tolist()
    by_ids = {tuple(ids): mask for ids, mask in zip(out["completion_ids"], out["env_mask"])}
    for row_ids, row_mask in zip(loss["completion_ids"].tolist(), trained):
        key = next(k for k in by_ids if tuple(row_ids[: len(k)]) == k)
        assert row_mask[: len(key)] == by_ids[key] and not any(row_mask[len(key):])

    # judge failures: None, not 0, and TRL gives those rollouts no advantage
    rewards = seen["rewards"][0]
    assert any(r is None for r in rewards) and any(r is not None for r in rewards)
    adv = loss["advantages"].tolist()
    for r, a in zip(rewards, adv):
        if r is None:
            assert a == 0.0
