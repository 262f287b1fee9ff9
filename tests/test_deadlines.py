"""Deadlines come from the database: a forwarded case nobody accepted is reminded in its
group after 24 hours and escalated to moderators after 72, once each, whatever restarts
happen in between."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.case import deadlines, lifecycle
from flows.engine import Engine
from flows.policy import Policy
from flows.staff import route_admin
from storage import Database, cases, outbox
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat

GROUP = -100777
MODERATORS = -100999
POLICY = Policy(moderator_chat_id=MODERATORS)


async def submitted_case(db: Database) -> tuple[cases.Case, datetime]:
    async with db.transaction() as tx:
        await route_admin.add(tx, POLICY, "51.71", GROUP, by="test", at="2024-11-21T08:00:00+07:00")
    chat = Chat(Engine(db, policy=POLICY))
    await chat.run(*HAPPY_PATH, "@send")
    async with db.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
    assert case.routed_at is not None
    return case, datetime.fromisoformat(case.routed_at)


def texts(deliveries: list[outbox.Delivery], address: int) -> list[str]:
    return [str(r["text"]) for d in deliveries if d.address == str(address) for r in d.payload.get("replies", [])]


async def test_reminder_at_24_hours_and_escalation_at_72_once_each_across_a_restart(backend: Backend) -> None:
    db = await backend.open()
    case, routed = await submitted_case(db)
    async with db.transaction() as tx:
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=23, minutes=59)) == (0, 0)
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=24, minutes=1)) == (1, 0)
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=30)) == (0, 0)
    await db.close()

    db = await backend.open()  # a restart: the clock is in the database
    async with db.transaction() as tx:
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=71)) == (0, 0)
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=72, minutes=1)) == (0, 1)
        assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=100)) == (0, 0)
        queued = await outbox.of_case(tx, case.id)
        trail = [e.kind for e in await cases.events_of(tx, case.id)]
    await db.close()
    reminder, = texts(queued, GROUP)[-1:]
    assert reminder.startswith(f"Pengingat: kasus {case.number} sudah menunggu lebih dari 24 jam")
    escalation, = texts(queued, MODERATORS)
    assert escalation == f"Eskalasi: kasus {case.number} (Kota Denpasar) belum diterima dalam 72 jam."
    assert trail.count("reminder") == 1 and trail.count("escalation") == 1


async def test_an_accepted_case_is_neither_reminded_nor_escalated(backend: Backend) -> None:
    db = await backend.open()
    try:
        case, routed = await submitted_case(db)
        async with db.transaction() as tx:
            verdict = await lifecycle.change_status(tx, POLICY, case.id, GROUP, "accept",
                                                    lifecycle.Actor("telegram:1", "Petugas"), routed.isoformat())
            assert verdict.ok
            assert await deadlines.run_due(tx, POLICY, routed + timedelta(days=10)) == (0, 0)
    finally:
        await db.close()


async def test_a_case_sent_on_to_another_region_gets_a_fresh_clock(backend: Backend) -> None:
    db = await backend.open()
    try:
        case, routed = await submitted_case(db)
        async with db.transaction() as tx:
            await route_admin.add(tx, POLICY, "51.03", -100888, by="test", at=routed.isoformat())
            later = routed + timedelta(hours=20)
            verdict = await lifecycle.reroute(tx, POLICY, case.id, GROUP, "kab badung",
                                              lifecycle.Actor("telegram:1", "Petugas"), later.isoformat())
            assert verdict.ok
            assert await deadlines.run_due(tx, POLICY, routed + timedelta(hours=25)) == (0, 0)
            assert await deadlines.run_due(tx, POLICY, later + timedelta(hours=24, minutes=1)) == (1, 0)
    finally:
        await db.close()
