"""A staff answer (to a command or a button) is an outbox message to the chat where it was
asked, written in the same transaction as what the command changed. The channel's sender
renders it (on Telegram: text with buttons, a chart, export files, a case's evidence) and
the delivery worker retries it like any other message, in the chat's order: a failed send
or a crash delays an answer, never loses it.

The payload names what to show, not how: `{"staff": {"text", "buttons", "chart", "export",
"evidence", "ask", "holds"}, "reply_to", "edit", "locale"}`. Nothing here knows a channel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flows.staff.audience import Audience, Reader
from flows.staff.buttons import Button
from storage import Tx, outbox
from storage.case_queries import CaseFilter, Counts
from storage.cases import Case
from storage.database import utc
from storage.outbox import Delivery


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an answer goes: the chat, the message it answers, and the message a pressed
    button was on (which the answer may replace)."""

    channel: str
    address: str
    reply_to: int | None = None
    edit: int | None = None
    private: bool = False
    """A private chat: the answer is a reply to the one person waiting for it, sent before
    news and group posts (`outbox.REPLY`); in a group it is a post like any other (and
    keeps to the group's rate)."""


@dataclass(frozen=True, slots=True)
class StaffReply:
    """What a staff command or button answers: text (with buttons), and possibly a chart,
    an export or a case's evidence, all of it for `audience` (everyone in the chat where it
    was asked)."""

    text: str
    chart: Counts | None = None
    chart_title: str | None = None
    export: CaseFilter | None = None
    export_identity: bool = False
    evidence_of: Case | None = None
    """A case whose evidence follows the text, as `audience` may receive it."""
    audience: Audience | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    holds: int | None = None
    """A case the answer shows: a group gets it only if it still holds the case when it goes."""
    ask: dict[str, Any] | None = None
    """The answer asks for a reply (to this message); the channel records the question it
    sent: `{"case_id", "action", "by"}` (`flows/staff/desk.py`)."""


def to_payload(answer: StaffReply, destination: Destination, locale: str, timezone: str) -> dict[str, Any]:
    staff: dict[str, Any] = {"text": answer.text}
    if answer.buttons:
        staff["buttons"] = [[[b.label, b.action] for b in row] for row in answer.buttons]
    if answer.chart is not None:
        c = answer.chart
        staff["chart"] = {"title": answer.chart_title or "", "total": c.total, "by_region": c.by_region,
                          "by_type": c.by_type, "by_status": c.by_status}
    if answer.export is not None:
        e = answer.export
        staff["export"] = {"filter": [e.status, e.region_code, e.incident_type, e.since, e.until, e.chat_id],
                           "identity": answer.export_identity}
    if answer.evidence_of is not None and answer.audience is not None:
        staff["evidence"] = answer.evidence_of.id
    if answer.audience is not None:
        staff["audience"] = [answer.audience.chat_id, answer.audience.reader.value]
    if answer.holds is not None and answer.audience is not None and answer.audience.reader == Reader.GROUP:
        staff["holds"] = answer.holds
    if answer.ask is not None:
        staff["ask"] = answer.ask
    return {"staff": staff, "reply_to": destination.reply_to, "edit": destination.edit, "locale": locale,
            "timezone": timezone}


def chart_of(staff: dict[str, Any]) -> tuple[Counts, str] | None:
    data = staff.get("chart")
    if not data:
        return None
    pairs = {key: [(str(k), int(n)) for k, n in data[key]] for key in ("by_region", "by_type", "by_status")}
    return Counts(int(data["total"]), **pairs), str(data["title"])


def export_of(staff: dict[str, Any]) -> tuple[CaseFilter, bool] | None:
    data = staff.get("export")
    if not data:
        return None
    return CaseFilter(*data["filter"]), bool(data["identity"])


def audience_of(staff: dict[str, Any]) -> Audience | None:
    data = staff.get("audience")
    return Audience(int(data[0]), Reader(data[1])) if data else None


def buttons_of(staff: dict[str, Any]) -> list[list[Button]]:
    return [[Button(str(label), str(action)) for label, action in row] for row in staff.get("buttons") or ()]


async def reserve(tx: Tx, destination: Destination, at: str, lease_until: str | None,
                  worker: str | None = None) -> Delivery:
    """The answer's place in the chat's order, taken before the command's effects queue
    anything for the same chat (a case file ordered with `/berkas` comes after the answer
    that says it is coming). Leased to the caller (the process's delivery worker, `worker`)
    when nothing older waits for the chat and the channel asked for no pause (a Retry-After
    floor), so the channel can send it right after the commit; else the worker sends it in
    order. `fill` gives it its content, in the same transaction."""
    if lease_until is not None:
        delivery = await outbox.enqueue_to_send_now(tx, destination.channel, destination.address, {}, at, lease_until,
                                                    worker, reply=destination.private)
        if not delivery.leased:  # an older message (maybe in backoff) goes first, now
            await outbox.wake_address(tx, destination.channel, destination.address, at)
        return delivery
    delivery_id = await outbox.enqueue(tx, destination.channel, destination.address, "send", {}, at,
                                       reply=destination.private)
    return Delivery(delivery_id, destination.channel, destination.address, "send", {}, None, None, "pending", 0, 0,
                    utc(at), None, utc(at))


async def fill(tx: Tx, delivery: Delivery, answer: StaffReply, destination: Destination, locale: str,
               timezone: str) -> Delivery:
    payload = to_payload(answer, destination, locale, timezone)
    await outbox.set_payload(tx, delivery.id, payload)
    return replace(delivery, payload=payload)


async def queue(tx: Tx, answer: StaffReply, destination: Destination, at: str, locale: str, timezone: str,
                lease_until: str | None, worker: str | None = None) -> Delivery:
    return await fill(tx, await reserve(tx, destination, at, lease_until, worker), answer, destination, locale,
                      timezone)
