"""One SQLite key -> JSON store, and the one key formula of every cache (:func:`json_digest`).

:class:`SqliteStore` is the only place the package opens an SQLite file. Contract:

* WAL journal (a file, not ``":memory:"``), a busy timeout, ``synchronous=NORMAL``;
* one connection per thread for a file (readers never wait for each other), one shared
  connection behind a lock for ``":memory:"``;
* every write is its own ``BEGIN IMMEDIATE`` transaction, retried while another writer holds the
  file (threads or processes), so concurrent writers wait instead of failing and a crash loses
  nothing already written;
* the key -> JSON table is ``cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)``, ``value`` =
  ``json.dumps(value)``. A store may be opened with another ``schema`` (the judge's verdict table)
  and then speaks SQL through :meth:`SqliteStore.query` / :meth:`SqliteStore.write`.

Example:
    >>> store = SqliteStore(":memory:")
    >>> store.put("k", {"a": 1}); store.get("k"), store.get("missing"), len(store)
    ({'a': 1}, None, 1)
    >>> json_digest("a", {"y": 1, "x": 2}) == json_digest("a", {"x": 2, "y": 1})
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["KEY_VALUE_SCHEMA", "SqliteStore", "json_digest"]

KEY_VALUE_SCHEMA = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_CHUNK = 500  # keys per ``IN (...)`` query: under SQLite's bound-parameter limit


def json_digest(*parts: Any, default: Any = None) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (a list, sorted keys, UTF-8): the one key
    formula of every cache and recording in the package. ``default`` as in ``json.dumps``.

    >>> json_digest("m", [{"role": "user", "content": "hi"}])[:16]
    '74fbb1fe8ebd0b76'
    """
    payload = json.dumps(list(parts), sort_keys=True, ensure_ascii=False, default=default)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class SqliteStore:
    """Key -> JSON values in one SQLite file (``":memory:"`` for a throwaway store); see the module docstring."""

    def __init__(self, path: str | os.PathLike[str], *, schema: str = KEY_VALUE_SCHEMA, timeout: float = 30.0) -> None:
        self.path = str(path)
        self.memory = self.path == ":memory:"
        if not self.memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        if not self.memory:
            self.connection().execute("PRAGMA journal_mode=WAL")
        self.write(lambda c: c.execute(schema))

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (the shared one for ``":memory:"``)."""
        if self.memory:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=not self.memory)
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one read statement."""
        if self.memory:
            with self._lock:
                return self.connection().execute(sql, tuple(params)).fetchall()
        return self.connection().execute(sql, tuple(params)).fetchall()

    def write(self, op: Callable[[sqlite3.Connection], Any]) -> None:
        """Run ``op(conn)`` in its own immediate transaction, retrying while the file is locked."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with self._lock if self.memory else contextlib.nullcontext():
                    conn = self.connection()
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

    # key -> JSON -------------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None."""
        rows = self.query("SELECT value FROM cache WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The stored values among ``keys`` (one query per 500 keys)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self.query(f"SELECT key, value FROM cache WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (any JSON value) under ``key``, replacing what was there."""
        text = json.dumps(value)
        self.write(lambda c: c.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, text)))

    def count(self, table: str = "cache") -> int:
        """Rows in ``table``."""
        return int(self.query(f"SELECT COUNT(*) FROM {table}")[0][0])

    def __len__(self) -> int:
        return self.count()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        if self.memory:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
            return
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

