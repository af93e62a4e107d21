"""OpenAIJudge against a real OpenAI-compatible server: ``transformers serve`` on 127.0.0.1
serving the tiny random-weight Qwen3. Its answers are garbage, so every verdict must come back
as an explicit ``None`` with an error, never ``False``; the reward function must return ``None``.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from heartgrpo.judge import OpenAIJudge
from heartgrpo.rewards.trl import make_reward_func

pytestmark = pytest.mark.slow

RUBRIC = [
    {"criterion": "Advises calling emergency services", "points": 5},
    {"criterion": "Suggests waiting a few days", "points": -3},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_tiny_qwen3(tiny_qwen3, tmp_path_factory):
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip(f"`transformers serve MODEL --host --port --device` is the transformers 5 command; "
                    f"this is transformers {transformers.__version__} (the Colab/Kaggle pin)")
    exe = Path(sys.executable).parent / "transformers"
    if not exe.exists():
        exe = Path(shutil.which("transformers") or "transformers")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", str(tiny_qwen3), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-800:]
                    pytest.skip(f"`transformers serve` could not start on this machine: {tail}")
                time.sleep(0.5)
        yield base + "/v1", str(tiny_qwen3)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("mode", ["per_criterion", "batched"])
def test_garbage_from_a_real_server_ends_in_explicit_none(served_tiny_qwen3, mode):
    base_url, model = served_tiny_qwen3
    judge = OpenAIJudge(model, base_url=base_url, mode=mode, max_tokens=12, timeout=60, max_retries=1, backoff_base=0.01)

    async def go():
        try:
            return await judge.grade([{"role": "user", "content": "Chest pain, what now?"}], "Call 911.", RUBRIC)
        finally:
            await judge.aclose()

    verdicts = asyncio.run(go())
    assert len(verdicts) == 2
    assert all(v.met is None for v in verdicts)
    assert all("unparseable" in v.error for v in verdicts)  # the server answered; the answer was not a verdict
    assert judge.stats.requests >= 2 and judge.stats.parse_errors >= 2


def test_reward_func_over_real_server_returns_none(served_tiny_qwen3):
    base_url, model = served_tiny_qwen3
    judge = OpenAIJudge(model, base_url=base_url, max_tokens=12, timeout=60, max_retries=0)
    f = make_reward_func(judge, "complexity", use_async=False)
    logged = {}
    rewards = f(
        prompts=[[{"role": "user", "content": "Chest pain?"}]] * 2,
        completions=[[{"role": "assistant", "content": "<think>x</think>Call 911."}]] * 2,
        rubrics=[RUBRIC] * 2,
        log_metric=lambda n, v: logged.__setitem__(n, v),
    )
    assert rewards == [None, None]
    assert logged["rubric_complexity/judge_failure_rate"] == 1.0
