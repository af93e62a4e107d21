"""GRPO with LLM-judged rubric rewards.

The reward is one or several strategies of :mod:`heartgrpo.rewards` (``reward.strategies`` with
weights, summed by TRL as ``sum_i w_i r_i``), each a :func:`heartgrpo.rewards.make_reward_func`
over one shared :class:`~heartgrpo.judge.guarded.GuardedJudge`, plus an optional format reward.
The dataset keeps the ``rubrics`` column (``remove_unused_columns=False``) so reward functions
receive it. Checkpoints every ``grpo.save_steps``; ``resume=True`` continues from the newest
checkpoint with the same data order (TRL's sampler is seeded by ``seed`` and the Trainer skips
the batches already seen). Under ``accelerate launch --num_processes N`` each process generates
and judges its own share of the completions (TRL computes rewards on each process's local
completions, then gathers them), all through the one SQLite verdict cache; only the main process
writes the step log, ``run_config.yaml`` and ``log_history.json`` (see docs/scaling.md). When the judge fails every verdict for longer than
``judge.max_down_seconds`` training stops with a checkpoint and :class:`JudgeUnavailableError`.
On an older TRL (the Colab/Kaggle pin 0.22.2) :mod:`heartgrpo.train.trl_compat` keeps the same
behaviour: no prompt cut at 512 tokens, a completion without any reward neutral instead of a
reward of 0, and the reward functions' per-criterion metrics in the log.

The recipe, one public step each (:func:`run_grpo` calls them in this order; notebook 03 calls them
cell by cell)::

    set_up(cfg)                                        # Unsloth first, generation server check
    data = load_prompts(cfg)                           # GRPO rows: id, prompt, rubrics
    with judge_in_use(cfg.judge) as judge:             # the configured judge, closed at the end
        judge = guard(judge)                           # failures counted, judge-down clock
        funcs, weights = build_reward_funcs(cfg, judge)
        loaded = load_model(cfg)                       # tokenizer + model + LoRA (from the SFT adapter)
        args = grpo_config(cfg, loaded, data, weights) # TRL's GRPOConfig, every field from the config
        trainer = build_trainer(cfg, loaded, funcs, args, data, judge)
        resumed_from = train(cfg, trainer, resume=False)
    adapter_dir = save(cfg, trainer, loaded)

    >>> result = run_grpo(cfg, adapter=Path("runs/cpu-demo/sft/adapter"))   # doctest: +SKIP
    >>> result.steps  # doctest: +SKIP
    12
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.io.endpoint import close_clients_on
from heartgrpo.io.process import is_main_process
from heartgrpo.config.data import grpo_source
from heartgrpo.judge.factory import judge_in_use
from heartgrpo.judge.guarded import GuardedJudge, JudgeUnavailableError
from heartgrpo.rewards.trl import format_reward_func
from heartgrpo.train.sft import last_checkpoint, load_jsonl

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

log = logging.getLogger(__name__)

__all__ = [
    "GRPOResult", "build_reward_funcs", "build_trainer", "grpo_config", "grpo_rows", "guard", "load_model", "load_prompts",
    "run_grpo", "save", "select_prompts", "set_up", "train",
]

#: columns a GRPO row keeps; reward functions receive all of them except ``prompt``
GRPO_COLUMNS = ("id", "prompt", "rubrics")


@dataclass
class GRPOResult:
    adapter_dir: Path
    steps: int
    seconds: float
    resumed_from: Path | None
    log_path: Path
    judge_down: bool = False
    log_history: list[dict] = field(default_factory=list)


def build_reward_funcs(cfg: RunConfig, judge: Any) -> tuple[list[Callable], list[float]]:
    """Reward functions and their weights, in config order (format reward last)."""
    from heartgrpo.rewards import make_reward_func

    funcs: list[Callable] = []
    weights: list[float] = []
    for spec in cfg.reward.strategies:
        funcs.append(
            make_reward_func(
                judge,
                spec.strategy,
                strip_think=True,
                strip_reasoning=cfg.reward.strip_reasoning,
                num_generations=cfg.grpo.num_generations,
                **spec.options,
            )
        )
        weights.append(spec.weight)
    if cfg.orbit.curriculum is not None:  # the curriculum replaces the rubric strategies
        from heartgrpo.train.curriculum import curriculum_from_settings

        funcs, weights = [curriculum_from_settings(cfg.orbit.curriculum, judge, cfg)], [1.0]
        if cfg.reward.format_reward.enabled and cfg.reward.format_reward.on_judge_failure == "exclude":
            raise ValueError("orbit.curriculum with reward.format_reward needs format_reward.on_judge_failure: format_only")
    if cfg.reward.format_reward.enabled:
        fmt = cfg.reward.format_reward
        funcs.append(format_reward_func(fmt.style, rubric_funcs=list(funcs), on_judge_failure=fmt.on_judge_failure))
        weights.append(cfg.reward.format_reward.weight)
    return funcs, weights


def grpo_rows(rows: Sequence[dict]) -> list[dict]:
    """Keep ``id``, ``prompt`` (chat messages) and ``rubrics``; fail naming the row and field."""
    out = []
    for i, r in enumerate(rows):
        rid = r.get("id", f"row {i}")
        for key in ("prompt", "rubrics"):
            if not r.get(key):
                raise ValueError(f"GRPO row {rid}: field {key!r} is missing or empty")
        prompt = r["prompt"]
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        rubrics = [{"criterion": str(c["criterion"]), "points": float(c["points"]), "tags": list(c.get("tags") or [])} for c in r["rubrics"]]
        out.append({"id": str(rid), "prompt": prompt, "rubrics": rubrics})
    return out


def select_prompts(rows: Sequence[dict], ids: Sequence[str] | None) -> list[dict]:
    """The rows whose ``id`` is in ``ids``, in data order (all rows when ``ids`` is None); an id
    that no row has is an error.

    >>> [r["id"] for r in select_prompts([{"id": "a"}, {"id": "b"}, {"id": "c"}], ["c", "a"])]
    ['a', 'c']
    """
    if ids is None:
        return list(rows)
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise ValueError(f"grpo.prompt_ids: no GRPO prompt has id {', '.join(missing)}")
    return [r for r in rows if r["id"] in set(ids)]


def resumable_trainer_class(base: type) -> type:
    """``base`` (TRL's ``GRPOTrainer``) with a sampler whose order depends only on (seed, epoch).

    TRL's ``RepeatSampler`` draws every epoch's permutation from one generator seeded once, so a
    run resumed in epoch k would replay epoch 0's order. Here the generator is reseeded with
    ``seed + epoch`` whenever the Trainer announces an epoch (``set_epoch``), which makes a resumed
    run see exactly the batches the uninterrupted run would have seen. A multi-process CPU run
    also loads its optimizer state on resume (:class:`~heartgrpo.io.process.CpuRankResumeMixin`).
    """
    from trl.trainer.utils import RepeatSampler

    from heartgrpo.io.process import CpuRankResumeMixin

    class EpochSeededRepeatSampler(RepeatSampler):
        def set_epoch(self, epoch: int) -> None:
            if self.shuffle:
                self.generator.manual_seed((self.seed or 0) + int(epoch))

    class ResumableGRPOTrainer(CpuRankResumeMixin, base):
        def _get_train_sampler(self, dataset=None):
            sampler = super()._get_train_sampler(dataset)
            if type(sampler) is RepeatSampler:
                sampler.__class__ = EpochSeededRepeatSampler
                sampler.set_epoch(0)
            return sampler

    ResumableGRPOTrainer.__name__ = f"Resumable{base.__name__}"
    return ResumableGRPOTrainer


def set_up(cfg: RunConfig) -> None:
    """Before anything loads: Unsloth imported first when it is the backend (it patches torch, trl,
    transformers and peft), and a configured GRPO generation server checked (it must answer before
    any model loads)."""
    from heartgrpo.model.backend import import_backend_first
    from heartgrpo.model.vllm_server import require_vllm_server

    import_backend_first(cfg.model.backend, vllm_standby=cfg.model.vllm_standby)
    require_vllm_server(cfg.grpo)


def load_prompts(cfg: RunConfig, rows: Sequence[dict] | None = None) -> list[dict]:
    """Data: the GRPO rows (default ``<output_dir>/data/grpo.jsonl``) that ``grpo.prompt_ids`` and
    ``grpo.max_prompts`` select; too few of them to fill one step on this many processes is a
    :class:`~heartgrpo.train.fill.ZeroStepError` (TRL would train zero steps without a word)."""
    from heartgrpo.io.process import world_size
    from heartgrpo.train.fill import check_grpo_fills_a_step

    if rows is None:
        rows = load_jsonl(grpo_source(cfg))  # data.filter's kept prompts, else grpo.jsonl
    data = select_prompts(grpo_rows(rows), cfg.grpo.prompt_ids)
    data = data[: cfg.grpo.max_prompts]  # None: every prompt
    g = cfg.grpo
    check_grpo_fills_a_step(n_prompts=len(data), num_generations=g.num_generations, per_device_train_batch_size=g.per_device_train_batch_size,
                            gradient_accumulation_steps=g.gradient_accumulation_steps, world_size=world_size(), max_steps=g.max_steps,
                            generation_batch_size=g.trl_extra.get("generation_batch_size"),
                            steps_per_generation=g.trl_extra.get("steps_per_generation"))
    return data


def guard(judge: Any) -> GuardedJudge:
    """Judge: ``judge`` behind a :class:`~heartgrpo.judge.guarded.GuardedJudge` (failures counted,
    the judge-down clock), unless it already is one."""
    return judge if isinstance(judge, GuardedJudge) else GuardedJudge(judge)


def load_model(cfg: RunConfig, adapter: Path | None = None) -> Any:
    """Tokenizer, model and LoRA (:func:`heartgrpo.model.backend.load_for_training`), continuing
    from ``adapter``, by default the SFT adapter when it exists (else a fresh LoRA)."""
    from heartgrpo.model.backend import load_for_training

    if adapter is None and (cfg.sft_dir / "adapter" / "adapter_config.json").is_file():
        adapter = cfg.sft_dir / "adapter"
    return load_for_training(cfg, adapter=adapter)


def grpo_config(cfg: RunConfig, loaded: Any, data: Sequence[dict], weights: Sequence[float]) -> Any:
    """``GRPOConfig``: every field from the config (:func:`heartgrpo.train.trl_config.build_grpo_config`);
    on Unsloth's vLLM its sampling parameters; on TRL < 0.28 a prompt cap of the longest prompt
    (TRL would cut prompts past 512 tokens)."""
    from heartgrpo.io.process import package_version
    from heartgrpo.model.backend import vllm_sampling_params
    from heartgrpo.model.tokenizer import longest_prompt_tokens
    from heartgrpo.train.trl_compat import TRL_DROPS_MAX_PROMPT_LENGTH
    from heartgrpo.train.trl_config import build_grpo_config

    sampling = vllm_sampling_params(cfg, loaded.tokenizer) if loaded.backend == "unsloth" and cfg.model.fast_inference else None
    prompt_cap = None
    if package_version("trl") < TRL_DROPS_MAX_PROMPT_LENGTH:
        prompt_cap = longest_prompt_tokens([r["prompt"] for r in data], loaded.tokenizer)
        log.info("max_prompt_length = %d tokens (the longest prompt): no prompt is cut", prompt_cap)
    return build_grpo_config(cfg, cfg.grpo_dir, reward_weights=list(weights), vllm_sampling_params=sampling, on_cuda=loaded.on_cuda,
                             max_prompt_length=prompt_cap)


def build_trainer(cfg: RunConfig, loaded: Any, funcs: Sequence[Callable], args: Any, data: Sequence[dict],
                  judge: GuardedJudge, callbacks: Sequence[Any] = (), rollout_func: Callable | None = None) -> Any:
    """Trainer: TRL's ``GRPOTrainer`` with a resumable sampler, completions without any reward made
    neutral on an older TRL, the step log (per-step figures of ``judge``, the guarded judge the
    reward functions share) and the judge-down stop. ``rollout_func`` (TRL >= 1.0) replaces TRL's
    generation (multi-turn consultations)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from heartgrpo.train.callbacks import JudgeDownCallback, RewardMetricsCallback, StepLogCallback
    from heartgrpo.train.curriculum import curriculum_callbacks
    from heartgrpo.train.trl_compat import neutral_unscorable_trainer_class, trl_passes_log_metric

    callbacks = [*callbacks, *curriculum_callbacks(funcs)]  # a curriculum's state goes into each checkpoint
    step_log = StepLogCallback(cfg.grpo_dir, judge, jsonl=cfg.logging.jsonl, csv_file=cfg.logging.csv)
    down = JudgeDownCallback(judge, cfg.judge.max_down_seconds)
    trainer = neutral_unscorable_trainer_class(resumable_trainer_class(GRPOTrainer))(
        model=loaded.model,
        reward_funcs=list(funcs),
        args=args,
        train_dataset=Dataset.from_list(list(data)),
        processing_class=loaded.tokenizer,
        callbacks=[down, *callbacks],
        **({"rollout_func": rollout_func} if rollout_func is not None else {}),
    )
    trainer.callback_handler.callbacks.insert(0, step_log)  # before TensorBoard/W&B: they see the judge keys
    if not trl_passes_log_metric():  # TRL < 1.0: the reward functions' metrics reach the log this way
        trainer.callback_handler.callbacks.insert(0, RewardMetricsCallback(list(funcs)))
    return trainer


def _callback(trainer: Any, kind: type) -> Any:
    return next(c for c in trainer.callback_handler.callbacks if isinstance(c, kind))


def train(cfg: RunConfig, trainer: Any, resume: bool = False) -> Path | None:
    """Train, from the newest checkpoint when ``resume``; writes ``run_config.yaml`` and
    ``log_history.json`` (main process); closes the HTTP clients left on TRL's async reward loop. Raises :class:`~heartgrpo.judge.guarded.JudgeUnavailableError`
    when the judge stayed down past ``judge.max_down_seconds`` (a checkpoint is kept). Returns the
    checkpoint resumed from."""
    from heartgrpo.train.callbacks import JudgeDownCallback

    out = cfg.grpo_dir
    ckpt = last_checkpoint(out) if resume else None
    if resume and ckpt is None:
        log.info("resume asked but %s holds no checkpoint: starting from step 0", out)
    main = is_main_process()
    if main:
        cfg.dump(out / "run_config.yaml")
    try:
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    finally:  # the judge's clients on TRL's async reward loop, which TRL only stops at exit
        close_clients_on(getattr(trainer, "async_loop", None))
    if main:
        (out / "log_history.json").write_text(json.dumps(list(trainer.state.log_history), indent=1))
    down = _callback(trainer, JudgeDownCallback)
    if down.tripped_at_step is not None:
        raise JudgeUnavailableError(
            f"the judge failed every verdict for {down.down_seconds:.0f} s (limit judge.max_down_seconds = "
            f"{cfg.judge.max_down_seconds:.0f} s); training stopped at step {down.tripped_at_step}, checkpoint kept in {last_checkpoint(out)}. "
            f"Bring the judge endpoint back ({cfg.judge.base_url or cfg.judge.kind}) and rerun with --resume."
        )
    return ckpt


def save(cfg: RunConfig, trainer: Any, loaded: Any) -> Path:
    """Save the LoRA adapter (and tokenizer) to ``<output_dir>/grpo/adapter``; Unsloth's vLLM
    engine stays this process's engine, so an evaluation after training generates on it."""
    adapter_dir = cfg.grpo_dir / "adapter"
    trainer.save_model(str(adapter_dir))  # every rank (ZeRO-3 / FSDP gather the weights); the main one writes
    if is_main_process():
        loaded.tokenizer.save_pretrained(str(adapter_dir))
    _keep_rollout_engine(cfg, loaded)
    return adapter_dir


def _keep_rollout_engine(cfg: RunConfig, loaded: Any) -> None:
    llm = getattr(loaded.model, "vllm_engine", None)
    if llm is None:
        return
    import dataclasses

    from heartgrpo.model import engines

    spec = dataclasses.replace(engines.engine_spec_for(cfg, loaded.model_path), max_model_len=cfg.model.max_seq_length)
    engines.adopt(llm, spec, owner="unsloth")


def run_grpo(
    cfg: RunConfig,
    rows: Sequence[dict] | None = None,
    *,
    adapter: Path | None = None,
    judge: Any = None,
    reward_funcs: Sequence[Callable] | None = None,
    reward_weights: Sequence[float] | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    rollout_func: Callable | None = None,
) -> GRPOResult:
    """Train GRPO: the recipe of the module docstring. ``rows`` default to
    ``<output_dir>/data/grpo.jsonl``; ``adapter`` to the SFT adapter when it exists; ``judge`` to
    :func:`~heartgrpo.judge.factory.build_judge` of the config (built here, closed at the end).
    ``reward_funcs``/``reward_weights`` replace the configured rewards (tests, custom setups);
    ``rollout_func`` goes to TRL's ``GRPOTrainer`` as it is (multi-turn consultations,
    :mod:`heartgrpo.consult.environment`). This is ``heartgrpo grpo`` and the
    :func:`heartgrpo.pipeline.stage_grpo` of the notebooks."""
    set_up(cfg)
    t0 = time.perf_counter()
    data = load_prompts(cfg, rows)
    with judge_in_use(cfg.judge, judge) as used:
        guarded = guard(used)
        if reward_funcs is None:
            funcs, weights = build_reward_funcs(cfg, guarded)
        else:
            funcs, weights = list(reward_funcs), list(reward_weights or [1.0] * len(reward_funcs))
        loaded = load_model(cfg, adapter)
        trainer = build_trainer(cfg, loaded, funcs, grpo_config(cfg, loaded, data, weights), data, guarded, callbacks,
                                rollout_func=rollout_func)
        resumed_from = train(cfg, trainer, resume)
    adapter_dir = save(cfg, trainer, loaded)
    from heartgrpo.train.callbacks import StepLogCallback

    return GRPOResult(adapter_dir=adapter_dir, steps=trainer.state.global_step, seconds=time.perf_counter() - t0,
                      resumed_from=resumed_from, log_path=_callback(trainer, StepLogCallback).jsonl_path,
                      log_history=list(trainer.state.log_history))
