"""The tokenizer every stage loads: a pad token (eos as fallback), left padding, the config's chat template.

Kept apart from :mod:`heartgrpo.train.backend` so that evaluation (which measures prompts with it)
does not import the training backend.

    >>> load_tokenizer.__name__
    'load_tokenizer'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_tokenizer"]


def load_tokenizer(model_path: str, chat_template: str | None = None, trust_remote_code: bool = False):
    """Tokenizer with a pad token (eos as fallback) and left padding for generation.

    ``chat_template`` is a file path or the template text itself.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    if chat_template:
        path = Path(chat_template)
        tok.chat_template = path.read_text() if path.is_file() else chat_template
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok
