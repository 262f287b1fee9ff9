"""Runs one inbound update through the report flow, durably.

Everything a step changes (the conversation, the processed-update record, the reporter,
a new case with its evidence and first audit event) is written in one transaction, so
a crash leaves either all of it or none of it, and a redelivered update changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flows import case_number, menus
from flows.conversation import Conversation, Draft
from flows.events import Command, Inbound
from flows.i18n import gettext_for, long_date
from flows.outcomes import CaseSubmitted, ConsentGiven, ConsentRefused, LocaleChanged, Outcome
from flows.replies import Reply, TextReply
from flows.report import COMMANDS, new_conversation, step
from storage import Database, Tx, cases, conversations, reporters, updates
from storage.cases import DuplicateCaseNumber, NewCase, NewEvidence

log = logging.getLogger(__name__)
MAX_NUMBER_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Handled:
    """What the channel sends back; `duplicate` when the update had been processed before."""

    replies: list[Reply]
    locale: str
    duplicate: bool = False
    case_number: str | None = None


class Engine:
    def __init__(self, db: Database, default_locale: str = "id",
                 timezone: str = "Asia/Jakarta") -> None:
        self.db = db
        self.default_locale = default_locale
        self.tz = ZoneInfo(timezone)

    async def handle(self, inbound: Inbound) -> Handled:
        """Process one update; the step sees the time in the service's zone, so "today"
        is the reporter's today, not UTC's."""
        local = replace(inbound, at=inbound.at.astimezone(self.tz))
        for _attempt in range(MAX_NUMBER_ATTEMPTS):
            try:
                return await self._handle_once(replace(local, nonce=secrets.randbits(64)))
            except DuplicateCaseNumber:
                log.info("case number collision, drawing another")
        raise RuntimeError("could not draw a free case number")

    async def _handle_once(self, inbound: Inbound) -> Handled:
        async with self.db.transaction() as tx:
            at = inbound.at.isoformat()
            if not await updates.claim(tx, inbound.channel, inbound.update_id, at):
                return Handled([], self.default_locale, duplicate=True)
            stored = await conversations.load(tx, inbound.channel, inbound.address)
            conv = (
                Conversation.from_json(stored.state, stored.data, stored.updated_at)
                if stored else new_conversation(inbound.locale_hint, self.default_locale)
            )
            if _is_status_query(inbound):
                return Handled(await self._status(tx, inbound, conv), conv.locale)
            result = step(conv, inbound)
            number = await self._apply(tx, inbound, result.conversation, result.outcomes)
            if any(isinstance(o, ConsentRefused) for o in result.outcomes):
                await conversations.delete(tx, inbound.channel, inbound.address)
            else:
                await conversations.save(tx, conversations.StoredConversation(
                    inbound.channel, inbound.address, result.conversation.state.value,
                    result.conversation.to_json(), result.conversation.updated_at or at,
                ))
            return Handled(result.replies, result.conversation.locale, case_number=number)

    async def _apply(self, tx: Tx, inbound: Inbound, conv: Conversation,
                     outcomes: list[Outcome]) -> str | None:
        number = None
        for outcome in outcomes:
            if isinstance(outcome, ConsentGiven):
                reporter_id = await reporters.upsert(
                    tx, inbound.channel, inbound.address, conv.locale, outcome.at)
                await reporters.record_consent(tx, reporter_id, "given", outcome.at)
            elif isinstance(outcome, ConsentRefused):
                await reporters.record_consent(tx, None, "refused", outcome.at)
            elif isinstance(outcome, LocaleChanged):
                await reporters.set_locale(tx, inbound.channel, inbound.address, outcome.locale)
            elif isinstance(outcome, CaseSubmitted):
                reporter_id = await reporters.upsert(
                    tx, inbound.channel, inbound.address, conv.locale, outcome.at)
                await cases.insert(tx, _new_case(outcome, reporter_id, inbound.channel, conv.locale),
                                   [_new_evidence(item) for item in outcome.draft.evidence])
                number = outcome.number
        return number

    async def _status(self, tx: Tx, inbound: Inbound, conv: Conversation) -> list[Reply]:
        """`/status [number]`: the reporter's own cases only, never anyone else's."""
        _ = gettext_for(conv.locale)
        assert isinstance(inbound.event, Command)
        reporter = await reporters.find(tx, inbound.channel, inbound.address)
        own = await cases.by_reporter(tx, reporter.id) if reporter else []
        wanted = case_number.normalize(inbound.event.args) if inbound.event.args.strip() else None
        if inbound.event.args.strip() and wanted is None:
            return [TextReply(_("That is not a case number. It looks like LN-24-7K3Q9."))]
        if wanted:
            own = [c for c in own if c.number == wanted]
            if not own:
                return [TextReply(_("You have no report with number {number}.").format(number=wanted))]
        if not own:
            return [TextReply(_("You have not sent any report yet. Send /mulai to start one."))]
        lines = []
        for case in own[-10:]:
            status = menus.find(menus.CASE_STATUSES, case.status)
            since = long_date(datetime.fromisoformat(case.updated_at).date(), conv.locale)
            lines.append(_("{number}: {status} (since {date})").format(
                number=case.number, status=_(status.label) if status else case.status, date=since))
        return [TextReply("\n".join(lines))]


def _is_status_query(inbound: Inbound) -> bool:
    event = inbound.event
    return isinstance(event, Command) and COMMANDS.get(event.name.lower()) == "status"


def _new_case(outcome: CaseSubmitted, reporter_id: int, channel: str, locale: str) -> NewCase:
    d: Draft = outcome.draft
    assert d.consent_at and d.region_code and d.province_code and d.agency_group
    assert d.person_status and d.incident_type and d.occurred_on and d.learned_on
    assert d.place and d.description and d.identity_mode
    return NewCase(
        number=outcome.number, reporter_id=reporter_id, channel=channel, locale=locale,
        region_code=d.region_code, province_code=d.province_code,
        agency_group=d.agency_group, agency_unit=d.agency_unit, agency_name=d.agency_name,
        person_name=d.person_name, person_position=d.person_position,
        person_status=d.person_status, incident_type=d.incident_type,
        occurred_on=d.occurred_on, learned_on=d.learned_on, place=d.place,
        latitude=d.latitude, longitude=d.longitude, description=d.description,
        witnesses=d.witnesses, identity_mode=d.identity_mode,
        reporter_name=d.reporter_name if d.identity_mode != "anonim" else None,
        reporter_phone=d.reporter_phone if d.identity_mode != "anonim" else None,
        consent_at=d.consent_at, created_at=outcome.at,
    )


def _new_evidence(item: dict[str, object]) -> NewEvidence:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value) if value is not None else None

    size = item.get("size")
    return NewEvidence(
        kind=str(item["kind"]), channel_ref=str(item["ref"]),
        channel_unique_ref=text("unique_ref"), mime=text("mime"),
        size=int(size) if isinstance(size, int) else None,
        sha256=text("sha256"), file_name=text("file_name"),
    )
