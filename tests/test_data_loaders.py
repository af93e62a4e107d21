"""RaR-Medicine and HealthBench loaders: local files, hub stand-ins, downloads, bad rows."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from data_fixtures import HEART_QUESTIONS, hb_row, rar_row, write_hb_file, write_rar_dir
from heartgrpo.data.healthbench import HEALTHBENCH_FILES, fetch_healthbench, load_healthbench, load_healthbench_meta_eval
from heartgrpo.data.rar import load_rar_medicine
from heartgrpo.io.jsonl import BadRowReport, DataError


def test_rar_directory_of_jsonl_splits(tmp_path):
    out = load_rar_medicine(write_rar_dir(tmp_path / "rar"))
    assert set(out) == {"train", "val", "test"}
    rec = out["train"][0]
    assert rec["id"] == "rar-train-00000" and rec["source"] == "rar-medicine" and rec["split"] == "train"
    assert rec["prompt"] == [{"role": "user", "content": HEART_QUESTIONS[0] + " (train case 0)"}]
    assert rec["heart"] is True and rec["heart_theme"] == "Heart Attack (MI)"
    pit = rec["rubrics"][-1]
    assert pit["points"] == -2.0 and "category:pitfall" in pit["tags"]
    assert rec["reasoning"].startswith("Consider") and rec["question_source"] == "synthetic"
    assert [r["heart"] for r in out["val"]][-2:] == [False, False]


def test_rar_parquet_in_hub_layout(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "hub_copy" / "data"
    data.mkdir(parents=True)
    for split in ("train", "val", "test"):
        rows = [rar_row(q) for q in HEART_QUESTIONS[:3]]
        for r in rows:
            r["rubric_list"] = [i["description"] for i in r["rubric"]]
        pq.write_table(pa.Table.from_pylist(rows), data / f"{split}-00000-of-00001.parquet")
    out = load_rar_medicine(tmp_path / "hub_copy")
    assert {k: len(v) for k, v in out.items()} == {"train": 3, "val": 3, "test": 3}
    assert out["test"][2]["heart_theme"] == "High Blood Pressure (Hypertension)"


def test_rar_single_file_split_from_name(tmp_path):
    path = tmp_path / "val.jsonl"
    path.write_text(json.dumps(rar_row(HEART_QUESTIONS[1], id="custom-7")) + "\n", encoding="utf-8")
    out = load_rar_medicine(path, splits=("val",))
    assert out["val"][0]["id"] == "custom-7" and out["val"][0]["split"] == "val"


def test_rar_hub_falls_back_to_second_id(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load(hub_id, split):
        calls.append((hub_id, split))
        if hub_id == "ScaleAI/RaR-Medicine":
            raise FileNotFoundError("repository not found")
        return datasets.Dataset.from_list([rar_row(q) for q in HEART_QUESTIONS[:2]])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    out = load_rar_medicine("hub", splits=("train", "test"))
    assert calls[0] == ("ScaleAI/RaR-Medicine", "train")
    assert ("anisha2102/RaR-Medicine", "test") in calls
    assert len(out["train"]) == 2 and out["test"][1]["source"] == "rar-medicine"


def test_rar_hub_failure_names_every_id(monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, split: (_ for _ in ()).throw(ConnectionError("offline")))
    with pytest.raises(DataError, match="ScaleAI/RaR-Medicine.*anisha2102/RaR-Medicine"):
        load_rar_medicine("hub")


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"reference_answer": "x", "rubric": []}, "field 'question': missing"),
        ({"question": 42, "rubric": [{"description": "Essential Criteria: a", "weight": 5}]}, "field 'question': expected text"),
        ({"question": "Chest pain?"}, "field 'rubric': missing"),
        ({"question": "Chest pain?", "rubric": []}, "field 'rubric'"),
        ({"question": "Chest pain?", "rubric": [{"title": "p", "description": "Pitfall Criteria: bad", "weight": 2}]},
         "no criterion has positive points"),
        ({"question": "Chest pain?", "rubric": [{"title": "t", "description": "Essential Criteria: a", "weight": "high"}]},
         "field 'weight'"),
    ],
)
def test_rar_bad_rows_raise_with_location(tmp_path, row, fragment):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(rar_row(HEART_QUESTIONS[0])) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_rar_medicine(path, splits=("train",))
    message = str(info.value)
    assert "train.jsonl:2" in message and "rar-train-00001" in message and fragment in message


def test_rar_bad_rows_skipped_and_counted(tmp_path):
    path = tmp_path / "train.jsonl"
    good = json.dumps(rar_row(HEART_QUESTIONS[0]))
    path.write_text(good + "\n" + json.dumps({"question": "x"}) + "\n" + good[:40] + "\n" + good + "\n", encoding="utf-8")
    report = BadRowReport()
    out = load_rar_medicine(path, splits=("train",), on_bad_row="skip", report=report)
    assert len(out["train"]) == 2
    assert len(report) == 2 and report.counts() == {str(path): 2}


def test_rar_missing_split_file_is_an_error(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps(rar_row(HEART_QUESTIONS[0])) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no file for split 'val'"):
        load_rar_medicine(tmp_path)


def test_healthbench_local_multi_turn_kept_whole(tmp_path):
    records = load_healthbench(write_hb_file(tmp_path / "hb.jsonl"))
    by_id = {r["id"]: r for r in records}
    assert len(by_id["hb-2"]["prompt"]) == 3 and by_id["hb-2"]["prompt"][-1]["role"] == "user"
    assert by_id["hb-2"]["heart_theme"] == "Heart Failure"
    assert by_id["hb-1"]["rubrics"][2]["points"] == -6.0 and "axis:accuracy" in by_id["hb-1"]["rubrics"][2]["tags"]
    assert by_id["hb-1"]["example_tags"] == ["theme:emergency_referrals"]
    assert {i for i, r in by_id.items() if not r["heart"]} == {"hb-4", "hb-5"}


def test_healthbench_first_user_turn_only(tmp_path):
    records = load_healthbench(write_hb_file(tmp_path / "hb.jsonl"), first_user_turn_only=True)
    hb2 = next(r for r in records if r["id"] == "hb-2")
    assert hb2["prompt"] == [{"role": "user", "content": "My father was told he has heart failure."}]
    assert hb2["n_turns"] == 3


def test_healthbench_bad_rows(tmp_path):
    path = tmp_path / "hb.jsonl"
    bad_end = hb_row("hb-x", ["Chest pain", "answer"])
    no_rubrics = {"prompt_id": "hb-y", "prompt": [{"role": "user", "content": "Chest pain"}]}
    dup = hb_row("hb-1", ["Chest pain again"])
    path.write_text("\n".join(json.dumps(r) for r in (hb_row("hb-1", ["Chest pain"]), bad_end, no_rubrics, dup)) + "\n")
    with pytest.raises(DataError, match=r"hb\.jsonl:2: .*hb-x.*user turn"):
        load_healthbench(path)
    report = BadRowReport()
    assert [r["id"] for r in load_healthbench(path, on_bad_row="skip", report=report)] == ["hb-1"]
    reasons = " | ".join(r.reason for r in report.rows)
    assert len(report) == 3 and "field 'rubrics': missing" in reasons and "duplicated" in reasons


def test_healthbench_unknown_name_or_missing_path(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_healthbench(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="unknown HealthBench file"):
        fetch_healthbench("nope", tmp_path)


@pytest.fixture()
def file_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    httpd.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_healthbench_download_by_name_then_cached(tmp_path, file_server):
    served, url = file_server
    write_hb_file(served / HEALTHBENCH_FILES["hard"])
    cache = tmp_path / "cache"
    records = load_healthbench("hard", cache_dir=cache, base_url=url)
    assert len(records) == 6 and (cache / HEALTHBENCH_FILES["hard"]).is_file()
    (served / HEALTHBENCH_FILES["hard"]).unlink()  # the second load must not need the server
    assert len(load_healthbench("hard", cache_dir=cache, base_url=url)) == 6


def test_healthbench_download_failure_is_clear_and_leaves_no_file(tmp_path, file_server):
    _, url = file_server
    with pytest.raises(DataError, match="could not download HealthBench 'consensus'"):
        load_healthbench("consensus", cache_dir=tmp_path / "cache", base_url=url)
    assert not any((tmp_path / "cache").iterdir())


def test_meta_eval_loader_validates_labels(tmp_path):
    path = tmp_path / "meta.jsonl"
    good = {"prompt_id": "m1", "prompt": [{"role": "user", "content": "Is chest pain at rest serious?"}],
            "completion": "Yes, call emergency services.", "rubric": "Advises emergency care", "binary_labels": [True, True],
            "category": "cluster:emergency"}
    bad = dict(good, binary_labels=["yes"])
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"meta\.jsonl:2.*binary_labels"):
        load_healthbench_meta_eval(path)
    report = BadRowReport()
    rows = load_healthbench_meta_eval(path, on_bad_row="skip", report=report)
    assert len(rows) == 1 and rows[0]["heart"] is True and rows[0]["binary_labels"] == [True, True] and len(report) == 1


def test_rar_real_forms_are_counted_for_the_data_card(tmp_path, caplog):
    import logging

    from heartgrpo.data.rar import load_rar_medicine
    from heartgrpo.data.stats import dataset_stats

    rubric = [
        {"title": "a", "description": "Esssential Criteria: Checks the troponin again after three hours.", "weight": 5},
        {"title": "b", "description": "Importance Criteria: Asks when the chest pain started.", "weight": 3},
        {"title": "c", "description": "Pitfall Criteria: Does not mention calling an ambulance.", "weight": -2},
        {"title": "d", "description": "Pitfall Criteria: Does not suggest driving to hospital alone.", "weight": -2},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"question": "Chest pain and a raised troponin: what next?", "reference_answer": "Admit.",
                                "rubric": rubric}) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="heartgrpo.data.rar"):
        by_policy = {p: load_rar_medicine(path, ["train"], avoidance_pitfalls=p)["train"] for p in ("keep", "flip", "drop")}
    assert "nonstandard category prefixes mapped: {'Esssential Criteria': 1, 'Importance Criteria': 1}" in caplog.text
    stats = {p: dataset_stats(recs) for p, recs in by_policy.items()}
    assert stats["keep"]["nonstandard_prefixes"] == {"Esssential Criteria": 1, "Importance Criteria": 1}
    assert (stats["keep"]["avoidance_pitfalls"], stats["keep"]["flipped_pitfalls"], stats["keep"]["dropped_criteria"]) == (1, 0, 0)
    assert (stats["flip"]["avoidance_pitfalls"], stats["flip"]["flipped_pitfalls"], stats["flip"]["dropped_criteria"]) == (1, 1, 0)
    assert (stats["drop"]["avoidance_pitfalls"], stats["drop"]["dropped_criteria"]) == (0, 1)
    assert [c["points"] for c in by_policy["flip"][0]["rubrics"]] == [5.0, 3.0, -2.0, 2.0]


@pytest.mark.parametrize("rubrics,field,expected", [
    ([], "rubrics", "rubric is empty"),
    ([{"criterion": "Asks about onset", "points": float("nan"), "tags": []}], "points", "expected a finite number"),
    ([{"criterion": "Gives a certain diagnosis", "points": -5, "tags": []}], "rubrics", "no criterion has positive points"),
])
def test_healthbench_unscorable_rubric_names_file_line_row_and_field(tmp_path, rubrics, field, expected):
    good = hb_row("ok-1", ["My heart races at night."])
    good["rubrics"].append(dict(good["rubrics"][0]))  # a repeated criterion is fine
    bad = dict(hb_row("bad-2", ["Chest pain when I run."]), rubrics=rubrics)
    path = tmp_path / "hb.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_healthbench(path)
    message = str(err.value)
    assert f"{path}:2" in message and "row 'bad-2'" in message and f"field '{field}'" in message and expected in message
    report = BadRowReport()
    records = load_healthbench(path, on_bad_row="skip", report=report)
    assert [r["id"] for r in records] == ["ok-1"] and len(records[0]["rubrics"]) == 4 and len(report) == 1
