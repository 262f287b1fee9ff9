from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flows.engine import Engine
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.postgres_server import PostgresServer, find_pg_ctl, running_server

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
    """One throwaway server for the session, with a migrated template database that each
    test's database is copied from."""
    if find_pg_ctl() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    with running_server() as server:
        import psycopg

        from storage import Database
        from tests.backends import _psycopg_dsn

        with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")

        async def migrate() -> None:
            db = await Database.open(server.url(TEMPLATE))
            await db.close()

        asyncio.run(migrate())
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every test that touches storage runs on both backends: the SQLite file in the test's
    directory, and a fresh PostgreSQL database (a copy of the migrated template)."""
    if request.param == "sqlite":
        yield Backend("sqlite", tmp_path)
        return
    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield Backend("postgresql", tmp_path, url)


@contextlib.contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A new database, a copy of the migrated template, dropped afterwards."""
    import psycopg

    from tests.backends import _psycopg_dsn

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
