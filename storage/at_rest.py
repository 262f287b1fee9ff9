"""The data at rest as a whole: the database's keyring (its keys, wrapped by the data key),
checked at every start; an old database's plain text sealed in place by its migration;
and a rotation to a new data key while the service runs. The sealing itself (keys,
AES-GCM, the tables' marked columns) is `storage/sealing.py`; this module only walks every
table the repositories marked (`sealing.Table.registry`) and every stored file.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from storage import sealing
from storage.database import Row, Tx
from storage.sealing import ERASED, KeyProblem, Keyring, KeyRow, KeySource, Table, WrongKey

if TYPE_CHECKING:
    from storage.database import Blobs, Database

log = logging.getLogger(__name__)

MIGRATION = "sealed_at_rest"
"""The name (after its number) of the migration that adds the keyring: its Python step
(`seal_in_place`) runs right after it, in the same transaction."""
SELECT_KEYS = "SELECT id, kek, purpose, wrapped, active, created_at FROM keyring ORDER BY created_at, id"
BATCH = 500
PENDING_MARK = ".sealing"
"""A file in the evidence folder while files stored before sealing may still be in it: made
in the transaction that seals an old database (before its commit), removed once
`seal_legacy_files` has sealed them all, so a crash in between only means doing it again."""

T = TypeVar("T")


def key_rows(rows: Sequence[Row]) -> list[KeyRow]:
    return [KeyRow(str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), bool(r[4]), str(r[5])) for r in rows]


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (repository code on SQLite's writer, `InlineTx`) to
    its end, where no event loop runs (the migration thread)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a migration step waited for something: run it on the event loop")


def tables() -> list[Table]:
    """Every table a repository marked, once the repositories are imported."""
    from storage import (  # noqa: F401 - each module describes its tables
        case_files,
        cases,
        contacts,
        conversations,
        flood,
        inbound_queue,
        info_requests,
        outbox,
        reporters,
    )

    return [Table.registry[name] for name in sorted(Table.registry)]


def _on(tx: Tx, table: Table) -> bool:
    return table.only is None or table.only == tx.dialect.name


# --- opening a database ----------------------------------------------------------------------

@dataclass
class Opening:
    """A database being opened: the data key checked before any migration (a wrong key
    changes nothing), the keys created with the keyring table or on first start, an old
    database's values sealed in place."""

    source: KeySource | None
    """None: values stored as they are (`sealing.unsealed_for_tests`)."""
    create: bool = True
    """Whether the keys may be made here (not for `migrate-db`'s target: it gets the
    source's keys)."""
    keyring: Keyring = field(init=False)
    sealed_in_place: set[str] = field(default_factory=set)
    """Tables an old database had plain values in, sealed now: rewritten after the commit."""
    upgraded: bool = False
    """An existing database's migration to sealing ran now (not a new database's): its
    evidence files may be plain too."""
    _data_key: sealing.DataKey | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.source is None:
            self.keyring = sealing.UnsealedKeyring()
            return
        self._data_key = self.source.read()
        self.keyring = Keyring(self._data_key or sealing.DataKey(bytes(sealing.KEY_BYTES)))

    def _key(self) -> sealing.DataKey:
        """The data key, the key file made now if there is none yet (a database without keys)."""
        if self._data_key is None:
            assert self.source is not None
            try:
                self._data_key = self.source.create()
            except FileExistsError:  # another process starting at the same moment made it
                self._data_key = self.source.read()
                assert self._data_key is not None
            self.keyring = Keyring(self._data_key)
        return self._data_key

    async def before_migrations(self, tx: Tx) -> None:
        """Refuse a key that does not open the database, before anything changes."""
        if self.source is None or not await tx.dialect.table_exists(tx, "keyring"):
            return
        rows = key_rows(await tx.execute_fetchall(SELECT_KEYS))
        if not rows:
            return
        if self._data_key is None:  # made by a process that started at the same moment?
            self._data_key = self.source.read()
            if self._data_key is not None:
                self.keyring = Keyring(self._data_key)
        if self._data_key is None:
            raise WrongKey("missing", self.source.setting)
        try:
            self.keyring.load(rows)
        except WrongKey:
            raise _mismatch(self.source) from None
        except sealing.Tampered:
            raise WrongKey("changed", self.source.setting) from None

    async def after_migration(self, tx: Tx, name: str, existing: bool = False) -> None:
        """`existing`: the database had a schema before this start (an upgrade)."""
        if name != MIGRATION:
            return
        if self.source is not None and existing:
            await seal_in_place(tx, self)
            self.upgraded = True
        else:  # a new database has nothing to seal: its keys are made at the end, when it may make them
            await tx.execute("DROP TABLE IF EXISTS installation_keys")

    async def after_migrations(self, tx: Tx) -> None:
        if self.source is None or self.keyring.ready:
            return
        rows = key_rows(await tx.execute_fetchall(SELECT_KEYS))
        if rows:
            self.keyring.load(rows)
        elif self.create:
            await create_keys(tx, self)


