"""Work set aside after the process died three times while doing it (no poison pills).

A message or a file that makes the service die every time it is handled would otherwise be
tried again after every restart, and keep the service down for everyone. Work that was in
flight at a crash is counted (`storage.workers`); at the third crash it is not tried again:

- it is recorded without identifiers (`/readyz`'s details, `python -m bot check`);
- moderators are alerted, without anything that identifies the reporter;
- the reporter's conversation stays where it was, and they are told that what they sent
  could not be used and asked to send it another way (or, for a message of ours that could
  not be sent, to send their last answer again).
"""

from __future__ import annotations

import json
import logging

from flows.case import notify
from flows.i18n import N_, gettext_for
from flows.policy import Policy
from flows.replies import TextReply, to_dict
from storage import Tx, cases, contacts, conversations, outbox, privacy, updates, workers
from storage.outbox import Delivery

log = logging.getLogger(__name__)
NOT_USABLE = N_("Sorry, we could not use the message or file you just sent. What you reported so far is kept. "
                "Please send it another way: a smaller file, a screenshot or a link, or type it out.")
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}
NOT_SENT = N_("Sorry, a message we had for you could not be sent. Your report is safe. "
              "Please send your last answer again to continue.")


async def deliveries(tx: Tx, policy: Policy, items: list[Delivery], at: str) -> None:
    """Deliveries that were in flight at `workers.MAX_CRASHES` crashes (already marked failed)."""
    for delivery in items:
        log.error("delivery %s (%s) set aside: the process died %d times while it was being sent",
                  delivery.id, delivery.kind, delivery.crashes)
        await workers.record_set_aside(tx, f"delivery:{delivery.kind}", delivery.channel, delivery.case_id,
                                       delivery.crashes, at)
        to_reporter = "locale" in delivery.payload and delivery.kind == "send" and "staff" not in delivery.payload
        # alerts and group posts carry no locale; a staff answer does, and goes to staff
        case = await cases.get(tx, delivery.case_id) if delivery.case_id else None
        _ = notify.staff_gettext(policy)
        what = _("a message to a reporter") if to_reporter else \
            _("a case card or its files for a focal-point group") if delivery.kind == "post_case" else \
            _("an update of a case card") if delivery.kind == "edit_case" else _("a message to a group or to staff")
        await notify.moderators(tx, policy, at, _alert(_, what, delivery.crashes, case.number if case else None),
                                delivery.case_id)
        if delivery.payload.get("forget_after_send"):
            await privacy.forget_sent(tx, delivery.id)  # the confirmation of an erasure keeps no address
        elif to_reporter:
            locale = str(delivery.payload.get("locale") or policy.default_locale)
            await _tell(tx, delivery.channel, delivery.address, locale, NOT_SENT, at)


async def inbound(tx: Tx, policy: Policy, channel: str, address: str, update_id: str, received_at: str,
                  crashes: int, at: str, locale_hint: str | None = None, *, digest: bytes | None = None) -> None:
    """A message from a reporter whose handling died `crashes` times: recorded as processed
    (a redelivery of it changes nothing; with its `digest`, a replay at any age neither),
    the reporter asked to send it another way, the moderators alerted."""
    log.error("a %s message was set aside: the process died %d times while it was being handled", channel, crashes)
    await workers.record_set_aside(tx, "inbound", channel, None, crashes, at)
    await updates.claim_many(tx, [(channel, update_id, at, digest)])
    await contacts.seen(tx, channel, address, received_at)  # they wrote: WhatsApp's window is open for the answer
    stored = await conversations.load(tx, channel, address)
    locale = _locale_of(stored.data if stored else None) or locale_hint or policy.default_locale
    await _tell(tx, channel, address, locale, NOT_USABLE, at)
    _ = notify.staff_gettext(policy)
    name = CHANNEL_NAMES.get(channel, channel)
    await notify.moderators(tx, policy, at, _alert(_, _("a message from a reporter ({channel})").format(
        channel=name), crashes, None) + " " + _("The reporter was asked to send it another way."))


def _alert(_: notify.Gettext, what: str, crashes: int, number: str | None) -> str:
    text = _("Set aside: the service stopped {count} times while handling {what}. It will not be tried "
             "again.").format(count=crashes, what=what)
    if number:
        text += " " + _("Case {number}: check it with /lihat {number} in a private chat.").format(number=number)
    return text


async def _tell(tx: Tx, channel: str, address: str, locale: str, message_id: str, at: str) -> None:
    text = gettext_for(locale)(message_id)
    await outbox.enqueue(tx, channel, address, "send", {"replies": [to_dict(TextReply(text))], "locale": locale},
                         at, reply=True)


def _locale_of(data: str | None) -> str | None:
    if not data:
        return None
    try:
        locale = json.loads(data).get("locale")
    except (ValueError, AttributeError):
        return None
    return locale if isinstance(locale, str) else None
