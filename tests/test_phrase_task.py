"""The exact rubric task of the strategy race: rubrics, checkers, judge, tokenizer."""

from __future__ import annotations

import asyncio
import random

import pytest

from heartgrpo.signal import phrase_task as pt
from heartgrpo.rewards import CATEGORY_WEIGHTS, score


def _verdicts(prompt, answer):
    rubric = pt.make_rubric(prompt)
    names = [next(t for t in c["tags"] if t.startswith("check:"))[6:] for c in rubric]
    return dict(zip(names, pt.check(prompt, answer, rubric)))


def test_every_scenario_has_7_to_20_criteria_in_rar_categories_and_weights():
    prompts = pt.scenarios()
    assert len(prompts) == 290
    weights = {"essential": {5.0}, "important": {3.0, 4.0}, "optional": {1.0, 2.0}, "pitfall": {-1.0, -2.0}}
    for p in prompts:
        rubric = pt.make_rubric(p)
        assert 7 <= len(rubric) <= 20
        for c in rubric:
            cat = next(t for t in c["tags"] if t.startswith("category:"))[9:]
            assert cat in CATEGORY_WEIGHTS and c["points"] in weights[cat]
        assert len({c["criterion"] for c in rubric}) == len(rubric)


def test_the_ideal_answer_meets_every_positive_criterion_and_no_pitfall():
    for p in pt.scenarios():
        rubric = pt.make_rubric(p)
        met = pt.check(p, pt.ideal_answer(p), rubric)
        assert score("binary", [c["points"] for c in rubric], met) == 1.0, p


def test_aspirin_rules_follow_the_prompt():
    plain = pt.make_prompt("chest_pain")
    v = _verdicts(plain, "call_emergency_services chew_aspirin")
    assert v["give_aspirin"] and not v["aspirin_with_ci"]  # aspirin without its contraindication
    v = _verdicts(plain, "call_emergency_services chew_aspirin unless_aspirin_allergy")
    assert v["give_aspirin"] and v["aspirin_with_ci"]
    assert _verdicts(plain, "call_emergency_services")["aspirin_with_ci"]  # no aspirin, nothing to qualify
    allergic = pt.make_prompt("chest_pain", ["aspirin_allergy"])
    v = _verdicts(allergic, "chew_aspirin unless_aspirin_allergy")
    assert v["aspirin_allergic"] is True and "give_aspirin" not in v  # pitfall present
    thinner = pt.make_prompt("chest_pain", ["on_blood_thinner"])
    assert _verdicts(thinner, "chew_aspirin")["aspirin_thinner"] is True
    assert "aspirin_with_ci" not in _verdicts(pt.make_prompt("collapse"), "start_cpr")


def test_numbered_steps_length_repeat_ending_and_pitfalls():
    p = pt.make_prompt("collapse", ["wants_steps", "be_brief"])
    assert _verdicts(p, "step_1 call_emergency_services step_2 start_cpr")["numbered_steps"]
    assert not _verdicts(p, "step_2 call_emergency_services step_1 start_cpr")["numbered_steps"]  # out of order
    assert not _verdicts(p, "step_1 call_emergency_services step_2")["numbered_steps"]  # marker without advice
    assert not _verdicts(p, "step_1 call_emergency_services")["numbered_steps"]  # one step is no list
    limit = len(pt.ideal_answer(p).split()) + 1  # be_brief: one phrase of slack
    assert f"at most {limit} phrases" in next(c["criterion"] for c in pt.make_rubric(p) if "check:under_length" in c["tags"])
    assert _verdicts(p, " ".join(["start_cpr"] * limit))["under_length"]
    assert not _verdicts(p, " ".join(["start_cpr"] * (limit + 1)))["under_length"]
    v = _verdicts(p, "start_cpr start_cpr wait_and_see drive_to_hospital help_is_on_the_way")
    assert not v["no_repeat"] and v["no_waiting"] and v["no_driving"] and v["ends_reassuring"]
    v = _verdicts(p, "help_is_on_the_way collapse sleep_it_off")
    assert not v["ends_reassuring"] and v["names_symptom"] and v["no_sleeping"]
    assert not any(_verdicts(p, "")[k] for k in ("call_ems", "ends_reassuring", "no_waiting"))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown symptom 'headache'"):
        pt.make_prompt("headache")
    with pytest.raises(ValueError, match="unknown modifier"):
        pt.make_prompt("collapse", ["rich"])
    with pytest.raises(ValueError, match="not a phrase-task prompt"):
        pt.check("hello there", "x", pt.make_rubric(pt.make_prompt("collapse")))
    with pytest.raises(ValueError, match="no 'check:<name>' tag"):
        pt.check(pt.make_prompt("collapse"), "x", [{"criterion": "Advises an ECG", "points": 5, "tags": []}])


def test_split_is_disjoint_and_seeded():
    train, held = pt.split_scenarios(40, seed=0)
    assert len(held) == 40 and len(train) == 250
    assert not {p[0]["content"] for p in train} & {p[0]["content"] for p in held}
    assert pt.split_scenarios(40, seed=0)[1] == held and pt.split_scenarios(40, seed=1)[1] != held


def test_exact_judge_through_the_trl_reward_function():
    from heartgrpo.rewards import make_reward_func

    rows = pt.task_rows([pt.make_prompt("fainting", ["alone_at_home"])])
    p, rubric = rows[0]["prompt"], rows[0]["rubrics"]
    good, bad = pt.ideal_answer(p), "wait_and_see stand_up_quickly"
    for strategy in ("healthbench", "binary", "rar_explicit"):
        f = make_reward_func(pt.ExactJudge(), strategy, use_async=False)
        got = f(prompts=[p, p], completions=[[{"role": "assistant", "content": good}], [{"role": "assistant", "content": bad}]],
                rubrics=[rubric, rubric])
        met_bad = pt.check(p, bad, rubric)
        assert got == [1.0, score(strategy, [c["points"] for c in rubric], met_bad,
                                  **({"categories": [t[9:] for c in rubric for t in c["tags"] if t.startswith("category:")]}
                                     if strategy == "rar_explicit" else {}))]
    assert asyncio.run(pt.ExactJudge().rate(p, good, rubric)) == 10.0


def test_random_answers_use_only_answer_phrases_and_the_tokenizer_keeps_them_whole():
    rng = random.Random(0)
    tok = pt.phrase_tokenizer()
    allowed = set(pt.ANSWER_PHRASES) | set(pt.SYMPTOMS)
    for _ in range(50):
        a = pt.random_answer(rng)
        assert set(a.split()) <= allowed and 2 <= len(a.split())
        ids = tok(a, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(a.split()) and tok.unk_token_id not in ids
        assert tok.decode(ids) == a
    assert tok("headache", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]
