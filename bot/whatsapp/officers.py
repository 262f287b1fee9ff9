"""Officers of WhatsApp rosters writing to the service: a thin adapter from their messages to
the desk Telegram groups use (`flows/staff/desk.py`, `flows/staff/commands.py`) and to their
consent (`flows/staff/roster_admin.py`). It only reads what an officer typed:

- invited, not yet answered: `ya` (or 1) accepts, `tidak` (or 2) declines; anything else
  brings the invitation again;
- a number 1-7 or an action's word, optionally with a case number (`terima LN-26-7K3Q9`): that
  action on that case, or on the last case shown to them; a quick reply's `ButtonPayload`
  is read the same way;
- after Minta info, Bukan kewenangan or Tolak: the next message is the question, the region
  or the reason (`batal` cancels);
- `kasus`, `lihat LN-…`, `berkas LN-…`, `jejak LN-…`, `bantuan`: the staff commands, for the
  roster's own cases only, as in a focal group;
- a wish to file a report: a short answer that this number is an officer's, and how to
  report from another number or on Telegram (reports from it would land with colleagues).

Every message is claimed once, like every other update (a replay changes nothing), counts
against the sender's flood limit, and opens the 24-hour window for what waits for it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.whatsapp import officer_text
from bot.whatsapp.payload import CHANNEL, TwilioInbound
from flows import matching, menus
from flows.case import card, case_number, notify
from flows.case.rosters import officer_name
from flows.i18n import N_, gettext_for
from flows.policy import Policy
from flows.replies import TextReply, to_dict
from flows.staff import roster_admin
from flows.staff.audience import Audience
from flows.staff.commands import StaffCommands
from flows.staff.desk import Desk, Officer
from storage import Database, Tx, cases, contacts, keys, outbox, routes
from storage import rosters as roster_store
from storage.inbound_queue import QueuedInbound
from storage.rosters import Member

Gate = Callable[[str, str, datetime], Awaitable[str]]
_CASE = re.compile(r"\bLN[\s-]?\d{2}[\s-]?[0-9A-Za-z]{5}\b", re.IGNORECASE)
WORDS: dict[str, str] = {
    "terima": "accept", "accept": "accept", "diterima": "accept",
    "tindak lanjut": "follow_up", "tindaklanjut": "follow_up", "tindak lanjuti": "follow_up", "proses": "follow_up",
    "follow up": "follow_up",
    "selesai": "finish", "done": "finish",
    "bukan kewenangan": "not_ours", "bukan": "not_ours", "bukan wewenang": "not_ours", "not ours": "not_ours",
    "tolak": "reject", "reject": "reject",
    "minta info": "ask", "info": "ask", "tanya": "ask", "ask": "ask",
    "berkas pdf": card.ACTIONS[-1][0], "berkas": card.ACTIONS[-1][0], "pdf": card.ACTIONS[-1][0],
}
"""An action's word as officers type it (the menu's labels, folded, and their short forms)."""
COMMANDS = {"kasus": "kasus", "cases": "kasus", "daftar": "kasus", "lihat": "lihat", "view": "lihat",
            "buka": "lihat", "jejak": "jejak", "trail": "jejak"}
HELP = frozenset({"bantuan", "help", "menu", "?", "halo", "hai", "hi", "hello", "p", "assalamualaikum"})
REPORTING = frozenset({"mulai", "start", "/mulai", "/start", "lapor"} | set(menus.NEW_REPORT))
CHOICE_YES = matching.Candidate(roster_admin.YES, "ya", menus.YES)
CHOICE_NO = matching.Candidate(roster_admin.NO, "tidak", menus.NO)
NOT_UNDERSTOOD = N_("Sorry, I did not understand that.")
NO_FILES = N_("Files sent to this number are not taken: it is an officer's number.")
REPORT_ELSEWHERE = N_(
    "This number is registered as an officer who receives reports, so from it you can only handle cases. To "
    "report something yourself, as a citizen, write to this service from another WhatsApp number or use "
    "Lapor Netral on Telegram: your report is then treated like anyone's, with the same protection of your "
    "identity, and does not land with your colleagues.")


class OfficerDesk:
    def __init__(self, db: Database, policy: Policy, desk: Desk, commands: StaffCommands, gate: Gate) -> None:
        self.db = db
        self.policy = policy
        self.desk = desk
        self.commands = commands
        self.gate = gate
        self.locale = policy.default_locale

    async def member(self, number: str) -> Member | None:
        """The number's membership if it is invited or active (the adapter's to answer)."""
        async with self.db.reading() as tx:
            member = await roster_store.member_by_number(tx, number)
        return member if member is not None and member.status in ("invited", "active") else None

    async def handle(self, item: QueuedInbound, message: TwilioInbound, member: Member, at: datetime) -> None:
        officer = Officer(member, officer_name(self.locale, member))
        verdict = await self.gate(CHANNEL, item.address, at)
        stamp = at.isoformat()
        if verdict != "ok":  # counted like anyone's: the first over the limit is told once, the rest dropped
            _ = gettext_for(self.locale)
            text = _("You are sending messages very fast. Please wait a minute, then send your last answer again.")
            if verdict == "warn":
                await self.desk.officer_say(item.external_id, officer, text, stamp)
            return
        async with self.db.transaction() as tx:  # the officer wrote: the window opens, what waited goes now
            await contacts.seen(tx, CHANNEL, item.address, stamp)
            await outbox.wake_address(tx, CHANNEL, item.address, stamp)
        typed = (message.button_payload or message.body).strip()
        if member.status == "invited":
            await self._consent(item, officer, typed, stamp)
            return
        if member.prompt_action is not None and not message.num_media:
            await self.desk.officer_input(item.external_id, officer, typed, stamp)
            return
        await self._act(item, officer, message, typed, stamp)

    async def _act(self, item: QueuedInbound, officer: Officer, message: TwilioInbound, typed: str, at: str) -> None:
        _ = gettext_for(self.locale)
        if message.num_media:
            await self.desk.officer_say(item.external_id, officer, _(NO_FILES) + " " + _(REPORT_ELSEWHERE), at)
            return
        found = _CASE.search(typed)
        number = case_number.normalize(found.group(0)) if found else None
        head = " ".join((_CASE.sub(" ", typed) if found else typed).casefold().split()).strip(" .!:")
        first, _sep, rest = head.partition(" ")
        if head.isdecimal() and len(head) <= 2 and 1 <= int(head) <= len(card.ACTIONS):  # not "²" (isdigit)
            await self.desk.officer_act(item.external_id, officer, card.ACTIONS[int(head) - 1][0], number, at)
        elif head in WORDS:
            await self.desk.officer_act(item.external_id, officer, WORDS[head], number, at)
        elif first in COMMANDS or (not head and number):
            name = COMMANDS.get(first, "lihat")
            args = rest if name == "kasus" else number or await self._last_case(officer) or ""
            if name == "lihat" and args:
                await self._shown(officer, args)
            await self.commands.answer(officer.caller, name, args, item.external_id, at, officer.destination)
        elif head in REPORTING:
            await self.desk.officer_say(item.external_id, officer, _(REPORT_ELSEWHERE), at)
        else:
            known = head in HELP
            text = officer_text.help_text(self.locale, officer.name, await self._title(officer))
            await self.desk.officer_say(item.external_id, officer, text if known else _(NOT_UNDERSTOOD) + "\n\n" + text,
                                        at)

    async def _consent(self, item: QueuedInbound, officer: Officer, typed: str, at: str) -> None:
        """Yes, no, or the invitation again."""
        answer = {"1": roster_admin.YES, "2": roster_admin.NO}.get(typed.strip(" .")) or \
            matching.match(typed, [CHOICE_YES, CHOICE_NO]).one
        _ = gettext_for(self.locale)

        async def work(tx: Tx) -> None:
            member = officer.member
            if answer not in (roster_admin.YES, roster_admin.NO):  # the question again, unless it is on its way
                if not await outbox.waiting_with_key(tx, CHANNEL, member.number, roster_admin.INVITATION_KEY):
                    await roster_admin.invite(tx, self.policy, member, at)
                return
            # the answer to their yes or no: a reply, before the cases it brings
            reserved = await outbox.enqueue(tx, CHANNEL, member.number, "send", {}, at, reply=True)
            text = _("That invitation was already answered.")
            if answer == roster_admin.YES:
                accepted = await roster_admin.accept(tx, self.policy, member, at)
                regions = ", ".join(sorted({r for r in await _regions(tx, member.chat_id)})) or "-"
                if accepted:
                    text = _("Thank you. This number now receives the reports for {regions}. Each case comes with a "
                             "numbered menu: reply with the number (it applies to the last case you were shown), or "
                             "with the word and the case number, for example \"terima LN-24-7K3Q9\". Send "
                             "\"bantuan\" for the list, and STOP to leave.").format(regions=regions)
                if accepted and accepted[1]:
                    text += "\n\n" + _("Cases that were waiting for an officer are on their way: {numbers}").format(
                        numbers=", ".join(accepted[1]))
            elif await roster_admin.decline(tx, self.policy, member, at):
                text = _("All right: this number will not receive reports. If that was a mistake, ask the "
                         "administrator who added you to add it again.")
            await outbox.set_payload(tx, reserved, {"replies": [to_dict(TextReply(text))], "locale": self.locale})

        key = await keys.message_digest_key(self.db)
        async with self.db.transaction() as tx:
            if await Desk.claim(tx, officer.chat_id, item.external_id, at, key, officer.via):
                await work(tx)

    async def _last_case(self, officer: Officer) -> str | None:
        async with self.db.reading() as tx:
            member = await roster_store.member(tx, officer.member.id)
            case = await cases.get(tx, member.last_case_id) if member and member.last_case_id else None
        return case.number if case else None

    async def _shown(self, officer: Officer, number: str) -> None:
        """`lihat` shows the case: a bare number next applies to it (if the roster holds it)."""
        async with self.db.transaction() as tx:
            case = await cases.by_number(tx, number)
            if case is not None and await Audience.group(officer.chat_id).holds(tx, case.id):
                await roster_store.set_last_case(tx, officer.member.id, case.id)

    async def _title(self, officer: Officer) -> str:
        async with self.db.reading() as tx:
            roster = await roster_store.get(tx, officer.chat_id)
        return roster.title if roster and roster.title else "-"


async def _regions(tx: Tx, chat_id: int) -> list[str]:
    return [notify.region_name(r.region_code) for r in await routes.of_chat(tx, chat_id) if not r.pending]
