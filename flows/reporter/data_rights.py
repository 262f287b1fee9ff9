"""A reporter's rights over their data (UU 27/2022 PDP): `/data_saya` shows what is stored
about them; `/hapus_data` (confirmed in the flow) erases it; closed cases lose their
reporter's identity after the retention period; the files of a case without identity are
kept only as cleaned copies."""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from flows.case import forwarding
from flows.case.case_text import identity_text, status_label
from flows.events import Command, Inbound
from flows.i18n import N_, gettext_for, long_date, long_datetime
from flows.policy import Policy
from flows.replies import Reply, TextReply
from flows.reporter import consent
from flows.reporter.conversation import Conversation
from flows.reporter.report import COMMANDS
from storage import Database, Tx, cases, privacy, reporters
from storage.case_queries import closed_with_identity
from storage.evidence_files import EvidenceStore

log = logging.getLogger(__name__)


def is_data_query(inbound: Inbound) -> bool:
    event = inbound.event
    return isinstance(event, Command) and COMMANDS.get(event.name.lower()) == "my_data"


DECISIONS = {"given": N_("Consent given on {date}"), "refused": N_("Consent refused on {date}"),
             "withdrawn": N_("Consent withdrawn on {date}")}
LANGUAGES = {"id": N_("Indonesian"), "en": N_("English")}


async def my_data_replies(tx: Tx, inbound: Inbound, conv: Conversation, zone: tzinfo | None = None) -> list[Reply]:
    """Every value in the reporter's language: the channel by the name it gives itself,
    decisions and statuses by their labels, dates in the one long style, times in `zone`
    (the service's) with its name."""
    _ = gettext_for(conv.locale)
    person = await reporters.find(tx, inbound.channel, inbound.address)
    if person is None:
        return [TextReply(_("We store nothing about you: you have not agreed to the terms or sent a report."))]
    channel = _(inbound.caps.name) if inbound.caps.name else person.channel
    lines = [_("What we store about you:"),
             _("You write to us on {channel} ({address}).").format(channel=channel, address=person.address),
             _("Language: {locale}").format(locale=_(LANGUAGES.get(person.locale, person.locale))),
             _("First contact: {date}").format(date=long_date(datetime.fromisoformat(person.created_at).date(),
                                                                conv.locale))]
    for decision, at in await reporters.consents_of(tx, person.id):
        lines.append(_(DECISIONS.get(decision, decision)).format(
            date=long_datetime(datetime.fromisoformat(at), conv.locale, zone)))
    for case in await cases.by_reporter(tx, person.id):
        lines.append(_("Report {number} ({status}): identity {identity}").format(
            number=case.number, status=status_label(_, case.status), identity=identity_text(_, case, True)))
    lines.append(_("Send /hapus_data to erase your identity and contact from all of it."))
    return [TextReply("\n".join(lines))]


async def erase(tx: Tx, channel: str, address: str, at: str) -> int:
    """The reporter asked: identity and contact leave every case and the reporter record;
    the withdrawal of consent is recorded with its time."""
    person = await reporters.find(tx, channel, address)
    if person is None:
        return 0
    changed = await privacy.erase_reporter(tx, person.id, at)
    await reporters.record_consent(tx, person.id, "withdrawn", at, consent.NOTICE_VERSION)
    for case in await cases.by_reporter(tx, person.id):
        await cases.add_event(tx, case.id, at, "reporter", "identity_erased", None, None, None)
        await forwarding.refresh_posts(tx, case.id, at)  # an open reporter's name leaves the cards too
    return changed


async def apply_retention(tx: Tx, policy: Policy, now: datetime) -> int:
    """Closed cases older than the retention period lose their reporter's identity."""
    ids = await closed_with_identity(tx, (now - policy.retention).isoformat())
    at = now.isoformat()
    await privacy.erase_case_identity(tx, ids, at)
    for case_id in ids:
        await cases.add_event(tx, case_id, at, "system", "identity_erased", None, None, "retention")
        await forwarding.refresh_posts(tx, case_id, at)
    return len(ids)


async def forget_reporter(tx: Tx, reporter_id: int, at: str) -> None:
    """The retention period is over for this reporter (every case closed long ago, or no
    case and no conversation for a long time): their address and identity go everywhere."""
    await privacy.erase_reporter(tx, reporter_id, at)
    for case in await cases.by_reporter(tx, reporter_id):
        await cases.add_event(tx, case.id, at, "system", "identity_erased", None, None, "retention")
        await forwarding.refresh_posts(tx, case.id, at)


async def clean_erased_evidence(db: Database, store: EvidenceStore, limit: int = 1000) -> int:
    """Files of cases whose reporter identity was erased keep only their cleaned copy (a photo
    without its EXIF GPS, stored and linked once by `cleaning.stored`); a file that cannot be
    made safe is deleted. The original's SHA-256 stays on record, so the evidence can still be
    matched. Returns how many were done."""
    from cleaning import Cleaned  # the file cleaners are heavy: loaded when first needed
    from cleaning.stored import cleaned_copy

    done = 0
    while done < limit:
        async with db.reading() as tx:
            batch = await privacy.evidence_to_clean(tx)
        if not batch:
            break
        for sha, mime in batch:
            result = await cleaned_copy(db, store, sha, mime)
            stored_as = "cleaned" if isinstance(result, Cleaned) else "removed"
            if not (isinstance(result, Cleaned) and store.sha256_of(result.data) == sha):
                await store.discard_original(sha)  # a file that was already clean is its own copy
            async with db.transaction() as tx:
                await privacy.mark_cleaned(tx, sha, stored_as)
            done += 1
    if done:
        log.info("erased cases: %d evidence files kept only as cleaned copies (or removed)", done)
    return done
