"""Typed run configuration, loaded from ``configs/*.yaml``.

One :class:`RunConfig` holds everything a run needs: model and backend, LoRA, the SFT and GRPO
hyper-parameters (every one explicit, because Unsloth silently changes several TRL defaults),
the judge, the reward strategies with their weights, data and evaluation settings, logging and
the output directory. Unknown keys and wrong types fail with the key path, and the YAML line
when known:

    >>> load_config("configs/cpu-demo.yaml").grpo.num_generations     # doctest: +SKIP
    4
    >>> config_from_dict({"name": "x", "grpo": {"num_generationz": 4}})  # doctest: +SKIP
    ConfigError: <dict>: grpo.num_generationz: unknown key

Paths in the file are kept as written; relative paths are relative to the working directory
(the repository root for ``make demo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, PrivateAttr, field_validator, model_validator

from heartgrpo.answer_format import FormatStyle
from heartgrpo.config.judge import HardwareSettings, JudgeSettings, LoggingSettings, _Section
from heartgrpo.config.consult import ConsultSettings
from heartgrpo.config.data import DataSettings, RubricGenSettings
from heartgrpo.config.eval import EvalSettings
from heartgrpo.config.refine import RefineSettings
from heartgrpo.config.orbit import OrbitSettings
from heartgrpo.io.yamlfile import YamlError, parse_yaml, read_text
from heartgrpo.rewards.strategies import Strategy, check_strategy
from heartgrpo.rewards.trl import JudgeFailurePolicy

__all__ = [
    "ConfigError", "FormatRewardSettings", "GRPOSettings", "HardwareSettings", "JudgeSettings",
    "LoggingSettings", "LoraSettings", "ModelSettings", "RewardSettings", "RunConfig", "SFTSettings",
    "StrategySpec", "config_from_dict", "load_config",
]

PAPER_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(ValueError):
    """A run configuration that does not validate; the message names file, key path and line."""


class ModelSettings(_Section):
    """Base model and how it is loaded.

    ``name_or_path``: a hub id, a local directory, or ``demo:smollm2-135m-instruct`` for the
    bundled CPU demo model. ``backend``: ``unsloth`` (GPU, Unsloth + optional vLLM rollouts),
    ``hf`` (transformers + PEFT, anywhere) or ``auto`` (unsloth when CUDA and Unsloth are present).
    """

    name_or_path: str
    backend: Literal["unsloth", "hf", "auto"] = "auto"
    max_seq_length: int = Field(2048, gt=0)
    load_in_4bit: bool = False
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    fast_inference: bool = False
    #: vLLM's share of the GPU: the evaluation engine's, and Unsloth's rollout engine's when
    #: ``vllm_standby`` is off (with standby on, Unsloth sets its own: about 0.88 of a 96 GB card)
    gpu_memory_utilization: float = Field(0.6, gt=0, le=1)
    max_lora_rank: int | None = Field(None, gt=0)
    chat_template: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    vllm_standby: bool = False


class LoraSettings(_Section):
    """LoRA adapter: rank, alpha, dropout and the modules it wraps."""

    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(PAPER_TARGET_MODULES))
    bias: Literal["none", "all", "lora_only"] = "none"
    use_rslora: bool = False


class _TrainSettings(_Section):
    """Hyper-parameters shared by SFT and GRPO; all passed to TRL explicitly."""

    learning_rate: float = Field(gt=0)
    per_device_train_batch_size: int = Field(gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_steps: int = Field(gt=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    optim: str = "adamw_torch"
    lr_scheduler_type: str = "linear"
    max_grad_norm: float = Field(1.0, gt=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    logging_steps: int = Field(1, gt=0)
    save_steps: int = Field(100, gt=0)
    save_total_limit: int | None = Field(3, gt=0)
    gradient_checkpointing: bool = False
    #: extra keyword arguments for the TRL config, filtered against the installed TRL
    trl_extra: dict[str, Any] = Field(default_factory=dict)


class SFTSettings(_TrainSettings):
    """SFT warm start (loss on the completion only)."""

    enabled: bool = True
    learning_rate: float = Field(2e-4, gt=0)
    per_device_train_batch_size: int = Field(4, gt=0)
    gradient_accumulation_steps: int = Field(4, gt=0)
    max_steps: int = Field(500, gt=0)
    weight_decay: float = Field(0.001, ge=0)
    max_length: int = Field(4096, gt=0)
    #: examples longer than this fraction of ``max_length`` are dropped (not truncated)
    drop_longer_than: float = Field(0.9, gt=0, le=1)
    completion_only_loss: bool = True
    #: the SFT rows (JSONL); None: <output_dir>/data/sft.jsonl (`heartgrpo prep`), or e.g. the
    #: self-refined set runs/refine/sft_refined.jsonl (`heartgrpo refine`)
    data: Path | None = None


class GRPOSettings(_TrainSettings):
    """GRPO. ``per_device_train_batch_size`` counts completions, as in TRL: prompts per optimizer
    step = per_device_train_batch_size * gradient_accumulation_steps / num_generations."""

    learning_rate: float = Field(5e-6, gt=0)
    num_generations: int = Field(6, ge=2)
    per_device_train_batch_size: int = Field(6, gt=0)
    max_steps: int = Field(1000, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=-1)
    min_p: float | None = Field(0.1, ge=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0)
    max_completion_length: int = Field(1024, gt=0)
    beta: float = Field(0.0, ge=0)
    epsilon: float = Field(0.2, gt=0)
    epsilon_high: float | None = Field(None, gt=0)
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(1, gt=0)
    mask_truncated_completions: bool = False
    shuffle_dataset: bool = True
    #: train on the first N GRPO prompts only (None: all); a short demo sees each of them several times
    max_prompts: int | None = Field(None, ge=1)
    #: train on the GRPO prompts with these ids only, in data order (None: all; applied before max_prompts)
    prompt_ids: list[str] | None = None
    log_completions: bool = False
    #: colocated vLLM rollouts; needs a GPU (``model.fast_inference`` with Unsloth)
    use_vllm: bool = False
    #: TRL's own colocated vLLM share; Unsloth never reads it (its engine is
    #: ``model.gpu_memory_utilization``), so leave it unset with the unsloth backend
    vllm_gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    #: importance-sampling correction of vLLM's log-probs: TRL defaults to True, Unsloth to False
    vllm_importance_sampling_correction: bool = False
    #: ``colocate``: vLLM in the training process (Unsloth's fast_inference, or TRL's own on hf);
    #: ``server``: a ``trl vllm-serve`` on other GPUs (hf backend), checked before the model loads
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_host: str = Field("127.0.0.1", min_length=1, pattern=r"^[A-Za-z0-9.:\[\]_-]+$")
    vllm_server_port: int = Field(8000, ge=1, le=65535)
    #: seconds TRL waits for the server to come up; the health check before training uses min(this, 10)
    vllm_server_timeout: float = Field(240.0, gt=0)

    @model_validator(mode="after")
    def _batch_fits_groups(self) -> GRPOSettings:
        gen = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if gen % self.num_generations:
            raise ValueError(
                f"per_device_train_batch_size * gradient_accumulation_steps = {gen} must be divisible by "
                f"num_generations = {self.num_generations} (TRL's generation_batch_size rule)"
            )
        return self

    @property
    def prompts_per_step(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps // self.num_generations


class StrategySpec(_Section):
    """One reward strategy of :data:`heartgrpo.rewards.STRATEGIES` with its weight in TRL's
    weighted sum and its options (e.g. ``normalize: true``). The name is resolved to its
    :class:`~heartgrpo.rewards.Strategy` once, here (options checked by
    :func:`heartgrpo.rewards.check_strategy`), and :attr:`strategy` is what travels.

    >>> StrategySpec(name="hybrid", options={"normalize": True}).strategy.high
    20.0
    """

    name: str
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict)
    _strategy: Strategy = PrivateAttr()

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:  # an unknown name is reported at its own key path
        return check_strategy(name, label="reward strategy").name

    @model_validator(mode="after")
    def _resolve(self) -> StrategySpec:
        self._strategy = check_strategy(self.name, self.options)
        return self

    @property
    def strategy(self) -> Strategy:
        """The resolved strategy object."""
        return self._strategy


class FormatRewardSettings(_Section):
    """Optional reward for the output format (1.0 when the completion follows it, else 0.0).

    ``on_judge_failure``: ``exclude`` leaves a completion whose rubric rewards are all ``None``
    (judge failure) out of training, as TRL does without a format reward; ``format_only`` trains
    it on its format score alone (see :mod:`heartgrpo.rewards.trl`)."""

    enabled: bool = False
    weight: float = 0.5
    style: FormatStyle = "paper"
    on_judge_failure: JudgeFailurePolicy = "exclude"


class RewardSettings(_Section):
    strategies: list[StrategySpec] = Field(default_factory=lambda: [StrategySpec(name="complexity")], min_length=1)
    format_reward: FormatRewardSettings = Field(default_factory=FormatRewardSettings)
    #: drop ``<think>...</think>`` and the paper's reasoning section before judging
    strip_reasoning: bool = True

    @model_validator(mode="after")
    def _unique(self) -> RewardSettings:
        names = [s.name for s in self.strategies]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"reward strategy listed twice: {', '.join(dup)}")
        return self


class RunConfig(_Section):
    """A whole run. ``output_dir`` holds ``data/``, ``sft/``, ``grpo/``, ``eval/`` and ``report/``."""

    name: str
    seed: int = 3407
    output_dir: Path = Path("runs/default")
    model: ModelSettings
    lora: LoraSettings = Field(default_factory=LoraSettings)
    sft: SFTSettings = Field(default_factory=SFTSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    reward: RewardSettings = Field(default_factory=RewardSettings)
    judge: JudgeSettings = Field(default_factory=lambda: JudgeSettings(kind="approximate"))
    data: DataSettings = Field(default_factory=DataSettings)
    #: the endpoint of `heartgrpo rubrics generate` (None: give --model/--base-url on the command line)
    rubrics: RubricGenSettings | None = None
    #: `heartgrpo refine`: self-refined SFT data (None: give --model/--base-url on the command line)
    refine: RefineSettings | None = None
    #: multi-turn consultation GRPO (heartgrpo.config.consult; None: single-turn)
    consult: ConsultSettings | None = None
    eval: EvalSettings = Field(default_factory=EvalSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    orbit: OrbitSettings = Field(default_factory=OrbitSettings)  # rubric curriculum, pass@k prefilter

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        rank = self.model.max_lora_rank
        if rank is not None and rank < self.lora.r:
            raise ValueError(f"model.max_lora_rank ({rank}) is smaller than lora.r ({self.lora.r})")
        if self.grpo.use_vllm and self.model.backend == "hf" and self.grpo.vllm_mode != "server":
            raise ValueError("grpo.use_vllm with backend 'hf' needs grpo.vllm_mode 'server' (a trl vllm-serve); "
                             "colocated vLLM runs with the unsloth backend")
        if self.grpo.use_vllm and self.grpo.vllm_mode == "server" and self.model.backend != "hf":
            raise ValueError("grpo.vllm_mode 'server' needs backend 'hf': Unsloth is single-GPU with colocated vLLM "
                             "(model.fast_inference); multi-GPU runs use the hf backend")
        return self

    # run-directory layout, one place
    @property
    def data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def sft_dir(self) -> Path:
        return self.output_dir / "sft"

    @property
    def grpo_dir(self) -> Path:
        return self.output_dir / "grpo"

    @property
    def eval_dir(self) -> Path:
        return self.output_dir / "eval"

    @property
    def report_dir(self) -> Path:
        return self.output_dir / "report"

    def dump(self, path: Path) -> Path:
        """Write the resolved configuration as YAML (saved next to every run)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return path


