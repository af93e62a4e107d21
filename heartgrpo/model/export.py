"""Save a trained adapter as a merged 16-bit model (for vLLM serving or the Hub).

- ``hf`` backend: PEFT ``merge_and_unload()`` on the base model in 16-bit, then
  ``save_pretrained`` (safetensors) with the tokenizer.
- ``unsloth`` backend: Unsloth's ``save_pretrained_merged(out, tokenizer,
  save_method="merged_16bit")`` on the model returned by its loader.

The base is the 16-bit model. An adapter trained in 4-bit records Unsloth's pre-quantized repo
(``unsloth/Qwen3-14B-Base-unsloth-bnb-4bit``) as its base; merging into that would give 4-bit
weights again, so :func:`sixteen_bit_base` maps it back (pass the config's
``model.name_or_path`` as ``base`` to be explicit). The saved ``config.json`` is checked: a
``quantization_config`` there is an error.
A LoRA on an ``lm_head`` tied to the input embeddings (small models, ``configs/cpu-consult.yaml``)
is merged into an untied copy of the head (:func:`untie_adapted_head`).

    >>> sixteen_bit_base("unsloth/Qwen3-14B-Base-unsloth-bnb-4bit"), sixteen_bit_base("unsloth/Qwen3-4B-Base-bnb-4bit")
    ('unsloth/Qwen3-14B-Base', 'unsloth/Qwen3-4B-Base')

    >>> save_merged("runs/x/grpo/adapter", "runs/x/merged", base="Qwen/Qwen3-4B")   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["check_unquantized", "save_merged", "sixteen_bit_base", "untie_adapted_head"]

#: suffixes of Unsloth's pre-quantized repositories (dynamic 4-bit first: it contains the other)
_QUANT_SUFFIXES = ("-unsloth-bnb-4bit", "-bnb-4bit")


def sixteen_bit_base(name: str) -> str:
    """The 16-bit repository of an Unsloth bitsandbytes 4-bit one; other names unchanged."""
    for suffix in _QUANT_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_unquantized(model_dir: str | Path) -> Path:
    """Raise ``ValueError`` when ``model_dir/config.json`` holds a ``quantization_config``."""
    cfg = Path(model_dir) / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{cfg}: no config.json was written")
    quant = json.loads(cfg.read_text()).get("quantization_config")
    if quant:
        raise ValueError(f"{cfg}: the merged model is quantized ({quant.get('quant_method', quant)}); merge into the 16-bit base instead")
    return Path(model_dir)


def _base_of(adapter: Path) -> str:
    cfg = adapter / "adapter_config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{adapter}: no adapter_config.json; is this a LoRA adapter directory?")
    base = json.loads(cfg.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{cfg}: base_model_name_or_path is empty; pass base=...")
    return base


def untie_adapted_head(model: Any, adapter: Path) -> bool:
    """Give ``model`` its own ``lm_head`` matrix when the adapter trains ``lm_head`` and the model
    ties it to the input embeddings; returns whether it did.

    Trained that way, the adapted model is embeddings E and head E + BA; merging BA into the shared
    matrix would turn the embeddings into E + BA too. A copy of E as the head, with
    ``tie_word_embeddings`` off in the saved config, merges into the head alone.
    """
    import torch

    targets = json.loads((adapter / "adapter_config.json").read_text()).get("target_modules") or []
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    names = [targets] if isinstance(targets, str) else targets
    if "lm_head" not in names or head is None or head.weight.data_ptr() != embed.weight.data_ptr():
        return False
    head.weight = torch.nn.Parameter(embed.weight.detach().clone())
    for c in {id(model.config): model.config, id(model.config.get_text_config()): model.config.get_text_config()}.values():
        c.tie_word_embeddings = False
    return True


def save_merged(adapter: str | Path, out_dir: str | Path, *, base: str | None = None, dtype: str = "bfloat16",
                unsloth_model: Any = None, tokenizer: Any = None) -> Path:
    """Merge the LoRA ``adapter`` into its base model and save it to ``out_dir``; returns ``out_dir``.

    Pass ``unsloth_model`` (and ``tokenizer``) to use Unsloth's own merged save instead.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if unsloth_model is not None:  # pragma: no cover - GPU only
        unsloth_model.save_pretrained_merged(str(out), tokenizer, save_method="merged_16bit")
        return check_unquantized(out)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(adapter)
    base = sixteen_bit_base(base or _base_of(adapter))
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
    untie_adapted_head(model, adapter)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else base
    (tokenizer or AutoTokenizer.from_pretrained(tok_src)).save_pretrained(str(out))
    return check_unquantized(out)
