"""The report flow without a database: `flows.reporter.report.step`, the pure function, driven
as the engine drives it, for tests of the conversation alone (`tests.chat.Chat` talks to it as
to an `Engine`; the `steps` fixture gives one).

What the engine keeps in the database around a step is kept here the way the engine keeps it:
the conversation as its JSON, written after each step and read back before the next; whether
the chat agreed to the current notice (a consent given, with the notice's version) and whether
anything about it is stored (a reporter record, made by a consent or a case); and no focal
point anywhere, as in a fresh database. Each `handle` is its own transaction, as `Chat` sends.

What only the database can answer is refused with `NeedsDatabase`: `/status`, `/data_saya`,
an erasure, answers to officers' questions, the daily case limit, focal points (`#route`).
Tests of those take the `engine` fixture, and run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from flows.engine import Handled
from flows.events import Inbound
from flows.outcomes import CaseSubmitted, ConsentGiven, ConsentRefused, DataErased, InfoAnswered, InfoClosed
from flows.policy import Policy
from flows.reporter import consent
from flows.reporter.conversation import Conversation, State
from flows.reporter.data_rights import is_data_query
from flows.reporter.report import new_conversation, step
from flows.reporter.status import is_status_query
from flows.reporter.turn import Facts
from storage.conversations import StoredConversation

Key = tuple[str, str]


class NeedsDatabase(AssertionError):
    """The step asked for something only the database has: use the `engine` fixture."""


@dataclass
class Steps:
    policy: Policy = field(default_factory=Policy)
    default_locale: str = "id"
    timezone: str = "Asia/Jakarta"
    saved: dict[Key, StoredConversation] = field(default_factory=dict)
    reporters: set[Key] = field(default_factory=set)
    """Chats with a reporter record (a consent given, or a case sent)."""
    consents: dict[Key, tuple[str, str]] = field(default_factory=dict)
    """The last consent each reporter gave: (the notice's version, when)."""
    cases: dict[Key, list[str]] = field(default_factory=dict)
    """When each chat sent its cases."""

    async def handle(self, inbound: Inbound) -> Handled:
        if is_status_query(inbound) or is_data_query(inbound):
            raise NeedsDatabase(f"{inbound.event!r} reads cases or stored data")
        key = (inbound.channel, inbound.address)
        inbound = replace(inbound, at=inbound.at.astimezone(ZoneInfo(self.timezone)), nonce=secrets.randbits(64))
        row = self.saved.get(key)
        conv = Conversation.from_json(row.state, row.data, row.updated_at) if row \
            else new_conversation(inbound.locale_hint, self.default_locale)
        result = step(conv, inbound, self._facts(key, conv))
        number = None
        for outcome in result.outcomes:
            if isinstance(outcome, (DataErased, InfoAnswered, InfoClosed)):
                raise NeedsDatabase(f"{type(outcome).__name__} is written to the database")
            if isinstance(outcome, ConsentGiven):
                self.reporters.add(key)
                self.consents[key] = (consent.NOTICE_VERSION, outcome.at)
            elif isinstance(outcome, CaseSubmitted):
                sent = self.cases.setdefault(key, [])
                if self.policy.max_cases_per_day and len(sent) >= self.policy.max_cases_per_day:
                    raise NeedsDatabase("the daily case limit counts the cases in the database")
                sent.append(outcome.at)
                self.reporters.add(key)
                number = outcome.number
        if any(isinstance(o, ConsentRefused) for o in result.outcomes):
            self.saved.pop(key, None)  # a refusal keeps nothing
        else:
            kept = result.conversation
            self.saved[key] = StoredConversation(key[0], key[1], kept.state.value, kept.to_json(), kept.updated_at or "")
        return Handled(result.replies, result.conversation.locale, case_number=number, stale=result.stale)

    async def stored(self, channel: str, address: str) -> StoredConversation | None:
        """The conversation as the engine would have stored it."""
        return self.saved.get((channel, address))

    def add_route(self, region: str) -> None:
        raise NeedsDatabase(f"a focal point for {region} is a route in the database")

    def _facts(self, key: Key, conv: Conversation) -> Facts:
        """What the engine's `_Batch._facts` looks up, from what was kept here."""
        given = self.consents.get(key)
        agreed_at = given[1] if given and given[0] == consent.NOTICE_VERSION else None
        draft = conv.draft
        at_summary = conv.state == State.SUMMARY and bool(draft.region_code and draft.province_code and draft.agency_group)
        return Facts(agreed_at, key in self.reporters, routable=not at_summary, operator=self.policy.operator_name)
