"""Case cards: the shipped heart cases load; bad cards are refused naming file, card and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from heartgrpo.consult.cards import EXAMPLE_CARD, INTENTS, CardError, builtin_cards, card_rows, load_cards
from heartgrpo.consult.task import task_cards


def test_builtin_cases_load_and_cover_the_heart_topics() -> None:
    cards = builtin_cards()
    assert 24 <= len(cards) <= 40
    assert {c.topic for c in cards} >= {"chest_pain", "palpitations", "syncope", "heart_failure", "anticoagulation",
                                        "hypertension", "post_mi"}
    assert len({c.id for c in cards}) == len(cards)
    for c in cards:
        assert all(set(f.intents) <= set(INTENTS) for f in c.facts)
        assert any(i.level == 1 for i in c.checklist)
    rows = card_rows(cards)
    assert rows[0]["prompt"][0]["case_id"] == cards[0].id and rows[0]["rubrics"][0]["tags"][0].startswith("level:")


def _write(tmp: Path, name: str, cards: list[dict]) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(cards), encoding="utf-8")
    return path


def _card(**change) -> dict:
    card = json.loads(json.dumps(EXAMPLE_CARD))
    card.update(change)
    return card


@pytest.mark.parametrize(("change", "field"), [
    ({"chief_complaint": None}, "chief_complaint"),
    ({"checklist": [{"rubric": "Calls emergency services.", "level": 3, "points": 5}]}, "checklist.0.level"),
    ({"checklist": [{"rubric": "Calls emergency services.", "level": 2, "points": 5},
                    {"rubric": "Says something else useful.", "level": 2, "points": 1}]}, "(card)"),
    ({"topic": "dermatology"}, "topic"),
    ({"persona": {"age": 60}}, "persona.sex"),
    ({"unexpected": 1}, "unexpected"),
])
def test_a_bad_card_is_refused_with_file_card_and_field(tmp_path: Path, change: dict, field: str) -> None:
    path = _write(tmp_path, "bad.yaml", [_card(id="good-one"), _card(id="bad-one", **change)])
    with pytest.raises(CardError) as err:
        load_cards(path)
    text = str(err.value)
    assert str(path) in text and "card bad-one" in text and f"field {field}" in text
    assert err.value.field == field


def test_bad_intent_and_duplicate_facts_name_the_field(tmp_path: Path) -> None:
    facts = [dict(EXAMPLE_CARD["facts"][0], intents=["horoscope"]), *EXAMPLE_CARD["facts"][1:]]
    with pytest.raises(CardError, match=r"card c1: field facts\.0\.intents\.0"):
        load_cards(_write(tmp_path, "a.yaml", [_card(id="c1", facts=facts)]))
    dup = [EXAMPLE_CARD["facts"][0], *EXAMPLE_CARD["facts"]]
    with pytest.raises(CardError, match="duplicate fact id"):
        load_cards(_write(tmp_path, "b.yaml", [_card(id="c2", facts=dup)]))


def test_duplicate_card_ids_across_files_and_jsonl_cards(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_card(id="same")])
    (tmp_path / "b.jsonl").write_text(json.dumps(_card(id="same")) + "\n", encoding="utf-8")
    with pytest.raises(CardError, match=r"b\.jsonl:1: card same: field id: duplicate card id"):
        load_cards(tmp_path)
    (tmp_path / "b.jsonl").write_text(json.dumps(_card(id="other")) + "\n", encoding="utf-8")
    assert [c.id for c in load_cards(tmp_path)] == ["same", "other"]


def test_exact_task_cards_validate_as_cards() -> None:
    cards = task_cards()
    assert len(cards) == 24 and all(len(c.facts) == 3 for c in cards)


def test_shipped_cards_have_no_keyword_problems() -> None:
    from heartgrpo.consult.cards import CaseCard, card_problems

    assert [p for c in builtin_cards() for p in card_problems(c)] == []
    leaky = CaseCard.model_validate(_card(chief_complaint="My chest is tight and I live alone."))
    assert card_problems(leaky) == ["fact alone: keyword 'alone' is already in the chief complaint"]
