"""Every difference between the two SQL dialects, in one place.

Repositories write one SQL text that both dialects accept, with qmark (`?`) placeholders
(an upsert is `INSERT ... ON CONFLICT (...) DO NOTHING` or `DO UPDATE SET ...`, which SQLite
has had since 3.24). On PostgreSQL `translate` numbers the placeholders (`$1, $2, ...`) and
changes nothing else; it refuses SQLite-only syntax (`UnsupportedSql`). What differs in
text (JSON functions, index hints, `LIKE` ignoring case) or cannot be written as text at
all (row locks, advisory locks, how an error says "unique violation") is a method or an
attribute of the `Dialect` a transaction carries: `tx.dialect`.

What PostgreSQL lacks but the SQL uses is defined in its first migration instead
(`datetime(text)`), so that the text stays the same on both backends.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.database import Tx
    from storage.sealing import Keyring


class UnsupportedSql(ValueError):
    """SQLite-only syntax: write SQL both dialects accept, or a method of the `Dialect`."""


def lock_key(*parts: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, the same in every process
    (Python's `hash` is salted per process, so it cannot be used)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Dialect:
    name = "sqlite"
    skip_locked = ""
    """Appended to a `SELECT` that picks rows to lease: PostgreSQL's `FOR UPDATE SKIP
    LOCKED`, so that two workers never take the same row. SQLite's single writer needs
    nothing."""
    row_lock = ""
    """Appended to a `SELECT` of a row the transaction will change by what it read:
    PostgreSQL's `FOR UPDATE`, so that another transaction's change to it is waited for and
    seen, not met at the update. SQLite's single writer sees every commit already."""
    shared_counters = False
    """Whether several processes share the database as workers (counters such as the flood
    gate must then live in the database, not in one process's memory)."""
    failed_statement_aborts = False
    """PostgreSQL refuses every statement after a failed one until ROLLBACK: steps that share
    a transaction each need a savepoint there. SQLite undoes just the failed statement."""

    def translate(self, sql: str) -> str:
        return sql

    like = "LIKE"
    """A pattern match that ignores case as SQLite's `LIKE` does (PostgreSQL's is `ILIKE`)."""

    def among(self, columns: tuple[str, str], count: int, types: tuple[str, str] = ("text", "text")) -> str:
        """A condition that the pair `columns` is one of `count` pairs of parameters, for the
        few keys of a batch: `((a = ? AND b = ?) OR ...)`, each pair a search of the pair's
        index. SQLite reads a whole table for a row value `IN (VALUES ...)` (every processed
        update, every reporter, on every batch of steps)."""
        a, b = columns
        return "(" + " OR ".join(f"({a} = ? AND {b} = ?)" for _ in range(count)) + ")"

    def indexed_by(self, index: str) -> str:
        """A table's index hint, where the planner has no statistics to choose it (SQLite's
        `INDEXED BY`); PostgreSQL's planner keeps statistics and takes no hints."""
        return f" INDEXED BY {index}"

    def json_text(self, expr: str, path: str) -> str:
        """The value at `path` ('$.a.b') of the JSON text `expr`."""
        return f"json_extract({expr}, '{path}')"

    def json_elements(self, expr: str, path: str, alias: str) -> str:
        """A table of the elements of the JSON array at `path` of `expr`, one column `value`
        (nothing when there is no array there)."""
        return f"json_each({expr}, '{path}') AS {alias}"

    async def prune_shared_counters(self, tx: Tx, before: str) -> int:
        """Drop counters only several workers keep (PostgreSQL's flood windows) whose last
        entry is older than `before`; SQLite keeps them in memory."""
        return 0

    async def lock_conversations(self, tx: Tx, keys: list[tuple[str, str]]) -> None:
        """Serialise the steps of these conversations across processes until commit.
        SQLite's `BEGIN IMMEDIATE` already serialises every writer."""

    async def try_job_lock(self, tx: Tx, name: str) -> bool:
        """Whether this transaction may run the periodic job `name` (only one process at a
        time does); SQLite: always, its write lock already makes it exclusive."""
        return True

    async def forget_address(self, tx: Tx, channel: str, address: str) -> None:
        """Erase what only this backend keeps about an address (PostgreSQL's shared flood
        windows); the tables both backends have are the repositories' to erase."""

    async def table_exists(self, tx: Tx, name: str) -> bool:
        rows = await tx.execute_fetchall("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    async def seal_stored_evidence(self, tx: Tx, keys: Keyring) -> int:
        """Seal the evidence bytes the database itself keeps from before sealing (PostgreSQL's
        chunks), in the migration's transaction; SQLite's are files (`at_rest.seal_legacy_files`)."""
        return 0

    def is_unique_violation(self, exc: BaseException, table: str, column: str) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and f"UNIQUE constraint failed: {table}.{column}" in str(exc)

    def is_retryable(self, exc: BaseException) -> bool:
        """A transaction that lost a race (deadlock, serialisation failure) and may simply
        be run again."""
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class Postgres(Dialect):
    name = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    row_lock = " FOR UPDATE"
    shared_counters = True
    failed_statement_aborts = True

    def translate(self, sql: str) -> str:
        return translate(sql)

    like = "ILIKE"

    def among(self, columns: tuple[str, str], count: int, types: tuple[str, str] = ("text", "text")) -> str:
        """PostgreSQL joins a row value `IN (VALUES ...)` on the index, and plans it faster
        than sixty-four ORs (the first row's casts give the list its types)."""
        first = f"(?::{types[0]}, ?::{types[1]})"
        return f"({columns[0]}, {columns[1]}) IN (VALUES {', '.join([first] + ['(?, ?)'] * (count - 1))})"

    def indexed_by(self, index: str) -> str:
        return ""

    def json_text(self, expr: str, path: str) -> str:
        return f"({expr})::jsonb #>> '{_json_path(path)}'"

    def json_elements(self, expr: str, path: str, alias: str) -> str:
        at = f"({expr})::jsonb #> '{_json_path(path)}'"
        return (f"jsonb_array_elements(CASE WHEN jsonb_typeof({at}) = 'array' THEN {at} ELSE '[]'::jsonb END)"
                f" AS {alias}(value)")

    async def prune_shared_counters(self, tx: Tx, before: str) -> int:
        async with tx.execute("DELETE FROM flood_windows WHERE cardinality(times) = 0"
                              " OR times[cardinality(times)] < datetime(?)", (before,)) as cur:
            return int(cur.rowcount)

    async def lock_conversations(self, tx: Tx, keys: list[tuple[str, str]]) -> None:
        """Transaction-scoped advisory locks, one per conversation, taken in a fixed order
        (so two workers' batches cannot deadlock) and released by COMMIT or ROLLBACK."""
        ordered = sorted({lock_key("conversation", c, a) for c, a in keys})
        if ordered:
            await tx.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k ORDER BY k",
                             (ordered,))

    async def try_job_lock(self, tx: Tx, name: str) -> bool:
        async with tx.execute("SELECT pg_try_advisory_xact_lock(?)", (lock_key("job", name),)) as cur:
            row = await cur.fetchone()
        return bool(row and row[0])

    async def forget_address(self, tx: Tx, channel: str, address: str) -> None:
        await tx.execute("DELETE FROM flood_windows WHERE channel = ? AND address = ?",
                         (channel, tx.keys.lookup(address)))

    async def table_exists(self, tx: Tx, name: str) -> bool:
        rows = await tx.execute_fetchall("SELECT to_regclass(?) IS NOT NULL", (name,))
        return bool(rows and rows[0][0])

    async def seal_stored_evidence(self, tx: Tx, keys: Keyring) -> int:
        from storage.postgres import seal_legacy_blobs

        return await seal_legacy_blobs(tx, keys)

    def is_unique_violation(self, exc: BaseException, table: str, column: str) -> bool:
        import asyncpg

        return (isinstance(exc, asyncpg.UniqueViolationError)
                and getattr(exc, "constraint_name", None) == f"{table}_{column}_key")

    def is_retryable(self, exc: BaseException) -> bool:
        import asyncpg

        return isinstance(exc, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError))


def _json_path(path: str) -> str:
    """SQLite's '$.a.b' as PostgreSQL's '{a,b}'."""
    assert path.startswith("$") and "[" not in path and "'" not in path, path
    return "{" + ",".join(p for p in path[1:].split(".") if p) + "}"


SQLITE = Dialect()
POSTGRES = Postgres()


def of(tx: Tx) -> Dialect:
    """The dialect of a transaction (`tx.dialect`)."""
    return tx.dialect


SQLITE_ONLY_CONFLICTS = re.compile(r"\b(?:INSERT|UPDATE)\s+OR\s+(?:REPLACE|IGNORE|ABORT|FAIL|ROLLBACK)\b"
                                   r"|^\s*REPLACE\s+INTO\b", re.IGNORECASE | re.MULTILINE)
"""SQLite's conflict clauses, which PostgreSQL has not: `ON CONFLICT (...) DO NOTHING` or
`DO UPDATE SET ...` say the same in both dialects."""
_UNSUPPORTED = re.compile(SQLITE_ONLY_CONFLICTS.pattern + r"|\bPRAGMA\b"
                          r"|\bWITHOUT\s+ROWID\b|\bGLOB\b|\bjulianday\s*\(|\bstrftime\s*\(|\bifnull\s*\("
                          r"|\bINDEXED\s+BY\b|\bjson_extract\s*\(|\bjson_each\s*\(",
                          re.IGNORECASE | re.MULTILINE)


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """The SQL text for PostgreSQL: `?` placeholders numbered (outside string literals,
    quoted names and comments), nothing else. Raises `UnsupportedSql` for SQLite-only
    syntax, so a forgotten difference fails loudly in the PostgreSQL half of the tests
    instead of doing something else."""
    text = _number_placeholders(sql)
    if _UNSUPPORTED.search(_strip_literals(text)):
        raise UnsupportedSql(f"SQLite-only SQL: write what both dialects accept (README, \"Two dialects, one set of"
                             f" SQL\") or a method of storage/dialect.py: {sql[:120]!r}")
    return text


def _number_placeholders(sql: str) -> str:
    out: list[str] = []
    n = 0
    i = 0
    quote: str | None = None
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == quote:
                if i + 1 < len(sql) and sql[i + 1] == quote:  # '' inside a literal
                    out.append(sql[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        elif ch == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _strip_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)
