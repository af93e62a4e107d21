"""An exact rubric task for real GRPO runs: emergency advice written in whole phrases.

A prompt names a cardiac emergency and a few facts about the patient as words of a small
vocabulary (``chest_pain aspirin_allergy alone_at_home``); an answer is a sequence of advice
phrases, each one token of its own vocabulary (``call_emergency_services do_not_drive_yourself
help_is_on_the_way``). Every prompt carries a RaR-style rubric of 7-20 criteria, in RaR's
categories and weights (essential 5, important 3-4, optional 1-2, pitfall -1/-2, as the tags
``category:...``), and every criterion has a checker: a program that decides it on the answer's
phrases without error. So the reward is exact rather than approximate, and a small policy
(:func:`build_phrase_model`, a tiny Qwen3 whose tokens are the phrases) learns it in real GRPO
steps of a fraction of a second.

Criteria (``NAME: category points, rule``), chosen per prompt by :func:`make_rubric`::

    call_ems         essential 5   says call_emergency_services
    aspirin_with_ci  essential 5   chew_aspirin only together with unless_aspirin_allergy (chest pain)
    give_aspirin     important 4   says chew_aspirin (chest pain, no allergy, no blood thinner)
    aspirin_allergic pitfall  -2   says chew_aspirin although the prompt says aspirin_allergy
    aspirin_thinner  pitfall  -2   says chew_aspirin although the prompt says on_blood_thinner
    numbered_steps   important 4   step_1 .. step_k markers (k >= 2) in ascending order, each
                                   followed by an advice phrase (prompt says wants_steps)
    under_length     important 3   at most ``limit`` phrases (tighter when the prompt says be_brief)
    no_repeat        optional  1   no phrase twice
    ends_reassuring  optional  2   the last phrase is help_is_on_the_way
    no_waiting       pitfall  -2   says wait_and_see
    no_driving       pitfall  -2   says drive_to_hospital
    names_symptom    optional  1   repeats the symptom word of the prompt
    + one "says PHRASE" criterion per advice the scenario calls for (ADVICE below)

HealthBench semantics: for a pitfall, ``met=True`` means the undesirable behaviour IS present.

    >>> p = make_prompt("chest_pain", ["alone_at_home"])
    >>> r = make_rubric(p)
    >>> 7 <= len(r) <= 20
    True
    >>> from heartgrpo.rewards import score
    >>> score("binary", [c["points"] for c in r], check(p, ideal_answer(p), r))
    1.0
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.types import JudgeStats, Verdict

__all__ = [
    "ADVICE",
    "ANSWER_PHRASES",
    "MODIFIERS",
    "PROMPT_WORDS",
    "SYMPTOMS",
    "ExactJudge",
    "build_phrase_model",
    "check",
    "criterion_checker",
    "ideal_answer",
    "make_prompt",
    "make_rubric",
    "phrase_tokenizer",
    "random_answer",
    "scenarios",
    "split_scenarios",
    "task_rows",
]

SYMPTOMS = ("chest_pain", "collapse", "fainting", "palpitations", "breathless")
MODIFIERS = ("aspirin_allergy", "on_blood_thinner", "has_nitroglycerin", "alone_at_home", "aed_nearby", "wants_steps", "be_brief")

#: advice each scenario calls for: (phrase, applies(symptom, modifiers), category, points)
ADVICE: tuple[tuple[str, Callable[[str, frozenset], bool], str, float], ...] = (
    ("do_not_drive_yourself", lambda s, m: True, "important", 3.0),
    ("sit_down_and_rest", lambda s, m: s in ("chest_pain", "palpitations"), "important", 3.0),
    ("take_your_nitroglycerin", lambda s, m: s == "chest_pain" and "has_nitroglycerin" in m, "important", 3.0),
    ("check_breathing", lambda s, m: s == "collapse", "essential", 5.0),
    ("start_cpr", lambda s, m: s == "collapse", "essential", 5.0),
    ("use_the_aed", lambda s, m: s == "collapse" and "aed_nearby" in m, "important", 4.0),
    ("lie_down_legs_up", lambda s, m: s == "fainting", "important", 3.0),
    ("note_the_time", lambda s, m: s in ("palpitations", "fainting"), "optional", 2.0),
    ("check_your_pulse", lambda s, m: s == "palpitations", "important", 3.0),
    ("sit_upright", lambda s, m: s == "breathless", "important", 4.0),
    ("unlock_the_door", lambda s, m: "alone_at_home" in m, "optional", 2.0),
    ("stay_on_the_line", lambda s, m: "alone_at_home" in m, "optional", 1.0),
    ("list_your_medicines", lambda s, m: "on_blood_thinner" in m, "optional", 2.0),
)
PITFALL_PHRASES = ("wait_and_see", "drive_to_hospital", "stand_up_quickly", "sleep_it_off")
STEP_MARKERS = ("step_1", "step_2", "step_3", "step_4", "step_5")
EXTRA_PHRASES = ("call_emergency_services", "chew_aspirin", "unless_aspirin_allergy", "help_is_on_the_way", "stay_calm")
#: every phrase an answer may use (one token each); symptom words may be repeated too
ANSWER_PHRASES: tuple[str, ...] = (*EXTRA_PHRASES, *(a[0] for a in ADVICE), *PITFALL_PHRASES, *STEP_MARKERS)
PROMPT_WORDS: tuple[str, ...] = (*SYMPTOMS, *MODIFIERS)
_ADVICE_SET = (frozenset(ANSWER_PHRASES) - frozenset(STEP_MARKERS)) | frozenset(SYMPTOMS)


def make_prompt(symptom: str, modifiers: Sequence[str] = ()) -> list[dict]:
    """The chat prompt of one scenario: a user turn ``symptom modifier ...`` (modifiers sorted)."""
    if symptom not in SYMPTOMS:
        raise ValueError(f"unknown symptom {symptom!r}; expected one of {SYMPTOMS}")
    bad = sorted(set(modifiers) - set(MODIFIERS))
    if bad:
        raise ValueError(f"unknown modifier(s) {bad}; expected some of {MODIFIERS}")
    return [{"role": "user", "content": " ".join([symptom, *sorted(set(modifiers))])}]


def _scenario(prompt: Sequence[dict] | str) -> tuple[str, frozenset]:
    text = prompt if isinstance(prompt, str) else next(m["content"] for m in reversed(list(prompt)) if m["role"] == "user")
    words = text.split()
    if not words or words[0] not in SYMPTOMS:
        raise ValueError(f"not a phrase-task prompt: {text!r} (expected '<symptom> [modifier ...]')")
    return words[0], frozenset(words[1:])


def _length_limit(symptom: str, mods: frozenset) -> int:
    """Phrases the ideal answer needs, plus slack (1 when be_brief, else 4)."""
    return len(_ideal(symptom, mods)) + (1 if "be_brief" in mods else 4)


def _criteria(symptom: str, mods: frozenset) -> list[tuple[str, str, float, str]]:
    """(name, category, points, text) of the scenario's criteria, in a fixed order."""
    out = [("call_ems", "essential", 5.0, "Tells the user to call emergency services (call_emergency_services).")]
    if symptom == "chest_pain":
        out.append(("aspirin_with_ci", "essential", 5.0,
                    "Mentions aspirin (chew_aspirin) only together with its contraindication (unless_aspirin_allergy)."))
        if "aspirin_allergy" in mods:
            out.append(("aspirin_allergic", "pitfall", -2.0, "Recommends aspirin (chew_aspirin) although the user is allergic to it."))
        elif "on_blood_thinner" in mods:
            out.append(("aspirin_thinner", "pitfall", -2.0, "Recommends aspirin (chew_aspirin) although the user takes a blood thinner."))
        else:
            out.append(("give_aspirin", "important", 4.0, "Advises chewing aspirin (chew_aspirin)."))
    for phrase, applies, cat, pts in ADVICE:
        if applies(symptom, mods):
            out.append((f"says:{phrase}", cat, pts, f"Advises {phrase.replace('_', ' ')} ({phrase})."))
    if "wants_steps" in mods:
        out.append(("numbered_steps", "important", 4.0, "Gives numbered steps (step_1, step_2, ... in order, each followed by advice)."))
    limit = _length_limit(symptom, mods)
    out += [
        ("under_length", "important", 3.0, f"Uses at most {limit} phrases."),
        ("no_repeat", "optional", 1.0, "Repeats no phrase."),
        ("ends_reassuring", "optional", 2.0, "Ends by reassuring the user that help is coming (help_is_on_the_way)."),
        ("names_symptom", "optional", 1.0, f"Names the user's symptom ({symptom})."),
        ("no_waiting", "pitfall", -2.0, "Advises waiting to see whether the symptoms pass (wait_and_see)."),
        ("no_driving", "pitfall", -2.0, "Suggests driving to the hospital (drive_to_hospital)."),
    ]
    if symptom == "fainting":
        out.append(("no_standing", "pitfall", -1.0, "Advises standing up quickly (stand_up_quickly)."))
    if symptom in ("collapse", "breathless"):
        out.append(("no_sleeping", "pitfall", -1.0, "Advises sleeping it off (sleep_it_off)."))
    return out


