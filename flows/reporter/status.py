"""`/status`: a reporter asks where their reports stand. A read, not a step."""

from __future__ import annotations

from datetime import datetime

from flows import menus
from flows.case import case_number
from flows.case.evidence import lines as evidence_lines
from flows.events import Choice, Command, Inbound
from flows.i18n import gettext_for, long_date
from flows.replies import Reply, TextReply
from flows.reporter.conversation import Conversation
from flows.reporter.report import COMMANDS
from storage import Tx, cases, reporters

STATUS_CHOICE = "status:"
"""A "Check status" button on a notification: `status:<number>`, valid at any time."""


def is_status_query(inbound: Inbound) -> bool:
    event = inbound.event
    if isinstance(event, Choice):
        return event.id.startswith(STATUS_CHOICE)
    return isinstance(event, Command) and COMMANDS.get(event.name.lower()) == "status"


async def status_replies(tx: Tx, inbound: Inbound, conv: Conversation) -> list[Reply]:
    """`/status [number]`: the reporter's own cases only, never anyone else's."""
    _ = gettext_for(conv.locale)
    event = inbound.event
    asked = event.id.removeprefix(STATUS_CHOICE) if isinstance(event, Choice) else getattr(event, "args", "")
    reporter = await reporters.find(tx, inbound.channel, inbound.address)
    own = await cases.by_reporter(tx, reporter.id) if reporter else []
    wanted = case_number.normalize(asked) if asked.strip() else None
    if asked.strip() and wanted is None:
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
        since = long_date(datetime.fromisoformat(case.updated_at).astimezone(inbound.at.tzinfo).date(), conv.locale)
        lines.append(_("{number}: {status} (since {date})").format(
            number=case.number, status=_(status.label) if status else case.status, date=since))
        lines += [f"  • {line}" for line in evidence_lines(_, await cases.evidence_of(tx, case.id), conv.locale,
                                                           show_held=False, limit=120)]
    return [TextReply("\n".join(lines))]


