"""The focal-point desk: what officers and moderators do in Telegram groups, durably.

Each group update is claimed as processed in the same transaction as what it changes,
like a reporter's step, so a redelivered press or reply does nothing twice. The Telegram
adapter (`bot/telegram/focal.py`) turns updates into these calls and sends the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from flows.case import case_file, case_number, forwarding, inquiry, lifecycle, notify, rosters
from flows.case.case_text import status_label
from flows.case.lifecycle import Actor, Outcome
from flows.policy import Policy
from flows.staff import answers, route_admin
from flows.staff.answers import Destination, StaffReply
from flows.staff.audience import Audience
from flows.staff.roles import Caller
from flows.staff.visibility import Viewer, may_see
from storage import Database, Tx, case_posts, cases, group_prompts, keys, updates
from storage import rosters as roster_store
from storage.cases import Case
from storage.outbox import Delivery
from storage.rosters import Member

T = TypeVar("T")
CHANNEL = "telegram"


@dataclass(frozen=True, slots=True)
class DeskReply:
    """`text` for the person who acted (a toast for a press, a message for a reply);
    `prompt`: the question asking them for input (a reply to it), queued in the outbox
    with the press; `delivery`: the queued message, for the channel to send at once."""

    text: str | None
    prompt: str | None = None
    duplicate: bool = False
    delivery: Delivery | None = None


@dataclass(frozen=True, slots=True)
class Officer:
    """An officer of a WhatsApp roster, acting from their own number: in the roster as a
    member acts in a group (the audience is the roster's), answered on their number."""

    member: Member
    name: str

    @property
    def chat_id(self) -> int:
        return self.member.chat_id

    @property
    def actor(self) -> Actor:
        return Actor(self.member.ref, self.name)

    @property
    def caller(self) -> Caller:
        return Caller(self.member.id, self.name, self.member.chat_id, True, officer=True, address=self.member.number)

    @property
    def via(self) -> tuple[str, str]:
        return rosters.CHANNEL, self.member.number

    @property
    def destination(self) -> Destination:
        """Their own number: an answer to what they typed is a reply (`outbox.REPLY`), as in a
        private chat; what the roster gets unasked (cards, colleagues' lines) is not."""
        return Destination(rosters.CHANNEL, self.member.number, private=True)


class Desk:
    def __init__(self, db: Database, policy: Policy, lease_seconds: float | None = None,
                 worker_id: str | None = None) -> None:
        """`lease_seconds`: answers are leased to the channel, which sends them right after
        the commit, under leases that name `worker_id` (see `StaffCommands`)."""
        self.db = db
        self.policy = policy
        self._ = notify.staff_gettext(policy)
        self.lease = timedelta(seconds=lease_seconds) if lease_seconds else None
        self.worker_id = worker_id

    async def _queue(self, tx: Tx, reply: StaffReply, destination: Destination, at: str) -> Delivery:
        lease_until = (datetime.fromisoformat(at) + self.lease).isoformat() if self.lease else None
        return await answers.queue(tx, reply, destination, at, self.policy.default_locale, self.policy.timezone,
                                   lease_until, self.worker_id)

    async def _once(self, chat_id: int, update_id: str, at: str, work: Callable[[Tx], Awaitable[T]],
                    via: tuple[str, str] | None = None) -> T | None:
        """Run `work` unless this update was processed before; claim it in the same transaction."""
        key = await keys.message_digest_key(self.db)
        async with self.db.transaction() as tx:
            if not await self.claim(tx, chat_id, update_id, at, key, via):
                return None
            return await work(tx)

    async def digest_key(self) -> keys.DigestKey:
        return await keys.message_digest_key(self.db)

    @staticmethod
    async def claim(tx: Tx, chat_id: int, update_id: str, at: str, key: keys.DigestKey,
                    via: tuple[str, str] | None = None) -> bool:
        """Record the update as processed; False if it already was (a redelivery, or a
        replay at any age), also when another worker is handling the same update now.
        `via`: the channel and address it came from when not a Telegram chat (an officer's
        WhatsApp number: claimed as that channel's messages are, so a replay is known)."""
        channel, address = via or (CHANNEL, str(chat_id))
        return await updates.claim(tx, channel, update_id, at, updates.digest(key, channel, address, update_id))

    # --- buttons on a case --------------------------------------------------------------

    async def press(self, update_id: str, chat_id: int, case_id: int, action: str, actor: Actor,
                    at: str, card_message_id: int | None = None) -> DeskReply:
        """A button on a case card. An action that needs input queues its question (a reply
        to the card) with the press: the channel records it once sent (`ask`)."""
        _ = self._

        async def work(tx: Tx) -> DeskReply:
            if action == case_file.ACTION:
                return await self._order_case_file(tx, chat_id, case_id, actor, at)
            if action in lifecycle.NEEDS_INPUT:
                verdict = await lifecycle.check(tx, case_id, chat_id, action)
                if not verdict.ok or verdict.case is None:
                    return DeskReply(self.problem(verdict))
                number = verdict.case.number
                prompt = {
                    "ask": _("Case {number}: reply to this message with your question for the reporter. "
                             "They will not see who asked."),
                    "not_ours": _("Case {number}: reply to this message with the region that should "
                                  "handle it (a code such as 51.03 or a name such as \"Kab Badung\")."),
                    "reject": _("Case {number}: reply to this message with the reason for rejecting it. "
                                "The reporter will see the reason."),
                }[action].format(number=number)
                question = StaffReply(prompt, audience=Audience.group(chat_id), holds=case_id,
                                      ask={"case_id": case_id, "action": _PROMPT_ACTION[action], "by": actor.ref})
                delivery = await self._queue(tx, question, Destination(CHANNEL, str(chat_id), card_message_id), at)
                return DeskReply(_("Reply to the bot's message below."), prompt=prompt, delivery=delivery)
            verdict = await lifecycle.change_status(tx, self.policy, case_id, chat_id, action, actor, at)
            return DeskReply(self._done(verdict) if verdict.ok else self.problem(verdict))

        return await self._once(chat_id, update_id, at, work) or DeskReply(None, duplicate=True)

    async def _order_case_file(self, tx: Tx, chat_id: int, case_id: int, actor: Actor, at: str) -> DeskReply:
        """"Berkas PDF": the file for this group (so never a confidential identity), sent
        here as a reply to the card by the delivery worker."""
        _ = self._
        case = await cases.get(tx, case_id)
        post = await case_posts.in_chat(tx, case_id, chat_id)
        audience = Viewer.group(chat_id)
        if case is None:
            return DeskReply(self.problem(Outcome(False, None, "unknown_case")))
        if post is None or not await may_see(tx, audience, case):
            return DeskReply(self.problem(Outcome(False, case, "not_here")))
        await case_file.order(tx, case_file.Order(case.id, audience, actor.ref, actor.name), chat_id, at,
                              reply_to=post.message_id)
        return DeskReply(_("Case {number}: the case file (PDF) is being prepared and will be sent here.")
                         .format(number=case.number))

    async def reply(self, update_id: str, chat_id: int, replied_to: int, text: str, actor: Actor,
                    at: str, message_id: int | None = None) -> DeskReply | None:
        """A reply to one of the bot's prompts; None when the message is not one (ignore it).
        The answer is queued (a reply to `message_id`) with what the reply changed."""
        _ = self._

        async def work(tx: Tx) -> DeskReply | None:
            prompt = await group_prompts.find(tx, chat_id, replied_to)
            if prompt is None:
                return None
            if prompt.used_at is not None:
                return await answer(tx, _("That question was already answered."))
            given = text.strip()
            if not given:
                return await answer(tx, _("Please reply with text."))
            if prompt.action == "ask":
                verdict = await inquiry.ask(tx, self.policy, prompt.case_id, chat_id, given, actor, at)
            elif prompt.action == "reroute":
                verdict = await lifecycle.reroute(tx, self.policy, prompt.case_id, chat_id, given, actor, at)
            else:
                verdict = await lifecycle.change_status(tx, self.policy, prompt.case_id, chat_id, "reject",
                                                        actor, at, note=given)
            if verdict.ok:
                await group_prompts.mark_used(tx, prompt.id, at)
            return await answer(tx, self._done(verdict, prompt.action) if verdict.ok else self.problem(verdict))

        async def answer(tx: Tx, text: str) -> DeskReply:
            delivery = await self._queue(tx, StaffReply(text), Destination(CHANNEL, str(chat_id), message_id), at)
            return DeskReply(text, delivery=delivery)

        return await self._once(chat_id, update_id, at, work)

    def _done(self, verdict: Outcome, prompt_action: str | None = None) -> str:
        _ = self._
        number = verdict.case.number if verdict.case else "-"
        if prompt_action == "ask":
            return _("Case {number}: your question was sent to the reporter.").format(number=number)
        if prompt_action == "reroute":
            return _("Case {number} is being forwarded to the region you named.").format(number=number)
        return _("Case {number} updated.").format(number=number)

    def problem(self, verdict: Outcome) -> str:
        _ = self._
        return {
            "unknown_case": _("That case does not exist."),
            "not_here": _("This case is not assigned to this group."),
            "not_allowed": _("That is not possible in the case's current status (someone may have acted already)."),
            "bad_region": _("I don't know that region. Reply again with a code such as 51.03 or a name."),
            "ambiguous": _("Several regions match. Reply again with the region's code."),
        }.get(verdict.problem or "", _("That did not work."))

    # --- officers of a WhatsApp roster ------------------------------------------------------

    async def officer_act(self, update_id: str, officer: Officer, action: str, number: str | None,
                          at: str) -> bool:
        """An officer's numbered (or worded) action on a case: the one named, else the last
        case shown to them. The answer names the case; an action its status no longer
        allows gets the case's current status. Actions that need input ask for it as the
        officer's next message. False: a redelivery (nothing done)."""
        _ = self._

        async def work(tx: Tx) -> bool:
            reserved = await answers.reserve(tx, officer.destination, at, None)  # before the effects' messages
            found = await self._officer_case(tx, officer, number)
            if isinstance(found, str):
                await self._officer_answer(tx, reserved, officer, found)
                return True
            case = found
            await roster_store.set_last_case(tx, officer.member.id, case.id)
            if action == case_file.ACTION:
                await case_file.order(tx, case_file.Order(case.id, Viewer.group(officer.chat_id), officer.actor.ref,
                                                          officer.name), officer.chat_id, at, to=officer.via)
                text = _("Case {number}: the case file (PDF) is being prepared and will be sent here.").format(
                    number=case.number)
            elif action in lifecycle.NEEDS_INPUT:
                verdict = await lifecycle.check(tx, case.id, officer.chat_id, action)
                if verdict.ok:
                    await roster_store.set_prompt(tx, officer.member.id, case.id, _PROMPT_ACTION[action])
                    text = {
                        "ask": _("{number}: send your question for the reporter as your next message. They will "
                                 "not see who asked. (Send \"batal\" to cancel.)"),
                        "not_ours": _("{number}: which region should handle it? Send its code (such as 51.03) or "
                                      "its name (such as \"Kab Badung\") as your next message. (Send \"batal\" "
                                      "to cancel.)"),
                        "reject": _("{number}: send the reason for rejecting it as your next message. The reporter "
                                    "will see the reason. (Send \"batal\" to cancel.)"),
                    }[action].format(number=case.number)
                else:
                    text = await self._officer_problem(tx, verdict, case)
            else:
                verdict = await lifecycle.change_status(tx, self.policy, case.id, officer.chat_id, action,
                                                        officer.actor, at)
                text = (_("{number}: {status}. The reporter has been told.").format(
                    number=case.number, status=status_label(_, verdict.status or case.status)) if verdict.ok
                    else await self._officer_problem(tx, verdict, case))
            await self._officer_answer(tx, reserved, officer, text)
            return True

        return bool(await self._once(officer.chat_id, update_id, at, work, officer.via))

    async def officer_input(self, update_id: str, officer: Officer, text: str, at: str) -> bool:
        """The officer's next message after a question (Minta info, Bukan kewenangan,
        Tolak): its answer. "batal" cancels. False: a redelivery."""
        _ = self._

        async def work(tx: Tx) -> bool:
            reserved = await answers.reserve(tx, officer.destination, at, None)
            member = await roster_store.member(tx, officer.member.id)
            given = text.strip()
            if member is None or member.prompt_case_id is None or member.prompt_action is None:
                await self._officer_answer(tx, reserved, officer, _("That question was already answered."))
                return True
            if given.casefold().strip("/ .!") in ("batal", "cancel"):
                await roster_store.set_prompt(tx, member.id, None, None)
                await self._officer_answer(tx, reserved, officer, _("Cancelled: nothing was changed."))
                return True
            if not given:
                await self._officer_answer(tx, reserved, officer, _("Please reply with text."))
                return True
            case_id, action = member.prompt_case_id, member.prompt_action
            if action == "ask":
                verdict = await inquiry.ask(tx, self.policy, case_id, officer.chat_id, given, officer.actor, at)
            elif action == "reroute":
                verdict = await lifecycle.reroute(tx, self.policy, case_id, officer.chat_id, given, officer.actor, at)
            else:
                verdict = await lifecycle.change_status(tx, self.policy, case_id, officer.chat_id, "reject",
                                                        officer.actor, at, note=given)
            number = verdict.case.number if verdict.case else "-"
            if verdict.ok:
                await roster_store.set_prompt(tx, member.id, None, None)
                answer = _("{number}: rejected. The reporter has been told the reason.").format(number=number) \
                    if action == "reject" else self._done(verdict, action)
            elif verdict.problem in ("bad_region", "ambiguous"):
                answer = self.problem(verdict)  # the question stands: the next message is tried again
            else:
                await roster_store.set_prompt(tx, member.id, None, None)
                answer = await self._officer_problem(tx, verdict, verdict.case)
            await self._officer_answer(tx, reserved, officer, answer)
            return True

        return bool(await self._once(officer.chat_id, update_id, at, work, officer.via))

    async def officer_say(self, update_id: str, officer: Officer, text: str, at: str) -> bool:
        """An answer of the channel's own (help, a hint) to an officer's message, claimed
        like any update. False: a redelivery."""

        async def work(tx: Tx) -> bool:
            await self._officer_answer(tx, await answers.reserve(tx, officer.destination, at, None), officer, text)
            return True

        return bool(await self._once(officer.chat_id, update_id, at, work, officer.via))

    async def _officer_case(self, tx: Tx, officer: Officer, number: str | None) -> Case | str:
        _ = self._
        if number is not None:
            normal = case_number.normalize(number)
            case = await cases.by_number(tx, normal) if normal else None
            if case is None:
                return _("There is no case {number}.").format(number=number)
        else:
            member = await roster_store.member(tx, officer.member.id)
            case = await cases.get(tx, member.last_case_id) if member and member.last_case_id else None
            if case is None:
                return _("Which case? Add its number, for example: terima LN-24-7K3Q9.")
        if not await Audience.group(officer.chat_id).holds(tx, case.id):
            return _("Case {number} is not assigned to your office.").format(number=case.number)
        return case

    async def _officer_problem(self, tx: Tx, verdict: Outcome, case: Case | None) -> str:
        """What a refused action answers: for a case that moved on (a colleague acted
        first), its current status, not an error."""
        _ = self._
        if verdict.problem == "not_allowed" and case is not None:
            now = await cases.get(tx, case.id) or case
            last = await cases.last_actor(tx, case.id)
            if last and last.actor_name:
                return _("{number} is already {status} (last action by {name}). Nothing was changed.").format(
                    number=now.number, status=status_label(_, now.status), name=last.actor_name)
            return _("{number} is already {status}. Nothing was changed.").format(
                number=now.number, status=status_label(_, now.status))
        if verdict.problem == "not_here" and case is not None:
            return _("Case {number} is not assigned to your office.").format(number=case.number)
        return self.problem(verdict)

    async def _officer_answer(self, tx: Tx, reserved: Delivery, officer: Officer, text: str) -> None:
        """To the officer who acted. It names the case and its status, never its content, so
        it goes even when the action took the case away from the roster."""
        reply = StaffReply(text, audience=Audience.group(officer.chat_id))
        await answers.fill(tx, reserved, reply, officer.destination, self.policy.default_locale, self.policy.timezone)

    # --- routes ---------------------------------------------------------------------------

    async def register_in(self, tx: Tx, chat_id: int, title: str | None, args: str, actor: Actor, at: str,
                          confirmed: bool = True) -> str:
        """`confirmed`: an admin's registration takes effect at once; a moderator's waits."""
        if not args.strip():
            return self._("Send /daftar_fokus followed by the region, for example /daftar_fokus 51.71 or "
                          "/daftar_fokus Kota Denpasar. Add an agency group at the end to narrow it "
                          "(for example: pusat).")
        query, scope = route_admin.split_scope(args)
        added = await route_admin.add(tx, self.policy, query, chat_id, scope=scope, title=title, by=actor.ref, at=at,
                                      by_name=actor.name, confirmed=confirmed)
        return route_admin.describe_added(added, self.policy.default_locale)

    async def unregister_in(self, tx: Tx, chat_id: int, args: str, at: str, actor: Actor | None = None) -> str:
        _ = self._
        removed, known = await route_admin.remove(tx, self.policy, chat_id, args.strip() or None, at,
                                                  by=actor.ref if actor else "shell", by_name=actor.name if actor else None)
        if not known:
            return _("I don't know that region. Use a Kemendagri code such as 51.71.")
        if not removed:
            return _("This group had no such route.")
        lines = [route_admin.describe(r, self.policy.default_locale) for r in removed]
        return _("This group no longer receives reports for:") + "\n" + "\n".join(lines)

    async def migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        async with self.db.transaction() as tx:
            await forwarding.chat_migrated(tx, old_chat_id, new_chat_id)


_PROMPT_ACTION = {"ask": "ask", "not_ours": "reroute", "reject": "reject"}
