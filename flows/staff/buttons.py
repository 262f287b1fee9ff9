"""Buttons under staff answers (‹ › to page `/kasus`, a case's `/lihat`, the statuses of
`/setstatus`) as short action strings that fit a Telegram button (64 bytes), and back into
the command they stand for. A press runs that command as if typed, by whoever pressed, so
it goes through the same role and audience checks (`flows/staff/commands.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flows import menus

PREFIX = "s"
MAX_BYTES = 64


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Query:
    """A `/kasus` selection as typed (`status=.. wilayah=.. jenis=.. dari=.. sampai=..`)."""

    status: str | None = None
    region: str | None = None
    kind: str | None = None
    since: date | None = None
    until: date | None = None

    def args(self, page: int) -> str:
        parts = [f"halaman={page}"]
        for name, value in (("status", self.status), ("wilayah", self.region), ("jenis", self.kind),
                            ("dari", self.since), ("sampai", self.until)):
            if value:
                parts.append(f"{name}={value.isoformat() if isinstance(value, date) else value}")
        return " ".join(parts)


def _index(items: tuple[menus.MenuItem, ...], item_id: str | None) -> str:
    return "" if item_id is None else str(next(i for i, item in enumerate(items) if item.id == item_id))


def _item(items: tuple[menus.MenuItem, ...], index: str) -> str | None:
    return items[int(index)].id if index.isdecimal() and int(index) < len(items) else None


def _day(text: str) -> date | None:
    if len(text) != 8 or not text.isdecimal():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:  # button data is what the client sends: `20241345` is no day
        return None


def _checked(action: str) -> str:
    if len(action.encode()) > MAX_BYTES:
        raise ValueError(f"button action too long: {action!r}")
    return action


def page(query: Query, number: int) -> str:
    """Page `number` of the same selection."""
    return _checked(":".join([PREFIX, "k", str(number), _index(menus.CASE_STATUSES, query.status), query.region or "",
                              _index(menus.INCIDENT_TYPES, query.kind),
                              f"{query.since:%Y%m%d}" if query.since else "", f"{query.until:%Y%m%d}" if query.until
                              else ""]))


def view(number: str) -> str:
    """`/lihat <number>`."""
    return _checked(f"{PREFIX}:l:{number}")


def set_status(number: str, status: str) -> str:
    """`/setstatus <number> <status>`."""
    return _checked(f"{PREFIX}:t:{number}:{_index(menus.CASE_STATUSES, status)}")


def is_action(data: str | None) -> bool:
    return (data or "").startswith(PREFIX + ":")


def decode(data: str | None) -> tuple[str, str] | None:
    """The command and its arguments a button stands for; None for anything else."""
    parts = (data or "").split(":")
    if len(parts) < 3 or parts[0] != PREFIX:
        return None
    if parts[1] == "k" and len(parts) == 8 and parts[2].isdecimal() and len(parts[2]) <= 7:
        query = Query(_item(menus.CASE_STATUSES, parts[3]), parts[4] or None, _item(menus.INCIDENT_TYPES, parts[5]),
                      _day(parts[6]), _day(parts[7]))
        return "kasus", query.args(int(parts[2]))
    if parts[1] == "l" and len(parts) == 3:
        return "lihat", parts[2]
    if parts[1] == "t" and len(parts) == 4:
        status = _item(menus.CASE_STATUSES, parts[3])
        return ("setstatus", f"{parts[2]} {status}") if status else None
    return None
