"""The backend seam: load a base model + LoRA for training with Unsloth or plain transformers.

- ``unsloth``: GPU only. Unsloth is imported first (before torch/trl/transformers/peft, which it
  patches) and lazily, so nothing here imports it on a CPU machine. ``UNSLOTH_VLLM_STANDBY`` is
  set from ``model.vllm_standby`` *before* that import (:func:`unsloth_environment`): at import
  unsloth_zoo turns on ``PYTORCH_ALLOC_CONF=expandable_segments:True`` unless standby is on, and
  standby mode later refuses to start with it.
  ``FastLanguageModel.from_pretrained(model_name, max_seq_length, load_in_4bit, fast_inference,
  max_lora_rank, gpu_memory_utilization)`` then ``FastLanguageModel.get_peft_model(...)``;
  with ``fast_inference=True`` GRPO rollouts run in colocated vLLM with
  :func:`vllm_sampling_params`.
- ``hf``: transformers + PEFT, CPU or GPU; 4-bit through bitsandbytes only on CUDA.
- ``auto``: ``unsloth`` when CUDA and the ``unsloth`` package are both present, else ``hf``.

    >>> loaded = load_for_training(cfg)                      # doctest: +SKIP
    >>> loaded.backend, type(loaded.model).__name__  # doctest: +SKIP
    ('hf', 'PeftModelForCausalLM')
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.model.tokenizer import chat_template_text, load_tokenizer

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

log = logging.getLogger(__name__)

__all__ = ["LoadedModel", "cuda_available", "import_backend_first", "load_for_training", "load_tokenizer", "native_bf16", "resolve_backend",
           "unsloth_environment", "vllm_sampling_params"]


@dataclass
class LoadedModel:
    """A trainable model (LoRA attached) and its tokenizer."""

    model: Any
    tokenizer: Any
    backend: str
    on_cuda: bool
    model_path: str


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return bool(torch.cuda.is_available())


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA GPU is visible, without importing torch (which must come after Unsloth):
    the driver's ``/proc/driver/nvidia/gpus`` entries, or torch's answer once torch is imported."""
    import sys

    if "torch" in sys.modules:
        return cuda_available()
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def native_bf16() -> bool:
    """bf16 in hardware (compute capability >= 8.0). ``torch.cuda.is_bf16_supported()`` alone says
    True on a T4 through emulation, so precision is always chosen with ``including_emulation=False``."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))


def resolve_backend(name: str, *, on_cuda: bool | None = None, unsloth_installed: bool | None = None) -> str:
    """``auto`` -> ``unsloth`` when CUDA and Unsloth are present, else ``hf``.

    An explicit ``unsloth`` without CUDA or without the package raises ``RuntimeError``.
    """
    cuda = nvidia_gpu_present() if on_cuda is None else on_cuda
    have = importlib.util.find_spec("unsloth") is not None if unsloth_installed is None else unsloth_installed
    if name == "auto":
        return "unsloth" if cuda and have else "hf"
    if name == "unsloth":
        if not cuda:
            raise RuntimeError("backend 'unsloth' needs a CUDA GPU; use backend 'hf' (or 'auto') on this machine")
        if not have:
            raise RuntimeError("backend 'unsloth' needs the unsloth package: pip install -e '.[gpu]'")
        return "unsloth"
    if name == "hf":
        return "hf"
    raise ValueError(f"unknown backend {name!r}; expected unsloth, hf or auto")


def unsloth_environment(standby: bool) -> dict[str, str]:
    """Set ``UNSLOTH_VLLM_STANDBY`` for ``model.vllm_standby`` before Unsloth is imported; returns
    what was set. Once Unsloth is imported the choice is made: a different value then raises
    ``RuntimeError`` (restart the process / kernel), because unsloth_zoo reads it at import to
    decide on ``expandable_segments``, which standby mode refuses.

    >>> import os; os.environ.pop("UNSLOTH_VLLM_STANDBY", None) and None
    >>> unsloth_environment(True)
    {'UNSLOTH_VLLM_STANDBY': '1'}
    """
    import sys

    want = "1" if standby else "0"
    have = os.environ.get("UNSLOTH_VLLM_STANDBY")
    if "unsloth" in sys.modules and (have or "0") != want:
        raise RuntimeError(
            f"unsloth was imported with UNSLOTH_VLLM_STANDBY={have or 'unset'}, but the config has model.vllm_standby: "
            f"{str(standby).lower()}; restart the process (notebook: the kernel) and set UNSLOTH_VLLM_STANDBY={want} "
            "before anything imports unsloth"
        )
    os.environ["UNSLOTH_VLLM_STANDBY"] = want
    return {"UNSLOTH_VLLM_STANDBY": want}


def import_backend_first(name: str, *, vllm_standby: bool = False) -> str:
    """Resolve the backend and, for ``unsloth``, set its environment (:func:`unsloth_environment`)
    and import it now, before anything pulls in torch/trl/transformers/peft (Unsloth patches them
    at import). Call this first in every entry point."""
    chosen = resolve_backend(name)
    if chosen == "unsloth":
        unsloth_environment(vllm_standby)
        import unsloth  # noqa: F401

        if not cuda_available():  # pragma: no cover - unsloth itself refuses a machine without an accelerator
            raise RuntimeError("backend 'unsloth' needs a CUDA GPU; torch sees none")
    return chosen


def _torch_dtype(name: str, on_cuda: bool):
    import torch

    if not on_cuda:
        return torch.float32  # CPU: float32 trains; bf16 on CPU is slow or unsupported in places
    if name == "auto":
        return torch.bfloat16 if native_bf16() else torch.float16
    return getattr(torch, name)


def _lora_config_kwargs(cfg: RunConfig) -> dict[str, Any]:
    return {
        "r": cfg.lora.r,
        "lora_alpha": cfg.lora.alpha,
        "lora_dropout": cfg.lora.dropout,
        "target_modules": list(cfg.lora.target_modules),
        "bias": cfg.lora.bias,
        "use_rslora": cfg.lora.use_rslora,
    }


def _load_hf(cfg: RunConfig, model_path: str, adapter: Path | None, on_cuda: bool) -> LoadedModel:
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    m = cfg.model
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(m.dtype, on_cuda), "trust_remote_code": m.trust_remote_code}
    if m.attn_implementation:
        kwargs["attn_implementation"] = m.attn_implementation
    quantized = m.load_in_4bit and on_cuda
    if m.load_in_4bit and not on_cuda:
        log.info("load_in_4bit needs CUDA (bitsandbytes); loading %s unquantized", model_path)
    if quantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=kwargs["dtype"]
        )
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}  # each accelerate rank on its own GPU
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.grpo.gradient_checkpointing or cfg.sft.gradient_checkpointing)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    else:
        from transformers import set_seed

        set_seed(cfg.seed)  # the fresh LoRA's random init follows the run's seed (Unsloth: random_state)
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **_lora_config_kwargs(cfg)))
    tok = load_tokenizer(model_path, m.chat_template, m.trust_remote_code)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return LoadedModel(model, tok, "hf", on_cuda, model_path)


def unsloth_load_kwargs(cfg: RunConfig, model_path: str, *, fast_inference: bool) -> dict[str, Any]:
    """``FastLanguageModel.from_pretrained`` keyword arguments. ``fast_inference`` is the caller's:
    SFT never generates, so it loads without a vLLM engine (one would hold its GPU share unused).
    ``dtype`` None lets Unsloth choose (bf16 where native, else fp16)."""
    m = cfg.model
    kwargs: dict[str, Any] = {
        "model_name": model_path,
        "max_seq_length": m.max_seq_length,
        "load_in_4bit": m.load_in_4bit,
        "fast_inference": fast_inference,
        "max_lora_rank": m.max_lora_rank or cfg.lora.r,
        "dtype": None if m.dtype == "auto" else m.dtype,
    }
    if fast_inference:
        kwargs["gpu_memory_utilization"] = m.gpu_memory_utilization
    return kwargs


def _load_unsloth(cfg: RunConfig, model_path: str, adapter: Path | None, fast_inference: bool) -> LoadedModel:  # pragma: no cover - GPU only
    unsloth_environment(cfg.model.vllm_standby)
    import unsloth  # noqa: F401  (must come before trl/transformers/peft)
    import torch
    from unsloth import FastLanguageModel

    m = cfg.model
    kwargs = unsloth_load_kwargs(cfg, model_path, fast_inference=fast_inference)
    if kwargs["dtype"] is not None:
        kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    if fast_inference and m.vllm_standby:
        log.info("vLLM standby: Unsloth chooses vLLM's GPU share itself; model.gpu_memory_utilization=%s is not used", m.gpu_memory_utilization)
    model, tok = FastLanguageModel.from_pretrained(**kwargs)
    lora = _lora_config_kwargs(cfg)
    model = FastLanguageModel.get_peft_model(
        model,
        r=lora["r"],
        target_modules=lora["target_modules"],
        lora_alpha=lora["lora_alpha"],
        lora_dropout=lora["lora_dropout"],
        bias=lora["bias"],
        use_rslora=lora["use_rslora"],
        use_gradient_checkpointing="unsloth",
        random_state=cfg.seed,
        max_seq_length=m.max_seq_length,
    )
    if adapter is not None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = load_file(str(Path(adapter) / "adapter_model.safetensors"))
        result = set_peft_model_state_dict(model, state)
        if getattr(result, "unexpected_keys", None):
            raise RuntimeError(f"adapter {adapter} does not fit the LoRA config: unexpected {result.unexpected_keys[:5]}")
    if m.chat_template:
        tok.chat_template = chat_template_text(m.chat_template)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return LoadedModel(model, tok, "unsloth", True, model_path)


def load_for_training(cfg: RunConfig, adapter: Path | None = None, *, backend: str | None = None,
                      fast_inference: bool | None = None) -> LoadedModel:
    """Base model from ``cfg.model`` with a trainable LoRA (fresh, or continued from ``adapter``).

    ``fast_inference`` (Unsloth only) defaults to ``cfg.model.fast_inference``; SFT passes False."""
    from heartgrpo.model.demo import resolve_model_path

    from heartgrpo.model.engines import shutdown_engine

    chosen = resolve_backend(backend or cfg.model.backend)
    model_path = resolve_model_path(cfg.model.name_or_path)
    if shutdown_engine():  # an evaluation engine of an earlier stage: training needs its GPU share
        log.info("shut down the evaluation vLLM engine before loading %s for training", model_path)
    log.info("loading %s with backend %s%s", model_path, chosen, f" + adapter {adapter}" if adapter else "")
    if chosen == "unsloth":
        return _load_unsloth(cfg, model_path, adapter, cfg.model.fast_inference if fast_inference is None else fast_inference)
    return _load_hf(cfg, model_path, adapter, cuda_available())


def vllm_sampling_params(cfg: RunConfig, tokenizer: Any = None):  # pragma: no cover - needs vLLM
    """vLLM ``SamplingParams`` for Unsloth's GRPO rollouts (the paper: min_p 0.1, top_p 1, top_k -1)."""
    from vllm import SamplingParams

    g = cfg.grpo
    stop = [tokenizer.eos_token] if tokenizer is not None and tokenizer.eos_token else None
    return SamplingParams(
        temperature=g.temperature,
        min_p=g.min_p or 0.0,
        top_p=g.top_p,
        top_k=g.top_k if g.top_k > 0 else -1,
        repetition_penalty=g.repetition_penalty,
        seed=cfg.seed,
        stop=stop,
        include_stop_str_in_output=True,
    )
