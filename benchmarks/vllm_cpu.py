"""Generation on CPU: transformers ``generate`` (the hf backend) against vLLM's CPU build.

``.venv-vllm/bin/python -m benchmarks.vllm_cpu [--quick] [--repeats 3]`` (``make venv-vllm`` builds
that venv; in a venv without vLLM the section is left as it is and the run says why)

The same prompts, batch, model and answer length on both sides: the CPU demo model
SmolLM2-135M-Instruct in float32 (the CPU demo config's ``model.dtype``), a batch of 8 heart
questions, greedy, exactly ``TOKENS`` new tokens each (``min_new_tokens`` / ``min_tokens``, so an
early end of sequence changes nothing), without and with a rank-16 LoRA adapter (PEFT on the hf
side, a ``LoRARequest`` on vLLM's). One warm-up batch, then the median of ``--repeats`` timed
batches; tokens/s = generated tokens / wall seconds. vLLM's engine is the package's shared engine
(:func:`heartgrpo.model.engines.shared_engine`: eager, ``VLLM_CPU_KVCACHE_SPACE`` GiB of KV cache).

A GRPO step with TRL's colocated vLLM (``use_vllm=True, vllm_mode="colocate"``) is not measured:
on the CPU build the trainer's first weight sync fails (docs/scaling.md says where), so the
CPU demo keeps transformers generate inside GRPO.
Writes the ``vllm_cpu`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import md_table, quick_mode, write_section
from heartgrpo.model.tiny import random_lora_adapter

TOKENS = 64
BATCH = 8
QUESTIONS = [
    "What does a systolic murmur that gets louder on standing suggest?",
    "Is chest pain on exertion in a 60 year old serious?",
    "How is atrial fibrillation treated?",
    "My blood pressure is 150/95 at home. What should I do?",
    "What are the warning signs of heart failure?",
    "Why do my ankles swell in the evening?",
    "When should palpitations be checked by a doctor?",
    "What does a high troponin mean after chest pain?",
]


def _prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(n)]


def _timed(run, repeats: int) -> tuple[float, int]:
    """(median seconds, tokens of one batch) after one warm-up call; ``run()`` returns its token count."""
    tokens = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), tokens


def hf_tokens_per_s(model: Path, adapter: Path | None, prompts: list, repeats: int) -> float:
    import torch

    from heartgrpo.eval.generators import TransformersGenerator

    gen = TransformersGenerator(model, adapter=adapter, temperature=0.0, max_new_tokens=TOKENS, seed=0)
    tok = gen.tokenizer
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)

    def run() -> int:
        with torch.no_grad():
            out = gen.model.generate(**enc, max_new_tokens=TOKENS, min_new_tokens=TOKENS, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
        return int((out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0])

    seconds, tokens = _timed(run, repeats)
    return tokens / seconds


def vllm_tokens_per_s(model: Path, adapter: Path | None, prompts: list, repeats: int) -> float:
    from heartgrpo.eval.generators import VLLMGenerator
    from heartgrpo.model.engines import import_vllm

    gen = VLLMGenerator(model, adapter=adapter, temperature=0.0, max_new_tokens=TOKENS, seed=0, max_model_len=512,
                        dtype="float32")  # the base model on an engine without LoRA, the adapter on one with it
    params = import_vllm().SamplingParams(temperature=0.0, max_tokens=TOKENS, min_tokens=TOKENS, seed=0)

    def run() -> int:
        outs = gen.llm.chat(prompts, params, lora_request=gen.lora, use_tqdm=False, chat_template=gen.chat_template)
        return sum(len(o.outputs[0].token_ids) for o in outs)

    seconds, tokens = _timed(run, repeats)
    return tokens / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("vllm") is None:
        print("vllm_cpu: vLLM is not installed in this venv; run it as .venv-vllm/bin/python -m benchmarks.vllm_cpu "
              "(make venv-vllm builds that venv). The section is left as it is.")
        return 0
    from heartgrpo.model.demo import ensure_demo_model
    from heartgrpo.model.engines import cpu_vllm_environment

    quick = quick_mode(args.quick)
    repeats = 1 if quick else args.repeats
    env = cpu_vllm_environment()
    model = ensure_demo_model()
    prompts = _prompts(BATCH)
    rows: list[list[str]] = []
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        adapter = random_lora_adapter(model, Path(tmp) / "adapter", r=16, seed=0)
        for label, lora in (("base model", None), ("rank-16 LoRA", adapter)):
            hf = hf_tokens_per_s(model, lora, prompts, repeats)
            vllm = vllm_tokens_per_s(model, lora, prompts, repeats)
            rows.append([label, f"{hf:.1f}", f"{vllm:.1f}", f"{vllm / hf:.2f}x"])
            ratios[label] = vllm / hf
            print(f"{label}: transformers {hf:.1f} tokens/s, vLLM CPU {vllm:.1f} tokens/s ({vllm / hf:.2f}x)", flush=True)
    from heartgrpo.eval.generators import cpu_name

    load = os.getloadavg()[0]
    body = "\n".join([
        "## Generation on CPU: transformers against vLLM's CPU build",
        "",
        f"`.venv-vllm/bin/python -m benchmarks.vllm_cpu{' --quick' if quick else f' --repeats {repeats}'}` on {cpu_name()}, "
        f"load average {load:.1f} at the end (other work on the machine slows both sides); "
        f"vLLM 0.30.0 (`vllm-cpu`), torch 2.13.0+cpu, {env.get('VLLM_CPU_KVCACHE_SPACE', '?')} GiB KV cache.",
        "SmolLM2-135M-Instruct in float32, a batch of "
        f"{BATCH} heart questions, greedy, exactly {TOKENS} new tokens each; median of {repeats} timed batch(es) after a warm-up.",
        "",
        md_table(["model", "transformers tokens/s", "vLLM CPU tokens/s", "vLLM / transformers"], rows),
        "",
        *([f"With a LoRA adapter the CPU build is the slower one here ({ratios['rank-16 LoRA']:.2f}x: vLLM applies the "
           "adapter through its CPU LoRA kernels, `PunicaWrapperCPU`, in float32), so `eval.backend: auto` stays on "
           "transformers on a CPU machine, where the stages that generate run adapters.", ""]
          if ratios.get("rank-16 LoRA", 1.0) < 1.0 else []),
        "A GRPO step with TRL's colocated vLLM is not in the table: on the CPU build the trainer's first weight "
        "sync (`trl/generation/vllm_generation.py` `sync_weights`, which calls the engine's "
        "`model.load_weights`) fails with `AttributeError: 'Parameter' object has no attribute 'weight_loader'` "
        "(`vllm/model_executor/layers/linear.py`), so GRPO on CPU generates with transformers. "
        "vLLM's CPU build serves evaluation (`eval.backend: vllm`) and the judge endpoint; docs/scaling.md has the details.",
    ])
    path = write_section("vllm_cpu", body)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
