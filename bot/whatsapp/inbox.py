"""Processes WhatsApp messages the webhook queued: opt-out keywords, media downloads
(Twilio's media URLs need the account's credentials and may answer 404 for a moment
after the message; see `media.py`), then the engine, whose transaction also queues the
replies.

Each sender's messages are handled in the order they arrived (only a sender's oldest
pending message is ever leased); different senders run concurrently and independently:
a message is taken as soon as its sender's previous one is done, so one slow download or
one slow number holds up nobody else. A message is removed from the queue only after the
engine has recorded it, so a crash redoes at most the download, and the engine recognises
the update as already processed.

Files are downloaded only for a chat that has agreed to the terms, is under the flood
limit, and is at a step that keeps files, and no more than the draft has room for.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.background import BackgroundLoop
from bot.downloads import DownloadLimits
from bot.whatsapp.media import DownloadFailed, FileTooLarge, MediaFetcher, MediaRules, Refused
from bot.whatsapp.officers import OfficerDesk
from bot.whatsapp.payload import (
    CAPABILITIES,
    CHANNEL,
    OPT_IN,
    OPT_OUT,
    REFUSED_FIELD,
    MediaRef,
    TwilioInbound,
    media_kind,
    to_event,
)
from flows.engine import Engine
from flows.events import Inbound, MediaItem
from flows.i18n import N_, gettext_for
from flows.replies import TextReply, to_dict
from flows.staff import roster_admin
from storage import contacts, conversations, inbound_queue, keys, outbox, updates
from storage.evidence_files import EvidenceStore
from storage.inbound_queue import QueuedInbound

log = logging.getLogger(__name__)
GIVE_UP_AFTER = 6
"""Rounds after which a file that never arrives is left out (the sender is told)."""
NOT_RECEIVED = N_("Sorry, your file did not reach us. Please send it again.")
TOO_LARGE = N_("That file is larger than 20 MB, which is more than we can receive. Nothing of this message "
               "was kept. Please send a smaller file or a link to it.")
TOO_LONG = N_("Your message is too long for us. Please send it in several parts.")
UNREADABLE = N_("Sorry, we could not read that message. Please send it again.")


class _Unreceivable(Exception):
    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


class WhatsAppInbox(BackgroundLoop):
    name = "whatsapp-inbox"

    def __init__(self, engine: Engine, store: EvidenceStore, account_sid: str, auth_token: str, *,
                 poll_seconds: float = 1.0, lease_seconds: float = 120.0, concurrency: int = 64,
                 retry_pause: float = 0.5, rules: MediaRules | None = None, limits: DownloadLimits | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), worker_id: str | None = None) -> None:
        """`worker_id`: the id the leases name (the process's delivery worker, whose heartbeat
        tells other workers this one is alive)."""
        super().__init__(poll_seconds)
        self.engine = engine
        self.db = engine.db
        self.store = store
        self.fetcher = MediaFetcher(store, account_sid, auth_token, rules or MediaRules(), limits=limits,
                                    retry_pause=retry_pause)
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self.retry_pause = retry_pause
        self.clock = clock
        self.processed = 0
        self.worker_id = worker_id
        self.officers: OfficerDesk | None = None
        """Officers of WhatsApp rosters (`officers.py`): their messages go to the desk."""
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._downloading: set[int] = set()
        """Messages waiting for their files: they do not take the slots the others are
        handled in (at most `concurrency` of them more)."""
        self._suspect: QueuedInbound | None = None
        """A message that was being handled when a process died twice: handled alone, once
        nothing else is in flight, so that if it kills the process again only it is counted."""
        self._suspect_check = 0.0

    async def run_once(self) -> int:
        """Lease what is due for senders not already in flight, and start each at once;
        a finished message wakes the loop for its sender's next one."""
        if self._alone():
            return 0
        room = min(self.concurrency - (len(self._in_flight) - len(self._downloading)),
                   2 * self.concurrency - len(self._in_flight))
        if room <= 0:
            return 0
        now = self.clock()
        check_suspects = asyncio.get_running_loop().time() >= self._suspect_check
        async with self.db.reading() as tx:
            if not await inbound_queue.has_due(tx, CHANNEL, now.isoformat()):
                return 0

        async def lease() -> list[QueuedInbound]:
            until = (now + self.lease).isoformat()
            async with self.db.transaction() as tx:
                if check_suspects:
                    suspects = await inbound_queue.lease_due(tx, CHANNEL, now.isoformat(), until, 1,
                                                             worker=self.worker_id, suspects=True)
                    if suspects:
                        self._suspect = suspects[0]  # noted at once, so that `stopped` gives it back
                        return suspects
                taken = await inbound_queue.lease_due(tx, CHANNEL, now.isoformat(), until, room,
                                                      worker=self.worker_id)
            for item in taken:  # noted at once, so that `stopped` gives them back
                self._start(item)
            return taken

        due = await self.taking(lease())
        if self._alone():
            return 0
        if check_suspects:
            self._suspect_check = asyncio.get_running_loop().time() + 1.0
        return 0 if len(due) < room else len(due)

    def _alone(self) -> bool:
        """True while a suspect is noted: it is handled once nothing else is in flight, and
        nothing else is leased until it ends."""
        if self._suspect is None:
            return False
        if not self._in_flight:
            self._start(self._suspect)
        return True

    def _start(self, item: QueuedInbound) -> None:
        if item.id in self._in_flight:
            return  # still being handled after its lease ran out: the lease is renewed
        task = asyncio.create_task(self._process(item), name=f"whatsapp-{item.id}")
        self._in_flight[item.id] = task
        task.add_done_callback(functools.partial(self._done, item.id))

    def _done(self, item_id: int, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(item_id, None)
        if self._suspect is not None and self._suspect.id == item_id:
            self._suspect = None
        self.wake()

    async def stopped(self) -> None:
        """Messages cut off midway are given back at once for the next process."""
        leased = sorted(set(self._in_flight) | ({self._suspect.id} if self._suspect else set()))
        self._suspect = None
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if leased:
            async with self.db.transaction() as tx:
                await inbound_queue.release(tx, leased)
        self._in_flight.clear()
        await self.fetcher.close()

    async def _process(self, item: QueuedInbound) -> None:
        try:
            await self._handle(item)
        except Exception as exc:  # the message stays queued and is tried again
            pause = min(600.0, self.retry_pause * 2 ** item.attempts)
            log.warning("whatsapp message %s not processed yet (%s); again in %.1fs", item.id,
                        type(exc).__name__, pause)
            async with self.db.transaction() as tx:
                await inbound_queue.retry_at(tx, item.id, (self.clock() + timedelta(seconds=pause)).isoformat(),
                                             type(exc).__name__)
            return
        self.processed += 1
        async with self.db.transaction() as tx:
            await inbound_queue.mark_done(tx, item.id)

    async def _handle(self, item: QueuedInbound) -> None:
        at = datetime.fromisoformat(item.received_at)
        refused = item.payload.get(REFUSED_FIELD)
        if refused:
            await self._tell(item, at, TOO_LONG if refused == "too_long" else UNREADABLE)
            return
        message = TwilioInbound.from_form(item.payload)
        if await self._keyword(item, message, at):
            return
        member = await self.officers.member(item.address) if self.officers is not None else None
        if member is not None:  # an officer of a roster: the desk, not the report flow
            assert self.officers is not None
            await self.officers.handle(item, message, member, at)
            return
        refs = TwilioInbound.media_of(item.payload, message.num_media)
        try:
            media = await self._download(item, refs, at, give_up=item.attempts >= GIVE_UP_AFTER)
        except _Unreceivable as exc:
            await self._tell(item, at, exc.message_id)
            return
        if message.num_media and not media and item.attempts >= GIVE_UP_AFTER:
            await self._tell(item, at, NOT_RECEIVED)
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
        claimed like any update, in the person's language when we know it."""
        key = await keys.message_digest_key(self.db)
        remembered = updates.digest(key, CHANNEL, item.address, item.external_id)
        async with self.db.transaction() as tx:
            if await updates.processed_among(tx, [(CHANNEL, item.external_id)]) or await updates.seen_among(
                    tx, [remembered]):
                return
            if opt == "out":
                await contacts.opt_out(tx, CHANNEL, item.address, at.isoformat())
                await roster_admin.stop(tx, self.engine.policy, item.address, at.isoformat())  # an officer leaves
            elif opt == "in":
                await contacts.opt_in(tx, CHANNEL, item.address)
            await contacts.seen(tx, CHANNEL, item.address, at.isoformat())
            stored = await conversations.load(tx, CHANNEL, item.address)
            locale = _locale_of(stored) or self.engine.default_locale
            text = gettext_for(locale)(message_id)
            await outbox.enqueue(tx, CHANNEL, item.address, "send",
                                 {"replies": [to_dict(TextReply(text))], "locale": locale,
                                  "even_if_opted_out": True}, at.isoformat(), reply=True)
            await updates.claim_many(tx, [(CHANNEL, item.external_id, at.isoformat(), remembered)])

    async def _download(self, item: QueuedInbound, refs: list[MediaRef], at: datetime,
                        give_up: bool) -> list[MediaItem]:
        """The message's files that may be kept, stored whole; the rest as bare references
        (the flow then says they were not kept). Nothing is downloaded for a chat that has
        not agreed, is over the flood limit, or is not at a step that keeps files."""
        usable = [ref for ref in refs if media_kind(ref.content_type) is not None]  # no contact cards
        room = await self.engine.file_room(CHANNEL, item.address, at) if usable else 0
        items: list[MediaItem] = []
        stored_shas: list[str] = []
        try:
            for ref in usable:
                kind = media_kind(ref.content_type)
                assert kind is not None
                mime = ref.content_type.split(";")[0].strip() or None
                if len(stored_shas) >= room:
                    items.append(MediaItem(kind, ref.url, None, mime))
                    continue
                self._downloading.add(item.id)
                self.wake()  # a slot is free for another number meanwhile
                try:
                    stored = await self.fetcher.fetch(ref.url)
                except FileTooLarge as exc:
                    raise _Unreceivable(TOO_LARGE) from exc
                except Refused as exc:
                    log.warning("a media download of whatsapp message %s was refused: %s", item.id, exc)
                    raise _Unreceivable(NOT_RECEIVED) from exc
                except DownloadFailed:
                    if give_up:
                        log.error("giving up on a file of whatsapp message %s", item.id)
                        continue
                    raise
                finally:
                    self._downloading.discard(item.id)
                stored_shas.append(stored.sha256)
                extension = mimetypes.guess_extension(mime or "") or ""
                items.append(MediaItem(kind, ref.url, None, mime, stored.size, stored.sha256,
                                       f"whatsapp-{stored.sha256[:12]}{extension}"))
        except BaseException:
            self.engine.drop_files(stored_shas)  # nothing of this message is kept
            raise
        return items


def _locale_of(stored: conversations.StoredConversation | None) -> str | None:
    if stored is None:
        return None
    import json

    try:
        locale = json.loads(stored.data).get("locale")
    except ValueError:
        return None
    return locale if isinstance(locale, str) else None
