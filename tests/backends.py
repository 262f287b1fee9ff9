"""The storage backend a test runs on: the SQLite file or a fresh PostgreSQL database.

Tests that touch storage take the `backend` fixture (tests/conftest.py), which runs them
once on each. `connect()` is for looking into the database from a test the way
`sqlite3.connect(path)` did: the same SQL (qmark placeholders) and plain tuples, on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import Database
from storage.evidence_files import EvidenceStore


@dataclass(frozen=True)
class Backend:
    kind: str
    tmp_path: Path
    url: str | None = None

    @property
    def postgres(self) -> bool:
        return self.kind == "postgresql"

    @property
    def target(self) -> str | Path:
        """What `Database.open` takes."""
        return self.url if self.url else self.tmp_path / "lapor.db"

    @property
    def evidence_dir(self) -> Path:
        return self.tmp_path / "evidence"

    async def open(self, **kwargs: Any) -> Database:
        return await Database.open(self.target, **kwargs)

    def settings(self) -> dict[str, Any]:
        """The Settings fields that put a service on this backend."""
        return {"database_path": self.tmp_path / "lapor.db", "evidence_dir": self.evidence_dir,
                "database_url": self.url}

    def env(self) -> dict[str, str]:
        """The same as environment variables, for a subprocess."""
        env = {"DATABASE_PATH": str(self.tmp_path / "lapor.db"), "EVIDENCE_DIR": str(self.evidence_dir)}
        if self.url:
            env["DATABASE_URL"] = self.url
        return env

    def connect(self) -> Inspector:
        return Inspector(self)

    async def evidence_bytes(self, db: Database, sha256: str) -> bytes | None:
        return await EvidenceStore.for_database(db, self.evidence_dir).get(sha256)


class Inspector:
    """`with backend.connect() as db: db.execute(sql, params).fetchall()`, on either backend."""

    def __init__(self, backend: Backend) -> None:
        if backend.url:
            import psycopg

            self._pg: Any = psycopg.connect(_psycopg_dsn(backend.url), autocommit=True)
            self._sqlite = None
        else:
            self._pg = None
            self._sqlite = sqlite3.connect(backend.tmp_path / "lapor.db")

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        if self._sqlite is not None:
            return self._sqlite.execute(sql, params)
        return self._pg.execute(_psycopg_sql(sql), tuple(params))

    def iterdump(self) -> Iterator[str]:
        """Every row of every table as text (SQLite: its own SQL dump)."""
        if self._sqlite is not None:
            yield from self._sqlite.iterdump()
            return
        tables = [r[0] for r in self._pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
        for table in tables:
            for (row,) in self._pg.execute(f"SELECT t::text FROM {table} AS t").fetchall():
                yield f"{table} {row}"

    def evidence(self, evidence_dir: Path) -> dict[str, bytes]:
        """Every evidence file the store holds, by name, temporary ones included (named
        `tmp/...`): the files under `evidence_dir`, or PostgreSQL's blobs and the chunks of
        uploads never named."""
        if self._sqlite is not None:
            if not evidence_dir.exists():
                return {}
            return {(p.name if p.parent.name != "tmp" else f"tmp/{p.name}"): p.read_bytes()
                    for p in sorted(evidence_dir.rglob("*")) if p.is_file()}
        found = {str(sha): bytes(data or b"") for sha, data in self._pg.execute(
            "SELECT b.sha256, string_agg(c.data, ''::bytea ORDER BY c.seq) FROM evidence_blobs AS b"
            " LEFT JOIN evidence_chunks AS c ON c.upload = b.upload GROUP BY b.sha256").fetchall()}
        for upload, data in self._pg.execute(
                "SELECT c.upload, string_agg(c.data, ''::bytea ORDER BY c.seq) FROM evidence_chunks AS c"
                " WHERE NOT EXISTS (SELECT 1 FROM evidence_blobs AS b WHERE b.upload = c.upload)"
                " GROUP BY c.upload").fetchall():
            found[f"tmp/{upload}"] = bytes(data)
        return found

    def age_evidence(self, evidence_dir: Path, sha256: str, at: float) -> None:
        """Make a stored file look last written at `at` (a timestamp), for the orphan sweep."""
        if self._sqlite is not None:
            import os

            os.utime(evidence_dir / sha256[:2] / sha256, (at, at))
            return
        from datetime import UTC, datetime

        self._pg.execute("UPDATE evidence_blobs SET created_at = %s WHERE sha256 = %s",
                         (datetime.fromtimestamp(at, UTC).isoformat(), sha256))

    def commit(self) -> None:
        if self._sqlite is not None:
            self._sqlite.commit()

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.commit()
            self._sqlite.close()
        else:
            self._pg.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _psycopg_dsn(url: str) -> str:
    """asyncpg's `postgresql://user@/db?host=/dir&port=N` as libpq keywords."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    fields = {"user": parts.username or "postgres", "dbname": parts.path.lstrip("/") or "postgres",
              "host": query.get("host", parts.hostname or ""), "port": query.get("port", str(parts.port or 5432))}
    return " ".join(f"{k}={v}" for k, v in fields.items() if v)


def _psycopg_sql(sql: str) -> str:
    """qmark placeholders as psycopg's `%s` (outside string literals); a literal % doubled."""
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


def evidence_of(settings: Any) -> dict[str, bytes]:
    """`Inspector.evidence` for whichever backend `settings` point at."""
    with inspect_db(settings) as db:
        return db.evidence(Path(settings.evidence_dir))


def inspect_db(settings: Any) -> Inspector:
    """`sqlite3.connect(settings.database_path)` for whichever backend `settings` point at."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    return Inspector(Backend("postgresql" if url else "sqlite", Path(settings.database_path).parent, url))
