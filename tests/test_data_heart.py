"""Heart-topic lexicon classifier and the LLM classifier with keyword verification."""

from __future__ import annotations

import json

import pytest

from data_fixtures import ChatServer
from heartgrpo.heart.classifier import THEMES, classify, default_labels_path, evaluate
from heartgrpo.heart.llm import LLMHeartClassifier, verify_keywords
from heartgrpo.io.jsonl import iter_rows

# Measured on the bundled labelled set (docs/data.md); the lexicon must not regress below these.
MIN_PRECISION = 0.95
MIN_RECALL = 0.95


def test_fourteen_paper_themes():
    assert len(THEMES) == 14 and len(set(THEMES)) == 14
    assert "Heart Rhythm Disorders (Arrhythmia)" in THEMES and "High Blood Pressure (Hypertension)" in THEMES


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("Crushing chest pain and sweating, is this a heart attack?", "Heart Attack (MI)"),
        ("My doctor says I have atrial fibrillation", "Heart Rhythm Disorders (Arrhythmia)"),
        ("Since this morning I have palpitations", "Heart Palpitations"),
        ("My baby was born with a hole in her heart", "Congenital Heart Disease"),
        ("What does a prolonged QT interval on the ECG mean?", "ECG/EKG Interpretation"),
        ("Takotsubo broken heart syndrome after grief", "Cardiomyopathy"),
        ("Worsening breathlessness with heart failure", "Heart Failure"),
        ("Is aortic stenosis surgery risky at 85?", "Heart Valve Problems"),
        ("My blood pressure is 160/100", "High Blood Pressure (Hypertension)"),
        ("Can I stop my atorvastatin?", "Cardiac Medications"),
        ("What is my LDL cholesterol target?", "Cardiovascular Risk Factors"),
        ("Angina when walking uphill", "Coronary Artery Disease"),
        ("Tight chest when I run in cold air", "Chest Pain"),
        ("What is pericarditis?", "Cardiovascular Disease"),
    ],
)
def test_themes(text, theme):
    label = classify(text)
    assert label.heart and label.theme == theme and label.evidence


@pytest.mark.parametrize(
    "text",
    [
        "I get heartburn after dinner every night",
        "I learned the anatomy terms by heart",
        "Let's get to the heart of the matter about my diet",
        "What is portal hypertension in cirrhosis?",
        "Is Ludwig's angina an emergency for a dental infection?",
        "Recovery after gastric bypass surgery",
        "My ureteral stent hurts",
        "Intracranial hypertension and headaches",
        "She is a kind-hearted nurse",
        "What is the mi of a dataset?",  # lower-case 'mi' is not myocardial infarction
        "The electrode stickers from my sleep study gave me a rash",
        "Warfarin dosing for a leg DVT",  # weak evidence alone stays below the threshold
    ],
)
def test_false_friends_are_not_heart(text):
    assert classify(text).heart is False


def test_abbreviations_are_case_sensitive_and_bounded():
    assert classify("History of MI in 2019").theme == "Heart Attack (MI)"
    assert classify("Admission for CHF exacerbation").theme == "Heart Failure"
    assert not classify("Amid the chaos, Mike smiled").heart
    assert classify("I had an ECG yesterday").evidence == ["ECG"]


def test_heart_rate_alone_is_weak_evidence():
    assert classify("My resting heart rate is 45, should I worry?").theme == "Heart Rhythm Disorders (Arrhythmia)"
    assert not classify("What target heart rate should I aim for when jogging?").heart
    assert not classify("Is a heart rate of 150 normal while cycling uphill?").heart


def test_overlapping_terms_count_once_for_the_longest():
    label = classify("congestive heart failure")
    assert label.evidence == ["congestive heart failure"] and label.theme == "Heart Failure"


def test_classify_time_grows_with_the_text_not_its_square():
    """20,000 matches in a 240,000-character text (no sentence ends, a cough story at the end):
    the overlap check and the whole-text context searches once cost a pass over every earlier
    match or the whole text per match (minutes here); now it is seconds."""
    import time

    text = "chest pain and warfarin with BP 120 " * 6_000 + "and a cough"
    begin = time.perf_counter()
    label = classify(text)
    assert time.perf_counter() - begin < 30
    assert label.evidence.count("chest pain") == 6_000 and label.evidence.count("warfarin") == 6_000


def test_classify_rejects_non_text():
    with pytest.raises(TypeError):
        classify(None)  # type: ignore[arg-type]


def test_evaluate_counts():
    rows = [{"text": "heart attack", "heart": True, "theme": "Heart Attack (MI)"},
            {"text": "heartburn", "heart": True}, {"text": "knee", "heart": False},
            {"text": "palpitations", "heart": False}]
    result = evaluate(rows)
    assert (result["tp"], result["fn"], result["tn"], result["fp"]) == (1, 1, 1, 1)
    assert result["precision"] == 0.5 and result["recall"] == 0.5 and result["theme_accuracy"] == 1.0