# loading, with key paths and line numbers in errors
def _key_lines(text: str) -> dict[tuple, int]:
    """Map each key path (tuple of keys / list indices) of a YAML document to its 1-based line."""
    lines: dict[tuple, int] = {}

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                sub = path + (key_node.value,)
                lines[sub] = key_node.start_mark.line + 1
                walk(value_node, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _format_errors(err: ValidationError, source: str, lines: dict[tuple, int]) -> str:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "<root>"
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{source}:{line}" if line else source
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] not in ("extra_forbidden", "missing") and "input" in e and not isinstance(e["input"], dict):
            msg += f" (got {e['input']!r})"
        out.append(f"{where}: {path}: {msg}")
    return "invalid run configuration:\n  " + "\n  ".join(out)


def config_from_dict(raw: Any, *, source: str = "<dict>", _lines: dict[tuple, int] | None = None) -> RunConfig:
    """Validate a mapping into a :class:`RunConfig`; raises :class:`ConfigError`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a run configuration must be a mapping, got {type(raw).__name__}")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, _lines or {})) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load and validate a YAML run configuration.

    ``overrides`` maps dotted key paths to values (``{"grpo.max_steps": 2}``), applied before
    validation, so an override with a wrong key fails like a wrong key in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:  # a key written twice, YAML that does not parse, bytes that are not UTF-8: refused naming file:line
        text = read_text(path)
        raw = parse_yaml(text, str(path))
    except YamlError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(raw, dict):
        return config_from_dict(raw, source=str(path))
    for dotted, value in (overrides or {}).items():
        node, (*parents, last) = raw, dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: override {dotted!r}: {'.'.join(parents[:depth + 1])} is a {type(node).__name__}, not a section")
        node[last] = value
    return config_from_dict(raw, source=str(path), _lines=_key_lines(text))
