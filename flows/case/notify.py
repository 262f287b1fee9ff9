"""Messages to people outside the current chat, always through the outbox: the reporter
hears of their case on the channel they used, in their language; moderators get alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flows import regions
from flows.case import rosters
from flows.i18n import gettext_for
from flows.policy import Policy
from flows.replies import ChoicesReply, Option, Reply, TextReply, to_dict
from storage import Tx, outbox, reporters, routes
from storage.cases import Case

log = logging.getLogger(__name__)
GROUP_CHANNEL = "telegram"
"""Focal points and moderators work in Telegram whatever channel the reporter used."""
STATUS_TOKEN = 0
"""Token of buttons sent outside a step ("Cek status"): they are valid at any time."""

Gettext = Callable[[str], str]


def status_option(_: Gettext, number: str) -> Option:
    return Option(f"status:{number}", _("Check status"))


def region_name(code: str | None) -> str:
    region = regions.get(code)
    return region.name if region else (code or "-")


def status_text(_: Gettext, case: Case, status: str, note: str | None = None) -> str | None:
    """What the reporter is told when their case reaches `status` (None: nothing to tell)."""
    number, region = case.number, region_name(case.region_code)
    if status == "diteruskan":
        return _("Your report {number} has been forwarded to the oversight officers for {region}.").format(
            number=number, region=region)
    if status == "diterima":
        return _("Good news: the officers have accepted your report {number} and will examine it.").format(
            number=number)
    if status == "ditindaklanjuti":
        return _("Your report {number} is being followed up by the officers.").format(number=number)
    if status == "selesai":
        return _("The officers have finished handling your report {number}. Thank you for speaking up.").format(
            number=number)
    if status == "bukan_kewenangan":
        return _("The officers who received your report {number} say it is outside their authority. "
                 "We are passing it to the right office; you will hear from us again.").format(number=number)
    if status == "ditolak":
        return _("Your report {number} was not taken up. Reason given: {reason}").format(
            number=number, reason=note or "-")
    if status == "menunggu_rute":
        return _("We are still finding the right officers for your report {number}. It is kept safe "
                 "and will be forwarded as soon as they are registered.").format(number=number)
    return None


async def reporter(tx: Tx, case: Case, at: str, build: Callable[[Gettext], str | None],
                   replies_after: Callable[[Gettext], list[Reply]] | None = None) -> bool:
    """Queue a message for the case's reporter, with a "Check status" button."""
    person = await reporters.get(tx, case.reporter_id)
    if person is None:
        return False
    _ = gettext_for(person.locale)
    text = build(_)
    if text is None:
        return False
    replies: list[Reply] = [ChoicesReply(text, (status_option(_, case.number),), STATUS_TOKEN)]
    if replies_after is not None:
        replies = [TextReply(text), *replies_after(_)]
    await outbox.enqueue(tx, person.channel, person.address, "send",
                         {"replies": [to_dict(r) for r in replies], "locale": person.locale}, at,
                         case_id=case.id)
    return True


async def reporter_status(tx: Tx, case: Case, status: str, at: str, note: str | None = None) -> bool:
    return await reporter(tx, case, at, lambda _: status_text(_, case, status, note))


async def group(tx: Tx, chat_id: int, text: str, at: str, *, case_id: int | None = None,
                reply_to: int | None = None, evidence: list[dict[str, object]] | None = None,
                holder_only: bool = False) -> None:
    """Plain text to a focal-point or moderators' group (shown literally, never parsed), or
    to each officer of a WhatsApp roster. `holder_only`: case content, sent only if the
    group still holds the case when it goes out."""
    if rosters.is_roster(chat_id):
        await rosters.tell(tx, chat_id, text, at, case_id=case_id, evidence=evidence, holder_only=holder_only)
        return
    payload: dict[str, object] = {"replies": [to_dict(TextReply(text))], "reply_to": reply_to}
    if evidence:
        payload["evidence"] = evidence
    if holder_only:
        payload["holder_only"] = True
    await outbox.enqueue(tx, GROUP_CHANNEL, str(chat_id), "send", payload, at, case_id=case_id)


async def chat_label(tx: Tx, policy: Policy, chat_id: int) -> str:
    """A focal-point group as an alert names it. Alerts to admins (private chats) give its
    chat id; the moderators' group is a group, and a group never reads another group's chat
    id (`flows/staff/audience.py`), so there it is named by its title or its regions."""
    roster = rosters.is_roster(chat_id)  # a roster's id means nothing to anyone: always its name
    if policy.moderator_chat_id is None and not roster:
        return str(chat_id)
    found = await routes.of_chat(tx, chat_id)
    title = next((r.chat_title for r in found if r.chat_title), None)
    label = title or ", ".join(sorted({region_name(r.region_code) for r in found})) or "-"
    return f"WhatsApp: {label}" if roster else label


def staff_gettext(policy: Policy) -> Gettext:
    """Moderators and focal points read the service's default language."""
    return gettext_for(policy.default_locale)


async def moderators(tx: Tx, policy: Policy, at: str, text: str, case_id: int | None = None) -> None:
    """An alert for moderators (written with `staff_gettext`)."""
    chats = policy.alert_chats()
    if not chats:
        log.warning("no moderator chat or admin configured; an alert was not sent")
        return
    for chat_id in chats:
        await group(tx, chat_id, text, at, case_id=case_id)
