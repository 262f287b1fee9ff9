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
    """Someone acting in a chat: `chat_id` is a group's id, or their own in a private chat.
    An officer of a WhatsApp roster (`officer`) acts in their roster as a member acts in a
    group: `chat_id` is the roster's, `user_id` their membership's, and `address` their
    number, where what they asked for goes."""

    user_id: int
    name: str
    chat_id: int
    in_group: bool
    officer: bool = False
    address: str | None = None

    @property
    def ref(self) -> str:
        return f"officer:{self.user_id}" if self.officer else f"telegram:{self.user_id}"

    @property
    def update_key(self) -> tuple[str, str]:
        """The channel and address an update of this caller is claimed under (`Desk.claim`)."""
        if self.officer and self.address:
            return "whatsapp", self.address
        return "telegram", str(self.chat_id)


async def role_of(tx: Tx, policy: Policy, caller: Caller) -> Role:
    if caller.officer:  # a Telegram id's roles are never an officer's, whatever the numbers
        return Role.FOCAL if caller.in_group and await _focal(tx, caller.chat_id) else Role.STRANGER
    if caller.user_id in policy.admin_ids:
        return Role.ADMIN
    if await staff.is_moderator(tx, caller.user_id):
        return Role.MODERATOR
    if caller.in_group and await _focal(tx, caller.chat_id):
        return Role.FOCAL
    return Role.STRANGER


async def _focal(tx: Tx, chat_id: int) -> bool:
    """A confirmed route, or a case held now."""
    return (any(not r.pending for r in await routes.of_chat(tx, chat_id))
            or await case_posts.chat_has_cases(tx, chat_id))
