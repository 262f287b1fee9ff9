"""The crash test of `bench/chaos.py` in shorter forms: the bot as real processes, killed
with SIGKILL while reporters are mid-flow, loses and repeats nothing. Once as one polling
process on SQLite, once as two `serve` workers on PostgreSQL behind one webhook URL."""

from __future__ import annotations

import pytest

from bench.chaos import run
from tests.conftest import fresh_database
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.slow  # processes killed with SIGKILL (bench/chaos.py as a test)


async def test_sigkill_mid_flow_loses_no_step_and_repeats_no_case() -> None:
    result = await run(reporters=25, kills=3, seed=7, timeout=120)
    assert result.ok(), result.report()
    assert result.kills == 3 and result.cases == 25 and result.wrong_answers == 0


async def test_two_workers_on_postgresql_one_killed_again_and_again(postgres_server: PostgresServer) -> None:
    with fresh_database(postgres_server) as url:
        result = await run(reporters=20, kills=3, seed=7, timeout=150, workers=2, database="postgresql",
                           database_url=url)
    assert result.ok(), result.report()
    assert result.kills == 3 and result.cases == 20 and result.wrong_answers == 0
