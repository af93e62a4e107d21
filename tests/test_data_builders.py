"""SFT/GRPO builders, the seeded split, the eval subset and the contamination guard."""

from __future__ import annotations

import pytest

from heartgrpo.answer_format import PAPER_SYSTEM_PROMPT, format_sft_completion
from heartgrpo.data.builders import (
    build_grpo_rows,
    build_sft_rows,
    prompt_lengths,
    quantile,
    select_eval_subset,
    split_sft_grpo,
)
from heartgrpo.data.contamination import drop_contaminated, find_overlaps, shingles
from heartgrpo.io.jsonl import BadRowReport, DataError


def _rec(i, n_crit=5, words=10, reasoning="Think it through.", answer="Do this."):
    return {"id": f"r{i}", "prompt": [{"role": "user", "content": " ".join(["word"] * words)}],
            "rubrics": [{"criterion": f"c{j}", "points": 5 if j else -1, "tags": []} for j in range(n_crit)],
            "reference_answer": answer, "reasoning": reasoning, "heart": True, "heart_theme": "Chest Pain"}


def test_sft_paper_format_has_system_prompt_and_tags():
    rows = build_sft_rows([_rec(1)], "paper")
    assert rows[0]["prompt"][0] == {"role": "system", "content": PAPER_SYSTEM_PROMPT}
    assert rows[0]["completion"] == [{"role": "assistant", "content":
                                      "<start_working_out>Think it through.<end_working_out><SOLUTION>Do this.</SOLUTION>"}]


def test_sft_qwen3_format_uses_think_block_without_system():
    rows = build_sft_rows([_rec(1)], "qwen3")
    assert [m["role"] for m in rows[0]["prompt"]] == ["user"]
    assert rows[0]["completion"][0]["content"] == "<think>\nThink it through.\n</think>\n\nDo this."
    with pytest.raises(ValueError, match="unknown sft format"):
        format_sft_completion("a", "b", "chatml")  # type: ignore[arg-type]


def test_sft_missing_reasoning_modes():
    records = [_rec(1), _rec(2, reasoning=""), _rec(3, answer=None)]
    with pytest.raises(DataError, match="'r2', field 'reasoning'"):
        build_sft_rows(records)
    report = BadRowReport()
    assert [r["id"] for r in build_sft_rows(records, missing_reasoning="skip", report=report)] == ["r1"]
    assert len(report) == 2
    with pytest.raises(DataError, match="'r3', field 'reference_answer'"):
        build_sft_rows(records, missing_reasoning="answer_only")
    rows = build_sft_rows(records[:2], missing_reasoning="answer_only")
    assert rows[1]["completion"][0]["content"].startswith("<start_working_out><end_working_out>")


def test_quantile_matches_numpy():
    np = pytest.importorskip("numpy")
    values = [3, 17, 4, 9, 12, 1, 30, 8]
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_grpo_keeps_more_than_three_criteria_and_caps_length():
    records = [_rec(i, n_crit=3 if i < 2 else 6, words=10 + i) for i in range(12)]
    rows, info = build_grpo_rows(records, min_criteria=4, prompt_length_quantile=0.9)
    assert info["dropped_few_criteria"] == 2
    assert all(len(r["rubrics"]) > 3 for r in rows)
    lengths = prompt_lengths([r["prompt"] for r in rows])
    assert info["length_unit"] == "words" and max(lengths) <= info["max_prompt_length"]
    assert info["dropped_long"] == 1 and len(rows) == 9  # the longest of ten survivors is above the 90th percentile
    uncapped, info2 = build_grpo_rows(records, prompt_length_quantile=None)
    assert len(uncapped) == 10 and info2["dropped_long"] == 0


def test_grpo_prompt_length_uses_tokenizer_chat_template():
    class CharTokenizer:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert tokenize and add_generation_prompt
            return list("".join(m["content"] for m in messages))

    prompts = [[{"role": "user", "content": "abc"}], [{"role": "user", "content": "abcdefg"}]]
    assert prompt_lengths(prompts, CharTokenizer()) == [3, 7]
    _, info = build_grpo_rows([_rec(1), _rec(2, words=40)], "qwen3", tokenizer=CharTokenizer(), prompt_length_quantile=1.0)
    assert info["length_unit"] == "tokens" and info["max_prompt_length"] == len(" ".join(["word"] * 40))


def test_split_matches_datasets_shuffle_and_halves():
    datasets = pytest.importorskip("datasets")
    records = [_rec(i) for i in range(11)]
    sft, grpo = split_sft_grpo(records, seed=3407)
    expected = datasets.Dataset.from_list([{"id": r["id"]} for r in records]).shuffle(seed=3407)["id"]
    assert [r["id"] for r in sft + grpo] == expected
    assert len(sft) == 5 and len(grpo) == 6 and not {r["id"] for r in sft} & {r["id"] for r in grpo}
    assert split_sft_grpo(records, seed=1)[0] != sft


def test_eval_subset_is_seeded_heart_only_and_ordered():
    records = [{"id": f"e{i}", "heart": i % 3 != 0} for i in range(30)]
    a = select_eval_subset(records, n=8, seed=42)
    assert a == select_eval_subset(records, n=8, seed=42)
    assert len(a) == 8 and all(r["heart"] for r in a)
    assert [r["id"] for r in a] == sorted((r["id"] for r in a), key=lambda s: int(s[1:]))
    assert a != select_eval_subset(records, n=8, seed=7)
    assert len(select_eval_subset(records, n=500)) == 20


def _conv(i, text):
    return {"id": i, "prompt": [{"role": "user", "content": text}]}


def test_shingles_normalise_case_and_punctuation():
    assert shingles("Chest PAIN, at rest!", n=2) == {("chest", "pain"), ("pain", "at"), ("at", "rest")}
    assert shingles("too short", n=8) == {("too", "short")}


def test_contamination_flags_paraphrase_inside_longer_conversation_only():
    question = "I have had crushing chest pain spreading to my left arm for twenty minutes what should I do"
    train = [_conv("t-dup", question), _conv("t-clean", "How do statins lower cholesterol in people with diabetes and kidney disease")]
    evals = [_conv("e1", "Hello doctor. " + question.upper() + "? I am 58."), _conv("e2", "My ankle hurts after running")]
    overlaps = find_overlaps(train, evals)
    assert [(o.train_id, o.eval_id) for o in overlaps] == [("t-dup", "e1")]
    assert overlaps[0].containment == 1.0 and 0 < overlaps[0].jaccard < 1
    kept, _ = drop_contaminated(train, evals)
    assert [r["id"] for r in kept] == ["t-clean"]


def test_contamination_threshold_controls_partial_overlap():
    a = " ".join(f"w{i}" for i in range(20))
    b = " ".join(f"w{i}" for i in range(10)) + " " + " ".join(f"x{i}" for i in range(10))
    overlaps = find_overlaps([_conv("t", a)], [_conv("e", b)], n=4, threshold=0.2)
    assert len(overlaps) == 1 and overlaps[0].shared == 7
    assert find_overlaps([_conv("t", a)], [_conv("e", b)], n=4, threshold=0.5) == []
