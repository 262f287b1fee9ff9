"""Commands for admins, moderators and focal points (Indonesian names, English aliases).

Every call checks the caller's role first; a focal point sees and acts on the cases of
its own group only. Commands that change something are claimed as processed in the same
transaction as the change, like every other update.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flows import command_menus, menus, regions
from flows.case import case_file, case_number, lifecycle, notify, related
from flows.case.case_file import reasons_text
from flows.case.case_text import case_fields, status_label
from flows.case.lifecycle import Actor
from flows.i18n import N_, ngettext_for
from flows.inert import inert
from flows.policy import Policy
from flows.staff import answers, buttons, roster_admin, route_admin, visibility
from flows.staff.answers import Destination, StaffReply
from flows.staff.audience import Audience, audience_of
from flows.staff.buttons import Button, Query
from flows.staff.desk import Desk
from flows.staff.roles import Caller, Role, role_of
from storage import Database, Tx, cases, reporters, routes, staff
from storage.case_queries import CaseFilter, count_matching, counts, daily_counts, search
from storage.cases import Case
from storage.outbox import Delivery

__all__ = ["SPECS", "StaffCommands", "StaffReply", "is_staff_command"]

PAGE_SIZE = 10
MAX_PAGE = 1_000_000
"""A page number past this is read as this one: SQLite stores no integer past 2**63."""
EVERYONE_IN_GROUPS = frozenset({Role.ADMIN, Role.MODERATOR, Role.FOCAL})
MODERATION = frozenset({Role.ADMIN, Role.MODERATOR})
ADMINS = frozenset({Role.ADMIN})
_FILTER = re.compile(r"(\w+)=(\S+)")


def is_staff_command(name: str) -> bool:
    return name.lower() in BY_NAME


@dataclass
class _Call:
    """`role` decides whether the caller may run the command; `audience` what its answer shows."""

    caller: Caller
    role: Role
    audience: Audience
    args: str
    at: str
    actor: Actor = field(init=False)

    def __post_init__(self) -> None:
        self.actor = Actor(self.caller.ref, self.caller.name)

    @property
    def scope(self) -> int | None:
        """The group whose cases (held now) the answer may show; None: every case."""
        return self.audience.scope

    @property
    def file_audience(self) -> visibility.Viewer:
        """The same readers, in the form a case file's outbox order carries."""
        return visibility.Viewer.of(self.caller, self.role)


Handler = Callable[["StaffCommands", Tx, _Call], Awaitable[StaffReply]]


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    alias: str
    roles: frozenset[Role]
    run: Handler
    usage: str
    changes: bool = False
    menu: str = ""
    """What the command menu says of it (short); empty: not in the menus."""
    in_private: bool = True
    """Offered in the private chats of admins and moderators (not only in a group)."""


