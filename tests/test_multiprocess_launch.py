"""Two data-parallel processes through ``accelerate launch`` on CPU, judged by a loopback server.

The launch line is the one docs/scaling.md gives (the CPU accelerate config, configs/cpu-demo.yaml
with the tiny Qwen3 and a 2-step override). The judge is an OpenAI-compatible loopback server in
this process, so every request either rank sends is counted here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from heartgrpo.io.loopback import LoopbackServer, grading_responder, prompt_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(tiny: Path, out: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu-2proc.yaml",
           "--main_process_port", str(_free_port()), "-m", "heartgrpo", "grpo", "--config", "configs/cpu-demo.yaml",
           "--set", f"model.name_or_path={tiny}", "--set", f"output_dir={out}",
           "--set", "grpo.max_completion_length=6", "--set", "grpo.save_steps=1",
           "--set", "grpo.prompt_ids=null", "--set", "grpo.max_prompts=6",  # two ranks need a prompt each per step
           "--set", "judge.kind=openai", "--set", "judge.model=loopback", "--set", f"judge.base_url={base_url}",
           "--set", f"judge.cache={out / 'judge.sqlite'}",
           "--set", "reward.strategies=[{name: complexity}]",  # verdicts: one request per (completion, criterion)
           *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    (out / f"launch-{len(list(out.glob('launch-*.log')))}.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _steps(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "grpo" / "steps.jsonl").read_text().splitlines() if line.strip()]


def test_two_process_launch_judges_each_completion_once_and_resumes(tiny_qwen3: Path, tmp_path: Path) -> None:
    from heartgrpo.config.run import load_config
    from heartgrpo.pipeline import stage_prep

    out = tmp_path / "run"
    stage_prep(load_config(ROOT / "configs" / "cpu-demo.yaml", {"model.name_or_path": str(tiny_qwen3), "output_dir": str(out)}))
    with LoopbackServer(grading_responder()) as server:
        first = _launch(tiny_qwen3, out, server.base_url, "--set", "grpo.max_steps=2")
        after_first = len(server.requests)
        second = _launch(tiny_qwen3, out, server.base_url, "--set", "grpo.max_steps=3", "--resume")
        prompts = [prompt_of(r) for r in server.requests]

    grpo = out / "grpo"
    steps = _steps(out)
    assert [s["step"] for s in steps] == [1, 2, 3]  # one step log, no step twice after the resume
    for s in steps:  # both ranks generated and their completions were judged (so rewarded)
        assert s["judge/requests/rank0"] > 0 and s["judge/requests/rank1"] > 0, s
        assert s["judge/requests"] == s["judge/requests/rank0"] + s["judge/requests/rank1"]
        assert s["judge/verdicts"] == s["judge/requests"] and s["rewards/rubric_complexity/mean"] is not None
    # the judge saw each (completion, criterion) exactly once across both ranks and both launches
    assert len(prompts) == sum(s["judge/requests"] for s in steps)
    assert not [p for p, n in Counter(prompts).items() if n > 1]
    assert after_first == sum(s["judge/requests"] for s in steps[:2])
    # the main process wrote one adapter, one step log, one config; the resume started at checkpoint-2
    assert (grpo / "adapter" / "adapter_model.safetensors").is_file() and (grpo / "adapter" / "tokenizer.json").is_file()
    assert sorted(p.name for p in grpo.iterdir() if not p.name.startswith("checkpoint-")) == [
        "README.md", "adapter", "log_history.json", "run_config.yaml", "steps.csv", "steps.jsonl"]
    assert first.stdout.count("== grpo") == 1 and "resumed from" in second.stdout
    assert "checkpoint-2" in second.stdout.split("resumed from", 1)[1].splitlines()[0]
    assert json.loads((grpo / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3
    # each rank's RNG state is checkpointed: the launch really had two processes
    assert {p.name for p in (grpo / "checkpoint-3").glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