def _mismatch(source: KeySource) -> WrongKey:
    """A data key that does not open the database (a rotation that did not finish, if the
    key file's successor is there)."""
    if not source.value and pending_key_file(source).exists():
        return WrongKey("unfinished", source.setting)
    return WrongKey("mismatch", source.setting)


def pending_key_file(source: KeySource) -> Path:
    """Where `rotate-key` keeps the new key until the rotation is done: beside the key file."""
    return source.file.with_name(source.file.name + ".new")


async def create_keys(tx: Tx, opening: Opening, digest: bytes | None = None) -> None:
    """A new installation's keys (an old one's digest key kept, so its digests still match),
    wrapped by the data key."""
    data_key = opening._key()
    at = datetime.now(UTC).isoformat()
    made = [("values", secrets.token_bytes(sealing.ID_BYTES).hex(), secrets.token_bytes(sealing.KEY_BYTES)),
            ("lookup", secrets.token_bytes(sealing.ID_BYTES).hex(), secrets.token_bytes(sealing.KEY_BYTES)),
            ("digest", secrets.token_bytes(sealing.ID_BYTES).hex(), digest or secrets.token_bytes(sealing.KEY_BYTES))]
    await tx.executemany(
        "INSERT INTO keyring (id, kek, purpose, wrapped, active, created_at) VALUES (?, ?, ?, ?, 1, ?)",
        [(key_id, data_key.id, purpose, data_key.wrap(secret, key_id, purpose), at) for purpose, key_id, secret in made])
    opening.keyring.load(key_rows(await tx.execute_fetchall(SELECT_KEYS)))


# --- an old database sealed in place ---------------------------------------------------------

async def seal_in_place(tx: Tx, opening: Opening) -> None:
    """The migration's Python step: the keys made (an old installation's message-digest key
    kept), then every marked value of every table sealed and every address replaced by its
    keyed hash, and (PostgreSQL) the evidence bytes in the database sealed and renamed. The
    plain text is then gone from the rows; the caller rewrites the file (VACUUM) after the
    commit, so no free page keeps it."""
    digest = None
    if await tx.dialect.table_exists(tx, "installation_keys"):
        row = await tx.execute_fetchall("SELECT key FROM installation_keys WHERE name = 'message_digest'")
        digest = bytes(row[0][0]) if row else None
        await tx.execute("DROP TABLE installation_keys")
        if digest is not None:
            opening.sealed_in_place.add("installation_keys")
    await create_keys(tx, opening, digest)
    with opening.keyring.pinned():  # minutes on a large database: it is not stale meanwhile
        for table in tables():
            if _on(tx, table) and await _seal_table(tx, table):
                opening.sealed_in_place.add(table.name)
        moved = await tx.dialect.seal_stored_evidence(tx, opening.keyring)
    if moved:
        opening.sealed_in_place.update(("evidence_blobs", "evidence_chunks"))


def _plain(value: Any) -> Any:
    """A value as the old schema held it (PostgreSQL's BYTEA holds the old text as UTF-8)."""
    return bytes(value).decode() if isinstance(value, (bytes, memoryview)) else value


