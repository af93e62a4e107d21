"""The output format, defined once: tags, system prompt, SFT target, answer extraction, format check.

Two formats share the tags below:

* ``paper``: ``<start_working_out>{reasoning}<end_working_out><SOLUTION>{answer}</SOLUTION>``
  under :data:`PAPER_SYSTEM_PROMPT`;
* ``qwen3``/``think``: ``<think>\\n{reasoning}\\n</think>\\n\\n{answer}`` (Qwen3's own thinking
  tags, no system prompt).

Everything else derives from these constants: the SFT rows (:mod:`heartgrpo.data.builders`), the
text a judge sees (:func:`extract_answer`, used by the GRPO reward and by evaluation), and the
format reward's check (:func:`follows_format`).

Empty answers follow one named policy, :data:`EmptyAnswerPolicy`, in training and evaluation
alike: ``"unmet"`` (the default) scores an answer that is empty after extraction (an unterminated
``<think>`` becomes ``""``) as meeting no criterion, without asking the judge: it exhibits no
behaviour, so every positive criterion is unmet and every pitfall avoided; ``"judge"`` sends the
empty string to the judge like any other answer.

Example:
    >>> format_sft_completion("Think.", "Answer.", "paper")
    '<start_working_out>Think.<end_working_out><SOLUTION>Answer.</SOLUTION>'
    >>> extract_answer("<think>x</think> Final.")
    'Final.'
    >>> follows_format("<think>x</think> Final.", "think"), follows_format("Final.", "think")
    (True, False)

Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = [
    "EMPTY_EXPLANATION",
    "PAPER_SYSTEM_PROMPT",
    "REASONING_END",
    "REASONING_START",
    "SOLUTION_END",
    "SOLUTION_START",
    "THINK_END",
    "THINK_START",
    "EmptyAnswerPolicy",
    "FormatStyle",
    "SftFormat",
    "completion_text",
    "extract_answer",
    "follows_format",
    "format_sft_completion",
    "is_empty_answer",
    "system_prompt_for",
]

SftFormat = Literal["paper", "qwen3"]
#: the format reward's styles: ``paper`` (working out + SOLUTION) or ``think`` (Qwen3 thinking)
FormatStyle = Literal["paper", "think"]
#: what happens to an answer that is empty after extraction (see the module docstring)
EmptyAnswerPolicy = Literal["unmet", "judge"]

THINK_START = "<think>"
THINK_END = "</think>"
REASONING_START = "<start_working_out>"
REASONING_END = "<end_working_out>"
SOLUTION_START = "<SOLUTION>"
SOLUTION_END = "</SOLUTION>"
PAPER_SYSTEM_PROMPT = (
    "You are given a medical question about the heart. Think about the problem and provide your "
    f"working out. Place it between {REASONING_START} and {REASONING_END}. Then, provide your "
    f"answer between {SOLUTION_START} and {SOLUTION_END}."
)
#: the explanation stored with the verdicts of an empty answer under the ``"unmet"`` policy
EMPTY_EXPLANATION = "empty response: no behaviour is present"

_E = re.escape
_THINK = re.compile(f"{_E(THINK_START)}.*?{_E(THINK_END)}", re.DOTALL)
_SOLUTION = re.compile(f"{_E(SOLUTION_START)}(.*?)(?:{_E(SOLUTION_END)}|$)", re.DOTALL)
_WORKING = re.compile(f"{_E(REASONING_START)}.*?(?:{_E(REASONING_END)}|$)", re.DOTALL)
_FORMATS: dict[str, re.Pattern[str]] = {
    # the generation prompt may already open the reasoning section, so the opening tag is optional
    "paper": re.compile(
        rf"^\s*({_E(REASONING_START)})?.+?{_E(REASONING_END)}\s*{_E(SOLUTION_START)}.+?{_E(SOLUTION_END)}\s*$",
        re.DOTALL,
    ),
    "think": re.compile(rf"^\s*({_E(THINK_START)})?.*?{_E(THINK_END)}\s*\S.*$", re.DOTALL),
}


def system_prompt_for(fmt: SftFormat) -> str | None:
    """The system prompt of a format: the paper's for ``paper``, none for ``qwen3``."""
    return PAPER_SYSTEM_PROMPT if fmt == "paper" else None


def format_sft_completion(reasoning: str, answer: str, fmt: SftFormat = "paper") -> str:
    """The assistant text the SFT warm start teaches.

    >>> format_sft_completion("r", "a", "qwen3")
    '<think>\\nr\\n</think>\\n\\na'
    """
    reasoning, answer = reasoning.strip(), answer.strip()
    if fmt == "paper":
        return f"{REASONING_START}{reasoning}{REASONING_END}{SOLUTION_START}{answer}{SOLUTION_END}"
    if fmt == "qwen3":
        return f"{THINK_START}\n{reasoning}\n{THINK_END}\n\n{answer}"
    raise ValueError(f"unknown sft format {fmt!r}; expected 'paper' or 'qwen3'")


def _message_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def extract_answer(completion: Any, strip_think: bool = True, strip_reasoning: bool = False) -> str:
    """The text the judge sees.

    Conversational completions use the last assistant message. ``strip_think`` drops
    ``<think>...</think>`` (an unterminated ``<think>`` drops everything after it); with
    ``strip_reasoning`` only the ``<SOLUTION>`` content is kept when present, else the
    working-out section is dropped.

    >>> extract_answer("<start_working_out>r<end_working_out><SOLUTION>Ans</SOLUTION>", strip_reasoning=True)
    'Ans'
    >>> extract_answer([{"role": "assistant", "content": "Hi"}])
    'Hi'
    >>> extract_answer("<think>never closed")
    ''
    """
    if isinstance(completion, str):
        text = completion
    else:
        assistant = [m for m in completion if m.get("role", "assistant") == "assistant"]
        text = _message_text((assistant or list(completion))[-1].get("content")) if completion else ""
    if strip_think:
        text = _THINK.sub("", text)
        if THINK_END in text:  # the opening tag was part of the prompt (generation prompt)
            text = text.split(THINK_END, 1)[1]
        if THINK_START in text:  # unterminated thinking: nothing after it is an answer
            text = text.split(THINK_START, 1)[0]
    if strip_reasoning:
        solution = _SOLUTION.search(text)
        if solution:
            text = solution.group(1)
        else:
            text = _WORKING.sub("", text)
            if REASONING_END in text:  # the opening tag was part of the prompt
                text = text.split(REASONING_END, 1)[1]
    return text.strip()


def is_empty_answer(text: str) -> bool:
    """True when an extracted answer holds nothing to judge (only whitespace)."""
    return not text.strip()


def completion_text(completion: Any) -> str:
    """A completion as one string: the content of every message, joined (the format check reads all)."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def follows_format(completion: Any, style: FormatStyle = "paper") -> bool:
    """Whether a completion follows the output format.

    ``paper``: ``[<start_working_out>]...<end_working_out><SOLUTION>...</SOLUTION>``;
    ``think``: ``[<think>]...</think>`` followed by an answer.

    >>> follows_format("<end_working_out><SOLUTION>x</SOLUTION>")
    False
    >>> follows_format("r<end_working_out><SOLUTION>x</SOLUTION>")
    True
    """
    try:
        pattern = _FORMATS[style]
    except KeyError:
        raise ValueError(f"unknown format style {style!r}; expected one of {sorted(_FORMATS)}") from None
    return bool(pattern.match(completion_text(completion)))