class StaffCommands:
    def __init__(self, db: Database, policy: Policy, desk: Desk, lease_seconds: float | None = None,
                 worker_id: str | None = None) -> None:
        """`lease_seconds`: answers are leased to the channel that asked, which sends them
        right after the commit (the worker takes them if it does not within that time, or
        once `worker_id`, the process's delivery worker the lease names, is known to be
        dead); None leaves every answer to the delivery worker."""
        self.db = db
        self.policy = policy
        self.desk = desk
        self._ = notify.staff_gettext(policy)
        self.locale = policy.default_locale
        self.tz = ZoneInfo(policy.timezone)
        self.lease = timedelta(seconds=lease_seconds) if lease_seconds else None
        self.worker_id = worker_id
        self.ngettext = ngettext_for(policy.default_locale)

    async def role(self, caller: Caller) -> Role:
        async with self.db.reading() as tx:
            return await role_of(tx, self.policy, caller)

    async def run(self, caller: Caller, name: str, args: str, update_id: str, at: str) -> StaffReply | None:
        """The command's answer, its effects done (but the answer not queued): None when
        `name` is not a staff command (the caller's chat handles it)."""
        reply, _delivery = await self._run(caller, name, args, update_id, at, None)
        return reply

    async def answer(self, caller: Caller, name: str, args: str, update_id: str, at: str,
                     destination: Destination) -> Delivery | None:
        """Run the command and queue its answer to `destination` in the same transaction as
        its effects (a read-only command: in a transaction of its own that records the
        update as handled). The answer is returned for the channel to send at once when it
        is leased to it; None for a redelivered update (its answer is already queued)."""
        _reply, delivery = await self._run(caller, name, args, update_id, at, destination)
        return delivery

    async def _run(self, caller: Caller, name: str, args: str, update_id: str, at: str,
                   destination: Destination | None) -> tuple[StaffReply | None, Delivery | None]:
        spec = BY_NAME.get(name.lower())
        if spec is None:
            return None, None
        async with self.db.reading() as tx:
            role = await role_of(tx, self.policy, caller)
            audience = await audience_of(tx, self.policy, caller)
        call = _Call(caller, role, audience, args.strip(), at)
        allowed = role in spec.roles
        if allowed and spec.changes:
            key = await self.desk.digest_key()
            async with self.db.transaction() as tx:
                if not await self.desk.claim(tx, caller.chat_id, update_id, at, key, caller.update_key):
                    return StaffReply(self._("Already done."), audience=audience), None
                reserved = await self._reserve(tx, destination, at)  # before the effects queue anything
                reply = replace(await spec.run(self, tx, call), audience=audience)
                return reply, await self._fill(tx, reserved, reply, destination)
        if allowed:
            async with self.db.reading() as tx:
                reply = replace(await spec.run(self, tx, call), audience=audience)
        else:
            reply = StaffReply(self._("Sorry, that command is not available to you."), audience=audience)
        if destination is None:
            return reply, None
        key = await self.desk.digest_key()
        async with self.db.transaction() as tx:
            if not await self.desk.claim(tx, caller.chat_id, update_id, at, key, caller.update_key):
                return reply, None
            return reply, await self._fill(tx, await self._reserve(tx, destination, at), reply, destination)

    async def _reserve(self, tx: Tx, destination: Destination | None, at: str) -> Delivery | None:
        if destination is None:
            return None
        lease_until = (datetime.fromisoformat(at) + self.lease).isoformat() if self.lease else None
        return await answers.reserve(tx, destination, at, lease_until, self.worker_id)

    async def _fill(self, tx: Tx, reserved: Delivery | None, reply: StaffReply,
                    destination: Destination | None) -> Delivery | None:
        if reserved is None or destination is None:
            return None
        return await answers.fill(tx, reserved, reply, destination, self.locale, self.policy.timezone)

    async def decide_route(self, caller: Caller, option: str, update_id: str, at: str) -> str | None:
        """An admin's press under the announcement of a route waiting for them; None when
        `option` is not such a press."""
        action, _sep, raw = option.rpartition(":")
        if action not in (route_admin.CONFIRM, route_admin.REFUSE, roster_admin.CONFIRM, roster_admin.REFUSE) \
                or not raw.isdecimal():
            return None
        _ = self._
        if caller.user_id not in self.policy.admin_ids:
            return _("Only an admin can decide this.")
        key = await self.desk.digest_key()
        async with self.db.transaction() as tx:
            if not await self.desk.claim(tx, caller.chat_id, update_id, at, key):
                return _("Already done.")
            done: object | None
            decide = {route_admin.CONFIRM: route_admin.confirm, route_admin.REFUSE: route_admin.refuse,
                      roster_admin.CONFIRM: roster_admin.confirm, roster_admin.REFUSE: roster_admin.refuse}[action]
            done = await decide(tx, self.policy, int(raw), by=caller.ref, by_name=caller.name, at=at)
        if done is None:
            return _("That route was already decided.")
        if action in (roster_admin.CONFIRM, roster_admin.REFUSE):
            return _("Confirmed: the officer is invited and gets cases once they say yes.") \
                if action == roster_admin.CONFIRM else _("Refused: that number receives nothing.")
        return _("Confirmed: the group receives its reports from now on.") if action == route_admin.CONFIRM \
            else _("Refused: the group receives nothing.")

    # --- reading --------------------------------------------------------------------

    async def _bantuan(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        lines = [_(s.usage) for s in SPECS if call.role in s.roles]
        return StaffReply(_("You can use:") + "\n" + "\n".join(lines))

    def _filters(self, call: _Call) -> tuple[Query, int] | str:
        """`status=.. wilayah=.. jenis=.. dari=.. sampai=.. halaman=..` or an error text."""
        _ = self._
        given = {k.lower(): v for k, v in _FILTER.findall(call.args)}
        rest = _FILTER.sub("", call.args).split()
        page = given.pop("halaman", given.pop("page", rest[0] if rest else "1"))
        status = given.pop("status", None)
        if status and not menus.find(menus.CASE_STATUSES, status):
            return _("Unknown status. Use one of: {values}.").format(values=", ".join(s.id for s in menus.CASE_STATUSES))
        kind = given.pop("jenis", given.pop("type", None))
        if kind and not menus.find(menus.INCIDENT_TYPES, kind):
            return _("Unknown type. Use one of: {values}.").format(values=", ".join(t.id for t in menus.INCIDENT_TYPES))
        region = given.pop("wilayah", given.pop("region", None))
        if region and regions.get(region) is None:
            return _("Unknown region code. Use a Kemendagri code such as 51 or 51.71.")
        try:
            since = date.fromisoformat(given.pop("dari")) if "dari" in given else None
            until = date.fromisoformat(given.pop("sampai")) if "sampai" in given else None
            number = min(int(page), MAX_PAGE)
        except ValueError:
            return _("Dates look like 2024-11-27 and the page is a number.")
        if given or number < 1:
            return _("Unknown filter. Use status=, wilayah=, jenis=, dari=, sampai= and halaman=.")
        return Query(status, region, kind, since, until), number

    @staticmethod
    def _where(query: Query, call: _Call) -> CaseFilter:
        """Dates are UTC days, as stored; `sampai` is the last day included."""
        return CaseFilter(query.status, query.region, query.kind, query.since.isoformat() if query.since else None,
                          (query.until + timedelta(days=1)).isoformat() if query.until else None, call.scope)

    def _line(self, case: Case) -> str:
        _ = self._
        region = regions.get(case.region_code)
        incident = menus.incident(case.incident_type, case.agency_group)
        created = datetime.fromisoformat(case.created_at).astimezone(self.tz)  # stored in UTC
        return (f"{case.number} · {region.name if region else case.region_code} · "
                f"{_(incident.label) if incident else case.incident_type} · {status_label(_, case.status)} · "
                f"{created:%d/%m/%Y}")

    async def _kasus(self, tx: Tx, call: _Call) -> StaffReply:
        """A page of cases, with a button per case (its `/lihat`) and ‹ › for the pages."""
        _ = self._
        parsed = self._filters(call)
        if isinstance(parsed, str):
            return StaffReply(parsed)
        query, page = parsed
        found, total = await search(tx, self._where(query, call), PAGE_SIZE, (page - 1) * PAGE_SIZE)
        if not total:
            return StaffReply(_("No cases match."))
        pages = -(-total // PAGE_SIZE)
        head = self.ngettext("{total} case, page {page} of {pages}:", "{total} cases, page {page} of {pages}:",
                             total).format(total=total, page=page, pages=pages)
        lines = [self._line(c) for c in found] or [_("(this page is empty)")]
        views = [Button(c.number, buttons.view(c.number)) for c in found]
        rows = [tuple(views[i:i + 2]) for i in range(0, len(views), 2)]
        paging = ([Button("‹", buttons.page(query, page - 1))] if page > 1 else []) + \
            ([Button("›", buttons.page(query, min(page + 1, pages)))] if page < pages else [])
        if paging:
            rows.append(tuple(paging))
        return StaffReply(head + "\n" + "\n".join(lines), buttons=tuple(rows))

    async def _visible_case(self, tx: Tx, call: _Call, text: str) -> Case | str:
        """The case a number names, if the caller may see it; else an error text."""
        _ = self._
        number = case_number.normalize(text.split()[0]) if text.split() else None
        if number is None:
            return _("Give a case number, for example LN-24-7K3Q9.")
        case = await cases.by_number(tx, number)
        if case is None:
            return _("There is no case {number}.").format(number=number)
        if not await call.audience.holds(tx, case.id):
            if call.caller.officer:  # an officer of a WhatsApp roster reads of their office, not a group
                return _("Case {number} is not assigned to your office.").format(number=case.number)
            return _("This case is not assigned to this group.")
        return case

    async def _lihat(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        evidence = await cases.evidence_of(tx, case.id)
        linked = [f"{r.number} ({reasons_text(_, r.reasons)})"
                  for r in await related.visible(tx, case.id, call.file_audience)]
        lines = [_("Report {number}").format(number=case.number),
                 f"{_('Status')}: {status_label(_, case.status)}", ""]
        lines += [f"{label}: {value}" for label, value in
                  case_fields(case, self.locale, len(evidence), call.audience.sees_identity(case), linked,
                              evidence, show_held=call.audience.gets_unsafe_files)]
        lines += ["", f"{_('What happened')}:", inert(case.description)]
        files = [e for e in evidence if e.is_file]
        return StaffReply("\n".join(lines), evidence_of=case if files else None, holds=case.id)

    async def _jejak(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        zone = ZoneInfo(self.policy.timezone)
        lines = [_("Audit trail of {number}:").format(number=case.number)]
        for event in await cases.events_of(tx, case.id):
            at = datetime.fromisoformat(event.at)
            local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)
            who = await self._actor_label(tx, event.actor, event.actor_name)
            change = f" {event.before or '-'} → {event.after or '-'}" if event.before or event.after else ""
            note = f" · {inert(event.note)}" if event.note else ""
            lines.append(f"{local:%Y-%m-%d %H:%M} {local.tzname()} · {who} · {event.kind}{change}{note}")
        return StaffReply("\n".join(lines), holds=case.id)

    async def _actor_label(self, tx: Tx, actor: str, name: str | None) -> str:
        """Staff by display name, or else by role; never by their Telegram id."""
        _ = self._
        if name:
            return name
        if actor == "reporter":
            return _("Reporter")
        if actor == "system":
            return _("System")
        user = actor.removeprefix("telegram:")
        if user.lstrip("-").isdecimal():
            if int(user) in self.policy.admin_ids:
                return _("Admin")
            if await staff.is_moderator(tx, int(user)):
                return _("Moderator")
            return _("Officer")
        return _("Staff")

    async def _berkas(self, tx: Tx, call: _Call) -> StaffReply:
        """The file goes to this chat through the outbox, made for everyone who reads it
        here: a group's copy never names a confidential reporter."""
        _ = self._
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        audience = call.file_audience
        if not await visibility.may_see(tx, audience, case):
            return StaffReply(_("This case is not assigned to this group."))
        to = ("whatsapp", call.caller.address) if call.caller.officer and call.caller.address else None
        await case_file.order(tx, case_file.Order(case.id, audience, call.actor.ref, call.actor.name),
                              call.caller.chat_id, call.at, to=to)
        return StaffReply(_("Case {number}: the case file (PDF) is being prepared and will be sent here.")
                          .format(number=case.number))

    async def _statistik(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        period = call.args.strip() or "30"
        today = datetime.now(UTC).date()
        if period.isdecimal() and 0 < int(period) <= 3660:
            since, until = today - timedelta(days=int(period) - 1), today + timedelta(days=1)
            title = self.ngettext("Cases in the last {days} day", "Cases in the last {days} days",
                                  int(period)).format(days=int(period))
        elif re.fullmatch(r"\d{4}-\d{2}", period):
            try:
                since = date.fromisoformat(period + "-01")
            except ValueError:
                return StaffReply(_("Give a number of days (7, 30, 90) or a month such as 2024-11."))
            until = (since + timedelta(days=32)).replace(day=1)
            title = _("Cases in {month}").format(month=period)
        else:
            return StaffReply(_("Give a number of days (7, 30, 90) or a month such as 2024-11."))
        if call.scope is None:  # everything: the daily counts, however many cases there are
            found = await daily_counts(tx, since.isoformat(), until.isoformat())
        else:  # one group's cases: read through that group's posts
            found = await counts(tx, CaseFilter(since=since.isoformat(), until=until.isoformat(), chat_id=call.scope))
        lines = [title + ": " + str(found.total)]
        if found.total:
            lines.append(_("By status: {values}").format(
                values=", ".join(f"{status_label(_, s)} {n}" for s, n in found.by_status)))
            top = ", ".join(f"{notify.region_name(r)} {n}" for r, n in found.by_region[:5])
            lines.append(_("Most reported regions: {values}").format(values=top))
        return StaffReply("\n".join(lines), chart=found, chart_title=title)

    async def _ekspor(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        parsed = self._filters(call)
        if isinstance(parsed, str):
            return StaffReply(parsed)
        query, _page = parsed
        where = self._where(query, call)
        total = await count_matching(tx, where)
        return StaffReply(self.ngettext("Export of {total} case.", "Export of {total} cases.", total).format(
            total=total), export=where, export_identity=call.audience.export_identity)

    async def _rute(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        if call.args.lower() in ("semua", "all") and not call.audience.sees_other_chats:
            return StaffReply(_("Everyone in this group would read the list of every group. Send /rute semua "
                                "to me in a private chat; here /rute lists this group's own routes."))
        found = await (routes.all_routes(tx) if call.audience.sees_other_chats
                       else routes.of_chat(tx, call.caller.chat_id))
        if not found:
            return StaffReply(_("No routes yet. Register this group with /daftar_fokus <region>."))
        lines = [route_admin.describe(r, self.locale, with_chat=call.audience.sees_other_chats) for r in found]
        return StaffReply(_("Routes:") + "\n" + "\n".join(lines))

    # --- changing -------------------------------------------------------------------

    async def _setstatus(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        parts = call.args.split(maxsplit=2)
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        wanted = parts[1].lower() if len(parts) > 1 else ""
        if not wanted:
            return self._status_menu(call, case)
        if not menus.find(menus.CASE_STATUSES, wanted) or wanted in ("baru", "menunggu_rute"):
            return StaffReply(_("Give the new status: diterima, ditindaklanjuti, selesai, bukan_kewenangan, "
                                "ditolak or diteruskan."))
        note = parts[2] if len(parts) > 2 else None
        if wanted == "ditolak" and not note:
            return StaffReply(_("A rejection needs a reason: /setstatus <number> ditolak <reason>."))
        if call.role == Role.FOCAL:  # officers move as their buttons allow
            action = next((a for a, s in lifecycle.ACTIONS.items() if s == wanted), None)
            if action is None or action == "not_ours":
                return StaffReply(_("That is not possible in the case's current status (someone may have acted already)."))
            verdict = await lifecycle.change_status(tx, self.policy, case.id, call.caller.chat_id, action,
                                                    call.actor, call.at, note)
            if not verdict.ok:
                return StaffReply(self.desk.problem(verdict))
        elif not await lifecycle.force_status(tx, self.policy, case, wanted, call.actor, call.at, note):
            return StaffReply(_("The case already has that status."))
        return StaffReply(_("{number}: {before} → {after}.").format(
            number=case.number, before=status_label(_, case.status), after=status_label(_, wanted)))

    def _status_menu(self, call: _Call, case: Case) -> StaffReply:
        """`/setstatus <number>` alone: the statuses this caller may set now, as buttons
        (a press is `/setstatus <number> <status>`, checked again when pressed)."""
        _ = self._
        if call.role == Role.FOCAL:  # as the card's buttons allow; "bukan kewenangan" needs a region
            possible = [s for a, s in lifecycle.ACTIONS.items() if a in lifecycle.allowed(case.status) and a != "not_ours"]
        else:
            possible = [s.id for s in menus.CASE_STATUSES if s.id not in ("baru", "menunggu_rute", case.status)]
        if not possible:
            return StaffReply(_("That is not possible in the case's current status (someone may have acted already)."))
        choices = [Button(status_label(_, status), buttons.set_status(case.number, status)) for status in possible]
        text = _("{number} is {status}. Choose the new status (a rejection needs a reason: "
                 "/setstatus {number} ditolak <reason>):").format(number=case.number,
                                                                  status=status_label(_, case.status))
        return StaffReply(text, buttons=tuple(tuple(choices[i:i + 2]) for i in range(0, len(choices), 2)),
                          holds=case.id)

    async def _alihkan(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        region_text = call.args.split(maxsplit=1)[1] if len(call.args.split(maxsplit=1)) > 1 else ""
        if call.role == Role.FOCAL:
            verdict = await lifecycle.reroute(tx, self.policy, case.id, call.caller.chat_id, region_text,
                                              call.actor, call.at)
        else:
            verdict = await lifecycle.reroute_by_staff(tx, self.policy, case, region_text, call.actor, call.at)
        if not verdict.ok:
            return StaffReply(self.desk.problem(verdict))
        return StaffReply(_("Case {number} is being forwarded to the region you named.").format(number=case.number))

    async def _block(self, tx: Tx, call: _Call, blocked: bool) -> StaffReply:
        _ = self._
        case = await self._visible_case(tx, call, call.args)
        if isinstance(case, str):
            return StaffReply(case)
        # The same answer whether or not the reporter was already blocked: "nothing to change" on
        # a second case would tell a moderator that both cases, one perhaps Anonim, share a reporter.
        await reporters.set_blocked(tx, case.reporter_id, blocked)
        await cases.add_event(tx, case.id, call.at, call.actor.ref, "reporter_blocked" if blocked else "reporter_unblocked",
                              str(int(not blocked)), str(int(blocked)), None, call.actor.name)
        text = (_("The reporter of {number} is blocked; their earlier cases stay.") if blocked
                else _("The reporter of {number} is no longer blocked."))
        return StaffReply(text.format(number=case.number))

    async def _blokir(self, tx: Tx, call: _Call) -> StaffReply:
        return await self._block(tx, call, True)

    async def _buka_blokir(self, tx: Tx, call: _Call) -> StaffReply:
        return await self._block(tx, call, False)

    async def _pair(self, tx: Tx, call: _Call) -> tuple[Case, Case] | str:
        _ = self._
        words = call.args.split()
        if len(words) != 2:
            return _("Give two case numbers, for example /kaitkan LN-24-7K3Q9 LN-24-8M4R2.")
        found = []
        for word in words:
            case = await self._visible_case(tx, call, word)
            if isinstance(case, str):
                return case
            found.append(case)
        if found[0].id == found[1].id:
            return _("Give two different cases.")
        return found[0], found[1]

    async def _kaitkan(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        pair = await self._pair(tx, call)
        if isinstance(pair, str):
            return StaffReply(pair)
        a, b = pair
        if not await related.link(tx, a, b, call.actor.ref, call.actor.name, call.at):
            return StaffReply(_("{a} and {b} are already linked.").format(a=a.number, b=b.number))
        return StaffReply(_("{a} and {b} are now linked as related reports.").format(a=a.number, b=b.number))

    async def _lepas_kaitan(self, tx: Tx, call: _Call) -> StaffReply:
        _ = self._
        pair = await self._pair(tx, call)
        if isinstance(pair, str):
            return StaffReply(pair)
        a, b = pair
        if not await related.unlink(tx, a, b, call.actor.ref, call.actor.name, call.at):
            return StaffReply(_("{a} and {b} are not linked.").format(a=a.number, b=b.number))
        return StaffReply(_("{a} and {b} are no longer linked.").format(a=a.number, b=b.number))

    async def _moderator(self, tx: Tx, call: _Call, add: bool) -> StaffReply:
        _ = self._
        if not call.args.lstrip("-").isdecimal():
            return StaffReply(_("Give the person's numeric Telegram user id."))
        user_id = int(call.args)
        changed = (await staff.add_moderator(tx, user_id, call.actor.ref, call.at) if add
                   else await staff.remove_moderator(tx, user_id))
        if not changed:
            return StaffReply(_("Nothing to change."))
        menu: command_menus.Menu | None = "admin" if user_id in self.policy.admin_ids else "moderator" if add else None
        await command_menus.refresh(tx, notify.GROUP_CHANNEL, user_id, menu, call.at)  # their menu follows the role
        return StaffReply((_("{user} is now a moderator.") if add else _("{user} is no longer a moderator."))
                          .format(user=user_id))

    async def _tambah_moderator(self, tx: Tx, call: _Call) -> StaffReply:
        return await self._moderator(tx, call, True)

    async def _hapus_moderator(self, tx: Tx, call: _Call) -> StaffReply:
        return await self._moderator(tx, call, False)

    async def _daftar_fokus(self, tx: Tx, call: _Call) -> StaffReply:
        """`/daftar_fokus <region> [agency]` in a group registers it; with an officer's
        WhatsApp number (`/daftar_fokus 64.74 +6281300000001 [agency] [office]`), anywhere,
        the number joins the region's roster and is invited."""
        words = call.args.split()
        spot = next((n for n, w in enumerate(words) if roster_admin.looks_like_number(w)), None)
        if spot is not None:
            after = words[spot + 1:]
            scope = after[0].lower() if after and after[0].lower() in route_admin.SCOPES else ""
            title = " ".join(after[1:] if scope else after) or None
            added = await roster_admin.add_number(tx, self.policy, " ".join(words[:spot]), words[spot], scope=scope,
                                                  title=title, by=call.actor.ref, at=call.at, by_name=call.actor.name,
                                                  confirmed=call.role == Role.ADMIN)
            return StaffReply(roster_admin.describe_added(added, self.locale))
        if not call.caller.in_group:
            return StaffReply(self._("Send this in the focal point's group, or give an officer's WhatsApp number: "
                                     "/daftar_fokus 64.74 +6281300000001"))
        return StaffReply(await self.desk.register_in(tx, call.caller.chat_id, None, call.args, call.actor, call.at,
                                                      confirmed=call.role == Role.ADMIN))

    async def _hapus_fokus(self, tx: Tx, call: _Call) -> StaffReply:
        words = call.args.split()
        if words and roster_admin.looks_like_number(words[0]):  # an officer's number leaves its roster
            _ = self._
            member, removed = await roster_admin.remove(tx, self.policy, words[0], " ".join(words[1:]) or None,
                                                        call.at, by=call.actor.ref, by_name=call.actor.name)
            if member is None:
                return StaffReply(_("That WhatsApp number is in no roster."))
            lines = [route_admin.describe(r, self.locale) for r in removed]
            return StaffReply("\n".join([_("WhatsApp number {number} no longer receives reports.").format(
                number=member.number) if len(words) == 1 else _("Its roster no longer receives reports for:"), *lines]))
        if not call.caller.in_group:
            return StaffReply(self._("Send this in the focal point's group."))
        return StaffReply(await self.desk.unregister_in(tx, call.caller.chat_id, call.args, call.at, call.actor))


SPECS: tuple[Spec, ...] = (
    Spec("kasus", "cases", EVERYONE_IN_GROUPS, StaffCommands._kasus,
         N_("/kasus [status=..] [wilayah=..] [jenis=..] [dari=YYYY-MM-DD] [sampai=YYYY-MM-DD] [halaman=N]: list cases"),
         menu=N_("List cases, page by page")),
    Spec("lihat", "view", EVERYONE_IN_GROUPS, StaffCommands._lihat,
         N_("/lihat <number>: the whole case with its evidence"), menu=N_("Show a case with its evidence")),
    Spec("jejak", "trail", EVERYONE_IN_GROUPS, StaffCommands._jejak, N_("/jejak <number>: the case's audit trail"),
         menu=N_("A case's audit trail")),
    Spec("berkas", "case_file", EVERYONE_IN_GROUPS, StaffCommands._berkas,
         N_("/berkas <number>: the case file (PDF) for a formal report, sent to this chat"), changes=True,
         menu=N_("A case's file (PDF)")),
    Spec("setstatus", "set_status", EVERYONE_IN_GROUPS, StaffCommands._setstatus,
         N_("/setstatus <number> <status> [note]: change a case's status"), changes=True,
         menu=N_("Change a case's status")),
    Spec("alihkan", "reroute", EVERYONE_IN_GROUPS, StaffCommands._alihkan,
         N_("/alihkan <number> <region>: send a case to another region"), changes=True,
         menu=N_("Send a case to another region")),
    Spec("statistik", "stats", EVERYONE_IN_GROUPS, StaffCommands._statistik,
         N_("/statistik [7|30|90|YYYY-MM]: chart and summary"), menu=N_("Statistics chart")),
    Spec("ekspor", "export", EVERYONE_IN_GROUPS, StaffCommands._ekspor,
         N_("/ekspor [filters as for /kasus]: CSV and XLSX files"), menu=N_("Cases as CSV and XLSX files")),
    Spec("rute", "routes", EVERYONE_IN_GROUPS, StaffCommands._rute, N_("/rute [semua]: routes, broken ones flagged"),
         menu=N_("Focal-point routes")),
    Spec("daftar_fokus", "register_focal", MODERATION, StaffCommands._daftar_fokus,
         N_("/daftar_fokus <region> [agency group]: this group receives a region's cases; with an officer's "
            "WhatsApp number (/daftar_fokus 64.74 +6281300000001), that number does"), changes=True,
         in_private=False),
    Spec("hapus_fokus", "remove_focal", MODERATION, StaffCommands._hapus_fokus,
         N_("/hapus_fokus [region]: stop receiving cases (or /hapus_fokus +62…: that officer's number)"), changes=True,
         in_private=False),
    Spec("blokir", "block", MODERATION, StaffCommands._blokir,
         N_("/blokir <number>: block the reporter of a case"), changes=True, menu=N_("Block a case's reporter")),
    Spec("buka_blokir", "unblock", MODERATION, StaffCommands._buka_blokir,
         N_("/buka_blokir <number>: unblock them"), changes=True, menu=N_("Unblock a case's reporter")),
    Spec("kaitkan", "link", MODERATION, StaffCommands._kaitkan,
         N_("/kaitkan <number> <number>: mark two cases as related"), changes=True, menu=N_("Link two related cases")),
    Spec("lepas_kaitan", "unlink", MODERATION, StaffCommands._lepas_kaitan,
         N_("/lepas_kaitan <number> <number>: remove that link"), changes=True, menu=N_("Unlink two cases")),
    Spec("tambah_moderator", "add_moderator", ADMINS, StaffCommands._tambah_moderator,
         N_("/tambah_moderator <Telegram user id>: add a moderator"), changes=True, menu=N_("Add a moderator")),
    Spec("hapus_moderator", "remove_moderator", ADMINS, StaffCommands._hapus_moderator,
         N_("/hapus_moderator <Telegram user id>: remove one"), changes=True, menu=N_("Remove a moderator")),
    Spec("bantuan", "help", EVERYONE_IN_GROUPS, StaffCommands._bantuan, N_("/bantuan: what you can use"),
         menu=N_("What you can use")),
)
"""Every staff command: its names, who may use it, the method that runs it, its line in
/bantuan, and whether it changes something (then it runs in a write transaction, claimed
as processed like every other update)."""
BY_NAME: dict[str, Spec] = {n: s for s in SPECS for n in (s.name, s.alias)}
