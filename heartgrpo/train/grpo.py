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

from heartgrpo.rewards.trl import format_reward_func  # re-exported: the format reward lives with the rewards
from heartgrpo.train.distributed import is_main_process
from heartgrpo.judge.factory import judge_in_use
from heartgrpo.judge.guarded import GuardedJudge, JudgeUnavailableError
from heartgrpo.train.sft import last_checkpoint, load_jsonl

if TYPE_CHECKING:
    from heartgrpo.config import RunConfig

log = logging.getLogger(__name__)

__all__ = ["GRPOResult", "JudgeUnavailableError", "build_reward_funcs", "format_reward_func", "grpo_rows", "run_grpo", "select_prompts"]

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
                spec.name,
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
    also loads its optimizer state on resume (:class:`~heartgrpo.train.distributed.CpuRankResumeMixin`).
    """
    from trl.trainer.utils import RepeatSampler

    from heartgrpo.train.distributed import CpuRankResumeMixin

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


def _keep_rollout_engine(cfg: RunConfig, loaded: Any) -> None:
    """Unsloth's vLLM engine (``fast_inference``) stays in this process: hold it as the process's
    engine, so an evaluation after training generates on it instead of building a second one."""
    llm = getattr(loaded.model, "vllm_engine", None)
    if llm is None:
        return
    import dataclasses

    from heartgrpo.eval import engines

    spec = dataclasses.replace(engines.engine_spec_for(cfg, loaded.model_path), max_model_len=cfg.model.max_seq_length)
    engines.adopt(llm, spec, owner="unsloth")


def _grpo_args(cfg: RunConfig, loaded: Any, prompts: Sequence[Any], weights: list[float]) -> Any:
    """The ``GRPOConfig``: on Unsloth's vLLM its sampling parameters; on TRL < 0.28 a prompt cap
    of the longest prompt (TRL would cut prompts past 512 tokens)."""
    from heartgrpo.train.backend import vllm_sampling_params
    from heartgrpo.train.trl_compat import TRL_DROPS_MAX_PROMPT_LENGTH, longest_prompt_tokens, package_version
    from heartgrpo.train.trl_config import build_grpo_config

    sampling = vllm_sampling_params(cfg, loaded.tokenizer) if loaded.backend == "unsloth" and cfg.model.fast_inference else None
    prompt_cap = None
    if package_version("trl") < TRL_DROPS_MAX_PROMPT_LENGTH:
        prompt_cap = longest_prompt_tokens(prompts, loaded.tokenizer)
        log.info("max_prompt_length = %d tokens (the longest prompt): no prompt is cut", prompt_cap)
    return build_grpo_config(cfg, cfg.grpo_dir, reward_weights=weights, vllm_sampling_params=sampling, on_cuda=loaded.on_cuda,
                             max_prompt_length=prompt_cap)


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
) -> GRPOResult:
    """Train GRPO. ``rows`` default to ``<output_dir>/data/grpo.jsonl``; ``adapter`` defaults to
    the SFT adapter when it exists; ``judge`` defaults to :func:`~heartgrpo.judge.factory.build_judge`
    of the config (built here, closed at the end). ``reward_funcs``/``reward_weights`` replace the
    configured rewards (tests, custom setups). This is ``heartgrpo grpo`` and the
    :func:`heartgrpo.pipeline.stage_grpo` of the notebooks."""
    from heartgrpo.train.backend import import_backend_first

    import_backend_first(cfg.model.backend, vllm_standby=cfg.model.vllm_standby)  # Unsloth before torch/trl/transformers/peft
    t0 = time.perf_counter()
    from heartgrpo.train.vllm_server import require_vllm_server

    require_vllm_server(cfg.grpo)  # a generation server that does not answer fails before any model loads
    if rows is None:
        from heartgrpo.data.filter import grpo_source

        rows = load_jsonl(grpo_source(cfg))  # data.filter's kept prompts, else grpo.jsonl
    data = select_prompts(grpo_rows(rows), cfg.grpo.prompt_ids)
    data = data[: cfg.grpo.max_prompts]  # None: every prompt
    if adapter is None and (cfg.sft_dir / "adapter" / "adapter_config.json").is_file():
        adapter = cfg.sft_dir / "adapter"
    out = cfg.grpo_dir
    with judge_in_use(cfg.judge, judge) as used:
        guarded = used if isinstance(used, GuardedJudge) else GuardedJudge(used)
        if reward_funcs is None:
            funcs, weights = build_reward_funcs(cfg, guarded)
        else:
            funcs, weights = list(reward_funcs), list(reward_weights or [1.0] * len(reward_funcs))

        from heartgrpo.train.backend import load_for_training

        loaded = load_for_training(cfg, adapter=adapter)
        from datasets import Dataset
        from trl import GRPOTrainer

        from heartgrpo.train.callbacks import JudgeDownCallback, RewardMetricsCallback, StepLogCallback
        from heartgrpo.train.trl_compat import neutral_unscorable_trainer_class, trl_passes_log_metric

        from heartgrpo.train.curriculum import curriculum_callbacks

        callbacks = [*callbacks, *curriculum_callbacks(funcs)]  # a curriculum's state goes into each checkpoint
        step_log = StepLogCallback(out, guarded, jsonl=cfg.logging.jsonl, csv_file=cfg.logging.csv)
        down = JudgeDownCallback(guarded, cfg.judge.max_down_seconds)
        trainer = neutral_unscorable_trainer_class(resumable_trainer_class(GRPOTrainer))(
            model=loaded.model,
            reward_funcs=funcs,
            args=_grpo_args(cfg, loaded, [r["prompt"] for r in data], weights),
            train_dataset=Dataset.from_list(data),
            processing_class=loaded.tokenizer,
            callbacks=[down, *callbacks],
        )
        trainer.callback_handler.callbacks.insert(0, step_log)  # before TensorBoard/W&B: they see the judge keys
        if not trl_passes_log_metric():  # TRL < 1.0: the reward functions' metrics reach the log this way
            trainer.callback_handler.callbacks.insert(0, RewardMetricsCallback(funcs))
        ckpt = last_checkpoint(out) if resume else None
        if resume and ckpt is None:
            log.info("resume asked but %s holds no checkpoint: starting from step 0", out)
        main = is_main_process()
        if main:
            cfg.dump(out / "run_config.yaml")
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    history = list(trainer.state.log_history)
    if main:
        (out / "log_history.json").write_text(json.dumps(history, indent=1))
    if down.tripped_at_step is not None:
        raise JudgeUnavailableError(
            f"the judge failed every verdict for {down.down_seconds:.0f} s (limit judge.max_down_seconds = "
            f"{cfg.judge.max_down_seconds:.0f} s); training stopped at step {down.tripped_at_step}, checkpoint kept in {last_checkpoint(out)}. "
            f"Bring the judge endpoint back ({cfg.judge.base_url or cfg.judge.kind}) and rerun with --resume."
        )
    adapter_dir = out / "adapter"
    trainer.save_model(str(adapter_dir))  # every rank (ZeRO-3 / FSDP gather the weights); the main one writes
    if main:
        loaded.tokenizer.save_pretrained(str(adapter_dir))
    _keep_rollout_engine(cfg, loaded)
    return GRPOResult(adapter_dir=adapter_dir, steps=trainer.state.global_step, seconds=time.perf_counter() - t0,
                      resumed_from=ckpt, log_path=step_log.jsonl_path, log_history=history)
