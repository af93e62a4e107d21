"""Rubric parsing and validation of RaR-Medicine and HealthBench formats."""

import warnings

import pytest

from heartgrpo.rubrics import (
    Criterion,
    RubricError,
    RubricWarning,
    category_from_points,
    parse_healthbench_rubric,
    parse_rar_rubric,
    parse_rubric,
    repeated_criteria,
    rubric_points,
)

RAR = [
    {"title": "Identifies STEMI", "description": "Essential Criteria: Identifies inferior STEMI from ST elevation in II, III, aVF.", "weight": 5},
    {"title": "Aspirin", "description": "Important Criteria: Recommends aspirin loading unless contraindicated.", "weight": 4},
    {"title": "Cath lab", "description": "Optional Criteria: Mentions door-to-balloon time target.", "weight": 1},
    {"title": "Nitrates in RV infarct", "description": "Pitfall Criteria: Recommends nitrates despite right ventricular involvement.", "weight": -2},
]


def test_rar_parsing_to_canonical_form():
    crit = parse_rar_rubric(RAR, row_id="q1")
    assert [c.category for c in crit] == ["essential", "important", "optional", "pitfall"]
    assert [c.points for c in crit] == [5.0, 4.0, 1.0, -2.0]
    assert crit[0].criterion.startswith("Identifies inferior STEMI")
    assert "title:Identifies STEMI" in crit[0].tags
    assert crit[3].to_dict() == {
        "criterion": "Recommends nitrates despite right ventricular involvement.",
        "points": -2.0,
        "tags": ["category:pitfall", "title:Nitrates in RV infarct"],
    }


def test_pitfall_with_positive_source_weight_becomes_negative():
    crit = parse_rar_rubric(RAR[:1] + [{"title": "x", "description": "Pitfall Criteria: Says chest pain is always benign.", "weight": 2}])
    assert crit[1].points == -2.0 and crit[1].is_pitfall


def test_unknown_prefix_warns_and_keeps():
    items = RAR[:1] + [{"title": "t", "description": "Bonus Criteria: Uses plain language.", "weight": 2}]
    with pytest.warns(RubricWarning, match="row 'q9', criterion #1.*'Bonus Criteria'"):
        crit = parse_rar_rubric(items, row_id="q9")
    assert crit[1].criterion == "Bonus Criteria: Uses plain language."
    assert crit[1].category == "optional"  # from the weight convention


def test_healthbench_parsing_keeps_tags():
    items = [
        {"criterion": "Advises calling emergency services for crushing chest pain.", "points": 9, "tags": ["level:example", "axis:accuracy"]},
        {"criterion": "Suggests waiting a day to see if it passes.", "points": -8, "tags": ["axis:accuracy"]},
    ]
    crit = parse_healthbench_rubric(items, row_id="hb1")
    assert crit[0].tags == ("level:example", "axis:accuracy")
    assert rubric_points(crit) == [9.0, -8.0]
    assert rubric_points([c.to_dict() for c in crit]) == [9.0, -8.0]


def test_parse_rubric_detects_format():
    assert parse_rubric(RAR)[0].category == "essential"
    assert parse_rubric([{"criterion": "a", "points": 1}])[0].tags == ()


@pytest.mark.parametrize(
    "items,pattern",
    [
        ([], "row 'r1', field 'rubrics': rubric is empty"),
        ([{"criterion": "  ", "points": 3}], "row 'r1', criterion #0, field 'criterion': criterion text is empty"),
        ([{"criterion": "a", "points": "many"}], "row 'r1', criterion #0, field 'points': expected a finite number, got 'many'"),
        ([{"criterion": "a", "points": float("nan")}], "field 'points': expected a finite number"),
        ([{"criterion": "a", "points": float("inf")}], "field 'points': expected a finite number"),
        ([{"criterion": "a", "points": None}], "field 'points': expected a finite number, got None"),
        ([{"criterion": "a", "points": True}], "field 'points'"),
        ([{"criterion": "a", "points": -3}], "no criterion has positive points"),
        ([{"points": 3}], "criterion #0, field 'criterion': missing"),
        ([{"criterion": "a"}], "criterion #0, field 'points': missing"),
        ([{"criterion": "a", "points": 1, "tags": "axis:accuracy"}], "field 'tags': expected a list of strings"),
        (["just text"], "criterion #0: expected an object"),
        ([{"title": "t", "description": "Essential Criteria:", "weight": 5}], "field 'description': criterion text is empty"),
        ([{"title": "t", "description": "Essential Criteria: ok"}], "field 'weight': missing"),
    ],
)
def test_validation_errors_name_row_and_field(items, pattern):
    with pytest.raises(RubricError) as err:
        parse_rubric(items, row_id="r1")
    assert pattern in str(err.value)


def test_rubric_error_is_value_error():
    with pytest.raises(ValueError):
        parse_rubric("not a list", row_id="x")


def test_category_convention():
    assert [category_from_points(p) for p in (10, 5, 4, 3, 2, 1, 0, -1, -2)] == [
        "essential", "essential", "important", "important", "optional", "optional", "optional", "pitfall", "pitfall",
    ]


