from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.engine import Engine
from storage import Database


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    db = await Database.open(tmp_path / "lapor.db")
    try:
        yield Engine(db)
    finally:
        await db.close()