async def _seal_table(tx: Tx, table: Table) -> bool:
    sealed = [c for c in table.kinds if c not in table.hashed.values()]
    hashed = list(table.hashed)
    if not sealed and not hashed:
        return False
    columns = [*table.key, *sealed, *hashed]
    select = f"SELECT {', '.join(columns)} FROM {table.name}"
    if any(k in table.hashed for k in table.key):  # the key itself changes: read the (small) table at once
        batches = [await tx.execute_fetchall(select)]
    else:
        batches = _keyset(tx, table, select)
    touched = False
    async for rows in _each(batches):
        updates = []
        for row in rows:
            values = dict(zip(columns, row))
            new: dict[str, Any] = {}
            for column in sealed:
                plain = values[column]
                if plain is None:
                    continue
                kind = table.kinds[column]
                new[column] = table.seal(tx, column, bytes(plain) if kind is bytes else _plain(plain))
            for column in hashed:
                plain = _plain(values[column])
                if plain is None:
                    continue
                twin = table.hashed[column]
                if str(plain).startswith("erased"):
                    new[column] = str(plain).encode()
                    continue
                new[column] = table.lookup(tx, str(plain))
                if twin is not None:
                    new[twin] = table.seal(tx, twin, str(plain))
            if new:
                updates.append((new, [values[k] for k in table.key]))
        for new, key in updates:
            assignments = ", ".join(f"{c} = ?" for c in new)
            condition = " AND ".join(f"{k} = ?" for k in table.key)
            await tx.execute(f"UPDATE {table.name} SET {assignments} WHERE {condition}", [*new.values(), *key])
            touched = True
    return touched


async def _each(batches: Any) -> Any:
    if isinstance(batches, list):
        for rows in batches:
            yield rows
        return
    async for rows in batches:
        yield rows


async def _keyset(tx: Tx, table: Table, select: str) -> Any:
    """The table's rows in batches, in the order of its key (one column)."""
    (key,) = table.key
    last: Any = None
    while True:
        if last is None:
            rows = await tx.execute_fetchall(f"{select} ORDER BY {key} LIMIT ?", (BATCH,))
        else:
            rows = await tx.execute_fetchall(f"{select} WHERE {key} > ? ORDER BY {key} LIMIT ?", (last, BATCH))
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def mark_pending(root: Path) -> None:
    """Note, before the commit that seals an old database, that its evidence folder is next."""
    root.mkdir(parents=True, exist_ok=True)
    (root / PENDING_MARK).write_text("evidence files stored before sealing may be here (storage/at_rest.py)\n",
                                     encoding="ascii")


async def seal_legacy_files(blobs: Blobs, keyring: Keyring, root: Path) -> int:
    """Evidence files stored before sealing (named by their SHA-256, their bytes plain):
    each is sealed under its keyed name and the plain one deleted, while the folder has the
    mark `PENDING_MARK`; then the mark goes. Returns how many were sealed."""
    mark = root / PENDING_MARK
    if not keyring.sealed or not mark.exists():
        return 0
    done = 0
    async for name, _size in blobs.listing():
        if len(name) != 64 or keyring.sha_of_name(name) is not None:
            continue
        writer = blobs.writer()
        with keyring.pinned():  # part of opening the database, before anything else runs
            sealer = keyring.file_writer()
        size = 0
        try:
            async for chunk in blobs.chunks(name):
                part = sealer.feed(chunk)
                size += len(part)
                await writer.write(part)
            tail = sealer.finish()
            size += len(tail)
            await writer.write(tail)
            await writer.commit(keyring.file_name(name), size)
        except BaseException:
            await writer.abort()
            raise
        await blobs.delete(name)
        done += 1
    mark.unlink(missing_ok=True)
    if done:
        log.info("evidence: %d files stored before sealing were sealed", done)
    return done


# --- is this the key? (read-only, for `check`) ------------------------------------------------

