"""The audit store: an embedded SQLite database (WAL mode) holding one row per analysed
content and one row per source entry.

A content is keyed by `tasks.content_key` (the model's sha256, the settings, the tool
version); an entry by (source, name, version) and points at its content. Each finished
analysis is committed at once, with every entry waiting on it, in one transaction: an audit
killed at any moment keeps every finished result, and upserts on those keys mean a rerun
duplicates none. Only the coordinating process opens the store.
"""
from __future__ import annotations

import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import SettingsError
from .tasks import Limits, Outcome

#: Layout version of the database (bumped with any change of the tables below).
STORE_VERSION = 1
DEFAULT_STORE = "onnxlayer-audit.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contents (
    key TEXT PRIMARY KEY,          -- sha256 over (model sha256, settings, tool version)
    model_sha256 TEXT NOT NULL,
    settings TEXT NOT NULL,        -- canonical JSON of the analysis settings
    tool_version TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | failed
    reason TEXT NOT NULL,          -- '' | timeout | memory | crash: ... | bad-input: ...
    timeout REAL,                  -- the limits the analysis ran under (NULL: none)
    max_memory INTEGER,
    seconds REAL NOT NULL,
    summary TEXT,                  -- JSON of the analysis's summary (ok only): reports read just this
    result BLOB,                   -- zlib-compressed schema-1 JSON of the analysis (ok only)
    analysed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    source TEXT NOT NULL,          -- the directory, file, manifest or registry it came from
    name TEXT NOT NULL,
    version TEXT NOT NULL,         -- '' when the source has no versions
    location TEXT NOT NULL,        -- file path or registry URI
    fingerprint TEXT NOT NULL,     -- cheap identity (size and mtime; registry source and time)
    model_sha256 TEXT,
    content_key TEXT,
    seen_at REAL NOT NULL,
    PRIMARY KEY (source, name, version)
);
CREATE TABLE IF NOT EXISTS checks (
    key TEXT PRIMARY KEY,          -- sha256 over (content key, policy, baseline content and size, tool version)
    content_key TEXT NOT NULL,
    status TEXT NOT NULL,          -- pass | warn | fail
    rules TEXT NOT NULL,           -- JSON list of the rule verdicts
    file_size INTEGER,             -- the model's stored size (a later version's baseline needs it)
    checked_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredContent:
    """One analysed content as the store holds it."""

    key: str
    status: str
    reason: str
    limits: Limits
    seconds: float
    summary_json: str | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class StoredCheck:
    """A policy verdict on one content against one baseline."""

    key: str
    status: str
    rules_json: str
    file_size: int | None


@dataclass(frozen=True)
class StoredEntry:
    source: str
    name: str
    version: str
    location: str
    fingerprint: str
    model_sha256: str | None
    content_key: str | None


class Store:
    """The SQLite store of one audit database file."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process being killed (not a power cut)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.OperationalError as exc:
            raise SettingsError(f"{self.path}: cannot open the audit store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise SettingsError(f"{self.path}: not an onnxlayer audit store ({exc})") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'store_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('store_version', ?)", (str(STORE_VERSION),))
        elif row[0] != str(STORE_VERSION):
            raise SettingsError(f"{self.path}: audit store version {row[0]}, this onnxlayer reads version "
                                f"{STORE_VERSION}; use a new --store file")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ reads

    def content(self, key: str) -> StoredContent | None:
        row = self._db.execute("SELECT key, status, reason, timeout, max_memory, seconds, summary FROM contents "
                               "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        key, status, reason, timeout, max_memory, seconds, summary = row
        return StoredContent(key, status, reason, Limits(timeout, max_memory), seconds, summary)

    def result_json(self, key: str) -> str | None:
        """The schema-1 JSON of an analysed content (None if absent or failed)."""
        row = self._db.execute("SELECT result FROM contents WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else zlib.decompress(row[0]).decode("utf-8")

    def entry(self, source: str, name: str, version: str) -> StoredEntry | None:
        row = self._db.execute("SELECT source, name, version, location, fingerprint, model_sha256, content_key "
                               "FROM entries WHERE source = ? AND name = ? AND version = ?",
                               (source, name, version)).fetchone()
        return None if row is None else StoredEntry(*row)

    def entries(self, source: str | None = None, name: str | None = None) -> list[StoredEntry]:
        """Every stored entry, or those of one source and name (all its versions)."""
        query = "SELECT source, name, version, location, fingerprint, model_sha256, content_key FROM entries"
        if source is None:
            rows = self._db.execute(query + " ORDER BY source, name, version")
        else:
            rows = self._db.execute(query + " WHERE source = ? AND name = ? ORDER BY version", (source, name))
        return [StoredEntry(*row) for row in rows]

    def check(self, key: str) -> StoredCheck | None:
        row = self._db.execute("SELECT key, status, rules, file_size FROM checks WHERE key = ?", (key,)).fetchone()
        return None if row is None else StoredCheck(*row)

    def file_size(self, content_key: str) -> int | None:
        """The stored size of a content, as a policy check measured it (None if never checked)."""
        row = self._db.execute("SELECT file_size FROM checks WHERE content_key = ? AND file_size IS NOT NULL",
                               (content_key,)).fetchone()
        return None if row is None else row[0]

    def count(self, table: str) -> int:
        if table not in ("contents", "entries", "checks"):
            raise ValueError(table)
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # ----------------------------------------------------------------------------- writes

    def record(self, outcome: Outcome, summary_json: str | None, model_sha256: str, settings: str,
               tool_version: str, limits: Limits, entries: Iterable[StoredEntry]) -> None:
        """Commit a finished analysis and the entries that wait on it, atomically."""
        blob = None if outcome.result_json is None else zlib.compress(outcome.result_json.encode("utf-8"), 6)
        with self._transaction():
            self._db.execute(
                "INSERT INTO contents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "status = excluded.status, reason = excluded.reason, timeout = excluded.timeout, "
                "max_memory = excluded.max_memory, seconds = excluded.seconds, summary = excluded.summary, "
                "result = excluded.result, analysed_at = excluded.analysed_at",
                (outcome.key, model_sha256, settings, tool_version, outcome.status, outcome.reason,
                 limits.timeout, limits.max_memory, outcome.seconds, summary_json, blob, time.time()))
            self._upsert(entries)

    def record_check(self, check: StoredCheck, content_key: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?)",
                             (check.key, content_key, check.status, check.rules_json, check.file_size, time.time()))

    def record_entries(self, entries: Iterable[StoredEntry]) -> None:
        """Commit entries whose content is already stored (or that have none)."""
        with self._transaction():
            self._upsert(entries)

    def _upsert(self, entries: Iterable[StoredEntry]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, name, version) DO UPDATE SET "
            "location = excluded.location, fingerprint = excluded.fingerprint, "
            "model_sha256 = excluded.model_sha256, content_key = excluded.content_key, seen_at = excluded.seen_at",
            [(e.source, e.name, e.version, e.location, e.fingerprint, e.model_sha256, e.content_key, now)
             for e in entries])

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
