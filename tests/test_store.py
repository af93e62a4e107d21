"""heartgrpo.io.store: the one SQLite store and key formula. Keys are pinned to the digests earlier
versions computed (existing caches still hit), and files written by the earlier SQL are read."""

from __future__ import annotations

import sqlite3
import threading
import time

from heartgrpo.io.chat import SqliteCache
from heartgrpo.io.chat import cache_key as llm_key
from heartgrpo.judge import Verdict, VerdictCache, cache_key
from heartgrpo.io.store import SqliteStore, json_digest

# digests computed by the code before heartgrpo.io.store existed (judge.cache / data.llm)
JUDGE_KEY = "535587dae07f1d014fba0f8589450070c874ca4ae89435d936430d5c01873166"
LLM_KEY = "9a3afb9b2c7d5a92a8dc98dfa5bc3fd1dbad10f0dfd934889cb01afb70a0751d"
DIGEST = "b5ffdf1578ecca84e1e644771a58f1e21728c3e14cbc6ca099ae5045e6bf5dcb"
MESSAGES = [{"role": "user", "content": "hi"}]
CRITERION = {"criterion": "greets", "points": 1.0}
LLM_MESSAGES = [{"role": "user", "content": "Pain in the chest — ok?"}]


def test_keys_are_byte_identical_to_earlier_versions() -> None:
    assert cache_key("m", "grade_v1@abc", MESSAGES, "hello", CRITERION) == JUDGE_KEY
    assert llm_key("heart", "m", "v1", LLM_MESSAGES) == LLM_KEY
    assert json_digest("a", {"y": 1, "x": 2}, "é") == DIGEST


def test_a_verdict_cache_written_by_the_earlier_sql_is_read(tmp_path) -> None:
    path = tmp_path / "judge.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("""CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT NOT NULL, kind TEXT NOT NULL, value REAL NOT NULL, explanation TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (key, kind))""")
    conn.execute("INSERT INTO verdicts VALUES (?, 'verdict', 1.0, 'it greets', ?)", (JUDGE_KEY, time.time()))
    conn.execute("INSERT INTO verdicts VALUES (?, 'rating', 7.0, '', ?)", (JUDGE_KEY, time.time()))
    conn.commit()
    conn.close()
    cache = VerdictCache(path)
    assert cache.get_verdict(cache_key("m", "grade_v1@abc", MESSAGES, "hello", CRITERION)) == Verdict(True, "it greets", cached=True)
    assert cache.get_rating(JUDGE_KEY) == 7.0 and len(cache) == 2
    cache.put_verdict("new", Verdict(False, "no"))
    assert sqlite3.connect(path).execute("SELECT value, explanation FROM verdicts WHERE key = 'new'").fetchall() == [(0.0, "no")]


def test_a_data_llm_cache_written_by_the_earlier_sql_is_read(tmp_path) -> None:
    path = tmp_path / "llm.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (LLM_KEY, '"{\\"heart\\": true}"'))
    conn.commit()
    conn.close()
    cache = SqliteCache(path)
    assert cache.get(llm_key("heart", "m", "v1", LLM_MESSAGES)) == '{"heart": true}'
    cache.set("k2", {"a": [1, 2]})
    assert SqliteStore(path).get_many(["k2", LLM_KEY, "absent"]) == {"k2": {"a": [1, 2]}, LLM_KEY: '{"heart": true}'}


def test_memory_store_is_shared_across_threads_and_file_store_takes_concurrent_writers(tmp_path) -> None:
    memory = SqliteStore(":memory:")
    stores = [memory, SqliteStore(tmp_path / "s.sqlite")]
    errors: list[BaseException] = []

    def work(store: SqliteStore, t: int) -> None:
        try:
            for i in range(40):
                store.put(f"{t}-{i}", i)
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    for store in stores:
        threads = [threading.Thread(target=work, args=(store, t)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors and len(store) == 160 and store.get("3-39") == 39