@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What `check` says of the data key: `state` is "opens", "will_seal" (a database that
    has no keys yet), "will_make" (no key file yet either) or "unreadable"; or a problem."""

    state: str
    key_id: str = ""
    rotating: bool = False
    problem: KeyProblem | None = None


async def key_status(target: str | Path, source: KeySource) -> KeyStatus:
    """Whether `source` opens the database at `target`, read without changing anything
    (no key file is made, nothing migrated)."""
    try:
        data_key = source.read()
    except KeyProblem as exc:
        return KeyStatus("problem", problem=exc)
    try:
        rows = await _read_keys(target)
    except Exception:  # noqa: BLE001 - the database's own check says why it does not open
        return KeyStatus("unreadable")
    if not rows:
        return KeyStatus("will_make") if data_key is None else KeyStatus("will_seal", data_key.id)
    if data_key is None:
        return KeyStatus("problem", problem=WrongKey("missing", source.setting))
    try:
        Keyring(data_key).load(rows)
    except WrongKey:
        return KeyStatus("problem", problem=_mismatch(source))
    except sealing.Tampered:
        return KeyStatus("problem", problem=WrongKey("changed", source.setting))
    return KeyStatus("opens", data_key.id, rotating=len({r.kek for r in rows}) > 1)


async def _read_keys(target: str | Path) -> list[KeyRow]:
    from storage.database import is_postgres_url

    if is_postgres_url(target):
        import asyncpg

        conn = await asyncpg.connect(str(target), timeout=10)
        try:
            if not await conn.fetchval("SELECT to_regclass('keyring') IS NOT NULL"):
                return []
            return key_rows(await conn.fetch(SELECT_KEYS))
        finally:
            await conn.close()

    def read() -> list[KeyRow]:
        import sqlite3

        path = Path(target)
        if not path.exists():
            return []
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keyring'").fetchone():
                return []
            return key_rows(conn.execute(SELECT_KEYS).fetchall())
        finally:
            conn.close()
    return await asyncio.to_thread(read)


# --- rotation -------------------------------------------------------------------------------

@dataclass
class Rotation:
    """What a rotation did (this run)."""

    values: int = 0
    files: int = 0
    finished: bool = False
    new_key_id: str = ""
    key_file: Path | None = None
    """The key file now holding the new key (when the key came from a file)."""


async def rotate(db: Database, source: KeySource, new_key: sealing.DataKey, root: Path,
                 progress: Callable[[str], None] = lambda _line: None,
                 settle: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Rotation:
    """Seal everything again under a new values key wrapped by `new_key`, in short batches
    while the service runs; resumable (run it again after a crash: what is done is skipped).

    1. A new values key, wrapped by both data keys, becomes the current one (the lookup and
       digest keys are wrapped by the new data key too); every running process reads it
       within `REFRESH_SECONDS` and seals with it from then on.
    2. After `SETTLE_SECONDS` (no process can still seal with the old one), every value and
       every file header sealed with another key is sealed again, batch by batch.
    3. A pass that finds nothing left ends it: every row wrapped by the old data key, and
       the old values keys, go. From then on only the new data key opens the database."""
    result = Rotation(new_key_id=new_key.id)
    keys = db.keys
    async with db.exclusive("rotate-key"):
        async with db.transaction() as tx:
            rows = key_rows(await tx.execute_fetchall(SELECT_KEYS))
            started = await _begin_rotation(tx, keys, rows, new_key)
        await reload(db)
        assert keys.current_id is not None
        current = keys.current_id
        waited = time.time() - datetime.fromisoformat(started).timestamp()
        if waited < sealing.SETTLE_SECONDS:
            progress(f"waiting {sealing.SETTLE_SECONDS - waited:.0f} s for every process to take the new values key")
            await settle(sealing.SETTLE_SECONDS - waited)
        while True:
            changed = 0
            for table in tables():
                changed += await _reseal_table(db, table, current, progress)
            changed_files = await _rewrap_files(db, root, current)
            result.values += changed
            result.files += changed_files
            if not changed and not changed_files:
                break
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM keyring WHERE kek != ? OR (purpose = 'values' AND id != ?)",
                             (new_key.id, current))
    result.finished = True
    return result


async def _begin_rotation(tx: Tx, keys: Keyring, rows: list[KeyRow], new_key: sealing.DataKey) -> str:
    """The new values key (or the one a run before made), current from now on; the lookup
    and digest keys wrapped by the new data key too. Returns when it became current."""
    mine = keys.data_key.id
    pending = [r for r in rows if r.kek == new_key.id and r.purpose == "values" and r.active]
    if pending:
        return pending[0].created_at
    at = datetime.now(UTC).isoformat()
    values_id = secrets.token_bytes(sealing.ID_BYTES).hex()
    secret = secrets.token_bytes(sealing.KEY_BYTES)
    await tx.execute("UPDATE keyring SET active = 0 WHERE purpose = 'values'")
    await tx.executemany(
        "INSERT INTO keyring (id, kek, purpose, wrapped, active, created_at) VALUES (?, ?, 'values', ?, 1, ?)",
        [(values_id, kek.id, kek.wrap(secret, values_id, "values"), at) for kek in (keys.data_key, new_key)])
    for row in rows:
        if row.kek == mine and row.purpose in ("lookup", "digest"):
            secret_of = keys.data_key.unwrap(row.wrapped, row.id, row.purpose)
            await tx.execute(
                "INSERT INTO keyring (id, kek, purpose, wrapped, active, created_at) VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (id, kek) DO NOTHING",
                (row.id, new_key.id, row.purpose, new_key.wrap(secret_of, row.id, row.purpose), at))
    return at


async def reload(db: Database) -> None:
    """Read the keyring again now (after its rows were copied in, or a rotation began)."""
    async with db.reading() as tx:
        db.keys.refresh(key_rows(await tx.execute_fetchall(SELECT_KEYS)))


async def _reseal_table(db: Database, table: Table, current: str, progress: Callable[[str], None]) -> int:
    """Every value of the table sealed with another values key, sealed again with `current`;
    one short transaction per batch, each row changed only if no one changed it meanwhile."""
    sealed = list(table.kinds)
    if not sealed:
        return 0
    async with db.reading() as tx:
        if not _on(tx, table):
            return 0
    changed = 0
    columns = [*table.key, *sealed]
    last: tuple[Any, ...] | None = None
    order = ", ".join(table.key)
    while True:
        async with db.transaction(quiet=True) as tx:
            if last is None:
                rows = await tx.execute_fetchall(f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {order}"
                                                 " LIMIT ?", (BATCH,))
            else:
                after = _after(table.key)
                rows = await tx.execute_fetchall(f"SELECT {', '.join(columns)} FROM {table.name} WHERE {after}"
                                                 f" ORDER BY {order} LIMIT ?", (*_after_params(last), BATCH))
            if not rows:
                break
            for row in rows:
                values = dict(zip(columns, row))
                new = {c: tx.keys.reseal(values[c], table.where(c), current) for c in sealed
                       if values[c] is not None and not _is_marker(values[c]) and tx.keys.key_of(values[c]) != current}
                if not new:
                    continue
                assignments = ", ".join(f"{c} = ?" for c in new)
                condition = " AND ".join([*(f"{k} = ?" for k in table.key), *(f"{c} = ?" for c in new)])
                await tx.execute(f"UPDATE {table.name} SET {assignments} WHERE {condition}",
                                 [*new.values(), *(values[k] for k in table.key), *(values[c] for c in new)])
                changed += 1
            last = tuple(rows[-1][:len(table.key)])
    if changed:
        progress(f"{table.name}: {changed} rows sealed again")
    return changed


def _is_marker(value: Any) -> bool:
    return bytes(value[:len(ERASED)]) == ERASED


def _after(key: tuple[str, ...]) -> str:
    """Rows after a key, in the key's order (a composite key compared column by column)."""
    if len(key) == 1:
        return f"{key[0]} > ?"
    a, b = key
    return f"({a} > ? OR ({a} = ? AND {b} > ?))"


def _after_params(last: tuple[Any, ...]) -> tuple[Any, ...]:
    return last if len(last) == 1 else (last[0], last[0], last[1])


async def _rewrap_files(db: Database, root: Path, current: str) -> int:
    """Every stored file whose header wraps its key with another values key gets a header
    that wraps it with `current` (the file's own key and bytes stay)."""
    blobs = db.blobs(root)
    keys = db.keys
    done = 0
    names = [name async for name, _size in blobs.listing()]
    for name in names:
        head = await blobs.head(name, sealing.FILE_HEADER)
        if head is None or len(head) < sealing.FILE_HEADER or keys.key_of(head) == current:
            continue
        if await blobs.rewrite_head(name, head, keys.rewrap_header(head, current)):
            done += 1
    return done
