"""The shared vLLM engine on the CPU build, through the CPU demo config with ``eval.backend: vllm``:
one engine per process, a ``LoRARequest`` per stage, the sizes from the config accepted by the real
engine, greedy output against the hf backend, ``heartgrpo eval``, and shutdown giving memory back
(RSS measured)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from vllm_helpers import rss_mib

from heartgrpo.model.tiny import random_lora_adapter as make_adapter

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [[{"role": "user", "content": "What does a systolic murmur that gets louder on standing suggest?"}],
           [{"role": "user", "content": "Is chest pain on exertion in a 60 year old serious?"}]]
NEW_TOKENS = 16


@pytest.fixture(scope="module")
def run(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CPU demo config on the vllm backend (LoRA rank 24, which vLLM must round up to 32), its
    data prepared, an SFT and a GRPO adapter where the stages save theirs. Returns the config path."""
    from heartgrpo.cli.app import app

    root = tmp_path_factory.mktemp("demo-vllm")
    raw = yaml.safe_load((ROOT / "configs" / "cpu-demo.yaml").read_text())
    raw.update(output_dir=str(root / "run"), name="vllm-test")
    raw["lora"]["r"] = 24
    raw["eval"].update(backend="vllm", n=2, max_new_tokens=NEW_TOKENS, n_bootstrap=20)
    raw["data"].update(eval_n=2)
    raw["judge"].update(kind="approximate")  # the lexical judge: the generator is under test here
    path = root / "cpu-demo-vllm.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = CliRunner().invoke(app, ["prep", "--config", str(path)])
    assert out.exit_code == 0, out.output
    make_adapter(demo_model, root / "run" / "sft" / "adapter", 16, seed=1)
    make_adapter(demo_model, root / "run" / "grpo" / "adapter", 24, seed=2)
    return path


@pytest.fixture(scope="module")
def cfg(run: Path):
    from heartgrpo.config.run import load_config

    return load_config(run)


def test_one_engine_serves_base_sft_and_grpo_each_with_its_lora(cfg):
    from heartgrpo.model import engines
    from heartgrpo.pipeline import stage_generator

    engines.shutdown_engine()
    gens = {stage: stage_generator(cfg, stage) for stage in ("base", "sft", "grpo")}
    llm = gens["base"].llm
    assert all(g.llm is llm for g in gens.values()), "a second engine was built for another stage"
    spec, held, owner = engines.current_engine()
    assert held is llm and owner == "heartgrpo"
    # the sizes the real engine took: context = longest eval prompt + answer budget, rank 24 -> 32
    vllm_config = llm.llm_engine.vllm_config
    assert vllm_config.model_config.max_model_len == spec.max_model_len
    assert NEW_TOKENS < spec.max_model_len < 2048 < vllm_config.model_config.hf_config.max_position_embeddings
    assert vllm_config.lora_config.max_lora_rank == 32 == spec.max_lora_rank
    assert str(vllm_config.model_config.dtype) == "torch.float32"  # the config's model.dtype, as the hf backend
    answers = {stage: g.generate(PROMPTS) for stage, g in gens.items()}
    assert all(len(a) == len(PROMPTS) and all(t.strip() for t in a) for a in answers.values()), answers
    assert answers["sft"] != answers["base"] and answers["grpo"] != answers["base"] and answers["sft"] != answers["grpo"]
    assert gens["base"].lora is None
    assert gens["sft"].lora.lora_path.endswith("sft/adapter") and gens["grpo"].lora.lora_path.endswith("grpo/adapter")
    assert gens["sft"].lora.lora_int_id != gens["grpo"].lora.lora_int_id
    assert gens["base"].generate(PROMPTS) == answers["base"]  # greedy: the same again after the LoRAs ran
    assert gens["sft"].hardware.startswith("cpu: ") and "vLLM CPU build" in gens["sft"].hardware


