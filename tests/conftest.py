from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.engine import Engine
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.postgres_server import PostgresServer, find_pg_ctl, running_server
from tests.steps import Steps

TEMPLATE = "lapor_template"


NO_POSTGRES = ("!!! PostgreSQL server binaries not found (apt-get install postgresql): "
               "the postgresql half of the suite was SKIPPED !!!")


def pytest_report_header(config: pytest.Config) -> str:
    return f"storage backends: sqlite, postgresql ({find_pg_ctl()})" if find_pg_ctl() else NO_POSTGRES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Said once at the end, where it is seen, also with -q."""
    if find_pg_ctl() is None:
        terminalreporter.write_line(NO_POSTGRES, red=True, bold=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") == "true" and find_pg_ctl() is None:
        pytest.exit("CI=true but PostgreSQL's server binaries are missing: the postgresql half cannot run", 3)


@contextlib.contextmanager
def logging_as_it_was() -> Iterator[list[logging.Handler]]:
    """Put back the root logger's handlers and the levels `bot.logs.configure_logging` sets
    (the root's, the library floors'), for code that sets up logging as an entry point does,
    such as `bot.__main__.main`. Yields the handlers of ours it found left and removed."""
    from bot.logs import FLOORS

    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    floors = {name: logging.getLogger(name).level for name in FLOORS}
    left: list[logging.Handler] = []
    try:
        yield left
    finally:
        left.extend(h for h in root.handlers if h not in before and getattr(h, "lapor_netral", False))
        for handler in left:
            root.removeHandler(handler)
        root.setLevel(level)
        for name, floor in floors.items():
            logging.getLogger(name).setLevel(floor)


@pytest.fixture(autouse=True)
def _no_logging_handler_left() -> Iterator[None]:
    """A handler left on the root logger writes to the stream pytest gave that test, which
    pytest closes after it: every later test's log line then fails with "I/O operation on
    closed file" (shown when that test fails). A test that runs an entry point in-process
    puts logging back with `logging_as_it_was`."""
    with logging_as_it_was() as left:
        yield
    assert not left, f"the test left logging handlers on the root logger: {left}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway server for the session (for each xdist worker: its own), with a migrated
    template database that each test's database is copied from."""
    if find_pg_ctl() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    with running_server(durable=False) as server:
        import psycopg

        from storage import Database
        from tests.backends import _psycopg_dsn, fixed_key

        with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")

        async def migrate() -> None:
            # no keys: the template holds no rows (a used database is emptied to be reused), and
            # each test's database makes its keys, wrapped by the tests' data key, when it opens
            db = await Database.open(server.url(TEMPLATE), key=fixed_key(), create_keys=False)
            await db.close()

        asyncio.run(migrate())
        databases = _DATABASES[id(server)] = Databases(server)
        try:
            yield server
        finally:
            databases.close()
            del _DATABASES[id(server)]


