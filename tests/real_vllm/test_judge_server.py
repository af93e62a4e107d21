"""vLLM's OpenAI-compatible server (the demo model, CPU build) as the judge endpoint: the judge's
structured output (``response_format`` JSON schema) accepted and kept, per-criterion and batched
grading, replicas and rate limits, and the ``judge validate`` / ``rubrics generate`` commands.
Verdict quality is not the point (a 135M model judges); the protocol is. The demo model often
writes an explanation that runs past any token budget, so a verdict here may fail as an
unparseable answer; what must hold is that vLLM takes the schema (no 400: the judge keeps
``structured_output``) and that every answer has the schema's shape."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

PROMPT = [{"role": "user", "content": "I get chest pain when I climb stairs. What should I do?"}]
MAX_TOKENS = 96
ANSWER = "Exertional chest pain can be angina. See a doctor soon; call emergency services if it lasts at rest."
RUBRIC = [{"criterion": "Advises urgent care if the pain occurs at rest", "points": 5},
          {"criterion": "Mentions angina as a possible cause", "points": 3},
          {"criterion": "Tells the user to ignore the pain", "points": -4}]


def _judge(server, **kw):
    from heartgrpo.judge import OpenAIJudge

    base_url, model = server
    return OpenAIJudge(model, base_url=kw.pop("base_url", base_url), api_key_env="VLLM_TEST_NO_KEY", temperature=0.0,
                       max_tokens=MAX_TOKENS, timeout=300, max_retries=0, **kw)


def _shaped(verdicts, first_key: str) -> bool:
    """Each verdict parsed, or failed on an answer that starts as the schema says (xgrammar at work:
    unconstrained, the model writes prose), cut off by the token budget."""
    def ok(v) -> bool:
        err = v.error or ""
        return v.met in (True, False) or (err.startswith("unparseable answer") and "answer: '{" in err and f'"{first_key}"' in err)

    return all(ok(v) for v in verdicts)


async def _grade(judge, rubric=RUBRIC):
    try:
        return await judge.grade(PROMPT, ANSWER, rubric)
    finally:
        await judge.aclose()


@pytest.mark.parametrize("mode", ["per_criterion", "batched"])
def test_judge_grades_with_structured_output(vllm_server, mode):
    judge = _judge(vllm_server, mode=mode)
    verdicts = asyncio.run(_grade(judge))
    assert len(verdicts) == len(RUBRIC)
    assert judge.structured_output is True, "vLLM refused the response_format JSON schema"
    assert _shaped(verdicts, "explanation" if mode == "per_criterion" else "verdicts"), [v.error for v in verdicts]
    stats = judge.stats.snapshot()
    # per criterion: one request each; batched: one request (ids the model lost are re-asked singly)
    assert stats["requests"] == len(RUBRIC) if mode == "per_criterion" else 1 <= stats["requests"] <= 1 + len(RUBRIC)
    assert stats["verdicts"] == len(RUBRIC) and stats["failures"] == sum(v.met is None for v in verdicts)


def test_a_short_schema_is_enforced_and_parsed(vllm_server):
    """The judge's transport with a schema the model cannot overrun: the answer is exactly it."""
    judge = _judge(vllm_server)
    schema = {"type": "object", "properties": {"criteria_met": {"type": "boolean"}}, "required": ["criteria_met"],
              "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}}

    async def ask():
        try:
            return await judge.endpoint.ask([{"role": "user", "content": f"Is this answer safe? {ANSWER}"}], json.loads,
                                            response_format=fmt, temperature=0.0, max_tokens=MAX_TOKENS)
        finally:
            await judge.aclose()

    answer = asyncio.run(ask())
    assert set(answer) == {"criteria_met"} and isinstance(answer["criteria_met"], bool), answer
    assert judge.structured_output is True


def test_replicas_share_requests_under_a_rate_limit(vllm_server):
    base_url, _ = vllm_server
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    rpm = 120  # one request every 0.5 s
    other = base_url.replace("127.0.0.1", "localhost")  # a second URL of the same server: a replica
    judge = _judge(vllm_server, base_url=[base_url, other], mode="per_criterion", requests_per_minute=rpm,
                   max_concurrency=4, sleep=sleep)
    rubric = RUBRIC + [{"criterion": "Asks about shortness of breath", "points": 2}]
    verdicts = asyncio.run(_grade(judge, rubric))
    assert len(verdicts) == len(rubric) and _shaped(verdicts, "explanation"), [v.error for v in verdicts]
    sent = [r.sent for r in judge.endpoint.pool.replicas]
    assert sum(sent) == len(rubric) and min(sent) >= 1, sent  # both replicas were used
    # four requests started together: the limiter spaced them, 0.5 + 1.0 + 1.5 s of waiting
    assert sum(waits) == pytest.approx(sum(60 / rpm * k for k in range(1, len(rubric))), abs=0.3), waits


def test_judge_validate_command_against_the_server(vllm_server, tmp_path):
    from verifier_fixtures import write_data

    from heartgrpo.cli.app import app

    base_url, model = vllm_server
    data = write_data(tmp_path / "graded")
    out = tmp_path / "validate"
    r = CliRunner().invoke(app, ["judge", "validate", "--kind", "openai", "--model", model, "--base-url", base_url,
                                 "--api-key-env", "VLLM_TEST_NO_KEY", "--graded", str(data / "graded_dev.jsonl.gz"),
                                 "--mode", "batched", "--n", "2", "--concurrency", "2", "--cache", str(tmp_path / "judge.sqlite"),
                                 "--max-tokens", str(MAX_TOKENS), "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "validate.json").read_text())
    assert report["n_answers"] == 2 and report["n_verdicts"] > 2 and "judge failures" in r.output
    assert report["stats"]["requests"] >= 2, report["stats"]
    if report["agreement"]["judge_failures"] == 0:  # every verdict parsed: the rerun is answered from the cache
        r = CliRunner().invoke(app, ["judge", "validate", "--kind", "openai", "--model", model, "--base-url", base_url,
                                     "--api-key-env", "VLLM_TEST_NO_KEY", "--graded", str(data / "graded_dev.jsonl.gz"),
                                     "--mode", "batched", "--n", "2", "--cache", str(tmp_path / "judge.sqlite"),
                                     "--max-tokens", str(MAX_TOKENS), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert json.loads((out / "validate.json").read_text())["stats"].get("requests", 0) == 0


def test_rubrics_generate_command_against_the_server(vllm_server, tmp_path):
    from heartgrpo.cli.app import app

    base_url, model = vllm_server
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "How is high blood pressure treated in a 50 year old?",
                                     "reference_answer": "Lifestyle change, then an ACE inhibitor or a thiazide."}) + "\n")
    out = tmp_path / "rubrics"
    r = CliRunner().invoke(app, ["rubrics", "generate", "--input", str(questions), "--out", str(out), "--model", model,
                                 "--base-url", base_url, "--api-key-env", "VLLM_TEST_NO_KEY", "--max-attempts", "1",
                                 "--max-tokens", "200", "--timeout", "300", "--max-retries", "0"])
    assert r.exit_code == 0, r.output
    assert "requests / cache hits" in r.output and "1 / 0" in r.output, r.output
    done = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()] if (out / "records.jsonl").is_file() else []
    failed = (out / "failed.jsonl").read_text().splitlines() if (out / "failed.jsonl").is_file() else []
    assert len(done) + len(failed) == 1  # the one question is either accepted or reported as failed
