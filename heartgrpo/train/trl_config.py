"""Run configuration -> TRL ``SFTConfig`` / ``GRPOConfig``, for whichever TRL is installed.

Every hyper-parameter is passed explicitly (Unsloth's GRPO config silently changes several TRL
defaults): each field of the ``sft:`` / ``grpo:`` settings model goes to TRL under its own name
(:func:`same_named`), except the few in :data:`NOT_SAME_NAMED`, which are mapped by name here.
The keyword arguments are then filtered against the installed config dataclass: a name the
installed TRL does not know is dropped with a log line instead of failing, so the same code runs
on TRL 0.22 (Colab pins) and the pinned 1.14.2. The renames and rules:

- ``optim``: an 8-bit optimizer becomes ``adamw_torch`` off CUDA (:func:`resolve_optim`);
- ``epsilon_high`` unset means ``epsilon``; ``steps_per_generation`` = ``gradient_accumulation_steps``;
- the ``vllm_*`` server fields only with ``use_vllm`` in server mode; ``sft.max_length`` is also
  sent as ``max_seq_length`` (TRL < 0.20);

- ``warmup_ratio`` -> ``warmup_steps`` as a float below 1 (transformers >= 5 dropped the ratio);
- ``max_prompt_length`` does not exist from TRL 0.28 on: long prompts are filtered in data prep.
  Below 0.28 it defaults to 512 and cuts longer prompts from the left, so it is always passed:
  ``None`` (nothing cut) unless the caller gives a cap (``run_grpo`` gives the longest prompt).

    >>> @dataclasses.dataclass
    ... class Old:
    ...     learning_rate: float = 0.0
    >>> filter_kwargs(Old, {"learning_rate": 1e-5, "min_p": 0.1})   # logs: dropping min_p
    {'learning_rate': 1e-05}
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartgrpo.config.run import GRPOSettings, RunConfig, SFTSettings, _TrainSettings

log = logging.getLogger(__name__)

__all__ = ["NOT_SAME_NAMED", "build_grpo_config", "build_sft_config", "config_fields", "differences_from_defaults", "filter_kwargs", "precision_kwargs", "resolve_optim", "same_named"]

#: optimizers that need bitsandbytes (and so a CUDA GPU)
_BNB_OPTIMS = {"adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_8bit", "paged_lion_8bit"}


def config_fields(config_cls: type) -> set[str]:
    """Names of the init fields of a (TRL / transformers) config dataclass."""
    return {f.name for f in dataclasses.fields(config_cls) if f.init}


def filter_kwargs(config_cls: type, kwargs: dict[str, Any], *, logger: logging.Logger = log) -> dict[str, Any]:
    """Keep the kwargs that ``config_cls`` accepts; log each dropped name once."""
    known = config_fields(config_cls)
    kept = {k: v for k, v in kwargs.items() if k in known}
    for name in sorted(set(kwargs) - known):
        logger.info("%s in this TRL version has no argument %r: dropping it (value %r)", config_cls.__name__, name, kwargs[name])
    return kept


def resolve_optim(name: str, on_cuda: bool, *, logger: logging.Logger = log) -> str:
    """``adamw_8bit`` and friends need bitsandbytes on CUDA; off CUDA use ``adamw_torch``."""
    if name in _BNB_OPTIMS and not on_cuda:
        logger.info("optimizer %s needs a CUDA GPU (bitsandbytes); using adamw_torch", name)
        return "adamw_torch"
    return name


def precision_kwargs(dtype: str, on_cuda: bool, bf16_supported: bool) -> dict[str, Any]:
    """``bf16``/``fp16``/``use_cpu`` flags. On CPU both are False (TRL's bf16 default breaks CPU runs)."""
    if not on_cuda:
        return {"bf16": False, "fp16": False, "use_cpu": True}
    if dtype == "float32":
        return {"bf16": False, "fp16": False}
    if dtype == "bfloat16" or (dtype == "auto" and bf16_supported):
        return {"bf16": True, "fp16": False}
    return {"bf16": False, "fp16": True}


def _warmup_kwargs(config_cls: type, ratio: float) -> dict[str, Any]:
    if "warmup_ratio" in config_fields(config_cls):
        return {"warmup_ratio": ratio, "warmup_steps": 0}
    return {"warmup_steps": ratio}  # transformers >= 5: a float below 1 is a ratio


#: settings fields that do not reach TRL under their own name: heartgrpo's own switches, and the
#: few real renames and rules, each applied by name below (every other field is passed as named)
NOT_SAME_NAMED = frozenset({
    "trl_extra",  # applied last, as given
    "optim",  # resolve_optim: 8-bit optimizers need CUDA
    "warmup_ratio",  # _warmup_kwargs: warmup_steps below 1 on transformers >= 5
    "enabled", "drop_longer_than", "data",  # SFT: the stage switch, the data-prep length filter, the rows file
    "max_prompts", "prompt_ids",  # GRPO: data selection, done before the trainer
    "epsilon_high",  # None means epsilon (symmetric clipping), stated explicitly
    "vllm_mode", "vllm_server_host", "vllm_server_port", "vllm_server_timeout",  # only with use_vllm
    "vllm_gpu_memory_utilization",  # only when set (TRL's own colocated vLLM)
})


def same_named(section: Any, exclude: frozenset[str] = NOT_SAME_NAMED) -> dict[str, Any]:
    """The fields of a settings model that TRL takes under the same name, with their values.

        >>> from heartgrpo.config.run import SFTSettings
        >>> sorted(same_named(SFTSettings()))[:3]
        ['adam_beta1', 'adam_beta2', 'completion_only_loss']
    """
    return {name: getattr(section, name) for name in type(section).model_fields if name not in exclude}


def _common_kwargs(config_cls: type, cfg: RunConfig, section: _TrainSettings, output_dir: Path, on_cuda: bool, bf16_supported: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        **same_named(section),
        "output_dir": str(output_dir),
        "run_name": f"{cfg.name}-{Path(output_dir).name}",
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "optim": resolve_optim(section.optim, on_cuda),
        "logging_first_step": True,
        "save_strategy": "steps",
        "report_to": list(cfg.logging.report_to) or "none",
        "dataloader_num_workers": 0,
        "ignore_data_skip": False,
        **_warmup_kwargs(config_cls, section.warmup_ratio),
        **precision_kwargs(cfg.model.dtype, on_cuda, bf16_supported),
    }
    if section.gradient_checkpointing:
        kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    return kwargs


def _cuda_flags(on_cuda: bool | None = None) -> tuple[bool, bool]:
    """(on CUDA, native bf16): bf16 only where the hardware has it, never through emulation
    (``is_bf16_supported()`` says True on a T4; :func:`heartgrpo.model.backend.native_bf16`)."""
    import torch

    from heartgrpo.model.backend import native_bf16

    on_cuda = torch.cuda.is_available() if on_cuda is None else on_cuda
    return on_cuda, bool(on_cuda and native_bf16())


def sft_kwargs(config_cls: type, cfg: RunConfig, output_dir: Path, *, on_cuda: bool, bf16_supported: bool = False) -> dict[str, Any]:
    """All SFT keyword arguments before filtering (exposed for tests and docs)."""
    s: SFTSettings = cfg.sft
    kwargs = _common_kwargs(config_cls, cfg, s, output_dir, on_cuda, bf16_supported)
    kwargs.update(
        max_seq_length=s.max_length,  # TRL < 0.20 spelling
        assistant_only_loss=False,
        packing=False,
        remove_unused_columns=True,
    )
    kwargs.update(s.trl_extra)
    return kwargs


def grpo_kwargs(
    config_cls: type, cfg: RunConfig, output_dir: Path, *, on_cuda: bool, bf16_supported: bool = False, reward_weights: list[float] | None = None, vllm_sampling_params: Any = None,
    max_prompt_length: int | None = None,
) -> dict[str, Any]:
    """All GRPO keyword arguments before filtering (exposed for tests and docs)."""
    g: GRPOSettings = cfg.grpo
    kwargs = _common_kwargs(config_cls, cfg, g, output_dir, on_cuda, bf16_supported)
    kwargs.update(
        steps_per_generation=g.gradient_accumulation_steps,
        epsilon_high=g.epsilon_high if g.epsilon_high is not None else g.epsilon,
        remove_unused_columns=False,  # reward functions read the `rubrics` column
        reward_weights=reward_weights,
    )
    if g.use_vllm and g.vllm_mode == "server":
        kwargs.update(vllm_mode="server", vllm_server_host=g.vllm_server_host, vllm_server_port=g.vllm_server_port,
                      vllm_server_timeout=g.vllm_server_timeout)
    elif g.use_vllm:
        kwargs["vllm_mode"] = "colocate"
        if g.vllm_gpu_memory_utilization is not None:  # read by TRL's own vLLM only, never by Unsloth
            kwargs["vllm_gpu_memory_utilization"] = g.vllm_gpu_memory_utilization
    if vllm_sampling_params is not None:
        kwargs["vllm_sampling_params"] = vllm_sampling_params  # Unsloth's config field
    if "max_prompt_length" in config_fields(config_cls):  # TRL < 0.28: its default 512 cuts prompts
        kwargs["max_prompt_length"] = max_prompt_length
    kwargs.update(g.trl_extra)
    return kwargs


def build_sft_config(cfg: RunConfig, output_dir: Path, *, config_cls: type | None = None, on_cuda: bool | None = None):
    """An ``SFTConfig`` (or ``config_cls``) from the run configuration."""
    if config_cls is None:
        from trl import SFTConfig as config_cls  # noqa: N813
    cuda, bf16_ok = _cuda_flags(on_cuda)
    return config_cls(**filter_kwargs(config_cls, sft_kwargs(config_cls, cfg, output_dir, on_cuda=cuda, bf16_supported=bf16_ok)))


def build_grpo_config(
    cfg: RunConfig,
    output_dir: Path,
    *,
    reward_weights: list[float] | None = None,
    vllm_sampling_params: Any = None,
    config_cls: type | None = None,
    on_cuda: bool | None = None,
    max_prompt_length: int | None = None,
):
    """A ``GRPOConfig`` (or ``config_cls``) from the run configuration."""
    if config_cls is None:
        from trl import GRPOConfig as config_cls  # noqa: N813
    cuda, bf16_ok = _cuda_flags(on_cuda)
    kwargs = grpo_kwargs(
        config_cls, cfg, output_dir, on_cuda=cuda, bf16_supported=bf16_ok, reward_weights=reward_weights, vllm_sampling_params=vllm_sampling_params,
        max_prompt_length=max_prompt_length,
    )
    return config_cls(**filter_kwargs(config_cls, kwargs))


def differences_from_defaults(config: Any) -> list[tuple[str, Any, Any]]:
    """``(field, value, default)`` for every field of a TRL config object (``GRPOConfig``,
    ``SFTConfig``, or Unsloth's subclasses) whose value differs from its dataclass default: what
    this run sets on purpose. Fields derived at construction (``logging_dir``, ...) show too.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class C:
    ...     lr: float = 1e-5
    ...     steps: int = 10
    >>> differences_from_defaults(C(lr=5e-6))
    [('lr', 5e-06, 1e-05)]
    """
    import dataclasses

    out = []
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(config, f.name, None)
        if default is dataclasses.MISSING or value != default:
            out.append((f.name, value, None if default is dataclasses.MISSING else default))
    return out