class Databases:
    """Each test's own database: a copy of the migrated template, or one an earlier test used,
    emptied again. A CREATE DATABASE costs 0.05-0.5 s here (more than most tests), emptying
    one a few milliseconds. A database goes back to the pool only if its schema is still the
    template's (tables, columns, indexes, constraints, triggers, functions, migrations
    applied); then it is renamed, every row is deleted and every sequence starts again where
    the template's does. Any other database is dropped."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self._idle: list[str] = []
        with self._connect(TEMPLATE) as conn:
            self._schema = _schema_of(conn)
            self._sequences = conn.execute(
                "SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value),"
                " last_value IS NOT NULL FROM pg_sequences WHERE schemaname = 'public'").fetchall()
            self._tables = [name for (name,) in conn.execute(
                "SELECT format('%I', tablename) FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migrations' ORDER BY tablename").fetchall()]
            assert all(conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in self._tables), \
                "the template holds rows: emptying a used database would not give it back as it was"

    def take(self) -> str:
        if self._idle:
            return self._idle.pop()
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._connect() as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name

    def give_back(self, name: str) -> None:
        """First under a new name, with every session on it ended: whatever the test left
        running (a pool that reconnects, a process) can never reach the next test's data."""
        import psycopg

        renamed = f"t_{uuid.uuid4().hex[:16]}"
        try:
            with self._connect() as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                admin.execute(f"ALTER DATABASE {name} RENAME TO {renamed}")
        except psycopg.errors.ObjectInUse:  # a session came back in between: this one goes
            self._drop(name)
            return
        with self._connect(renamed) as conn:
            try:
                reusable = _schema_of(conn) == self._schema
            except psycopg.Error:  # a table the comparison reads is gone
                reusable = False
            if reusable:
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")  # no triggers, no foreign keys
                    for table in self._tables:
                        conn.execute(f"DELETE FROM {table}")
                    for sequence, value, called in self._sequences:
                        conn.execute("SELECT setval(%s::regclass, %s, %s)", (sequence, value, called))
        if reusable:
            self._idle.append(renamed)
        else:
            self._drop(renamed)

    def close(self) -> None:
        while self._idle:
            self._drop(self._idle.pop())

    def _drop(self, name: str) -> None:
        with self._connect() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _connect(self, database: str = "postgres") -> Any:
        import psycopg

        from tests.backends import _psycopg_dsn

        return psycopg.connect(_psycopg_dsn(self.server.url(database)), autocommit=True)


def _schema_of(conn: Any) -> list[tuple[str, ...]]:
    """Everything a test could change in a database but its rows, as text."""
    return conn.execute("""
        SELECT 'column', c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod)
                         || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || a.attnotnull::text
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL SELECT 'relation', relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace
        UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace
        UNION ALL SELECT 'trigger', tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'function', p.oid::regprocedure::text, md5(p.prosrc) FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
        UNION ALL SELECT 'view', viewname, definition FROM pg_views WHERE schemaname = 'public'
        UNION ALL SELECT 'schema', nspname, '' FROM pg_namespace
        UNION ALL SELECT 'extension', extname, extversion FROM pg_extension
        UNION ALL SELECT 'setting', '', array_to_string(setconfig, ',') FROM pg_db_role_setting
         WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
        UNION ALL SELECT 'migration', version::text, name FROM schema_migrations
        ORDER BY 1, 2, 3""").fetchall()


_DATABASES: dict[int, Databases] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every test that touches storage runs on both backends: the SQLite file in the test's
    directory, and a PostgreSQL database of its own, as the migrated template is (`Databases`)."""
    if request.param == "sqlite":
        yield Backend("sqlite", tmp_path)
        return
    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield Backend("postgresql", tmp_path, url)


@contextlib.contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A database of the test's own, as the migrated template is (`Databases`)."""
    databases = _DATABASES[id(server)]
    name = databases.take()
    try:
        yield server.url(name)
    finally:
        databases.give_back(name)


@pytest.fixture
def steps() -> Steps:
    """The report flow without a database (`tests/steps.py`), for tests of the conversation
    alone: they run once, in milliseconds. A test that reads what was stored takes `engine`."""
    return Steps()


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[Engine]:
    db = await backend.open()
    try:
        yield Engine(db)
    finally:
        await db.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The local fake Bot API, running for one test."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram(fake: FakeTelegram) -> FakeTelegram:
    """The fake Bot API by the name the WhatsApp tests give it, beside `twilio`."""
    return fake


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """The local fake Twilio (its REST API and the media it serves), running for one test."""
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


async def wait_stopped(task: asyncio.Task[None], timeout: float = 60.0) -> None:
    """Wait for a service task told to stop. If it hangs, fail with where every task
    waits (a bare timeout shows only the event loop's `select`)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        import io

        where = io.StringIO()
        for other in asyncio.all_tasks():
            if other is not asyncio.current_task():
                other.print_stack(limit=12, file=where)
        task.cancel()
        pytest.fail(f"the service did not stop within {timeout:.0f} s; tasks:\n{where.getvalue()}")
