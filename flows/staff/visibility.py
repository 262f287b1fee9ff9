"""Who will read an answer, and what they may see of a case: the one place where the case
file and the related-report lists decide visibility and identity.

An answer is read by everyone in the chat it goes to, not only by whoever asked: in a
group, only the cases that group holds and never a confidential (rahasia) identity; an
open (terbuka) identity only to a group the case was posted to; in a private chat, as the
person's role allows; an anonymous reporter is never named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.staff.roles import Caller, Role, sees_everything, sees_identity
from storage import Tx, case_posts
from storage.cases import Case

GROUP, PRIVATE, SHELL = "group", "private", "shell"


@dataclass(frozen=True, slots=True)
class Audience:
    kind: str
    role: Role
    chat_id: int | None = None
    identity: bool = False
    """Shell only: the operator asked for the reporter's identity (`--identity`)."""

    @classmethod
    def of(cls, caller: Caller, role: Role) -> Audience:
        if caller.in_group:
            return cls(GROUP, role, caller.chat_id)
        return cls(PRIVATE, role, caller.chat_id)

    @classmethod
    def group(cls, chat_id: int) -> Audience:
        return cls(GROUP, Role.FOCAL, chat_id)

    @classmethod
    def shell(cls, identity: bool) -> Audience:
        return cls(SHELL, Role.ADMIN, None, identity)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "role": self.role.value, "chat_id": self.chat_id, "identity": self.identity}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Audience:
        chat_id = data.get("chat_id")
        return cls(str(data["kind"]), Role(str(data["role"])), int(chat_id) if chat_id is not None else None,
                   bool(data.get("identity")))


async def may_see(tx: Tx, audience: Audience, case: Case) -> bool:
    if audience.kind == SHELL:
        return True
    if audience.kind == GROUP:
        return audience.chat_id is not None and await case_posts.in_chat(tx, case.id, audience.chat_id) is not None
    return sees_everything(audience.role)


async def identity_allowed(tx: Tx, audience: Audience, case: Case) -> bool:
    """Whether the reporter's name and phone may be shown to this audience."""
    if case.identity_mode == "anonim" or case.identity_erased_at or not case.reporter_name:
        return False
    if audience.kind == SHELL:
        return audience.identity
    if audience.kind == GROUP:
        return case.identity_mode == "terbuka" and await may_see(tx, audience, case)
    return sees_identity(audience.role, case.identity_mode)
