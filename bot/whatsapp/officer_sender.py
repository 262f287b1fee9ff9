"""Deliveries to officers of WhatsApp rosters, rendered for WhatsApp: the case card with its
numbered menu and its evidence as media, staff answers (`kasus`, `lihat`, `jejak`), the case
file PDF, one-line news, relayed answers, the invitation. Part of the WhatsApp sender
(`sender.py`): the same outbox, 24-hour window, Retry-After and backoff as for reporters.

Every such message is checked again when it goes out: only an officer who said yes and
still belongs to the roster gets it, and case content only while the roster holds the case.
Files go as WhatsApp media that Twilio fetches from signed, expiring URLs
(`media_links.py`): cleaned copies only, named after the case.

Outside the 24-hour window a new case goes out as the approved template
`TWILIO_CASE_TEMPLATE_SID` (its number, region and kind, with quick replies); without one it
waits for the officer to write, and the moderators are told.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.case_file import ALREADY_SENT, CaseFiles
from bot.delivery import Dropped, Progress, Retry
from bot.plain_text import render, split_text
from bot.whatsapp import officer_text
from bot.whatsapp.media_links import CASE_FILE, EVIDENCE, MediaLinks
from cleaning import Cleaned
from cleaning.stored import cleaned_copy
from flows.case import card, notify, rosters
from flows.case.case_file import Order
from flows.i18n import N_, gettext_for
from flows.policy import Policy
from flows.replies import from_dict
from flows.staff import answers, roster_admin
from flows.staff.audience import Reader
from storage import Database, case_posts, cases, cleaned_files, keys
from storage import rosters as roster_store
from storage.cases import Case, Evidence
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery
from storage.rosters import Member, is_roster

log = logging.getLogger(__name__)
MAX_BODY = 1600
MAX_MEDIA_BYTES = 16 * 1024 * 1024
"""What Twilio sends as WhatsApp media; a bigger cleaned copy is named, not sent."""
WAIT_FOR_WINDOW = timedelta(hours=6)
TEMPLATE_WAIT = "outside the 24-hour window and no case template (TWILIO_CASE_TEMPLATE_SID): waiting for the officer"
LOCATION_HINT = N_("(To send a location, tap 📎 and choose Location.)")


@dataclass(frozen=True, slots=True)
class Part:
    body: str = ""
    media_url: str | None = None


class Send(Protocol):
    async def __call__(self, delivery: Delivery, **content: Any) -> None: ...


class OfficerDeliveries:
    def __init__(self, db: Database, store: EvidenceStore, policy: Policy, links: MediaLinks | None,
                 case_files: CaseFiles, case_template_sid: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.store = store
        self.policy = policy
        self.links = links
        self.case_files = case_files
        self.case_template_sid = case_template_sid
        self.locale = policy.default_locale
        self.clock = clock

    @staticmethod
    def handles(delivery: Delivery) -> bool:
        payload = delivery.payload
        return delivery.kind == "post_case" or any(k in payload for k in (rosters.ROSTER, "staff", "case_file",
                                                                           "invitation"))

    async def deliver(self, send: Send, delivery: Delivery, progress: Progress, in_window: bool,
                      status_template: str | None) -> None:
        payload = delivery.payload
        if delivery.kind == "post_case":
            await self._card(send, delivery, progress, in_window)
            return
        if "invitation" in payload:
            async with self.db.reading() as tx:
                member = await roster_store.member(tx, int(payload["invitation"]))
            if member is None or member.status != "invited" or member.number != delivery.address:
                raise Dropped("the invitation is no longer open")
            parts = self._text_parts(payload)
        elif "staff" in payload:
            parts = await self._staff(delivery)
        elif "case_file" in payload:
            await self._case_file(send, delivery, progress, in_window, status_template)
            return
        else:
            parts = await self._news(delivery)
        await self._send_parts(send, delivery, progress, parts, in_window, status_template)

    async def gone(self, address: str, *, unreachable: bool = False) -> None:
        """Twilio says the number opted out (21610), or (`unreachable`) is no WhatsApp
        number: their membership ends, as with STOP."""
        async with self.db.transaction() as tx:
            await roster_admin.stop(tx, self.policy, address, self.clock().isoformat(), unreachable=unreachable)

    # --- checks -------------------------------------------------------------------------

    async def _officer(self, address: str, chat_id: int) -> Member:
        """The officer this goes to, if they still belong to the roster and said yes."""
        async with self.db.reading() as tx:
            member = await roster_store.member_by_number(tx, address)
        if member is None or not member.active or member.chat_id != chat_id:
            raise Dropped("not an officer of this roster who said yes")
        return member

    async def _holds(self, chat_id: int, case_id: int) -> bool:
        async with self.db.reading() as tx:
            post = await case_posts.in_chat(tx, case_id, chat_id)
        return post is not None and post.active

    # --- the case card --------------------------------------------------------------------

    async def _card(self, send: Send, delivery: Delivery, progress: Progress, in_window: bool) -> None:
        """Part 0 is the card with its menu (it may take several messages), then each piece
        of evidence, then how many files stay with the moderators."""
        assert delivery.case_id is not None and delivery.post_id is not None
        async with self.db.reading() as tx:
            loaded = await card.load(tx, delivery.case_id, delivery.post_id)
        if loaded is None or not loaded[0].active_here:
            raise Dropped("the roster no longer holds the case")
        data, post = loaded
        member = await self._officer(delivery.address, post.chat_id)
        if delivery.progress == 0 and not in_window:
            await self._outside_window(send, delivery, progress, data, member)
            return
        text = officer_text.card_text(data, self.locale, post.chat_id)
        parts = [Part(chunk) for chunk in split_text(text, MAX_BODY)]
        parts += await self._evidence(data.case, list(data.items))
        for index, part in enumerate(parts):
            if index < delivery.progress:
                continue
            try:
                await self._send_part(send, delivery, part)
            except Retry as exc:
                if index == 0 and exc.held == "window":  # Twilio says 63016: the window closed meanwhile
                    await self._outside_window(send, delivery, progress, data, member)
                    return
                raise
            if index == 0:
                await self._shown(member, data.case)
            await progress(index + 1, delivery.id if index == 0 else None)

    async def _outside_window(self, send: Send, delivery: Delivery, progress: Progress, data: card.CardData,
                              member: Member) -> None:
        """The approved case template (number, region, kind and quick replies) stands for
        the card; the officer opens the rest with `lihat`. Without one the card waits for
        the officer to write, and the moderators hear of it (once)."""
        if self.case_template_sid:
            await send(delivery, content_sid=self.case_template_sid, content_variables=json.dumps(
                officer_text.template_variables(data, self.locale), ensure_ascii=False))
            await self._shown(member, data.case)
            await progress(1, delivery.id)
            return
        if delivery.last_error != TEMPLATE_WAIT:
            _ = notify.staff_gettext(self.policy)
            async with self.db.transaction() as tx:
                await notify.moderators(tx, self.policy, self.clock().isoformat(), _(
                    "Case {number} waits for {officer} of {roster} on WhatsApp: their 24-hour window is closed and no "
                    "case template is set up (TWILIO_CASE_TEMPLATE_SID), so the card goes out when they next write. "
                    "Ask them to send any message to the service's number, or set up the template.").format(
                        number=data.case.number, officer=rosters.officer_name(self.locale, member),
                        roster=await notify.chat_label(tx, self.policy, member.chat_id)), data.case.id)
        raise Retry(TEMPLATE_WAIT, WAIT_FOR_WINDOW.total_seconds(), held="template")

    async def _shown(self, member: Member, case: Case) -> None:
        """A bare number the officer sends next applies to this case."""
        async with self.db.transaction() as tx:
            await roster_store.set_last_case(tx, member.id, case.id)

    # --- files -----------------------------------------------------------------------------

    async def _evidence(self, case: Case, items: list[Evidence]) -> list[Part]:
        """Each file's cleaned copy as media at a signed URL, named after the case; files
        that cannot be made safe are counted, never sent."""
        _ = gettext_for(self.locale)
        key = await keys.media_url_key(self.db)
        parts: list[Part] = []
        kept = 0
        for item in (e for e in items if e.is_file):
            cleaned = await cleaned_copy(self.db, self.store, item.sha256, item.mime)
            if not isinstance(cleaned, Cleaned):
                kept += 1
                continue
            caption = _("Evidence {position} of {number}").format(position=item.position, number=case.number)
            if len(cleaned.data) > MAX_MEDIA_BYTES:
                parts.append(Part(_("{caption}: the file is too large for WhatsApp ({size} MB). Open it in the case "
                                    "file or ask a moderator.").format(
                    caption=caption, size=round(len(cleaned.data) / 1024 / 1024, 1))))
                continue
            if self.links is None:  # nothing to serve it from
                parts.append(Part(_("{caption}: files cannot be sent on WhatsApp here (PUBLIC_BASE_URL is not "
                                    "set). Ask a moderator.").format(caption=caption)))
                continue
            name = f"{case.number}-bukti-{item.position}{cleaned.extension or '.bin'}"
            sha = await self._copy_sha(item.sha256) or hashlib.sha256(cleaned.data).hexdigest()
            parts.append(Part(caption, self.links.url(key, EVIDENCE, sha, name)))
        if kept:
            parts.append(Part(_(
                "Case {number}: {count} file(s) kept for moderators. They cannot be made safe to forward "
                "(they could identify the reporter); moderators can view them with /lihat {number} in a "
                "private chat with the bot.").format(number=case.number, count=kept)))
        return parts

    async def _copy_sha(self, original: str | None) -> str | None:
        """The cleaned copy's SHA-256 as recorded (hashing megabytes again per officer is waste)."""
        if not original:
            return None
        async with self.db.reading() as tx:
            known = await cleaned_files.get(tx, original)
        return known.clean_sha256 if known else None

    async def _case_file(self, send: Send, delivery: Delivery, progress: Progress, in_window: bool,
                         status_template: str | None) -> None:
        """Generated when it goes out (its hash recorded in the case's trail), put where the
        signed URL serves it from, then sent as a document."""
        order = Order.from_dict(delivery.payload["case_file"])
        if order.audience.chat_id is not None and is_roster(order.audience.chat_id):
            await self._officer(delivery.address, order.audience.chat_id)
        if not in_window:
            raise Retry("outside the 24-hour window: waiting for the officer to write", WAIT_FOR_WINDOW.total_seconds(),
                        held="window")
        _ = gettext_for(self.locale)
        if self.links is None:
            raise Dropped("no PUBLIC_BASE_URL to serve the case file from")
        made = await self.case_files.for_delivery(delivery.id, order)
        if made == ALREADY_SENT:
            return
        if made is None or isinstance(made, str):
            await self._send_parts(send, delivery, progress, [Part(_(
                "The case file could not be made: this case is not (or no longer) assigned to this chat."))],
                in_window, status_template)
            return
        stored = await self.store.put(made.data)  # an orphan: the hourly sweep takes it once its URL has expired
        self.store.release([stored.sha256])
        key = await keys.media_url_key(self.db)
        caption = _("Case file {number} · SHA-256 {sha256}").format(number=made.number, sha256=made.sha256)
        url = self.links.url(key, CASE_FILE, made.sha256, made.file_name)
        await send(delivery, body=caption, media_url=[url])
        await self.case_files.done(delivery.id)
        await progress(1, None)

    # --- answers and news -------------------------------------------------------------------

    async def _staff(self, delivery: Delivery) -> list[Part]:
        """A staff answer: shown only while the roster holds the case it is about."""
        staff: dict[str, Any] = delivery.payload["staff"]
        audience = answers.audience_of(staff)
        if audience is not None and is_roster(audience.chat_id):
            await self._officer(delivery.address, audience.chat_id)
            if staff.get("holds") is not None and not await self._holds(audience.chat_id, int(staff["holds"])):
                raise Dropped("the roster no longer holds the case")
        locale = str(delivery.payload.get("locale") or self.locale)
        parts = [Part(chunk) for chunk in split_text(officer_text.staff_text(staff, locale), MAX_BODY)]
        if staff.get("evidence") is not None and audience is not None:
            async with self.db.reading() as tx:
                case = await cases.get(tx, int(staff["evidence"]))
                items = await cases.evidence_of(tx, case.id) if case else []
            if case is not None and (audience.reader != Reader.GROUP or await self._holds(audience.chat_id, case.id)):
                parts += await self._evidence(case, items)
        return parts

    async def _news(self, delivery: Delivery) -> list[Part]:
        """A line for the roster (a colleague acted, a reminder) or a relayed answer with
        its files: only while the officer belongs to it and, for case content, while the
        roster holds the case."""
        payload = delivery.payload
        chat_id = int(payload[rosters.ROSTER])
        await self._officer(delivery.address, chat_id)
        if payload.get("holder_only") and delivery.case_id is not None \
                and not await self._holds(chat_id, delivery.case_id):
            raise Dropped("the roster no longer holds the case")
        parts = self._text_parts(payload)
        evidence = payload.get("evidence") or []
        if evidence and delivery.case_id is not None:
            async with self.db.reading() as tx:
                case = await cases.get(tx, delivery.case_id)
            if case is not None:
                parts += await self._evidence(case, [_loose(case.id, n, e) for n, e in enumerate(evidence, start=1)])
        return parts

    def _text_parts(self, payload: dict[str, Any]) -> list[Part]:
        locale = str(payload.get("locale") or self.locale)
        text = "\n\n".join(render(from_dict(r), locale, LOCATION_HINT) for r in payload.get("replies", []))
        return [Part(chunk) for chunk in split_text(text, MAX_BODY)]

    async def _send_parts(self, send: Send, delivery: Delivery, progress: Progress, parts: list[Part],
                          in_window: bool, status_template: str | None) -> None:
        """Outside the window: text alone goes as the status template, if there is one;
        anything else waits for the officer to write."""
        if not in_window:
            if status_template and all(p.media_url is None for p in parts):
                text = "\n\n".join(p.body for p in parts)
                await send(delivery, content_sid=status_template,
                           content_variables=json.dumps({"1": text[:1000]}, ensure_ascii=False))
                await progress(len(parts), None)
                return
            raise Retry("outside the 24-hour window: waiting for the officer to write", WAIT_FOR_WINDOW.total_seconds(),
                        held="window")
        for index, part in enumerate(parts):
            if index < delivery.progress:
                continue
            await self._send_part(send, delivery, part)
            await progress(index + 1, None)

    @staticmethod
    async def _send_part(send: Send, delivery: Delivery, part: Part) -> None:
        if part.media_url:
            await send(delivery, body=part.body, media_url=[part.media_url])
        else:
            await send(delivery, body=part.body)


def _loose(case_id: int, position: int, item: dict[str, Any]) -> Evidence:
    size = item.get("size")
    return Evidence(0, case_id, int(item.get("position") or position), str(item["kind"]), str(item["ref"]),
                    item.get("unique_ref"), item.get("mime"), size if isinstance(size, int) else None,
                    item.get("sha256"), item.get("file_name"), "")

