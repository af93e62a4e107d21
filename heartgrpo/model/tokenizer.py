"""The tokenizer every stage loads: a pad token (eos as fallback), left padding, the config's chat template.

Kept apart from :mod:`heartgrpo.model.backend` so that evaluation (which measures prompts with it)
does not import the training backend.

    >>> load_tokenizer.__name__
    'load_tokenizer'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["chat_template_text", "load_tokenizer", "longest_prompt_tokens"]


def chat_template_text(chat_template: str | None) -> str | None:
    """A chat template given as a file path or as the template text itself, as text (None when not given).

    >>> chat_template_text("{{ messages[0]['content'] }}")
    "{{ messages[0]['content'] }}"
    >>> chat_template_text("") is None
    True
    """
    if not chat_template:
        return None
    path = Path(chat_template)
    return path.read_text(encoding="utf-8") if len(chat_template) < 4096 and path.is_file() else chat_template


def load_tokenizer(model_path: str, chat_template: str | None = None, trust_remote_code: bool = False):
    """Tokenizer with a pad token (eos as fallback) and left padding for generation.

    ``chat_template`` is a file path or the template text itself.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    if chat_template:
        tok.chat_template = chat_template_text(chat_template)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def longest_prompt_tokens(prompts: Sequence[Any], tokenizer: Any) -> int:
    """Token count of the longest prompt, templated and tokenized as TRL's GRPOTrainer does
    (chat template with the generation prompt, then no special tokens added).

    Passed as ``max_prompt_length`` to a TRL that has one, it cuts nothing, and it bounds
    vLLM's ``max_model_len`` (prompt + completion) by what the data needs.
    """
    from trl.data_utils import maybe_apply_chat_template

    longest = 0
    for prompt in prompts:
        text = maybe_apply_chat_template({"prompt": prompt}, tokenizer)["prompt"]
        longest = max(longest, len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return longest