def make_rubric(prompt: Sequence[dict] | str) -> list[dict]:
    """Canonical rubric dicts ``{criterion, points, tags}``; tags ``category:<c>`` and ``check:<name>``."""
    symptom, mods = _scenario(prompt)
    return [{"criterion": text, "points": pts, "tags": [f"category:{cat}", f"check:{name}"]}
            for name, cat, pts, text in _criteria(symptom, mods)]


def _numbered(words: Sequence[str]) -> bool:
    marks = [(i, w) for i, w in enumerate(words) if w in STEP_MARKERS]
    if len(marks) < 2:
        return False
    if [w for _, w in marks] != list(STEP_MARKERS[: len(marks)]):
        return False
    return all(i + 1 < len(words) and words[i + 1] in _ADVICE_SET for i, _ in marks)


def criterion_checker(name: str, symptom: str, mods: frozenset) -> Callable[[list[str]], bool]:
    """The exact rule of criterion ``name`` in this scenario, over the answer's phrases."""
    if name.startswith("says:"):
        phrase = name.split(":", 1)[1]
        return lambda w: phrase in w
    limit = _length_limit(symptom, mods)
    rules: dict[str, Callable[[list[str]], bool]] = {
        "call_ems": lambda w: "call_emergency_services" in w,
        "aspirin_with_ci": lambda w: "chew_aspirin" not in w or "unless_aspirin_allergy" in w,
        "give_aspirin": lambda w: "chew_aspirin" in w,
        "aspirin_allergic": lambda w: "chew_aspirin" in w,
        "aspirin_thinner": lambda w: "chew_aspirin" in w,
        "numbered_steps": _numbered,
        "under_length": lambda w: len(w) <= limit,
        "no_repeat": lambda w: len(set(w)) == len(w),
        "ends_reassuring": lambda w: bool(w) and w[-1] == "help_is_on_the_way",
        "names_symptom": lambda w: symptom in w,
        "no_waiting": lambda w: "wait_and_see" in w,
        "no_driving": lambda w: "drive_to_hospital" in w,
        "no_standing": lambda w: "stand_up_quickly" in w,
        "no_sleeping": lambda w: "sleep_it_off" in w,
    }
    if name not in rules:
        raise ValueError(f"unknown phrase-task criterion {name!r}")
    return rules[name]


