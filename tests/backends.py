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
from storage.sealing import KeySource

TEST_KEY = "dGVzdC1kYXRhLWtleS1vZi1sYXBvci1uZXRyYWwtISE="
"""The data key of the tests' databases (a PostgreSQL test database makes its keys under it
when it is first opened): written into each test's key file (`lapor.key` beside the SQLite
file), where the service's settings look for it by default."""


def fixed_key() -> KeySource:
    """The tests' data key, as `DATA_KEY` would give it."""
    return KeySource(TEST_KEY, Path("/nonexistent/lapor.key"))


def write_key_file(folder: Path) -> Path:
    path = folder / "lapor.key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(TEST_KEY + "\n", encoding="ascii")
        path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Backend:
    kind: str
    tmp_path: Path
    url: str | None = None

    def __post_init__(self) -> None:
        write_key_file(self.tmp_path)

    @property
    def postgres(self) -> bool:
        return self.kind == "postgresql"

    @property
    def key(self) -> KeySource:
        """The key file the service's settings find beside `DATABASE_PATH`."""
        return KeySource(None, self.tmp_path / "lapor.key")

    @property
    def target(self) -> str | Path:
        """What `Database.open` takes."""
        return self.url if self.url else self.tmp_path / "lapor.db"

    @property
    def evidence_dir(self) -> Path:
        return self.tmp_path / "evidence"

    async def open(self, **kwargs: Any) -> Database:
        kwargs.setdefault("key", self.key)
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
    """`with backend.connect() as db: db.execute(sql, params).fetchall()`, on either backend.
    What is sealed comes back sealed: `db.open(table, column, value)` opens a value and
    `db.lookup(address)` is what an address column holds, with the test's key."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._keys: Any = None
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

    def keys(self) -> Any:
        """The database's keyring, unwrapped with the test's key file."""
        if self._keys is None:
            from storage import sealing
            from storage.at_rest import SELECT_KEYS, key_rows
            from storage.sealing import Keyring

            if sealing.unsealed():  # what the service under `unsealed_for_tests` stores: values as they are
                self._keys = sealing.UnsealedKeyring()
                return self._keys

            data_key = self.backend.key.read()
            assert data_key is not None
            self._keys = Keyring(data_key)
            self._keys.load(key_rows(self.execute(SELECT_KEYS).fetchall()))
        return self._keys

    def open(self, table: str, column: str, value: Any) -> Any:
        """A sealed value as the service reads it."""
        from storage import at_rest
        from storage.sealing import Table

        at_rest.tables()
        return Table.registry[table].open(_WithKeys(self.keys()), column, value)  # type: ignore[arg-type]

    def lookup(self, address: str) -> bytes:
        """What an address column holds for `address`."""
        return bytes(self.keys().lookup(address))

    def opened_dump(self) -> Iterator[str]:
        """Every row of every table as text, sealed values opened with the key: what the
        database says to whoever holds the key (an erased value shows as its marker)."""
        from storage import at_rest
        from storage.sealing import ERASED, Table

        at_rest.tables()
        if self._sqlite is not None:
            tables = [r[0] for r in self._sqlite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        else:
            tables = [r[0] for r in self._pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
        for table in tables:
            cursor = self.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cursor.description]
            described = Table.registry.get(table)
            for row in cursor.fetchall():
                values = list(row)
                if described is not None:
                    for i, name in enumerate(names):
                        if name in described.kinds and values[i] is not None \
                                and not bytes(values[i]).startswith(ERASED):
                            values[i] = self.open(table, name, values[i])
                yield f"{table} {tuple(values)!r}"

    def draft(self, address: str) -> dict[str, Any]:
        """The saved answers of the conversation with `address` ({} if there is none)."""
        import json

        found = self.execute("SELECT data FROM conversations WHERE address = ?", (self.lookup(address),)).fetchall()
        return dict(json.loads(self.open("conversations", "data", found[0][0]))) if found else {}

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
        """Every evidence file the store holds, by SHA-256, opened (its plain bytes), and
        temporary ones as they are (named `tmp/...`); `raw_evidence` gives the stored bytes."""
        found = {}
        keys = self.keys()
        for name, data in self.raw_evidence(evidence_dir).items():
            sha = keys.sha_of_name(name)
            if sha is None:
                found[name] = data
                continue
            opener = keys.file_reader()
            found[sha] = opener.feed(data) + opener.finish()
        return found

    def raw_evidence(self, evidence_dir: Path) -> dict[str, bytes]:
        """Every evidence file the store holds, by the name it is stored under, as stored
        (sealed), temporary ones included (named `tmp/...`): the files under `evidence_dir`,
        or PostgreSQL's blobs and the chunks of uploads never named."""
        if self._sqlite is not None:
            if not evidence_dir.exists():
                return {}
            return {(p.name if p.parent.name != "tmp" else f"tmp/{p.name}"): p.read_bytes()
                    for p in sorted(evidence_dir.rglob("*")) if p.is_file()}
        found = {str(name): bytes(data or b"") for name, data in self._pg.execute(
            "SELECT b.name, string_agg(c.data, ''::bytea ORDER BY c.seq) FROM evidence_blobs AS b"
            " LEFT JOIN evidence_chunks AS c ON c.upload = b.upload GROUP BY b.name").fetchall()}
        for upload, data in self._pg.execute(
                "SELECT c.upload, string_agg(c.data, ''::bytea ORDER BY c.seq) FROM evidence_chunks AS c"
                " WHERE NOT EXISTS (SELECT 1 FROM evidence_blobs AS b WHERE b.upload = c.upload)"
                " GROUP BY c.upload").fetchall():
            found[f"tmp/{upload}"] = bytes(data)
        return found

    def age_evidence(self, evidence_dir: Path, sha256: str, at: float) -> None:
        """Make a stored file look last written at `at` (a timestamp), for the orphan sweep."""
        name = self.keys().file_name(sha256)
        if self._sqlite is not None:
            import os

            os.utime(evidence_dir / name[:2] / name, (at, at))
            return
        from datetime import UTC, datetime

        self._pg.execute("UPDATE evidence_blobs SET created_at = %s WHERE name = %s",
                         (datetime.fromtimestamp(at, UTC).isoformat(), name))

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


