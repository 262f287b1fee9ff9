"""Writes a step's outcomes: consent decisions, the reporter's language, a new case with
its evidence and its deliveries to focal points, answers to officers' questions. Runs
inside the engine's transaction, so a case and its forwarding are stored together."""

from __future__ import annotations

from flows.case import forwarding, inquiry, notify
from flows.case.evidence import new_evidence
from flows.events import Inbound
from flows.outcomes import (
    CaseSubmitted,
    ConsentGiven,
    ConsentRefused,
    DataErased,
    InfoAnswered,
    InfoClosed,
    LocaleChanged,
    Outcome,
)
from flows.policy import Policy
from flows.reporter import consent, data_rights
from flows.reporter.conversation import Conversation, Draft
from storage import Tx, cases, reporters
from storage.case_queries import same_evidence
from storage.cases import Case, NewCase


async def record_outcomes(tx: Tx, policy: Policy, inbound: Inbound, conv: Conversation,
                          outcomes: list[Outcome]) -> str | None:
    """Write what a step decided; returns the number of a case it created."""
    number = None
    for outcome in outcomes:
        if isinstance(outcome, ConsentGiven):
            reporter_id = await reporters.upsert(
                tx, inbound.channel, inbound.address, conv.locale, outcome.at)
            await reporters.record_consent(tx, reporter_id, "given", outcome.at, consent.NOTICE_VERSION)
        elif isinstance(outcome, ConsentRefused):
            await reporters.record_consent(tx, None, "refused", outcome.at, consent.NOTICE_VERSION)
        elif isinstance(outcome, LocaleChanged):
            await reporters.set_locale(tx, inbound.channel, inbound.address, outcome.locale)
        elif isinstance(outcome, CaseSubmitted):
            reporter_id = await reporters.upsert(
                tx, inbound.channel, inbound.address, conv.locale, outcome.at)
            case_id = await cases.insert(tx, _new_case(outcome, reporter_id, inbound.channel, conv.locale),
                                         [new_evidence(item) for item in outcome.draft.evidence])
            case = await cases.get(tx, case_id)
            assert case is not None
            await forwarding.forward(tx, policy, case, outcome.at, tell_reporter=False)  # the receipt said it
            await _flag_duplicate_evidence(tx, policy, case, outcome.at)  # related reports: after the commit
            number = outcome.number
        elif isinstance(outcome, DataErased):
            await data_rights.erase(tx, inbound.channel, inbound.address, outcome.at)
        elif isinstance(outcome, (InfoAnswered, InfoClosed)):
            await inquiry.record_answer(tx, policy, inbound.channel, inbound.address, outcome)
    return number



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


async def _flag_duplicate_evidence(tx: Tx, policy: Policy, case: Case, at: str) -> None:
    """The same photo (same SHA-256) in an earlier case: moderators look at it as a
    possible duplicate or a copied report. Nothing is refused automatically. The newest
    few earlier cases are named, with a count of all: bounded however popular the file."""
    found = await same_evidence(tx, case.id)
    if not found.newest:
        return
    earlier = ", ".join(found.newest)
    _ = notify.staff_gettext(policy)
    if found.total <= len(found.newest):
        note = earlier
        text = _("Possible duplicate: case {number} has evidence identical to {earlier}.").format(
            number=case.number, earlier=earlier)
    else:
        total = f"{found.total}+" if found.capped else str(found.total)
        note = f"{earlier} (+{found.total - len(found.newest)}{'+' if found.capped else ''})"
        text = _("Possible duplicate: case {number} has evidence identical to {total} earlier cases, "
                 "the newest {earlier}.").format(number=case.number, total=total, earlier=earlier)
    await cases.add_event(tx, case.id, at, "system", "possible_duplicate", None, None, note)
    await notify.moderators(tx, policy, at, text, case.id)
