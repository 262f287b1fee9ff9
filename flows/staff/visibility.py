"""The audience of a case file or a related-report list, in a form that travels in an
outbox payload (the file is made when it is delivered): a group, a private chat with a
role, or the shell. What each may see is decided by THE rule, `flows/staff/audience.py`;
only the shell, which has no chat, is decided here (`--identity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.staff import audience as audience_rule
from flows.staff.roles import Caller, Role
from storage import Tx
from storage.cases import Case

GROUP, PRIVATE, SHELL = "group", "private", "shell"


@dataclass(frozen=True, slots=True)
class Viewer:
    kind: str
    role: Role
    chat_id: int | None = None
    identity: bool = False
    """Shell only: the operator asked for the reporter's identity (`--identity`)."""

    @classmethod
    def of(cls, caller: Caller, role: Role) -> Viewer:
        if caller.in_group:
            return cls(GROUP, role, caller.chat_id)
        return cls(PRIVATE, role, caller.chat_id)

    @classmethod
    def group(cls, chat_id: int) -> Viewer:
        return cls(GROUP, Role.FOCAL, chat_id)

    @classmethod
    def shell(cls, identity: bool) -> Viewer:
        return cls(SHELL, Role.ADMIN, None, identity)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "role": self.role.value, "chat_id": self.chat_id, "identity": self.identity}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Viewer:
        chat_id = data.get("chat_id")
        return cls(str(data["kind"]), Role(str(data["role"])), int(chat_id) if chat_id is not None else None,
                   bool(data.get("identity")))


def _reader(audience: Viewer) -> audience_rule.Audience:
    """The chat's audience in the terms of THE rule (`flows/staff/audience.py`)."""
    if audience.kind == GROUP:
        return audience_rule.Audience.group(audience.chat_id or 0)
    reader = {Role.ADMIN: audience_rule.Reader.ADMIN, Role.MODERATOR: audience_rule.Reader.MODERATOR}.get(
        audience.role, audience_rule.Reader.NOBODY)
    return audience_rule.Audience(audience.chat_id or 0, reader)


async def may_see(tx: Tx, audience: Viewer, case: Case) -> bool:
    if audience.kind == SHELL:
        return True
    return await _reader(audience).holds(tx, case.id)


async def identity_allowed(tx: Tx, audience: Viewer, case: Case) -> bool:
    """Whether the reporter's name and phone may be shown to this audience."""
    if case.identity_mode == "anonim" or case.identity_erased_at or not case.reporter_name:
        return False
    if audience.kind == SHELL:
        return audience.identity
    rule = _reader(audience)
    return await rule.holds(tx, case.id) and rule.sees_identity(case)
