"""Persistent SQLite cache of parsed judge verdicts and ratings.

Key = sha256 of the canonical JSON of (judge model, prompt-template identity, conversation,
response, criterion) — see :func:`cache_key`. Only parsed results are stored: a failed verdict
(``met=None``) is never written, so a later run asks again.

Safety: WAL journal, one connection per thread, a busy timeout, and every write is its own
committed transaction, so concurrent writers (threads or processes) wait for each other
instead of failing, and a crash loses nothing that was already written.

Example:
    >>> import tempfile, os
    >>> cache = VerdictCache(os.path.join(tempfile.mkdtemp(), "judge.sqlite"))
    >>> key = cache_key("m", "grade_v1@abc", [{"role": "user", "content": "hi"}], "hello", {"criterion": "greets", "points": 1})
    >>> cache.get_verdict(key) is None
    True
    >>> cache.put_verdict(key, Verdict(True, "it greets"))
    >>> cache.get_verdict(key)
    Verdict(met=True, explanation='it greets', error=None, cached=True)
    >>> cache.hits, cache.misses
    (1, 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.types import Verdict

__all__ = ["VerdictCache", "cache_key", "json_digest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL NOT NULL,
    explanation TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, kind)
)
"""


def json_digest(*parts: Any, default: Any = None) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (a list, sorted keys, UTF-8): the one key
    formula of every cache and recording in the package. ``default`` as in ``json.dumps``.

    >>> json_digest("a", {"y": 1, "x": 2}) == json_digest("a", {"x": 2, "y": 1})
    True
    """
    payload = json.dumps(list(parts), sort_keys=True, ensure_ascii=False, default=default)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def cache_key(model: str, template: str, conversation: Any, response: str, criterion: Any) -> str:
    """sha256 hex of the canonical JSON of the five key parts."""
    return json_digest(model, template, conversation, response, criterion)


class VerdictCache:
    """SQLite-backed verdict cache with hit/miss counters (counted in this process only)."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        self._write(lambda c: c.execute(_SCHEMA))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _write(self, op: Any) -> None:
        """Run ``op(conn)`` in its own immediate transaction, retrying while the file is locked."""
        conn = self._conn()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    op(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _get(self, key: str, kind: str) -> tuple[float, str] | None:
        row = self._conn().execute("SELECT value, explanation FROM verdicts WHERE key = ? AND kind = ?", (key, kind)).fetchone()
        with self._lock:
            if row is None:
                self.misses += 1
            else:
                self.hits += 1
        return row

    def _put(self, key: str, kind: str, value: float, explanation: str) -> None:
        self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO verdicts (key, kind, value, explanation, created) VALUES (?, ?, ?, ?, ?)",
                (key, kind, value, explanation, time.time()),
            )
        )
        with self._lock:
            self.writes += 1

    def get_verdict(self, key: str) -> Verdict | None:
        """The stored verdict (``cached=True``) or None on a miss."""
        row = self._get(key, "verdict")
        return None if row is None else Verdict(bool(row[0]), row[1], cached=True)

    def get_verdicts(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """The stored verdicts among ``keys`` (one query; hits and misses counted per distinct key).

        >>> import tempfile, os
        >>> cache = VerdictCache(os.path.join(tempfile.mkdtemp(), "judge.sqlite"))
        >>> cache.put_verdict("a", Verdict(False, "no"))
        >>> cache.get_verdicts(["a", "b"])
        {'a': Verdict(met=False, explanation='no', error=None, cached=True)}
        """
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Verdict] = {}
        conn = self._conn()
        for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, value, explanation FROM verdicts WHERE kind = 'verdict' AND key IN ({marks})", chunk
            ).fetchall()
            found.update({k: Verdict(bool(v), e, cached=True) for k, v, e in rows})
        with self._lock:
            self.hits += len(found)
            self.misses += len(wanted) - len(found)
        return found

    def put_verdict(self, key: str, verdict: Verdict) -> None:
        """Store a parsed verdict; a failed one (met=None) is refused with ValueError."""
        if verdict.met is None:
            raise ValueError("only parsed verdicts are cached; got met=None")
        self._put(key, "verdict", 1.0 if verdict.met else 0.0, verdict.explanation)

    def get_rating(self, key: str) -> float | None:
        row = self._get(key, "rating")
        return None if row is None else float(row[0])

    def put_rating(self, key: str, rating: float, explanation: str = "") -> None:
        self._put(key, "rating", float(rating), explanation)

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