class _WithKeys:
    """What `Table.open` needs of a transaction: its keys."""

    def __init__(self, keys: Any) -> None:
        self.keys = keys


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


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as the service reads it: its address and payload opened."""

    id: int
    channel: str
    address: str
    kind: str
    status: str
    payload: dict[str, Any]
    last_error: str | None

    @property
    def text(self) -> str:
        """The payload as JSON text (to search in, as `payload LIKE` did on plain rows)."""
        import json

        return json.dumps(self.payload, ensure_ascii=False)


async def opened_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    """Every row of a table as the service would read it: its sealed columns opened (an
    erased value as the marker it is), so that a test searching the stored text searches
    what it means, not ciphertext."""
    from storage import at_rest
    from storage.sealing import ERASED, Table

    at_rest.tables()
    described = Table.registry.get(table)
    async with db.reading() as tx:
        rows = await tx.execute_fetchall(f"SELECT * FROM {table}")
        found = []
        for row in rows:
            names = list(row.keys())  # type: ignore[attr-defined]
            values = list(row)
            if described is not None:
                for i, name in enumerate(names):
                    if name in described.kinds and values[i] is not None and not bytes(values[i]).startswith(ERASED):
                        values[i] = described.open(tx, name, values[i])
            found.append(tuple(values))
        return found


async def outbox_rows(db: Database) -> list[OutboxRow]:
    """Every outbox row, oldest first, read through an open database (its keys open them)."""
    from storage.outbox import OUTBOX, payload_of

    async with db.reading() as tx:
        rows = await tx.execute_fetchall("SELECT id, channel, address_sealed, kind, status, payload, last_error"
                                         " FROM outbox ORDER BY id")
        return [OutboxRow(int(r[0]), str(r[1]), OUTBOX.open(tx, "address_sealed", r[2]) if r[2] is not None
                          else "erased", str(r[3]), str(r[4]), payload_of(tx, r[5]), r[6]) for r in rows]


def outbox_of(settings: Any) -> list[OutboxRow]:
    """Every outbox row, oldest first, for whichever backend `settings` (or a `Backend`) point at."""
    from storage.sealing import ERASED

    with (settings.connect() if isinstance(settings, Backend) else inspect_db(settings)) as db:
        rows = db.execute("SELECT id, channel, address_sealed, kind, status, payload, last_error FROM outbox"
                          " ORDER BY id").fetchall()
        found = []
        for row_id, channel, address, kind, status, payload, error in rows:
            opened = "{}" if bytes(payload).startswith(ERASED) else db.open("outbox", "payload", payload)
            import json

            found.append(OutboxRow(int(row_id), str(channel),
                                   db.open("outbox", "address_sealed", address) if address is not None else "erased",
                                   str(kind), str(status), json.loads(opened), error))
        return found


def evidence_of(settings: Any) -> dict[str, bytes]:
    """`Inspector.evidence` for whichever backend `settings` point at."""
    with inspect_db(settings) as db:
        return db.evidence(Path(settings.evidence_dir))


def inspect_db(settings: Any) -> Inspector:
    """`sqlite3.connect(settings.database_path)` for whichever backend `settings` point at."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    return Inspector(Backend("postgresql" if url else "sqlite", Path(settings.database_path).parent, url))
