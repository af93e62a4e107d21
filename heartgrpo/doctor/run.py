"""``heartgrpo doctor --run``: 3 SFT + 3 GRPO steps with the configured backend, then the checks.

The model has the config's architecture where that is at hand without a download (on a GPU: the
config's ``config.json`` from the Hugging Face cache with 2 layers and random weights), else the
tiny random Qwen3 of :mod:`heartgrpo.model.tiny` (always on CPU; ``--model`` picks another). The
judge is the offline lexical one; every reward function is wrapped so that the first completion
of each group of 6 gets ``None``. Checks, each ``ok`` with a ``detail``:

- ``generations_differ``: every group of 6 rollouts holds at least two different texts;
- ``none_left_out``: the ``None`` completion's advantage is 0 and the 5 scored ones are centred
  on their own mean (a ``None`` counted as 0 would shift that baseline);
- ``adapter_changes_outputs``: log-probs of a fixed answer differ between base and adapter;
- ``rollouts_use_adapter``: at every rollout the policy's LoRA is active (hf) or vLLM got a
  ``LoRARequest`` (Unsloth ``fast_inference``);
- ``save_reload_identical``: the saved adapter, loaded again, gives the trained log-probs;
- ``merged_export``: the merged 16-bit model loads, has no ``quantization_config`` and gives
  the adapter's log-probs;
- ``eval_after_training``: evaluation generation runs in the same process after training;
- ``consult_episode`` (configs with a ``consult:`` section): one two-turn consultation step
  through ``rollout_func`` with the patient's tokens masked (:mod:`heartgrpo.doctor.consult`).

Seconds and peak memory of each phase (GPU: torch's peak allocation and the device's used
memory; CPU: the process's peak resident set) are reported with them.
"""

from __future__ import annotations

import functools
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.rewards.trl import is_async_reward

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

__all__ = ["render_run_markdown", "run_checks"]

GROUP = 6
_PROBE = [
    ("I get chest tightness when I climb stairs. Should I worry?",
     "Chest tightness on exertion can be angina. See a doctor soon, and call emergency services if it comes at rest.",
     ["Advises seeing a doctor about exertional chest tightness", "Names calling emergency services for pain at rest"]),
    ("My heart races and skips beats after coffee. Is that dangerous?",
     "Palpitations after caffeine are common. Cut down on coffee and get an ECG if they persist or you feel faint.",
     ["Suggests reducing caffeine", "Recommends an ECG for persistent palpitations"]),
    ("My blood pressure was 150/95 twice this week. What now?",
     "Repeated readings above 140/90 suggest hypertension. Book a visit, and keep a home log of readings.",
     ["States that repeated readings above 140/90 suggest hypertension", "Advises booking a medical visit"]),
]
_PROBE_ANSWER = "Call emergency services now: crushing chest pain can be a heart attack."


