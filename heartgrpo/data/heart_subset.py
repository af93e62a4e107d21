"""The paper's heart subset of HealthBench, described: pool, selection, themes, languages, turns, repeats.

:func:`describe_subset` summarises what :func:`heartgrpo.data.builders.select_eval_subset` drew
(``n`` conversations, ``random.Random(seed).sample`` over the heart pool, all when fewer) from the
conversations loaded; :func:`subset_card_lines` renders it as a data-card section. Languages are
detected on each conversation's user turns with ``langdetect`` (seeded, so deterministic; very
short texts are often misread, and are counted as detected).

Example:
    >>> convs = [{"id": "a", "heart": True, "heart_theme": "Chest Pain", "prompt": [{"role": "user", "content": "x"}],
    ...           "rubrics": [{"criterion": "c", "points": 1}, {"criterion": "c", "points": -1}]},
    ...          {"id": "b", "heart": False, "heart_theme": None, "prompt": [{"role": "user", "content": "y"}], "rubrics": []}]
    >>> card = describe_subset(convs, convs[:1], n=500, seed=42, languages=False)
    >>> card["pool"], card["heart_pool"], card["selected"], card["repeated_criteria"]
    (2, 1, 1, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from heartgrpo.records import user_text
from heartgrpo.rubrics import repeated_criteria

__all__ = ["describe_subset", "detect_language", "subset_card_lines"]


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` by ``langdetect`` (seed 0); ``"unknown"`` when it cannot tell."""
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        return detect(text)
    except LangDetectException:
        return "unknown"


def describe_subset(conversations: Sequence[Mapping[str, Any]], selected: Sequence[Mapping[str, Any]], *,
                    n: int | None, seed: int, languages: bool = True) -> dict[str, Any]:
    """Pool size, heart pool, selection, themes, languages, multi-turn share and repeated criteria."""
    themes = Counter(r.get("heart_theme") or "none" for r in selected)
    multi = sum(sum(m["role"] == "user" for m in r["prompt"]) > 1 for r in selected)
    repeats = [repeated_criteria(r["rubrics"]) for r in selected]
    langs: Counter[str] = Counter()
    if languages:
        try:
            langs.update(detect_language(user_text(r["prompt"])) for r in selected)
        except ImportError:
            langs["unknown (langdetect is not installed)"] = len(selected)
    return {
        "pool": len(conversations),
        "heart_pool": sum(bool(r.get("heart")) for r in conversations),
        "selected": len(selected),
        "n": n,
        "seed": seed,
        "themes": dict(themes.most_common()),
        "languages": dict(langs.most_common()),
        "multi_turn": multi,
        "multi_turn_share": round(multi / len(selected), 3) if selected else 0.0,
        "repeated_criteria": sum(repeats),
        "rows_with_repeats": sum(k > 0 for k in repeats),
        "pool_repeated_criteria": sum(repeated_criteria(r["rubrics"]) for r in conversations),
    }


def subset_card_lines(card: Mapping[str, Any], source: str) -> list[str]:
    """Markdown lines of the data card's HealthBench heart-subset section."""
    rule = "all of them (fewer than n)" if card["n"] is None or card["selected"] == card["heart_pool"] else \
        f"random.Random({card['seed']}).sample of n={card['n']}"
    out = ["## HealthBench heart subset", "",
           f"- source: `{source}`",
           f"- pool: {card['pool']} conversations loaded; {card['heart_pool']} classified heart",
           f"- selected: {card['selected']} ({rule}, kept in file order)",
           f"- multi-turn (more than one user turn): {card['multi_turn']} ({card['multi_turn_share']:.1%})",
           f"- repeated criteria (kept and scored): {card['repeated_criteria']} items in {card['rows_with_repeats']} "
           f"selected conversations; {card['pool_repeated_criteria']} in the whole pool",
           "- languages (langdetect on the user turns): "
           + (", ".join(f"{k} {v}" for k, v in card["languages"].items()) or "not measured"),
           "", "| theme | conversations |", "|---|---|"]
    out += [f"| {t} | {c} |" for t, c in card["themes"].items()]
    return out
