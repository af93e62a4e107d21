"""SQLite verdict cache: keys, counters, concurrent writers (threads and processes), crash safety."""

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading

import pytest

from heartgrpo.judge import Verdict, VerdictCache, cache_key

CONV = [{"role": "user", "content": "I have chest pain"}]
CRIT = {"criterion": "Advises calling emergency services", "points": 5.0}


def test_get_verdicts_many_keys_in_one_call(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    for i in range(0, 1200, 3):  # every third key stored; 1200 keys exceed one query's parameter chunk
        cache.put_verdict(f"k{i}", Verdict(i % 2 == 0, f"e{i}"))
    cache.put_rating("k1", 4.0)  # a rating under a verdict's key is not a verdict
    keys = [f"k{i}" for i in range(1200)] + ["k0", "k3"]  # duplicates are looked up once
    found = cache.get_verdicts(keys)
    assert sorted(found, key=lambda k: int(k[1:])) == [f"k{i}" for i in range(0, 1200, 3)]
    assert found["k6"] == Verdict(True, "e6", cached=True) and found["k3"].met is False
    assert (cache.hits, cache.misses) == (400, 800)
    assert cache.get_verdicts([]) == {}


def test_roundtrip_and_counters(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    key = cache_key("m", "grade_v1@x", CONV, "call 911", CRIT)
    assert cache.get_verdict(key) is None
    cache.put_verdict(key, Verdict(False, "does not advise it"))
    got = cache.get_verdict(key)
    assert got == Verdict(False, "does not advise it", cached=True)
    assert (cache.hits, cache.misses, cache.hit_rate) == (1, 1, 0.5)
    cache.put_rating(key, 7.0)
    assert cache.get_rating(key) == 7.0
    assert cache.get_verdict(key).met is False  # verdict and rating live side by side


def test_failed_verdicts_are_never_stored(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError, match="only parsed"):
        cache.put_verdict("k", Verdict.failed("timeout"))
    assert len(cache) == 0


def test_wal_mode(tmp_path):
    VerdictCache(tmp_path / "c.sqlite")
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


@pytest.mark.parametrize("part", range(5))
def test_every_key_part_matters(part):
    base = ["model", "grade_v1@abc", CONV, "response", CRIT]
    changed = list(base)
    changed[part] = {0: "other-model", 1: "grade_v2@abc", 2: [{"role": "user", "content": "other"}], 3: "other", 4: {**CRIT, "points": -5.0}}[part]
    assert cache_key(*base) != cache_key(*changed)
    assert cache_key(*base) == cache_key(*list(base))


def test_concurrent_threads(tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    errors = []

    def write(t):
        try:
            for i in range(50):
                cache.put_verdict(f"t{t}-{i}", Verdict(i % 2 == 0, f"{t}/{i}"))
                assert cache.get_verdict(f"t{t}-{i}").met is (i % 2 == 0)
        except Exception as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 400
    assert cache.writes == 400 and cache.hits == 400


def _process_writer(path, worker, n):
    cache = VerdictCache(path)
    for i in range(n):
        cache.put_verdict(f"p{worker}-{i}", Verdict(True, "x"))
        cache.put_verdict("shared", Verdict(worker % 2 == 0, f"worker {worker}"))


def test_concurrent_processes(tmp_path):
    path = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = VerdictCache(path)
    assert len(cache) == 4 * 40 + 1
    assert all(cache.get_verdict(f"p{w}-{i}") is not None for w in range(4) for i in range(40))


def test_crash_loses_nothing_already_written(tmp_path):
    path = tmp_path / "c.sqlite"
    code = (
        "import os, sys\n"
        "from heartgrpo.judge import Verdict, VerdictCache\n"
        f"c = VerdictCache({str(path)!r})\n"
        "for i in range(25):\n"
        "    c.put_verdict(f'k{i}', Verdict(True, 'ok'))\n"
        "os._exit(3)  # no close, no checkpoint\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ}, timeout=60)
    assert result.returncode == 3
    cache = VerdictCache(path)
    assert len(cache) == 25 and cache.get_verdict("k24").met is True