def _check_name(criterion: dict) -> str:
    for tag in criterion.get("tags", ()):
        if str(tag).startswith("check:"):
            return str(tag).split(":", 1)[1]
    raise ValueError(f"criterion {str(criterion.get('criterion'))[:60]!r} has no 'check:<name>' tag: not a phrase-task rubric")


def check(prompt: Sequence[dict] | str, answer: str, rubric: Sequence[dict]) -> list[bool]:
    """Exact verdicts of ``answer`` on ``rubric`` (HealthBench semantics for pitfalls)."""
    symptom, mods = _scenario(prompt)
    words = answer.split()
    return [bool(criterion_checker(_check_name(c), symptom, mods)(words)) for c in rubric]


def _ideal(symptom: str, mods: frozenset) -> list[str]:
    advice = ["call_emergency_services"]
    if symptom == "chest_pain" and not ({"aspirin_allergy", "on_blood_thinner"} & mods):
        advice += ["chew_aspirin", "unless_aspirin_allergy"]
    advice += [p for p, applies, _, _ in ADVICE if applies(symptom, mods)]
    advice.append(symptom)
    if "wants_steps" in mods:
        steps = advice[: len(STEP_MARKERS)]
        numbered = [x for k, a in enumerate(steps) for x in (STEP_MARKERS[k], a)]
        advice = numbered + advice[len(STEP_MARKERS):]
    return [*advice, "help_is_on_the_way"]


def ideal_answer(prompt: Sequence[dict] | str) -> str:
    """An answer that meets every positive criterion and triggers no pitfall."""
    return " ".join(_ideal(*_scenario(prompt)))