def test_criterion_is_immutable():
    c = Criterion(criterion="x", points=1)
    with pytest.raises(Exception):
        c.points = 3  # type: ignore[misc]


def test_good_rar_row_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_rar_rubric(RAR, row_id="q1")


def test_repeated_criteria_are_kept_and_counted():
    items = [{"criterion": "Checks BP", "points": 3}, {"criterion": "checks  bp", "points": 2},
             {"criterion": "Checks BP", "points": -4}, {"criterion": "Other", "points": 1}]
    crit = parse_rubric(items, row_id="r1")
    assert [c.points for c in crit] == [3.0, 2.0, -4.0, 1.0]
    assert repeated_criteria(crit) == 2 and repeated_criteria(items) == 2
    assert repeated_criteria(crit[2:]) == 0


def test_reference_unit_rubric_loads_and_scores_11_of_22():
    from heartgrpo.eval.metrics import example_score

    crit = parse_rubric([{"criterion": "test", "points": p, "tags": []} for p in (7, 5, 10, -6)], row_id="unit")
    assert len(crit) == 4 and repeated_criteria(crit) == 3
    assert example_score([c.points for c in crit], [True, False, True, True]) == 11 / 22


# --- RaR-Medicine as it really is: nonstandard prefixes, two pitfall polarities (own fixture rows) ---

REAL_FORM_RAR = [
    {"title": "Fluids", "description": "Esssential Criteria: Starts intravenous fluids for suspected sepsis.", "weight": 5},
    {"title": "Cultures", "description": "Importance Criteria: Takes blood cultures before antibiotics.", "weight": 4},
    {"title": "Lactate", "description": "Option Criteria: Repeats the lactate within six hours.", "weight": 2},
    {"title": "Source", "description": "Mandatory Criteria: Looks for the source of infection.", "weight": 5},
    {"title": "General", "description": "Universal Criteria: Uses plain language.", "weight": 1},
    {"title": "Red flags", "description": "Pitfall Criteria: Does not mention red flags that need urgent care.", "weight": -2},
    {"title": "Delay", "description": "Pitfall Criteria: Does not suggest delaying fluids.", "weight": -2},
    {"title": "Aspirin", "description": "Pitfall Criteria: Avoids recommending aspirin to children.", "weight": -1},
]


def test_nonstandard_prefixes_are_mapped_tagged_and_warned():
    with pytest.warns(RubricWarning, match="5 nonstandard category prefix"):
        crit = parse_rubric(REAL_FORM_RAR, row_id="rar-1")
    assert [c.category for c in crit[:5]] == ["essential", "important", "optional", "essential", "optional"]
    assert crit[0].criterion == "Starts intravenous fluids for suspected sepsis."
    assert "prefix:Esssential Criteria" in crit[0].tags and not any(t.startswith("prefix:") for t in crit[5].tags)


def test_ordinary_text_before_a_colon_is_not_a_prefix():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crit = parse_rubric([{"title": "t", "description": "Mentions: aspirin and nitrates.", "weight": 3}])
    assert crit[0].criterion == "Mentions: aspirin and nitrates." and crit[0].category == "important"


def test_avoidance_form_pitfalls_detected_in_both_polarities():
    from heartgrpo.rubrics import is_avoidance_pitfall

    assert is_avoidance_pitfall("Does not suggest delaying fluids.")
    assert is_avoidance_pitfall("Avoids recommending aspirin to children.")
    assert is_avoidance_pitfall("Doesn't claim the rash is certainly harmless.")
    assert not is_avoidance_pitfall("Does not mention red flags that need urgent care.")
    assert not is_avoidance_pitfall("Does not recommend seeking emergency care.")
    assert not is_avoidance_pitfall("Fails to ask about allergies.")
    assert not is_avoidance_pitfall("Recommends delaying fluids.")


@pytest.mark.filterwarnings("ignore::heartgrpo.rubrics.RubricWarning")
def test_avoidance_policy_keep_flip_drop():
    keep = parse_rar_rubric(REAL_FORM_RAR, "r", avoidance="keep")
    flip = parse_rar_rubric(REAL_FORM_RAR, "r", avoidance="flip")
    drop = parse_rar_rubric(REAL_FORM_RAR, "r", avoidance="drop")
    assert [c.points for c in keep[5:]] == [-2.0, -2.0, -1.0]
    assert ["pitfall_form:avoidance" in c.tags for c in keep[5:]] == [False, True, True]
    assert [c.points for c in flip[5:]] == [-2.0, 2.0, 1.0]
    assert [c.category for c in flip[5:]] == ["pitfall", "optional", "optional"] and "flipped:pitfall" in flip[6].tags
    assert len(drop) == 6 and drop[5].criterion.startswith("Does not mention")
    with pytest.raises(ValueError, match="avoidance"):
        parse_rar_rubric(REAL_FORM_RAR, "r", avoidance="invert")  # type: ignore[arg-type]
