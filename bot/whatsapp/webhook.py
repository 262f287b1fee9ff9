"""`POST /twilio/whatsapp`: Twilio's signature is checked first, against the public URL
(behind a proxy the configured `PUBLIC_BASE_URL` is what Twilio signed); the message is
queued and answered with empty TwiML at once. Processing happens in `inbox.py`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from bot.web import Handler
from bot.whatsapp.payload import CHANNEL, MAX_BODY, MAX_MEDIA, REFUSED_FIELD, TwilioInbound
from cleaning import links
from storage import Database, inbound_queue, keys, updates

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
KEPT_FIELDS = ("MessageSid", "From", "Body", "NumMedia", "Latitude", "Longitude", "MessageType", "Forwarded",
               "FrequentlyForwarded", "ButtonPayload",
               *(f"MediaUrl{n}" for n in range(MAX_MEDIA)), *(f"MediaContentType{n}" for n in range(MAX_MEDIA)))
"""What is stored of a request: not `ProfileName` (the reporter's WhatsApp name) nor
anything else we do not use. The body's links are cleaned of their share parameters before
it is queued; a share link that must be followed (`vm.tiktok.com/…`) stays in the queue only
until the message is processed, when the row is deleted."""


def handler(db: Database, auth_token: str, public_base_url: str) -> Handler:
    validator = RequestValidator(auth_token)
    base = public_base_url.rstrip("/")

    async def whatsapp_webhook(request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return web.Response(status=415, text="form expected")
        try:
            form = await request.post()
        except ValueError as exc:  # not UTF-8, or not a form: input, logged without content
            log.info("WhatsApp webhook body refused: %s", type(exc).__name__)
            return web.Response(status=400, text="bad request")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(base + request.path_qs, form, signature):
            log.warning("WhatsApp webhook with a missing or wrong signature refused")
            return web.Response(status=403, text="forbidden")
        fields = {key: value for key, value in form.items() if isinstance(value, str) and key in KEPT_FIELDS}
        if "://" in fields.get("Body", "") or "." in fields.get("Body", ""):
            fields["Body"] = links.clean_text(fields["Body"])  # the signature was checked on the body as sent
        try:
            message = TwilioInbound.from_form(fields)
        except ValidationError as exc:
            # Signed by Twilio, so a person wrote it: answer them unless we cannot tell who.
            try:
                message = TwilioInbound.from_form({k: fields[k] for k in ("MessageSid", "From") if k in fields})
            except ValidationError:
                log.warning("WhatsApp webhook without a usable sender or message id refused")
                return web.Response(status=400, text="bad request")
            reason = "too_long" if len(fields.get("Body", "")) > MAX_BODY else "unreadable"
            log.info("WhatsApp message refused (%s; fields: %s)", reason,
                     ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})))
            fields = {"MessageSid": message.message_sid, "From": message.sender, REFUSED_FIELD: reason}
        key = await keys.message_digest_key(db)
        async with db.transaction() as tx:
            if await updates.processed_among(tx, [(CHANNEL, message.message_sid)]) or await updates.seen_among(
                    tx, [updates.digest(key, CHANNEL, message.address, message.message_sid)]):
                return web.Response(text=EMPTY_TWIML, content_type="text/xml")  # a replay, at any age: no effect
            await inbound_queue.add(tx, CHANNEL, message.address, message.message_sid, fields,
                                    datetime.now(UTC).isoformat())
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    return whatsapp_webhook
