"""Training step cost: wall time, generated tokens/s and peak memory of GRPO steps.

``python -m benchmarks.train_step [--quick] [--steps 6]``

Runs :func:`heartgrpo.train.grpo.run_grpo` (``hf`` backend, LoRA r=16 on the 7 projections,
one prompt x 4 generations per step, the judge of :func:`benchmarks.judges.bench_judge`: the
local verifier where it beats the lexical judge on eval, else the lexical judge; ``--quick``
uses the verifier only when one is already trained) for a few steps on each model and reads TRL's own ``step_time`` from the step
log. The first step (warm-up) is left out of the median. Peak memory is the process's maximum
resident set size. Models: the tiny random Qwen3 of the tests, and (not in ``--quick``) the
CPU demo model SmolLM2-135M-Instruct. GPU rows (Unsloth and hf backends on Qwen3 shapes) are
written only by a run on a GPU machine; until then the section says they are pending.
Writes the ``train_step`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import md_table, quick_mode, write_section

GENERATIONS = 4
PROMPTS = [
    "I have crushing chest pain spreading to my left arm. What should I do?",
    "My home blood pressure readings are 150/95. Is that hypertension?",
    "My heart races and skips beats at night. Could it be atrial fibrillation?",
]
RUBRIC = [
    {"criterion": "Advises calling emergency services for chest pain", "points": 8, "tags": []},
    {"criterion": "Mentions an ECG", "points": 5, "tags": []},
    {"criterion": "Explains lifestyle changes such as exercise and diet", "points": 3, "tags": []},
    {"criterion": "Recommends blood pressure monitoring", "points": 3, "tags": []},
    {"criterion": "Claims the symptoms are certainly harmless", "points": -6, "tags": []},
]


def _rows() -> list[dict]:
    return [{"id": f"b{i}", "prompt": [{"role": "user", "content": q}], "rubrics": RUBRIC} for i, q in enumerate(PROMPTS)]


def measure(model_path: str, steps: int, completion_tokens: int, out: Path, judge: dict | None = None) -> dict:
    """Run ``steps`` GRPO steps; return median step time, tokens/s and peak RSS."""
    from heartgrpo.config.run import config_from_dict
    from heartgrpo.train.callbacks import read_steps
    from heartgrpo.train.grpo import run_grpo

    cfg = config_from_dict({
        "name": "bench", "output_dir": str(out), "model": {"name_or_path": model_path, "backend": "hf"},
        "grpo": {"max_steps": steps, "num_generations": GENERATIONS, "per_device_train_batch_size": GENERATIONS,
                 "max_completion_length": completion_tokens, "learning_rate": 1e-5, "save_steps": 10_000, "logging_steps": 1},
        "reward": {"strategies": [{"name": "complexity"}]}, "judge": judge or {"kind": "approximate"},
    })
    t0 = time.perf_counter()
    run_grpo(cfg, _rows())
    wall = time.perf_counter() - t0
    log = read_steps(cfg.grpo_dir / "steps.jsonl")
    times = [r["step_time"] for r in log if r.get("step_time")][1:] or [r["step_time"] for r in log if r.get("step_time")]
    tokens = [r.get("completions/mean_length", 0) * GENERATIONS for r in log][1:] or [0]
    step = statistics.median(times)
    return {"step_s": step, "tokens_per_step": statistics.mean(tokens), "tokens_per_s": statistics.mean(tokens) / step,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, "wall_s": wall, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)
    quick = args.quick or quick_mode()
    steps = 3 if quick else args.steps
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from heartgrpo.model.tiny import build_tiny_qwen3

    import torch

    from benchmarks.judges import VERIFIER_DIR, JudgeChoice, bench_judge, judge_settings, judge_text
    from heartgrpo.judge import LexicalJudge

    if quick and not (VERIFIER_DIR / "verifier.npz").is_file():
        choice = JudgeChoice(LexicalJudge(), "lexical", None, None, "quick run: no verifier trained yet")
    else:
        choice = bench_judge()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_qwen3(Path(tmp) / "tiny")
        models = [("tiny Qwen3 (hidden 64, 2 layers)", str(tiny), 32)]
        if not quick:
            from heartgrpo.model.demo import ensure_demo_model

            models.append(("SmolLM2-135M-Instruct (CPU demo model)", str(ensure_demo_model()), 48))
        for label, path, n_tokens in models:
            r = measure(path, steps, n_tokens, Path(tmp) / label.split()[0], judge_settings(choice))
            rows.append([label, "hf (transformers + PEFT)", f"{GENERATIONS} x {n_tokens}", f"{r['step_s']:.2f}",
                         f"{r['tokens_per_s']:.1f}", f"{r['peak_rss_gb']:.2f}", r["steps"]])
            print(label, r, flush=True)
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    body = "\n".join([
        "## Training step cost",
        "",
        f"Command: `python -m benchmarks.train_step{' --quick' if quick else ''}`. One GRPO step = 1 prompt x "
        f"{GENERATIONS} generations, LoRA r=16 on the 7 projections, reward `complexity` from {judge_text(choice)}, "
        "`hf` backend, float32 on CPU (the judge's grading is part of the step time). Step time is TRL's `step_time` (median, first step left out); "
        "tokens/s counts generated completion tokens; memory is the benchmark process's peak resident set "
        "(all models measured in one process, so later rows include earlier ones).",
        "",
        f"CPU: {cpu}. Wall-clock figures depend on what else runs on the machine.",
        "",
        md_table(["model", "backend", "generations x max tokens", "step s (median)", "generated tokens/s", "peak RSS GB", "steps"], rows),
        "",
        "### GPU",
        "",
        "No GPU figures were taken: no GPU was available where these figures were produced. On a GPU, `heartgrpo "
        "doctor --run --config configs/qwen3-14b-rtx6000pro.yaml` trains 3 SFT + 3 GRPO steps with the configured "
        "backend (`unsloth` with vLLM `fast_inference`, 4-bit) on random weights of the config's architecture (its "
        "`config.json` from the Hugging Face cache, 2 layers) and writes seconds and peak GPU memory per phase, "
        "with the GPU named, to `runs/qwen3-14b-rtx6000pro/doctor/doctor.md`. The other rows: add `--set "
        "model.fast_inference=false --set grpo.use_vllm=false` (`unsloth` without vLLM), then also `--set "
        "model.backend=hf` (`hf`, 4-bit) and `--set model.load_in_4bit=false` (`hf`, bf16); `--set "
        "model.name_or_path=unsloth/Qwen3-1.7B-Base` for the 1.7B shape.",
    ])
    path = write_section("train_step", body)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
