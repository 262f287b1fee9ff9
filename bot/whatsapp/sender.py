"""Sends outbox deliveries to WhatsApp through Twilio's REST API.

WhatsApp lets a business write freely only within 24 hours of the person's last message.
Outside that window a message goes out as the approved template `TWILIO_STATUS_TEMPLATE_SID`
(its variable 1 carries the text) or, with no template, waits until the person writes
again (the engine then makes it due at once). An opted-out number gets nothing, except
the confirmation of the opt-out itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.delivery import Dropped, Gone, Progress, Rejected, Retry
from bot.plain_text import render, split_text
from bot.whatsapp.twilio_api import RetryAfter
from flows.i18n import N_
from flows.replies import from_dict
from storage import Database, contacts
from storage.outbox import Delivery

if TYPE_CHECKING:
    from bot.whatsapp.officer_sender import OfficerDeliveries

log = logging.getLogger(__name__)
MAX_BODY = 1600
WINDOW = timedelta(hours=24)
WAIT_FOR_WINDOW = timedelta(hours=6)
LOCATION_HINT = N_("(To send a location, tap 📎 and choose Location.)")
OUTSIDE_WINDOW = 63016
OPTED_OUT = 21610
RATE_LIMITED = 63018
"""Twilio: the rate limit of the sender or the channel was exceeded."""
GONE_CODES = frozenset({21211, OPTED_OUT, 63003, 63024})  # invalid number, unsubscribed, not on WhatsApp


class WhatsAppSender:
    def __init__(self, client: Client, db: Database, from_number: str, template_sid: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 officers: OfficerDeliveries | None = None) -> None:
        """`officers`: renders what goes to officers of WhatsApp rosters (cards, answers, files)."""
        self.client = client
        self.db = db
        self.from_number = from_number if from_number.startswith("whatsapp:") else f"whatsapp:{from_number}"
        self.template_sid = template_sid
        self.clock = clock
        self.officers = officers

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        payload = delivery.payload
        async with self.db.reading() as tx:
            contact = await contacts.get(tx, delivery.channel, delivery.address)
        if contact and contact.opted_out_at and not payload.get("even_if_opted_out"):
            raise Dropped("opted out")
        in_window = bool(contact and contact.last_inbound_at
                         and self.clock() - datetime.fromisoformat(contact.last_inbound_at) < WINDOW)
        if self.officers is not None and self.officers.handles(delivery):
            try:
                await self.officers.deliver(self._send, delivery, progress, in_window, self.template_sid)
            except Gone as exc:  # opted out (as STOP) or no WhatsApp number: the officer leaves the roster
                await self.officers.gone(delivery.address, unreachable=not str(exc).startswith(f"twilio {OPTED_OUT}:"))
                raise
            return
        if delivery.kind != "send":
            raise Rejected(f"{delivery.kind} cannot go to WhatsApp")
        locale = str(payload.get("locale") or "id")
        text = "\n\n".join(render(from_dict(r), locale, LOCATION_HINT) for r in payload.get("replies", []))
        if not in_window:
            if not self.template_sid:
                raise Retry("outside the 24-hour window: waiting for the person to write",
                            WAIT_FOR_WINDOW.total_seconds(), held="window")
            await self._send(delivery, content_sid=self.template_sid,
                             content_variables=json.dumps({"1": text[:1000]}, ensure_ascii=False))
            await progress(1, None)
            return
        for index, body in enumerate(split_text(text, MAX_BODY)):
            if index < delivery.progress:
                continue
            await self._send(delivery, body=body)
            await progress(index + 1, None)

    async def _send(self, delivery: Delivery, **content: Any) -> None:
        to = f"whatsapp:{delivery.address}"
        try:
            await self.client.messages.create_async(from_=self.from_number, to=to, **content)
        except RetryAfter as exc:  # as Telegram's retry_after: wait as long as told, and send nothing else meanwhile
            raise Retry(str(exc), exc.seconds, floor=exc.status == 429) from exc
        except TwilioRestException as exc:
            if exc.status == 429 or exc.code == RATE_LIMITED:  # too fast for this number: a floor, with our backoff
                raise Retry(f"twilio {exc.status} {exc.code or ''}".strip(), floor=True) from exc
            if exc.status >= 500:
                raise Retry(f"twilio {exc.status}") from exc
            if exc.code == OUTSIDE_WINDOW:
                raise Retry("outside the 24-hour window", WAIT_FOR_WINDOW.total_seconds(), held="window") from exc
            if exc.code in GONE_CODES:
                raise Gone(f"twilio {exc.code}: {exc.msg}") from exc
            raise Rejected(f"twilio {exc.status} {exc.code}: {exc.msg}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"network: {type(exc).__name__}") from exc
