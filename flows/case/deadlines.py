"""Officers have 24 hours to accept a case before their group is reminded, and 72 before
moderators hear of it. The clock is the case's `routed_at` in the database, so the
timers survive restarts; each reminder is recorded so it is sent once."""

from __future__ import annotations

from datetime import datetime

from flows.case import notify, rosters
from flows.policy import Policy
from storage import Tx, case_posts, cases


async def run_due(tx: Tx, policy: Policy, now: datetime) -> tuple[int, int]:
    """Queue the reminders and escalations that are due; returns how many of each."""
    at = now.isoformat()
    _ = notify.staff_gettext(policy)
    reminded = 0
    for case in await cases.due_reminders(tx, (now - policy.remind_after).isoformat()):
        hours = int(policy.remind_after.total_seconds() // 3600)
        for post in await case_posts.of_case(tx, case.id):
            if rosters.is_roster(post.chat_id):  # officers on WhatsApp type their answer
                text = _("Reminder: case {number} has waited more than {hours} hours for someone to accept it. "
                         "Reply \"terima {number}\" to accept it, or \"bukan {number}\" if another office should "
                         "handle it.")
            else:
                text = _("Reminder: case {number} has waited more than {hours} hours for someone to accept it. "
                         "Please press Accept, or Not our authority if another office should handle it.")
            await notify.group(tx, post.chat_id, text.format(number=case.number, hours=hours), at, case_id=case.id,
                               reply_to=post.message_id)
        await cases.mark_reminded(tx, case.id, at)
        await cases.add_event(tx, case.id, at, "system", "reminder", None, None, None)
        reminded += 1
    escalated = 0
    hours = int(policy.escalate_after.total_seconds() // 3600)
    for case in await cases.due_escalations(tx, (now - policy.escalate_after).isoformat()):
        await notify.moderators(tx, policy, at, _(
            "Escalation: case {number} ({region}) has not been accepted within {hours} hours.").format(
                number=case.number, region=notify.region_name(case.region_code), hours=hours), case.id)
        await cases.mark_escalated(tx, case.id, at)
        await cases.add_event(tx, case.id, at, "system", "escalation", None, None, None)
        escalated += 1
    return reminded, escalated
