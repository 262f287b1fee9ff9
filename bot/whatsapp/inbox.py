"""Processes WhatsApp messages the webhook queued: opt-out keywords, media downloads
(Twilio's media URLs need the account's credentials and may answer 404 for a moment
after the message), then the engine, whose transaction also queues the replies.

Each sender's messages are handled in the order they arrived; different senders run
concurrently. A message is marked done only after the engine has recorded it, so a crash
redoes at most the download, and the engine recognises the update as already processed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.background import BackgroundLoop
from bot.whatsapp.payload import (
    CAPABILITIES,
    CHANNEL,
    OPT_IN,
    OPT_OUT,
    MediaRef,
    TwilioInbound,
    media_kind,
    to_event,
)
from flows.engine import Engine
from flows.events import Inbound, MediaItem
from flows.i18n import N_, gettext_for
from flows.replies import TextReply, to_dict
from storage import contacts, inbound_queue, outbox, updates
from storage.evidence_files import EvidenceStore
from storage.inbound_queue import QueuedInbound

log = logging.getLogger(__name__)
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
DOWNLOAD_TRIES = 4
GIVE_UP_AFTER = 6
"""Rounds after which a file that never arrives is left out (the sender is told)."""


class DownloadFailed(Exception):
    pass


class WhatsAppInbox(BackgroundLoop):
    name = "whatsapp-inbox"

    def __init__(self, engine: Engine, store: EvidenceStore, account_sid: str, auth_token: str, *,
                 poll_seconds: float = 1.0, lease_seconds: float = 120.0, batch: int = 16,
                 retry_pause: float = 0.5, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(poll_seconds)
        self.engine = engine
        self.db = engine.db
        self.store = store
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth_header = {"Authorization": f"Basic {credentials}"}
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.retry_pause = retry_pause
        self.clock = clock
        self.processed = 0
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: set[int] = set()

    async def run_once(self) -> int:
        now = self.clock()
        async with self.db.reading() as tx:
            if not await inbound_queue.has_due(tx, CHANNEL, now.isoformat()):
                return 0
        async with self.db.transaction() as tx:
            due = await inbound_queue.lease_due(tx, CHANNEL, now.isoformat(), (now + self.lease).isoformat(),
                                                self.batch)
        self._in_flight.update(item.id for item in due)
        await asyncio.gather(*(self._process(item) for item in due))
        self._in_flight.difference_update(item.id for item in due)
        return len(due)

    async def stopped(self) -> None:
        if self._in_flight:
            async with self.db.transaction() as tx:
                await inbound_queue.release(tx, sorted(self._in_flight))
            self._in_flight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _process(self, item: QueuedInbound) -> None:
        try:
            await self._handle(item)
        except Exception as exc:  # the message stays queued and is tried again
            pause = min(600.0, self.retry_pause * 2 ** item.attempts)
            log.warning("whatsapp message %s not processed yet (%s); again in %.1fs", item.external_id, exc, pause)
            async with self.db.transaction() as tx:
                await inbound_queue.retry_at(tx, item.id, (self.clock() + timedelta(seconds=pause)).isoformat(),
                                             str(exc)[:500])
            return
        self.processed += 1
        async with self.db.transaction() as tx:
            await inbound_queue.mark_done(tx, item.id)

    async def _handle(self, item: QueuedInbound) -> None:
        message = TwilioInbound.from_form(item.payload)
        at = datetime.fromisoformat(item.received_at)
        if await self._keyword(item, message, at):
            return
        media = await self._download(message, TwilioInbound.media_of(item.payload, message.num_media),
                                     give_up=item.attempts >= GIVE_UP_AFTER)
        if message.num_media and not media and item.attempts >= GIVE_UP_AFTER:
            await self._tell(item, at, N_("Sorry, your file did not reach us. Please send it again."))
            return
        await self.engine.handle(Inbound(CHANNEL, item.address, item.external_id, to_event(message, media), at, None,
                                         caps=CAPABILITIES))

    async def _keyword(self, item: QueuedInbound, message: TwilioInbound, at: datetime) -> bool:
        """STOP/BERHENTI and START/MULAI, and what an opted-out number may still get: True
        when the message was fully handled here."""
        async with self.db.reading() as tx:
            contact = await contacts.get(tx, CHANNEL, item.address)
        opted_out = bool(contact and contact.opted_out_at)
        if message.keyword in OPT_OUT:
            await self._tell(item, at, N_("You will get no more messages from Lapor Netral. "
                                          "Send MULAI if you want them again."), opt="out")
            return True
        if opted_out and message.keyword in OPT_IN:
            await self._tell(item, at, N_("Welcome back. You will get messages from Lapor Netral again."), opt="in")
            return True
        if opted_out:
            await self._tell(item, at, N_("You have stopped messages from Lapor Netral. Send MULAI to use "
                                          "the service again."))
            return True
        return False

    async def _tell(self, item: QueuedInbound, at: datetime, message_id: str, opt: str | None = None) -> None:
        """A channel-level answer (`message_id` marked with N_), outside the report flow;
        claimed like any update."""
        async with self.db.transaction() as tx:
            if await updates.processed_among(tx, [(CHANNEL, item.external_id)]):
                return
            if opt == "out":
                await contacts.opt_out(tx, CHANNEL, item.address, at.isoformat())
            elif opt == "in":
                await contacts.opt_in(tx, CHANNEL, item.address)
            await contacts.seen(tx, CHANNEL, item.address, at.isoformat())
            locale = self.engine.default_locale
            text = gettext_for(locale)(message_id)
            await outbox.enqueue(tx, CHANNEL, item.address, "send",
                                 {"replies": [to_dict(TextReply(text))], "locale": locale,
                                  "even_if_opted_out": True}, at.isoformat())
            await updates.claim_many(tx, [(CHANNEL, item.external_id, at.isoformat())])

    async def _download(self, message: TwilioInbound, refs: list[MediaRef], give_up: bool) -> list[MediaItem]:
        items = []
        for ref in refs:
            kind = media_kind(ref.content_type)
            if kind is None:
                continue  # a voice note: the flow says it cannot use it
            try:
                data = await self._fetch(ref.url)
            except DownloadFailed:
                if give_up:
                    log.error("giving up on %s of message %s", ref.url, message.message_sid)
                    continue
                raise
            stored = await self.store.put(data)
            mime = ref.content_type.split(";")[0].strip() or None
            extension = mimetypes.guess_extension(mime or "") or ""
            items.append(MediaItem(kind, ref.url, None, mime, stored.size, stored.sha256,
                                   f"whatsapp-{stored.sha256[:12]}{extension}"))
        return items

    async def _fetch(self, url: str) -> bytes:
        """GET with the account's credentials, following redirects (aiohttp drops the
        Authorization header when a redirect leaves the origin). A 404 right after the message is
        Twilio not having the file ready yet, so it is retried like a 5xx."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        last = ""
        for attempt in range(DOWNLOAD_TRIES):
            try:
                async with self._session.get(url, headers=self._auth_header, allow_redirects=True) as response:
                    if response.status == 200:
                        if (response.content_length or 0) > MAX_DOWNLOAD_BYTES:
                            raise DownloadFailed("file too large")
                        data = await response.content.read(MAX_DOWNLOAD_BYTES + 1)
                        if len(data) > MAX_DOWNLOAD_BYTES:
                            raise DownloadFailed("file too large")
                        return data
                    last = f"HTTP {response.status}"
                    if response.status not in (404, 408, 429) and response.status < 500:
                        raise DownloadFailed(last)
            except aiohttp.ClientError as exc:
                last = type(exc).__name__
            await asyncio.sleep(self.retry_pause * 2 ** attempt)
        raise DownloadFailed(last)