@pytest.mark.parametrize("stage", ["base", "grpo"])
def test_greedy_output_is_token_identical_to_the_hf_backend(cfg, stage):
    from heartgrpo.model import engines
    from heartgrpo.pipeline import stage_generator

    built = engines.current_engine()
    vllm_gen = stage_generator(cfg, stage)
    assert built is None or vllm_gen.llm is built[1]  # the held engine, reused
    hf_gen = stage_generator(cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"backend": "transformers"})}), stage)
    tok = hf_gen.tokenizer
    v, h = vllm_gen.generate(PROMPTS), hf_gen.generate(PROMPTS)
    same = [tok(a, add_special_tokens=False)["input_ids"] == tok(b, add_special_tokens=False)["input_ids"] for a, b in zip(v, h)]
    print(f"\n{stage}: {sum(same)}/{len(same)} greedy answers token-identical (vLLM CPU float32 vs transformers)")
    assert all(same), list(zip(v, h))


def test_eval_command_generates_on_vllm(run: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "heartgrpo", "eval", "--config", str(run), "--stage", "grpo"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "== eval grpo ==" in proc.stdout and "(approximate)" in proc.stdout, proc.stdout[-2000:]
    rows = [json.loads(x) for x in (Path(yaml.safe_load(run.read_text())["output_dir"]) / "eval" / "grpo" / "answers.jsonl")
            .read_text().splitlines()]
    assert len(rows) == 2 and all(r["settings"]["backend"] == "vllm" and r["response"].strip() for r in rows)
    assert all("vLLM CPU build" in r["hardware"] and "grpo/adapter@" in r["model_id"] for r in rows)


def test_loading_for_training_gives_back_the_evaluation_engine(cfg):
    from heartgrpo.model.backend import load_for_training
    from heartgrpo.model.engines import current_engine
    from heartgrpo.pipeline import stage_generator

    held = current_engine()
    gen = stage_generator(cfg, "base")  # e.g. the demo's "before GRPO" evaluation
    assert current_engine()[1] is gen.llm and (held is None or held[1] is gen.llm)
    before = rss_mib()
    load_for_training(cfg)  # the hf backend on CPU: the engine goes before the model loads
    assert current_engine() is None
    print(f"\nRSS {before:.0f} MiB with the engine, {rss_mib():.0f} MiB after loading the model for training")


def test_shutdown_gives_memory_back_and_another_spec_replaces_the_engine(demo_model):
    from heartgrpo.eval.generators import VLLMGenerator
    from heartgrpo.model import engines

    engines.shutdown_engine()
    gc.collect()
    before = rss_mib()
    first = VLLMGenerator(demo_model, temperature=0.0, max_new_tokens=8, max_model_len=256)
    first_answer = first.generate(PROMPTS[:1])
    loaded = rss_mib()
    kv_gib = float(os.environ["VLLM_CPU_KVCACHE_SPACE"])
    assert loaded - before > 0.5 * kv_gib * 1024, f"the engine took only {loaded - before:.0f} MiB"
    # a longer context is another spec: the first engine is shut down before the second is built
    second = VLLMGenerator(demo_model, temperature=0.0, max_new_tokens=8, max_model_len=1024)
    assert second.llm is not first.llm and engines.current_engine()[1] is second.llm
    assert second.generate(PROMPTS[:1]) == first_answer  # greedy, same weights: the same answer
    two = rss_mib()
    assert two - before < 1.5 * (loaded - before), f"two engines' memory held: {before:.0f} -> {loaded:.0f} -> {two:.0f} MiB"
    del first, second
    assert engines.shutdown_engine() is True and engines.current_engine() is None
    gc.collect()
    after = rss_mib()
    print(f"\nRSS: {before:.0f} MiB before, {loaded:.0f} with one engine, {two:.0f} after the replacement, {after:.0f} after shutdown")
    assert loaded - after > 0.5 * kv_gib * 1024, f"shutdown gave back only {loaded - after:.0f} MiB"
    assert engines.shutdown_engine() is False
