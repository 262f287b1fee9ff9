"""The command menus, per kind of chat: what a reporter is offered in a private chat, what
a focal-point group is offered, and what each admin's and moderator's private chat is
offered. Channels that have menus (Telegram's `setMyCommands`) register them; a change of
role (a moderator added or removed) queues a refresh of that person's menu through the
outbox, so it is done even if the channel is down at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flows.i18n import N_
from storage import Tx, outbox

Menu = Literal["reporter", "group", "moderator", "admin"]
MENU = "menu"
"""The payload key of a menu refresh in the outbox: `{"menu": Menu | None}`, for one
person's private chat."""


@dataclass(frozen=True, slots=True)
class Entry:
    command: str
    description: str


REPORTER: tuple[Entry, ...] = (
    Entry("mulai", N_("Start a new report")),
    Entry("kembali", N_("Go back one step")),
    Entry("batal", N_("Cancel the report")),
    Entry("bantuan", N_("Help for this step")),
    Entry("bahasa", N_("Change language")),
    Entry("status", N_("Check a report you sent")),
    Entry("data_saya", N_("See what we store about you")),
    Entry("hapus_data", N_("Erase your data")),
)


def entries(menu: Menu) -> tuple[Entry, ...]:
    """The commands of a menu, in the order of `flows/staff/commands.py` for staff."""
    if menu == "reporter":
        return REPORTER
    from flows.staff.commands import SPECS
    from flows.staff.roles import Role

    if menu == "group":  # what every member of a focal-point group may use
        return tuple(Entry(s.name, s.menu) for s in SPECS if s.menu and Role.FOCAL in s.roles)
    role = Role.ADMIN if menu == "admin" else Role.MODERATOR
    return tuple(Entry(s.name, s.menu) for s in SPECS if s.menu and role in s.roles and s.in_private)


async def refresh(tx: Tx, channel: str, user_id: int, menu: Menu | None, at: str) -> None:
    """Queue the menu of one person's private chat: `menu`, or None for the default one (a
    moderator removed goes back to the reporters' menu)."""
    await outbox.enqueue(tx, channel, str(user_id), "send", {MENU: menu}, at)
