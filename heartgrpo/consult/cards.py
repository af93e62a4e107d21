"""Case cards: one heart consultation a simulated patient can play, and their loader.

A card holds what the patient knows and what a good consultation must achieve:

* ``chief_complaint``: the patient's first words, as they would say them;
* ``facts``: background facts, each with the ``intents`` that unlock it (a doctor's question
  about ``medications`` unlocks the fact "I take apixaban") and ``keywords`` whose presence in
  a patient reply shows the fact was said (the oversharing measure of
  :mod:`heartgrpo.consult.patient`);
* ``persona``: cooperativeness, verbosity and health literacy;
* ``differential`` and ``final_diagnosis``;
* ``checklist``: rubric items for the doctor's final advice, ``level`` 1 (must) or 2 (should),
  each with positive ``points``.

Cards live in YAML (a list of cards per file) or JSONL files; :func:`load_cards` validates every
card and refuses a bad one with :class:`CardError` naming the file, the card id and the field.

    >>> card = CaseCard.model_validate(EXAMPLE_CARD)
    >>> card.facts_for({"allergies"})[0].id
    'aspirin_allergy'
    >>> [c["points"] for c in card.rubric()]
    [5.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "CASES_DIR",
    "EXAMPLE_CARD",
    "INTENTS",
    "CardError",
    "CaseCard",
    "ChecklistItem",
    "Fact",
    "Persona",
    "builtin_cards",
    "card_problems",
    "card_rows",
    "load_cards",
    "parse_card",
]

#: what a doctor's turn can ask about; every fact is unlocked by one or more of these
INTENTS: tuple[str, ...] = (
    "onset", "character", "location", "radiation", "severity", "associated", "triggers",
    "medications", "allergies", "history", "family_history", "social", "living_situation",
)
Intent = Literal[
    "onset", "character", "location", "radiation", "severity", "associated", "triggers",
    "medications", "allergies", "history", "family_history", "social", "living_situation",
]
TOPICS = ("chest_pain", "palpitations", "syncope", "heart_failure", "anticoagulation", "hypertension", "post_mi",
          "valve", "other")
CASES_DIR = "cases"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fact(_Strict):
    """One thing the patient knows, said only when a doctor's turn asks one of ``intents``."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str = Field(min_length=3)
    intents: list[Intent] = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        if any(not k.strip() or k != k.lower() for k in v):
            raise ValueError("keywords must be non-empty lower-case strings")
        return v


class Persona(_Strict):
    cooperativeness: Literal["low", "medium", "high"] = "high"
    verbosity: Literal["terse", "normal", "talkative"] = "normal"
    health_literacy: Literal["low", "medium", "high"] = "medium"
    age: int = Field(ge=16, le=110)
    sex: Literal["female", "male"]


class ChecklistItem(_Strict):
    """A rubric item for the final advice: level 1 must, level 2 should."""

    rubric: str = Field(min_length=8)
    level: Literal[1, 2]
    points: float = Field(gt=0, le=10)


class CaseCard(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    topic: Literal["chest_pain", "palpitations", "syncope", "heart_failure", "anticoagulation", "hypertension",
                   "post_mi", "valve", "other"]
    chief_complaint: str = Field(min_length=5)
    persona: Persona
    facts: list[Fact] = Field(min_length=3)
    differential: list[str] = Field(min_length=1)
    final_diagnosis: str = Field(min_length=3)
    checklist: list[ChecklistItem] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> CaseCard:
        ids = [f.id for f in self.facts]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"facts: duplicate fact id(s) {dup}")
        if not any(c.level == 1 for c in self.checklist):
            raise ValueError("checklist: needs at least one level-1 (must) item")
        return self

    def facts_for(self, intents: Iterable[str]) -> list[Fact]:
        """The facts any of ``intents`` unlocks, in card order."""
        wanted = set(intents)
        return [f for f in self.facts if wanted & set(f.intents)]

    def rubric(self) -> list[dict]:
        """The checklist as canonical rubric dicts ``{criterion, points, tags}`` (tag ``level:<1|2>``)."""
        return [{"criterion": c.rubric, "points": float(c.points), "tags": [f"level:{c.level}"]} for c in self.checklist]


