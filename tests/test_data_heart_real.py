"""The heart classifier on real prompts: context rules (own sentences) and the dev figures on real
HealthBench conversations against the project's own labels (skipped where ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartgrpo.heart.classifier import classify, evaluate
from heartgrpo.heart.context import LONG_TEXT
from heartgrpo.heart.measure import DEV_LABELS, conversation_sha256, flag_counts, labelled_rows, main
from heartgrpo.io.jsonl import iter_rows

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "healthbench"
DEV_FILES = [REAL / "hard_rebuilt_dev.jsonl", REAL / "consensus_dev.jsonl"]
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real HealthBench rows not found at {REAL}")

# docs/data.md, "Precision and recall on real HealthBench conversations"; the targets of the filter.
DEV_MIN_PRECISION = 0.90
DEV_MIN_RECALL = 0.85


@pytest.mark.parametrize("text", [
    "Patient denies chest pain or shortness of breath; rash on both arms.",
    "No tengo dolor en el pecho ni falta de aire, solo cansancio.",
    "Pas de douleur thoracique, mais une toux depuis deux semaines.",
    "Sports physical: heart rate 70, blood pressure 110/70, cleared to play.",
    "Vitals normal. BP 118/74, HR 68. Mole on the forearm has grown.",
    "Psych admission, mild tachycardia at 102 bpm, on lithium.",
    "Sepsis in a child: tachycardia, delayed capillary refill and a high lactate; how much fluid?",
    "Cough for two weeks with chest pain, could it be valley fever?",
    "Started warfarin for a DVT in the calf; how long should it last?",
])
def test_incidental_negated_and_vital_mentions_are_not_heart(text):
    assert not classify(text).heart, classify(text)


@pytest.mark.parametrize("text", [
    "Should we rule out an MI with a troponin?",
    "I'm not sure if this is chest pain or just a pulled muscle.",
    "I've never had palpitations like these before tonight.",
])
def test_what_is_not_a_negation(text):
    assert classify(text).heart, classify(text)


def test_history_field_of_a_note_is_incidental():
    note = "HPI: three weeks of night sweats and cough. PMH: Hypertension. Meds: Lisinopril 10mg. Plan: sputum tests."
    assert not classify(note).heart
    assert not classify("PMH: HTN, HLD. Presents with an ankle sprain, which brace?").heart
    assert classify("My hypertension is not controlled on lisinopril 10mg.").heart


def test_a_long_conversation_naming_the_heart_once_is_not_about_it():
    filler = "Please translate the following paragraph about telehealth programmes and their costs. " * 8
    text = filler + "These programmes help chronic disease management, for example hypertension."
    assert len(text) > LONG_TEXT and not classify(text).heart
    assert classify("Does telehealth help hypertension?").heart  # short: the one term is central


@pytest.mark.parametrize("text,theme", [
    ("J'ai une douleur thoracique depuis ce matin", "Chest Pain"),
    ("Tengo la presión alta, ¿qué dieta me recomiendas?", "High Blood Pressure (Hypertension)"),
    ("Meu médico falou em insuficiência cardíaca", "Heart Failure"),
    ("У меня аритмия и сердцебиение по ночам", "Heart Rhythm Disorders (Arrhythmia)"),
    ("Ich habe Herzrasen nach dem Kaffee", "Heart Palpitations"),
    ("Ho la fibrillazione atriale, posso fare sport?", "Heart Rhythm Disorders (Arrhythmia)"),
    ("Cholestérol élevé, que manger ?", "Cardiovascular Risk Factors"),
    ("my ticker has been acting up when I climb stairs", "Cardiovascular Disease"),
    ("poundingheart at night, what is it", "Heart Palpitations"),
    ("I get palpatations after coffee", "Heart Palpitations"),
    ("tight pressure in the chest when I walk uphill", "Chest Pain"),
    ("He has no pulse, should I start CPR?", "Heart Rhythm Disorders (Arrhythmia)"),
    ("muffled heartbeat on my stethoscope", "Cardiovascular Disease"),
    ("RVSP of 55 mmHg on the echo, what does it mean?", "Cardiovascular Disease"),
    ("Is my blood pressure of 150/95 too high?", "High Blood Pressure (Hypertension)"),
    ("My HTN is poorly controlled on amlodipine", "High Blood Pressure (Hypertension)"),
])
def test_languages_colloquial_and_misspelled_forms(text, theme):
    label = classify(text)
    assert label.heart and label.theme == theme, label


@pytest.mark.parametrize("text", ["J'ai appris ce poème par cœur", "Te lo digo de todo corazón", "j'ai mal au cœur en voiture"])
def test_idioms_in_other_languages_are_not_heart(text):
    assert not classify(text).heart


def test_labels_file_is_keyed_and_holds_no_conversation_text():
    labels = [row for _, row in iter_rows(DEV_LABELS)]
    assert len(labels) == 429 and len({r["x_prompt_sha256"] for r in labels}) == 429
    for r in labels:
        assert set(r) == {"prompt_id", "x_prompt_sha256", "file", "heart", "theme", "borderline", "note"}
        assert len(r["x_prompt_sha256"]) == 64 and len(r["note"]) <= 120
        assert (r["theme"] is not None) == r["heart"]
    assert sum(r["heart"] for r in labels) == 31


@needs_real
def test_dev_precision_and_recall_on_real_conversations(capsys):
    rows, missing = labelled_rows(DEV_LABELS, DEV_FILES)
    assert missing == 0 and len(rows) == 429
    result = evaluate(rows)
    assert result["precision"] >= DEV_MIN_PRECISION, [(e["id"], e["evidence"]) for e in result["errors"]]
    assert result["recall"] >= DEV_MIN_RECALL, [(e["id"], e["evidence"]) for e in result["errors"]]
    assert main(["--evaluate", str(DEV_LABELS), "--conversations", *map(str, DEV_FILES)]) == 0
    out = capsys.readouterr().out
    assert "429 matched" in out and f"precision={result['precision']:.3f}" in out


@needs_real
def test_notes_are_not_copied_from_conversations():
    by_sha = {}
    for file in DEV_FILES:
        for _, row in iter_rows(file):
            by_sha.setdefault(row.get("x_prompt_sha256") or conversation_sha256(row["prompt"]), row)
    for _, label in iter_rows(DEV_LABELS):
        text = " ".join(m["content"] for m in by_sha[label["x_prompt_sha256"]]["prompt"]).lower()
        assert label["note"].lower() not in text


@needs_real
def test_flag_counts_report_counts_only():
    counts = flag_counts([REAL / "consensus_eval.jsonl"])
    (entry,) = counts.values()
    assert set(entry) == {"n", "flagged"} and entry["n"] == 54 and 0 <= entry["flagged"] <= entry["n"]
