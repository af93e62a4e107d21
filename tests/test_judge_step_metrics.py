"""The step log's judge keys follow what the strategy's judge makes: ratings for ``rar_implicit``
(``judge/ratings``, its requests when the judge is remote), verdicts for the other strategies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import TrainerControl, TrainerState

from heartgrpo.io.loopback import LoopbackServer, Reply
from heartgrpo.judge import OpenAIJudge
from heartgrpo.judge.guarded import GuardedJudge
from heartgrpo.judge.verifier.model import Verifier, VerifierJudge
from heartgrpo.rewards.trl import make_reward_func
from heartgrpo.train.callbacks import StepLogCallback

CONV = [{"role": "user", "content": "I have crushing chest pain, what should I do?"}]
RUBRIC = [{"criterion": "Advises calling emergency services", "points": 5},
          {"criterion": "Tells the user to wait and see", "points": -2}]
ANSWERS = ["Call 911 now.", "Wait and see.", "Chew an aspirin and call an ambulance."]


def _logged(judge, strategy: str, tmp_path, batches: list[list[str]]) -> list[dict]:
    """One training log per batch: the reward function scores it, then the step log logs."""
    func = make_reward_func(judge, strategy, use_async=False)
    callback = StepLogCallback(tmp_path, judge)
    state, control = TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    out = []
    for step, answers in enumerate(batches, 1):
        func(prompts=[CONV] * len(answers), completions=answers, rubrics=[RUBRIC] * len(answers))
        state.global_step = step
        logs = {"loss": 0.5}
        callback.on_log(None, state, control, logs=logs)
        out.append(logs)
    assert [r["step"] for r in callback.rows] == list(range(1, len(batches) + 1))
    return out


def test_a_remote_rating_judge_logs_its_ratings_and_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTGRPO_TEST_KEY", "sk-test")
    garbage = {"Wait and see."}  # the judge's answer to this one never parses: a failed rating after 2 requests

    def respond(request, i):
        answered = next(a for a in ANSWERS if a in request["messages"][-1]["content"])
        return Reply("no rating here" if answered in garbage else json.dumps({"explanation": "ok", "rating": 7}))

    with LoopbackServer(respond) as server:
        judge = GuardedJudge(OpenAIJudge("judge-model", base_url=server.base_url, api_key_env="HEARTGRPO_TEST_KEY",
                                         timeout=2.0, max_retries=1, backoff_base=0.001, backoff_max=0.005))
        first, second = _logged(judge, "rar_implicit", tmp_path, [ANSWERS, ANSWERS[:1]])
        sent = len(server.requests)
    assert first["judge/ratings"] == 3.0 and second["judge/ratings"] == 1.0
    assert first["judge/requests"] == 4.0 and second["judge/requests"] == 1.0 and sent == 5  # the failed one twice
    assert first["judge/failure_rate"] == pytest.approx(1 / 3) and second["judge/failure_rate"] == 0.0
    assert "judge/verdicts" not in first and "judge/verdicts" not in second
    assert first["loss"] == 0.5


def test_a_local_rating_judge_logs_ratings_and_no_verdicts(tmp_path):
    judge = GuardedJudge(VerifierJudge(Verifier(np.zeros(16, dtype=np.float32), 0.0, {}, 4)))
    (logs,) = _logged(judge, "rar_implicit", tmp_path, [ANSWERS])
    assert logs["judge/ratings"] == 3.0 and logs["judge/requests"] == 0.0 and logs["judge/failure_rate"] == 0.0
    assert "judge/verdicts" not in logs
    row = json.loads((tmp_path / "steps.jsonl").read_text().splitlines()[0])
    assert row["judge/ratings"] == 3.0 and "judge/verdicts" not in row


def test_a_verdict_strategy_still_logs_verdicts_and_no_ratings(tmp_path):
    judge = GuardedJudge(VerifierJudge(Verifier(np.zeros(16, dtype=np.float32), 0.0, {}, 4)))
    (logs,) = _logged(judge, "healthbench", tmp_path, [ANSWERS])
    assert logs["judge/verdicts"] == 3.0 * len(RUBRIC) and logs["judge/failure_rate"] == 0.0
    assert "judge/ratings" not in logs


def test_a_judge_that_graded_before_training_logs_only_ratings_while_it_rates(tmp_path):
    """The CPU demo's verifier is measured on graded answers (verdicts) before GRPO rates with it."""
    import asyncio

    judge = GuardedJudge(VerifierJudge(Verifier(np.zeros(16, dtype=np.float32), 0.0, {}, 4)))
    asyncio.run(judge.grade(CONV, ANSWERS[0], RUBRIC))
    (logs,) = _logged(judge, "rar_implicit", tmp_path, [ANSWERS])
    assert logs["judge/ratings"] == 3.0 and "judge/verdicts" not in logs