def _rows() -> tuple[list[dict], list[dict]]:
    sft = [{"id": f"doctor-sft-{i}", "prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}]}
           for i, (q, a, _) in enumerate(_PROBE)]
    grpo = [{"id": f"doctor-grpo-{i}", "prompt": [{"role": "user", "content": q}],
             "rubrics": [{"criterion": c, "points": 5 - 2 * j, "tags": []} for j, c in enumerate(crit)]}
            for i, (q, _, crit) in enumerate(_PROBE)]
    return sft, grpo


def _run_config(cfg: RunConfig, work: Path, model_path: str, on_cuda: bool) -> RunConfig:
    from heartgrpo.config.run import config_from_dict

    raw = cfg.model_dump(mode="json")
    seq = min(cfg.model.max_seq_length, 1024 if on_cuda else 256)
    raw.update(output_dir=str(work), judge={"kind": "approximate", "approximate_threshold": 0.3})
    raw["model"].update(name_or_path=model_path, max_seq_length=seq, chat_template=None)
    common = dict(max_steps=3, gradient_accumulation_steps=1, save_steps=1000, save_total_limit=1, logging_steps=1, warmup_ratio=0.0)
    raw["sft"].update(enabled=True, per_device_train_batch_size=1, max_length=seq, **common)
    raw["grpo"].update(num_generations=GROUP, per_device_train_batch_size=GROUP, max_completion_length=min(cfg.grpo.max_completion_length, 64 if on_cuda else 8),
                       prompt_ids=None, max_prompts=None, **common)  # the doctor's own prompts
    raw["eval"].update(max_new_tokens=8, temperature=0.0)
    raw["logging"].update(report_to=[])
    return config_from_dict(raw, source=f"doctor run of {cfg.name}")


def _doctor_model(cfg: RunConfig, work: Path, on_cuda: bool) -> tuple[str, str]:
    """(path, description) of the model the checks train."""
    if on_cuda:  # pragma: no cover - GPU only
        from heartgrpo.model.export import sixteen_bit_base

        name = sixteen_bit_base(cfg.model.name_or_path)
        try:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            config = AutoConfig.from_pretrained(name, local_files_only=True)
            tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
            config.num_hidden_layers = 2
            if getattr(config, "layer_types", None):
                config.layer_types = list(config.layer_types)[:2]
            out = work / "model"
            AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(out)
            tok.save_pretrained(out)
            return str(out), f"random weights with {name}'s shapes, 2 layers"
        except (OSError, ValueError):
            pass
    from heartgrpo.model.tiny import build_tiny_qwen3

    return str(build_tiny_qwen3(work / "tiny-qwen3")), "tiny random Qwen3 (hidden 64, 2 layers)"


class _Phases:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        import torch

        cuda = torch.cuda.is_available()
        if cuda:  # pragma: no cover - GPU only
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            row = {"seconds": round(time.perf_counter() - t0, 2)}
            if cuda:  # pragma: no cover - GPU only
                free, total = torch.cuda.mem_get_info()
                row.update(peak_allocated_gib=round(torch.cuda.max_memory_allocated() / 2**30, 3), device_used_gib=round((total - free) / 2**30, 3))
            else:
                row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
            self.rows[name] = row


def _logprobs(model: Any, tok: Any) -> Any:
    """Per-token log-probs of a fixed answer after a fixed question (a CPU float tensor)."""
    import torch

    text = tok.apply_chat_template([{"role": "user", "content": _PROBE[0][0]}, {"role": "assistant", "content": _PROBE_ANSWER}], tokenize=False)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    if was_training:
        model.train()
    logp = torch.log_softmax(logits[0, :-1], dim=-1).gather(1, ids[0, 1:, None])[:, 0]
    return logp.cpu()


def _none_one_in_six(func: Callable, probe: dict[str, Any], record: bool) -> Callable:
    """``func`` with ``None`` for the first completion of each group; records the texts."""
    from heartgrpo.answer_format import completion_text as _text

    def post(completions: Any, out: list) -> list:
        if record:
            texts = [_text(c) for c in completions]
            probe["groups"] += [texts[i:i + GROUP] for i in range(0, len(texts), GROUP)]
        return [None if i % GROUP == 0 else r for i, r in enumerate(out)]

    if is_async_reward(func):
        @functools.wraps(func)
        async def wrapped(*args: Any, completions: Any = (), **kwargs: Any) -> list:
            return post(completions, list(await func(*args, completions=completions, **kwargs)))
    else:
        @functools.wraps(func)
        def wrapped(*args: Any, completions: Any = (), **kwargs: Any) -> list:
            return post(completions, list(func(*args, completions=completions, **kwargs)))
    return wrapped


def _length_reward(prompts: Any = (), completions: Any = (), **kwargs: Any) -> list[float]:
    """Spread within a group, so the baseline check has something to measure."""
    from heartgrpo.answer_format import completion_text as _text

    return [min(len(_text(c)), 200) / 100 for c in completions]


def _adapter_active(model: Any) -> bool:
    """Some LoRA layer is enabled and holds non-zero B weights."""
    layers = [m for m in model.modules() if hasattr(m, "lora_B") and hasattr(m, "disable_adapters")]
    return bool(layers) and any(not m.disable_adapters and any(b.weight.abs().sum().item() > 0 for b in m.lora_B.values()) for m in layers)


@contextmanager
def _watch_rollouts(probe: dict[str, Any]) -> Iterator[None]:
    """Record advantages and adapter state at every rollout (TRL's GRPOTrainer, restored after)."""
    import trl

    cls = trl.GRPOTrainer
    original = cls._generate_and_score_completions

    def wrapped(self: Any, inputs: Any) -> Any:
        out = original(self, inputs)
        if "advantages" not in out:  # pragma: no cover - a trainer that names it otherwise
            return out
        probe["rollouts"].append({"advantages": out["advantages"].detach().float().cpu().tolist(),
                                  "use_vllm": bool(getattr(self, "use_vllm", False)), "adapter_active": _adapter_active(self.model)})
        return out

    llm_cls, llm_generate = None, None
    try:
        from vllm import LLM as llm_cls  # noqa: N811
    except ImportError:
        pass
    if llm_cls is not None:  # pragma: no cover - needs vLLM
        llm_generate = llm_cls.generate

        def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
            probe["vllm_lora"].append(kwargs.get("lora_request") is not None)
            return llm_generate(self, *args, **kwargs)

        llm_cls.generate = generate
    cls._generate_and_score_completions = wrapped
    try:
        yield
    finally:
        cls._generate_and_score_completions = original
        if llm_cls is not None:  # pragma: no cover - needs vLLM
            llm_cls.generate = llm_generate


def _capture_callback(store: dict[str, Any], tok: Any) -> Any:
    from transformers import TrainerCallback

    class Capture(TrainerCallback):
        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            store["trained"] = _logprobs(model, tok)
            with model.disable_adapter():
                store["base"] = _logprobs(model, tok)

    return Capture()


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def _none_check(rollouts: list[dict]) -> dict[str, Any]:
    worst_none, worst_centre, spread = 0.0, 0.0, 0
    for r in rollouts:
        adv = r["advantages"]
        for g in range(0, len(adv), GROUP):
            group = adv[g:g + GROUP]
            worst_none = max(worst_none, abs(group[0]))
            scored = group[1:]
            if any(abs(a) > 1e-6 for a in scored):
                spread += 1
                worst_centre = max(worst_centre, abs(sum(scored)) / len(scored))
    ok = bool(rollouts) and worst_none < 1e-6 and worst_centre < 1e-3 and spread > 0
    return _check("none_left_out", ok, f"{len(rollouts)} rollouts; |advantage| of the None completion <= {worst_none:.2g}; "
                                       f"mean advantage of the scored 5 <= {worst_centre:.2g} over {spread} groups with spread")


def run_checks(cfg: RunConfig, work: Path, *, model: str | None = None) -> dict[str, Any]:
    """Train 3 + 3 steps in ``work`` and run the checks; returns ``{"model", "checks", "phases"}``."""
    import torch

    from heartgrpo.eval.generators import local_generator, pick_backend
    from heartgrpo.model.backend import load_for_training, load_tokenizer
    from heartgrpo.model.export import save_merged
    from heartgrpo.train.grpo import build_reward_funcs, run_grpo
    from heartgrpo.judge.factory import build_judge
    from heartgrpo.judge.guarded import GuardedJudge
    from heartgrpo.train.sft import run_sft

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    on_cuda = torch.cuda.is_available()
    phases = _Phases()
    with phases.phase("model"):
        model_path, described = (model, f"given: {model}") if model else _doctor_model(cfg, work, on_cuda)
        run_cfg = _run_config(cfg, work, model_path, on_cuda)
        tok = load_tokenizer(model_path)
    sft_rows, grpo_rows = _rows()
    with phases.phase("sft"):
        sft = run_sft(run_cfg, rows=sft_rows)
    probe: dict[str, Any] = {"groups": [], "rollouts": [], "vllm_lora": []}
    captured: dict[str, Any] = {}
    judge = GuardedJudge(build_judge(run_cfg.judge))
    funcs, weights = build_reward_funcs(run_cfg, judge)
    funcs = [_none_one_in_six(f, probe, record=(i == 0)) for i, f in enumerate(funcs)] + [_none_one_in_six(_length_reward, probe, False)]
    weights = list(weights) + [0.1]
    with phases.phase("grpo"), _watch_rollouts(probe):
        grpo = run_grpo(run_cfg, rows=grpo_rows, judge=judge, reward_funcs=funcs, reward_weights=weights, callbacks=[_capture_callback(captured, tok)])
    checks = []
    groups = probe["groups"]
    checks.append(_check("generations_differ", bool(groups) and all(len(set(g)) > 1 for g in groups),
                         f"{sum(len(set(g)) > 1 for g in groups)} of {len(groups)} groups hold different texts"))
    checks.append(_none_check(probe["rollouts"]))
    trained, base = captured.get("trained"), captured.get("base")
    diff = float((trained - base).abs().max()) if trained is not None else float("nan")
    checks.append(_check("adapter_changes_outputs", trained is not None and diff > 1e-6, f"max |log-prob(adapter) - log-prob(base)| = {diff:.3g}"))
    if probe["vllm_lora"]:  # pragma: no cover - needs vLLM
        ok, detail = all(probe["vllm_lora"]), f"{sum(probe['vllm_lora'])} of {len(probe['vllm_lora'])} vLLM generate calls had a LoRARequest"
    else:
        active = [r["adapter_active"] for r in probe["rollouts"]]
        ok, detail = bool(active) and all(active), f"LoRA active with non-zero weights at {sum(active)} of {len(active)} rollouts"
    checks.append(_check("rollouts_use_adapter", ok, detail))
    with phases.phase("reload"):
        again = load_for_training(run_cfg, adapter=grpo.adapter_dir, fast_inference=False)
        reloaded = _logprobs(again.model, tok)
        del again
    tol = 1e-2 if on_cuda else 1e-4
    rdiff = float((reloaded - trained).abs().max()) if trained is not None else float("nan")
    checks.append(_check("save_reload_identical", rdiff <= tol, f"max |log-prob difference| = {rdiff:.3g} (tolerance {tol:g})"))
    with phases.phase("export"):  # compared on CPU in float32 with base + adapter (training may have been 4-bit)
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        merged_dir = save_merged(grpo.adapter_dir, work / "merged", base=model_path, dtype="bfloat16" if on_cuda else "float32")
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
        quant = getattr(merged.config, "quantization_config", None)
        reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32), str(grpo.adapter_dir))
        mdiff = float((_logprobs(merged, tok) - _logprobs(reference, tok)).abs().max())
        del merged, reference
    mtol = 5e-2 if on_cuda else 1e-3
    checks.append(_check("merged_export", quant is None and mdiff <= mtol,
                         f"quantization_config {'absent' if quant is None else quant}; max |log-prob difference| vs adapter = {mdiff:.3g}"))
    with phases.phase("eval"):
        options = None
        if pick_backend("auto") == "vllm":  # pragma: no cover - GPU only
            from heartgrpo.model.engines import vllm_options_for

            options = vllm_options_for(run_cfg, 256)
        gen = local_generator(model_path, adapter=grpo.adapter_dir, backend="auto", vllm_options=options,
                              chat_template=run_cfg.model.chat_template, temperature=0.0, max_new_tokens=8, seed=0)
        answers = gen.generate([[{"role": "user", "content": q}] for q, _, _ in _PROBE[:2]])
    checks.append(_check("eval_after_training", len(answers) == 2 and all(isinstance(a, str) for a in answers),
                         f"{type(gen).__name__} on {gen.hardware}: {len(answers)} answers after training, in the same process"))
    if cfg.consult is not None:  # a two-turn consultation through rollout_func on the same backend
        from heartgrpo.doctor.consult import consult_check

        with phases.phase("consult"):
            checks.append(consult_check(run_cfg, work / "consult", judge))
    return {"model": described, "backend": run_cfg.model.backend, "sft_steps": sft.steps, "grpo_steps": grpo.steps,
            "checks": checks, "phases": phases.rows}


def render_run_markdown(run: dict[str, Any]) -> list[str]:
    """The ``--run`` part of ``doctor.md``."""
    lines = ["## --run checks", "", f"model: {run['model']}; {run['sft_steps']} SFT + {run['grpo_steps']} GRPO steps", "",
             "| check | ok | detail |", "|---|---|---|"]
    lines += [f"| {c['name']} | {'yes' if c['ok'] else 'NO'} | {c['detail']} |" for c in run["checks"]]
    keys = sorted({k for row in run["phases"].values() for k in row})
    lines += ["", "| phase | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(str(row.get(k, "—")) for k in keys) + " |" for name, row in run["phases"].items()]
    return lines + [""]
