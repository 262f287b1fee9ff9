"""Random event sequences: no exception, always a valid state, never an incomplete case."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.events import Choice, Command, Contact, Event, Inbound, Location, Media, Text, Unsupported
from flows.outcomes import CaseSubmitted
from flows.reporter.conversation import Conversation, State
from flows.reporter.report import missing_sections, new_conversation, step
from tests.backends import Backend
from tests.chat import HAPPY_PATH, START, media, parse

TEXTS = ["denpasar", "jakarta", "bandung", "19/11/2024", "kemarin", "20 nov 2024", "0812345678",
         "Budi", "x" * 40, "Kepala dinas membagikan sembako berstiker paslon di kantor.", "",
         "1", "2", "99", "Selesai", "<b>hi</b>", "\u202eevil", "'; DROP TABLE cases; --", "z" * 5000]
COMMANDS = ["mulai", "batal", "kembali", "bantuan", "bahasa", "status", "foo"]


def events(data: st.DataObject, conv: Conversation) -> Event:
    kind = data.draw(st.sampled_from(["offered", "offered", "offered", "text", "happy", "command",
                                      "media", "location", "contact", "other", "stale"]))
    if kind == "offered" and conv.offered:
        return Choice(data.draw(st.sampled_from([o[0] for o in conv.offered])), token=conv.token)
    if kind == "text":
        return Text(data.draw(st.sampled_from(TEXTS) | st.text(max_size=50)))
    if kind == "happy":
        return parse(data.draw(st.sampled_from(HAPPY_PATH)))
    if kind == "command":
        return Command(data.draw(st.sampled_from(COMMANDS)))
    if kind == "media":
        return Media(tuple(media("photo", str(i)) for i in range(data.draw(st.integers(1, 12)))))
    if kind == "location":
        return Location(data.draw(st.floats(-100, 100)), data.draw(st.floats(-200, 200)))
    if kind == "contact":
        return Contact(data.draw(st.sampled_from(["+628123456789", "abc"])))
    if kind == "stale":
        return Choice("send", token=conv.token - 1)
    return data.draw(st.sampled_from([Unsupported("sticker"), Choice("nonsense"), Text("   ")]))


@pytest.mark.slow  # property-based fuzzing
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_sequences_keep_the_conversation_valid(data: st.DataObject) -> None:
    conv = new_conversation(data.draw(st.sampled_from(["id", "en", None])))
    at = START
    for _ in range(data.draw(st.integers(1, 80))):
        at += timedelta(minutes=data.draw(st.sampled_from([1, 1, 1, 60 * 30])))
        inbound = Inbound("test", "r", "u", events(data, conv), at, None, nonce=data.draw(st.integers(0, 2**64)))
        result = step(conv, inbound)
        conv = result.conversation
        assert conv.state in State
        assert result.replies, f"no answer to {inbound.event!r} in {conv.state}"
        restored = Conversation.from_json(conv.state.value, conv.to_json(), conv.updated_at)
        assert restored == conv
        json.loads(conv.to_json())
        for outcome in result.outcomes:
            if isinstance(outcome, CaseSubmitted):
                assert missing_sections(outcome.draft) == []
                assert outcome.draft.consent_at is not None
                assert len(outcome.draft.evidence) <= 10


def test_the_happy_path_is_reachable_by_the_strategy() -> None:
    """Guard for the property above: a plain run through the pure step does submit."""
    conv = new_conversation("id")
    submitted = []
    for number, line in enumerate([*HAPPY_PATH, "@send"]):
        result = step(conv, Inbound("test", "r", str(number), parse(line), START + timedelta(minutes=number)))
        conv = result.conversation
        submitted += [o for o in result.outcomes if isinstance(o, CaseSubmitted)]
    assert len(submitted) == 1 and conv.state == State.DONE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@pytest.mark.slow  # property-based fuzzing
@given(st.data())
def test_random_sequences_through_the_engine_store_only_complete_cases(backend: Backend, data: st.DataObject) -> None:
    """The same through the engine and a real database (each example a new reporter),
    whose constraints also refuse a case without its required fields."""
    import asyncio
    import uuid

    from flows.engine import Engine
    from storage import cases, conversations

    async def run() -> None:
        db = await backend.open()
        engine = Engine(db)
        address = f"r-{uuid.uuid4().hex}"
        conv = new_conversation("id")
        at = START
        for number in range(data.draw(st.integers(1, 60))):
            at += timedelta(minutes=1)
            handled = await engine.handle(Inbound("test", address, f"{address}-{number}", events(data, conv), at, "id"))
            assert handled.replies
            async with db.reading() as tx:
                stored = await conversations.load(tx, "test", address)
                for case in await cases.recent(tx):
                    assert case.description and len(case.description) >= 30
                    assert case.region_code and case.incident_type and case.identity_mode
            conv = (Conversation.from_json(stored.state, stored.data, stored.updated_at)
                    if stored else new_conversation("id"))
        await db.close()

    asyncio.run(run())