EXAMPLE_CARD: dict[str, Any] = {
    "id": "example-chest", "topic": "chest_pain", "chief_complaint": "My chest feels tight.",
    "persona": {"age": 60, "sex": "male"},
    "facts": [
        {"id": "onset", "text": "It started an hour ago.", "intents": ["onset"], "keywords": ["hour ago"]},
        {"id": "aspirin_allergy", "text": "Aspirin gives me hives.", "intents": ["allergies"], "keywords": ["hives"]},
        {"id": "alone", "text": "I live alone.", "intents": ["living_situation"], "keywords": ["alone"]},
    ],
    "differential": ["acute coronary syndrome"], "final_diagnosis": "acute coronary syndrome",
    "checklist": [{"rubric": "Tells him to call emergency services now.", "level": 1, "points": 5},
                  {"rubric": "Does not suggest aspirin, given the allergy.", "level": 2, "points": 3}],
}


class CardError(ValueError):
    """A card that does not validate: ``where`` is ``file: card <id>``, ``field`` the dotted field path."""

    def __init__(self, where: str, field: str, message: str) -> None:
        super().__init__(f"{where}: field {field}: {message}")
        self.where, self.field = where, field


def parse_card(raw: Any, where: str) -> CaseCard:
    """Validate one card; raise :class:`CardError` naming ``where``, the card id and the first bad field."""
    cid = raw.get("id", "?") if isinstance(raw, dict) else "?"
    if not isinstance(raw, dict):
        raise CardError(f"{where}: card {cid}", "(card)", f"a card is a mapping, got {type(raw).__name__}")
    try:
        return CaseCard.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(card)"
        raise CardError(f"{where}: card {cid}", field, first["msg"]) from None


def _raw_cards(path: Path) -> list[tuple[str, Any]]:
    if path.suffix in (".yaml", ".yml"):
        from heartgrpo.io.yamlfile import YamlError, read_yaml

        try:  # a key written twice, YAML that does not parse, bytes that are not UTF-8
            data = read_yaml(path) or []
        except YamlError as err:
            raise CardError(err.where, "(file)", err.problem) from None
        if not isinstance(data, list):
            raise CardError(str(path), "(file)", "a YAML case file holds a list of cards")
        return [(f"{path}[{i}]", c) for i, c in enumerate(data)]
    if path.suffix in (".jsonl", ".gz"):
        from heartgrpo.io.jsonl import read_rows

        return [(f"{path}:{n}", row) for n, row in read_rows(path)]
    raise CardError(str(path), "(file)", "case files are .yaml, .yml or .jsonl")


def load_cards(paths: str | Path | Sequence[str | Path]) -> list[CaseCard]:
    """Every card of the given files or directories (``*.yaml``, ``*.yml``, ``*.jsonl`` in
    name order), validated; a duplicate card id across files is refused too."""
    items = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    files: list[Path] = []
    for p in items:
        files += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml", ".jsonl")) if p.is_dir() else [p]
    cards: list[CaseCard] = []
    seen: dict[str, str] = {}
    for f in files:
        for where, raw in _raw_cards(f):
            card = parse_card(raw, where)
            if card.id in seen:
                raise CardError(f"{where}: card {card.id}", "id", f"duplicate card id (also in {seen[card.id]})")
            seen[card.id] = where
            cards.append(card)
    return cards


def builtin_cards() -> list[CaseCard]:
    """The heart cases shipped in ``heartgrpo/consult/cases/``."""
    return load_cards(Path(str(resources.files("heartgrpo.consult").joinpath(CASES_DIR))))


def card_problems(card: CaseCard) -> list[str]:
    """What makes a valid card unfit for the oversharing measure: a keyword absent from its own
    fact's text, a keyword already in the chief complaint, or one inside another fact's text.

    >>> card_problems(CaseCard.model_validate(EXAMPLE_CARD))
    []
    """
    out = []
    complaint = card.chief_complaint.lower()
    for f in card.facts:
        for k in f.keywords:
            if k not in f.text.lower():
                out.append(f"fact {f.id}: keyword {k!r} is not in the fact's text")
            if k in complaint:
                out.append(f"fact {f.id}: keyword {k!r} is already in the chief complaint")
            out += [f"fact {f.id}: keyword {k!r} is also in fact {g.id}" for g in card.facts if g.id != f.id and k in g.text.lower()]
    return out


def card_rows(cards: Sequence[CaseCard]) -> list[dict]:
    """GRPO rows ``{id, prompt, rubrics}``: the prompt is the chief complaint as a user turn that
    also carries ``case_id`` (chat templates render only role and content; TRL hands a
    ``rollout_func`` the prompts alone, so the rollout finds the card by this key)."""
    return [{"id": c.id, "prompt": [{"role": "user", "content": c.chief_complaint, "case_id": c.id}], "rubrics": c.rubric()}
            for c in cards]
