"""DataSettings, reasoning augmentation and the whole prepare_datasets pipeline."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from data_fixtures import ChatServer, hb_row, write_hb_file, write_rar_dir
from heartgrpo.data.augment import ReasoningAugmenter
from heartgrpo.data.prepare import SAMPLE_DIR, prepare_datasets
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import DataError
from heartgrpo.config.data import DataSettings, LLMSettings


def test_settings_defaults_follow_the_paper():
    s = DataSettings()
    assert (s.min_criteria, s.prompt_length_quantile, s.split_seed, s.eval_n, s.eval_seed) == (4, 0.9, 3407, 500, 42)
    assert s.first_user_turn_only is False and s.on_bad_row == "error" and s.sft_format == "paper"


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError, match="min_critera"):
        DataSettings(min_critera=4)
    with pytest.raises(ValidationError):
        DataSettings(sft_format="chatml")
    with pytest.raises(ValidationError, match="heart_llm"):
        DataSettings(heart_filter="llm")
    assert DataSettings(heart_filter="llm", heart_llm={"model": "m"}).heart_llm.model == "m"


@pytest.fixture()
def sources(tmp_path):
    return write_rar_dir(tmp_path / "rar"), write_hb_file(tmp_path / "hb.jsonl")


def _settings(sources, **over):
    rar, hb = sources
    return DataSettings(source=str(rar), healthbench=str(hb), meta_eval=None, **over)


def test_prepare_builds_and_saves_everything(tmp_path, sources):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    result = prepare_datasets(_settings(sources, eval_n=3), out)
    c = result.counts
    assert c["rar_train_loaded"] == 10 and c["rar_train_heart"] == 8 and c["rar_heart_train"] == 8
    assert c["sft"] == 4 and c["grpo"] + result.grpo["dropped_long"] + result.grpo["dropped_few_criteria"] == 4
    assert c["eval"] == 3 and c["healthbench_heart"] == 4
    sft = [r for _, r in iter_rows(result.paths["sft.jsonl"])]
    assert sft[0]["completion"][0]["content"].startswith("<start_working_out>")
    grpo = datasets.load_from_disk(str(result.paths["grpo"]))
    assert set(grpo.column_names) >= {"prompt", "rubrics"} and all(len(r) >= 4 for r in grpo["rubrics"])
    assert not {r["id"] for r in sft} & set(grpo["id"])
    card = result.data_card.read_text(encoding="utf-8")
    assert "## Skipped rows" in card and "Heart Attack (MI)" in card
    assert result.figure is not None and result.figure.stat().st_size > 10_000
    report = json.loads(result.paths["report"].read_text())
    assert report["counts"] == c
    assert "datasets:" in result.summary()


def test_prepare_is_deterministic(tmp_path, sources):
    a = prepare_datasets(_settings(sources, save_format="jsonl", figure=False), tmp_path / "a")
    b = prepare_datasets(_settings(sources, save_format="jsonl", figure=False), tmp_path / "b")
    for name in ("sft", "grpo", "eval"):
        assert a.paths[f"{name}.jsonl"].read_bytes() == b.paths[f"{name}.jsonl"].read_bytes()


def test_prepare_drops_contaminated_training_items(tmp_path, sources):
    rar, hb = sources
    first = json.loads((rar / "train.jsonl").read_text().splitlines()[0])["question"]
    with hb.open("a", encoding="utf-8") as f:
        f.write(json.dumps(hb_row("hb-leak", ["Hi. " + first])) + "\n")
    result = prepare_datasets(_settings(sources, save_format="jsonl", figure=False, eval_n=None), tmp_path / "o")
    assert result.counts["rar_train_contaminated"] == 1
    pairs = {(o["train_id"], o["eval_id"]) for o in result.overlaps}
    # the val/test twins of that question differ only by their '(split case 0)' suffix
    assert pairs == {("rar-train-00000", "hb-leak"), ("rar-val-00000", "hb-leak"), ("rar-test-00000", "hb-leak")}
    train_ids = {r["id"] for _, r in iter_rows(result.paths["rar_heart_train.jsonl"])}
    assert "rar-train-00000" not in train_ids
    assert "rar-train-00000 ~ hb-leak" in result.data_card.read_text()


def test_prepare_bad_row_error_or_skip_counted(tmp_path, sources):
    rar, _ = sources
    with (rar / "train.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"question": "Chest pain?", "rubric": [{"title": "x", "description": "Essential Criteria: y", "wei\n')
    with pytest.raises(DataError, match=r"train\.jsonl:11"):
        prepare_datasets(_settings(sources, figure=False), tmp_path / "e")
    result = prepare_datasets(_settings(sources, on_bad_row="skip", figure=False, save_format="jsonl"), tmp_path / "s")
    assert len(result.skipped) == 1 and "train.jsonl:11" in result.skipped[0]["where"]
    assert "train.jsonl:11" in result.data_card.read_text()


def test_prepare_without_reasoning_needs_a_choice(tmp_path):
    rar = write_rar_dir(tmp_path / "rar")
    for split in ("train", "val", "test"):
        path = rar / f"{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "reasoning"}) + "\n" for r in rows))
    hb = write_hb_file(tmp_path / "hb.jsonl")
    settings = dict(source=str(rar), healthbench=str(hb), meta_eval=None, figure=False, save_format="jsonl")
    with pytest.raises(DataError, match="field 'reasoning'"):
        prepare_datasets(DataSettings(**settings), tmp_path / "o1")
    result = prepare_datasets(DataSettings(**settings, missing_reasoning="skip"), tmp_path / "o2")
    assert result.counts["sft"] == 0 and len(result.skipped) == 4


def test_augmenter_writes_missing_traces_once(tmp_path):
    records = [
        {"id": "a", "prompt": [{"role": "user", "content": "Why do I get chest pain on exertion?"}], "reference_answer": "Angina."},
        {"id": "b", "prompt": [{"role": "user", "content": "Is 150/95 high?"}], "reference_answer": "Yes.", "reasoning": "kept"},
    ]
    with ChatServer(lambda body: "<think>Exertion raises oxygen demand beyond what narrowed arteries supply.</think>") as server:
        aug = ReasoningAugmenter("m", base_url=server.base_url, cache=tmp_path / "r.sqlite")
        out = aug.augment(records)
        assert out[0]["reasoning"] == "Exertion raises oxygen demand beyond what narrowed arteries supply."
        assert out[1]["reasoning"] == "kept" and "reasoning" not in records[0]
        assert len(server.requests) == 1 and "Angina." in server.requests[0]["messages"][1]["content"]
        ReasoningAugmenter("m", base_url=server.base_url, cache=tmp_path / "r.sqlite").augment(records)
        assert len(server.requests) == 1


def test_augmenter_failure_modes(tmp_path):
    records = [{"id": "a", "prompt": [{"role": "user", "content": "q"}], "reference_answer": "x"}]
    with ChatServer(lambda body: 500) as server:
        with pytest.raises(RuntimeError, match="row 'a': reasoning trace failed"):
            ReasoningAugmenter("m", base_url=server.base_url, max_retries=0).augment(records)
        aug = ReasoningAugmenter("m", base_url=server.base_url, max_retries=0, on_failure="skip")
        assert "reasoning" not in aug.augment(records)[0] and aug.stats["failed"] == 1


def test_prepare_with_llm_augmentation(tmp_path, sources):
    with ChatServer(lambda body: "A trace written by the model about the heart question.") as server:
        llm = LLMSettings(model="m", base_url=server.base_url, cache=tmp_path / "aug.sqlite")
        result = prepare_datasets(_settings(sources, augment_reasoning=llm, save_format="jsonl", figure=False), tmp_path / "o")
    assert server.requests == []  # every fixture record already carries reasoning
    assert result.counts["sft"] == 4


@pytest.mark.skipif(not (SAMPLE_DIR / "rar_medicine").is_dir(), reason="bundled sample not present")
def test_prepare_on_bundled_sample(tmp_path):
    result = prepare_datasets(DataSettings(source="sample"), tmp_path / "sample")
    assert result.counts["sft"] > 0 and result.counts["grpo"] > 0 and result.counts["eval"] > 0
    assert result.counts["healthbench_loaded"] > result.counts["healthbench_heart"]
    assert result.skipped == [] and "SYNTHETIC" in result.data_card.read_text()


def test_prepare_on_a_local_healthbench_file_writes_the_heart_subset_card(tmp_path, sources):
    rar, _ = sources
    rows = [hb_row("fr-1", ["J'ai une douleur thoracique quand je monte les escaliers."]),
            hb_row("en-2", ["My heart keeps racing at night.", "Since when?", "Two weeks, and I feel dizzy too."]),
            hb_row("en-3", ["My toddler has a rash after a new soap."])]
    rows[0]["rubrics"].append(dict(rows[0]["rubrics"][0], points=-7))  # the same text again with negative points
    hb = tmp_path / "local_healthbench.jsonl"
    hb.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = prepare_datasets(DataSettings(source=str(rar), healthbench=str(hb), meta_eval=None, figure=False,
                                           save_format="jsonl"), tmp_path / "out")
    assert result.counts["healthbench_loaded"] == 3 and result.counts["eval"] == 2  # n=500: all heart ones
    assert result.counts["healthbench_repeated_criteria"] == 1
    card = result.data_card.read_text(encoding="utf-8")
    assert "## HealthBench heart subset" in card and "pool: 3 conversations loaded; 2 classified heart" in card
    assert "selected: 2 (all of them (fewer than n)" in card and "multi-turn (more than one user turn): 1 (50.0%)" in card
    assert "1 items in 1 selected conversations" in card and "fr 1" in card and "| Chest Pain | 1 |" in card
    subset = json.loads(result.paths["report"].read_text())["healthbench_subset"]
    assert subset["languages"] == {"fr": 1, "en": 1} and subset["themes"] == {"Chest Pain": 1, "Heart Palpitations": 1}
    eval_rows = [r for _, r in iter_rows(result.paths["eval.jsonl"])]
    assert [len(r["rubrics"]) for r in eval_rows] == [4, 3]  # the repeated criterion is kept


def test_prepare_with_lexicon_then_llm_filter(tmp_path, sources):
    from heartgrpo.heart.classifier import classify

    def reply(body):
        text = body["messages"][-1]["content"]
        return json.dumps({"heart": "heart" in text.lower(), "theme": None, "keywords": [text.split()[0]]})

    with ChatServer(reply) as server:
        llm = {"model": "m", "base_url": server.base_url, "cache": str(tmp_path / "h.sqlite"), "max_retries": 0}
        result = prepare_datasets(_settings(sources, heart_filter="lexicon+llm", heart_llm=llm, save_format="jsonl",
                                            figure=False), tmp_path / "o")
        sent = [r["messages"][-1]["content"] for r in server.requests]
    assert sent and all(classify(t).evidence for t in sent)  # only the lexicon's candidates reach the model
    kept = [r for _, r in iter_rows(result.paths["rar_heart_train.jsonl"])]
    assert kept and all("heart" in r["prompt"][0]["content"].lower() for r in kept)
    assert result.counts["rar_train_heart"] == len(kept) < result.counts["rar_train_loaded"]