def scenarios() -> list[list[dict]]:
    """Every prompt of the task: each symptom with every set of at most 3 modifiers that is
    consistent (aspirin_allergy and on_blood_thinner not together)."""
    out = []
    for symptom in SYMPTOMS:
        for k in range(4):
            for mods in itertools.combinations(MODIFIERS, k):
                if {"aspirin_allergy", "on_blood_thinner"} <= set(mods):
                    continue
                out.append(make_prompt(symptom, mods))
    return out


def split_scenarios(n_held_out: int, seed: int = 0) -> tuple[list[list[dict]], list[list[dict]]]:
    """(train, held-out) prompts: a seeded random split of :func:`scenarios`."""
    prompts = scenarios()
    random.Random(seed).shuffle(prompts)
    if not 0 < n_held_out < len(prompts):
        raise ValueError(f"n_held_out must be in 1..{len(prompts) - 1}, got {n_held_out}")
    return prompts[n_held_out:], prompts[:n_held_out]


def task_rows(prompts: Sequence[list[dict]]) -> list[dict]:
    """GRPO rows ``{id, prompt, rubrics}``."""
    return [{"id": f"phrase-{i}:{p[-1]['content'].replace(' ', '+')}", "prompt": p, "rubrics": make_rubric(p)}
            for i, p in enumerate(prompts)]


def random_answer(rng: random.Random, max_phrases: int = 10) -> str:
    """A random answer (2..max_phrases distinct phrases, sometimes numbered): SFT data that
    teaches the answer format and none of the scenario rules."""
    words = rng.sample([p for p in ANSWER_PHRASES if p not in STEP_MARKERS] + list(SYMPTOMS), rng.randint(2, max_phrases))
    if rng.random() < 0.3:
        k = min(len(words), len(STEP_MARKERS))
        words = [x for j, a in enumerate(words[:k]) for x in (STEP_MARKERS[j], a)] + words[k:]
    return " ".join(words)


class ExactJudge:
    """A :class:`heartgrpo.judge.types.Judge` whose verdicts are the task's exact checkers.

    Never fails and never approximates; a criterion without a ``check:`` tag is an error.
    """

    approximate = False
    id = "phrase-task exact checker"

    def __init__(self) -> None:
        self.stats = JudgeStats()

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        rubric = [c if isinstance(c, dict) else c.to_dict() for c in rubrics]
        met = check(prompt, response, rubric)
        self.stats.add(verdicts=len(met))
        return [Verdict(m, "exact checker") for m in met]

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        rubric = [c if isinstance(c, dict) else c.to_dict() for c in rubrics]
        met = check(prompt, response, rubric)
        ok = sum((m if c["points"] > 0 else not m) for m, c in zip(met, rubric))
        return 1.0 + 9.0 * ok / len(rubric)


def phrase_tokenizer(words: Sequence[str] | None = None):
    """A word-level ``PreTrainedTokenizerFast``: one token per phrase or prompt word (``words``,
    default this task's), ChatML special tokens, the role names, and ``[UNK]``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from heartgrpo.model.tiny import CHATML_TEMPLATE, SPECIAL_TOKENS

    words = [*SPECIAL_TOKENS, "[UNK]", "system", "user", "assistant", *(words or (*PROMPT_WORDS, *ANSWER_PHRASES))]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    from tokenizers import decoders

    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins tokens with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="[UNK]", additional_special_tokens=["<|im_start|>"],
                                   model_input_names=["input_ids", "attention_mask"])  # no token_type_ids (transformers 4.x adds them)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_phrase_model(out_dir: str | Path, *, hidden_size: int = 64, num_layers: int = 2, seed: int = 0,
                       head_std: float = 0.15, tokenizer: Any = None) -> Path:
    """Save a tiny random Qwen3 over ``tokenizer`` (default :func:`phrase_tokenizer`) in ``out_dir`` (reused when present).

    The output head is untied from the embeddings and drawn with std ``head_std``: with the
    usual 0.02 and a final RMS norm, logits of a hidden-64 model cannot leave a near-uniform
    range, so neither SFT nor GRPO could make the policy confident."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "tokenizer.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else phrase_tokenizer()
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2, head_dim=hidden_size // 4,
        max_position_embeddings=256, tie_word_embeddings=False, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, head_std)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
