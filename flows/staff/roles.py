"""Who may do what. Admins come from configuration, moderators from the database, and a
focal point is any member of a group that receives cases, for that group's cases only.
Checked on every command and every press, not only when a button is shown."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flows.policy import Policy
from storage import Tx, case_posts, routes, staff


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    FOCAL = "focal"
    STRANGER = "stranger"


@dataclass(frozen=True, slots=True)
class Caller:
    """Someone acting in a chat: `chat_id` is a group's id, or their own in a private chat."""

    user_id: int
    name: str
    chat_id: int
    in_group: bool

    @property
    def ref(self) -> str:
        return f"telegram:{self.user_id}"


async def role_of(tx: Tx, policy: Policy, caller: Caller) -> Role:
    if caller.user_id in policy.admin_ids:
        return Role.ADMIN
    if await staff.is_moderator(tx, caller.user_id):
        return Role.MODERATOR
    if caller.in_group and (any(not r.pending for r in await routes.of_chat(tx, caller.chat_id))
                            or await case_posts.chat_has_cases(tx, caller.chat_id)):  # holds one now
        return Role.FOCAL
    return Role.STRANGER