def test_lexicon_precision_recall_on_bundled_labels():
    path = default_labels_path()
    if not path.is_file():
        pytest.skip("bundled heart_labels.jsonl not present")
    rows = [row for _, row in iter_rows(path)]
    assert len(rows) >= 60 and any(r["heart"] for r in rows) and not all(r["heart"] for r in rows)
    result = evaluate(rows)
    assert result["precision"] >= MIN_PRECISION, result["errors"]
    assert result["recall"] >= MIN_RECALL, result["errors"]


# --- LLM classifier against a real local OpenAI-compatible server ------------------------------


def _answer(heart, theme, keywords):
    return json.dumps({"heart": heart, "theme": theme, "keywords": keywords})


def test_lexicon_on_held_out_labels():
    """Regression guard on rows the lexicon was never tuned on (docs/data.md, "Held-out estimate")."""
    path = default_labels_path().with_name("heart_labels_heldout.jsonl")
    rows = [row for _, row in iter_rows(path)]
    assert len(rows) == 60 and {r["heart"] for r in rows} == {True, False}
    result = evaluate(rows)
    assert result["precision"] >= 0.95 and result["recall"] >= 0.90, result["errors"]


def test_verify_keywords_word_boundaries():
    assert verify_keywords("Chest pain and AFib", ["chest pain", "afib", "fib", "stroke"]) == ["chest pain", "afib"]


def test_llm_classifier_verifies_keywords_and_caches(tmp_path):
    replies = {
        "My heart races when I stand up": _answer(True, "Heart Palpitations", ["heart races"]),
        "My knee clicks": _answer(True, "Chest Pain", ["angina"]),  # hallucinated keyword: not in the text
        "Squeezing chest pain at rest": "```json\n" + _answer(True, "Something Else", ["chest pain"]) + "\n```",
    }
    with ChatServer(lambda body: replies[body["messages"][-1]["content"]]) as server:
        clf = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite", max_retries=0)
        labels = clf.classify_many(list(replies))
        assert labels[0].heart and labels[0].theme == "Heart Palpitations" and labels[0].evidence == ["heart races"]
        assert not labels[1].heart and labels[1].theme is None
        assert labels[2].heart and labels[2].theme == "Chest Pain"  # unknown theme replaced by the lexicon's
        assert len(server.requests) == 3 and server.requests[0]["temperature"] == 0.0
        again = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite").classify_many(list(replies))
        assert again == labels and len(server.requests) == 3


def test_llm_classifier_retries_server_errors_and_malformed_answers(tmp_path):
    script = iter([500, "not json at all", _answer(True, "Heart Failure", ["heart failure"])])
    with ChatServer(lambda body: next(script)) as server:
        clf = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite", max_retries=2)
        assert clf.classify("Is heart failure curable?").theme == "Heart Failure"
        assert len(server.requests) == 3


def test_llm_classifier_failure_is_loud_and_not_cached(tmp_path):
    with ChatServer(lambda body: 503) as server:
        clf = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite", max_retries=1)
        with pytest.raises(RuntimeError, match="LLM heart classification failed"):
            clf.classify("Is heart failure curable?")
        assert len(server.requests) == 2 and len(clf.chat.cache) == 0


def test_llm_second_stage_sees_only_lexicon_candidates_and_caches(tmp_path):
    from heartgrpo.heart.llm import PROMPT_FILE, two_stage_labels

    texts = ["My heart races at night", "Knee pain after running", "Vitals: BP 120/80. Rash on the arm.",
             "PMH: hypertension. Now a sprained ankle, which brace?"]
    replies = {texts[0]: _answer(True, "Heart Palpitations", ["heart races"]), texts[3]: _answer(False, None, [])}
    with ChatServer(lambda body: replies[body["messages"][-1]["content"]]) as server:
        clf = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite", max_retries=0)
        labels = two_stage_labels(texts, clf)
        assert [lab.heart for lab in labels] == [True, False, False, False] and labels[0].theme == "Heart Palpitations"
        assert sorted(r["messages"][-1]["content"] for r in server.requests) == sorted([texts[0], texts[3]])
        system = server.requests[0]["messages"][0]["content"]
        assert "in passing" in system and "Heart Failure" in system and "{themes}" in PROMPT_FILE.read_text()
        clf2 = LLMHeartClassifier("m", base_url=server.base_url, cache=tmp_path / "c.sqlite", max_retries=0)
        assert two_stage_labels(texts, clf2) == labels and len(server.requests) == 2  # decisions cached
