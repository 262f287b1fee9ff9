from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.engine import Engine
from storage import Database
from tests.fake_telegram import FakeTelegram


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    db = await Database.open(tmp_path / "lapor.db")
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
