"""Property tests for the YAML readers (run configurations, case cards) and the rubric-answer
parser: a valid file with one corruption (cut short, a wrong-typed or non-finite value, a key
written twice, bytes that are not UTF-8), with or without a UTF-8 BOM and CRLF line endings, either
loads or is refused with a project error naming the file (and the line, where there is one);
no yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError or AttributeError escapes.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartgrpo.config.run import ConfigError, load_config
from heartgrpo.consult.cards import EXAMPLE_CARD, CardError, load_cards
from heartgrpo.rubricgen.parse import parse_rubric_answer

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONFIG = (Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml").read_text(encoding="utf-8")
CARDS = yaml.safe_dump([{**json.loads(json.dumps(EXAMPLE_CARD)), "id": f"card-{i}"} for i in range(3)], sort_keys=False,
                       width=1000)
WRONG = ["[1, 2]", "{a: 1}", "'text'", "''", ".nan", ".inf", "-.inf", "null", "true", "-1", "1e999", "0"]
KEY_LINE = re.compile(r"^(\s*)(?:- )?([A-Za-z_]\w*):(\s.*)?$")
KINDS = ["none", "cut", "wrong_value", "repeated_key", "bad_utf8"]


def _leaf_lines(text: str) -> list[int]:
    """Lines ``key: value`` (a value on the line, not a block below it)."""
    out = []
    for i, line in enumerate(text.split("\n")):
        m = KEY_LINE.match(line)
        if m and (m.group(3) or "").strip() and not (m.group(3) or "").strip().startswith("#"):
            out.append(i)
    return out


@st.composite
def corrupted(draw: st.DrawFn, text: str) -> tuple[bytes, str, int | None, str | None]:
    """(file bytes, kind, 1-based line of the corruption, key there) for a corruption of ``text``."""
    kind = draw(st.sampled_from(KINDS))
    lines = text.split("\n")
    line_no, key = None, None
    if kind == "cut":
        text = text[:draw(st.integers(0, len(text) - 1))]
    elif kind in ("wrong_value", "repeated_key"):
        i = draw(st.sampled_from(_leaf_lines(text)))
        indent, key = KEY_LINE.match(lines[i]).group(1, 2)
        dash = "- " if lines[i].lstrip().startswith("- ") else ""
        if kind == "wrong_value":
            lines[i] = f"{indent}{dash}{key}: {draw(st.sampled_from(WRONG))}"
            line_no = i + 1
        else:
            lines.insert(i + 1, f"{indent}{'  ' if dash else ''}{key}: {draw(st.sampled_from(WRONG))}")
            line_no = i + 2
        text = "\n".join(lines)
    data = text.encode("utf-8")
    if kind == "bad_utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff" + data[at:]
        line_no = data.count(b"\n", 0, at) + 1
    if draw(st.booleans()):
        data = data.replace(b"\n", b"\r\n")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data, kind, line_no, key


def _check_refusal(message: str, path: Path, kind: str, line_no: int | None, key: str | None) -> None:
    assert str(path) in message, message
    if kind == "repeated_key":
        assert f"{path}:{line_no}:" in message and f"key {key!r} repeated" in message, message
    elif kind == "bad_utf8":
        assert f"{path}:{line_no}:" in message and "not UTF-8 text" in message, message
    elif kind == "wrong_value":  # the key's own line, or the section whose check it fails
        assert f"{path}:{line_no}:" in message or key in message, message


def _load_or_refused(case: tuple[bytes, str, int | None, str | None], name: str, load, error: type[Exception]):
    """Write the corrupted file, load it: a refusal must name file, line and key; a load is only
    allowed for the corruptions that leave a valid file. Returns what loaded (None if refused)."""
    data, kind, line_no, key = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            loaded = load(path)
        except error as exc:
            _check_refusal(str(exc), path, kind, line_no, key)
            return None
    assert kind in ("none", "cut", "wrong_value"), f"{kind} at line {line_no} loaded"
    return loaded


@PROPERTY
@given(case=corrupted(CONFIG))
def test_config_loads_or_is_refused_naming_file_line_and_key(case: tuple[bytes, str, int | None, str | None]) -> None:
    cfg = _load_or_refused(case, "run.yaml", load_config, ConfigError)
    if cfg is not None and case[1] == "none":
        assert cfg == load_config(Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml")


@PROPERTY
@given(case=corrupted(CARDS))
def test_case_cards_load_or_are_refused_naming_file_line_and_field(case: tuple[bytes, str, int | None, str | None]) -> None:
    cards = _load_or_refused(case, "cards.yaml", load_cards, CardError)
    if cards is not None and case[1] == "none":
        assert [c.id for c in cards] == ["card-0", "card-1", "card-2"]


ANSWER = json.dumps({"rubric": [
    {"title": "Urgency", "description": "Essential Criteria: Says to call emergency services now.", "weight": 5},
    {"title": "Aspirin", "description": "Important Criteria: Mentions chewing aspirin if not allergic.", "weight": 4},
    {"title": "Delay", "description": "Pitfall Criteria: Suggests waiting to see if it passes.", "weight": -2},
]})


@PROPERTY
@given(answer=st.one_of(
    st.text(max_size=300),
    st.integers(1, len(ANSWER) - 1).map(lambda n: ANSWER[:n]),
    st.tuples(st.sampled_from(["5", "-2", "4"]), st.sampled_from(["NaN", "Infinity", "null", "\"x\"", "[]", "{}", "1e999",
                                                              "9" * 400])).map(lambda t: ANSWER.replace(t[0], t[1], 1)),
))
def test_rubric_answer_parses_or_raises_value_error(answer: str) -> None:
    """A model's rubric answer, cut short, with bad weights or arbitrary text: usable items
    (text, a finite integer weight) or a ValueError, never another exception."""
    try:
        items, notes = parse_rubric_answer(answer)
    except ValueError:
        return
    assert items and all(isinstance(i["description"], str) and isinstance(i["weight"], int) for i in items)
    assert notes["dropped"] >= 0 and notes["duplicates_removed"] >= 0


def test_rubric_answer_of_five_megabytes_is_quick() -> None:
    """One explicit 5 MB answer (braces everywhere, no item): refused with a ValueError, in seconds."""
    import time

    begin = time.perf_counter()
    try:
        parse_rubric_answer('{"note": "' + "{" * 5_000_000)
    except ValueError:
        pass
    assert time.perf_counter() - begin < 30
