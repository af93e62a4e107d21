"""Persistent SQLite cache of parsed judge verdicts and ratings.

Key = sha256 of the canonical JSON of (judge model, prompt-template identity, conversation,
response, criterion) — see :func:`cache_key`. Only parsed results are stored: a failed verdict
(``met=None``) is never written, so a later run asks again.

Storage: :class:`heartgrpo.io.store.SqliteStore` (WAL, one connection per thread, a busy timeout,
each write its own committed transaction) with this module's ``verdicts`` table, unchanged, so
cache files written by earlier versions are read as they are.

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

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.types import Verdict
from heartgrpo.io.store import SqliteStore, json_digest

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
        self.store = SqliteStore(self.path, schema=_SCHEMA, timeout=timeout)

    def _get(self, key: str, kind: str) -> tuple[float, str] | None:
        rows = self.store.query("SELECT value, explanation FROM verdicts WHERE key = ? AND kind = ?", (key, kind))
        row = rows[0] if rows else None
        with self._lock:
            if row is None:
                self.misses += 1
            else:
                self.hits += 1
        return row

    def _put(self, key: str, kind: str, value: float, explanation: str) -> None:
        self.store.write(
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
        for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.store.query(
                f"SELECT key, value, explanation FROM verdicts WHERE kind = 'verdict' AND key IN ({marks})", chunk
            )
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
        return self.store.count("verdicts")

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self.store.close()
