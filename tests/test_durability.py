"""What survives a restart, a redelivered update, and a second process on the same file."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from flows.engine import Engine
from storage import Database, cases, updates
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat


async def test_restart_mid_flow_continues_the_same_report(backend: Backend) -> None:
    first = Engine(await backend.open())
    chat = Chat(first)
    await chat.run(*HAPPY_PATH[:12])
    assert await chat.state() == "place"
    await first.db.close()

    second = Engine(await backend.open())
    chat.engine = second
    assert await chat.state() == "place"
    await chat.run(*HAPPY_PATH[12:], "@send")
    async with second.db.reading() as tx:
        stored = await cases.recent(tx)
    await second.db.close()
    assert len(stored) == 1
    assert stored[0].person_name == "Budi Santoso" and stored[0].occurred_on == "2024-11-19"


async def test_the_same_update_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:5])
    first = await chat.send("SMPN 1 Denpasar", update_id="dup-1")
    assert not first.duplicate and await chat.state() == "person_name"
    again = await chat.send("SMPN 1 Denpasar", update_id="dup-1")
    assert again.duplicate and again.replies == []
    assert await chat.state() == "person_name"


async def test_a_redelivered_submit_creates_one_case(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH)
    await chat.send("@send", update_id="submit-1")
    await chat.send("@send", update_id="submit-1")
    async with engine.db.reading() as tx:
        assert await cases.count(tx) == 1
        assert await updates.count(tx) == len(HAPPY_PATH) + 1


async def test_two_engines_on_one_file_never_repeat_a_step(backend: Backend) -> None:
    """Two processes' engines (two workers) receive the same updates at once: each is applied once."""
    a, b = Engine(await backend.open()), Engine(await backend.open())
    chat_a, chat_b = Chat(a), Chat(b)
    for line in [*HAPPY_PATH, "@send"]:
        results = await asyncio.gather(chat_a.send(line, update_id=line), chat_b.send(line, update_id=line))
        chat_b.now = chat_a.now
        assert sorted(r.duplicate for r in results) == [False, True], line
    async with a.db.reading() as tx:
        assert await cases.count(tx) == 1
    await a.db.close()
    await b.db.close()


async def test_a_failing_step_leaves_state_and_update_untouched(engine: Engine) -> None:
    """If applying a step fails, the transaction rolls back: the update can be retried."""
    chat = Chat(engine)
    await chat.run(*HAPPY_PATH[:3])
    await engine.db.close()
    with pytest.raises((sqlite3.ProgrammingError, asyncpg.InterfaceError)):  # the database is closed
        await chat.send("@pemda", update_id="u-fail")
    engine.db = await Database.open(engine.db.url, key=engine.db.key_source)
    assert await chat.state() == "agency_group"
    handled = await chat.send("@pemda", update_id="u-fail")
    assert not handled.duplicate and await chat.state() == "agency_unit"
