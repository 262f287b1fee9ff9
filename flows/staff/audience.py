"""Who reads an answer: THE rule for what a chat may be shown.

An answer typed in a chat is read by everyone in it, so it is shaped by the chat, not by
the person who asked (their role only decides whether they may ask at all, see
`roles.py`). There are three kinds of audience:

- a private chat with an admin or a moderator: every case, every group's routes and chat
  ids, a confidential (Rahasia) or open (Terbuka) reporter's name and phone, files that
  could not be made safe; the export's identity columns only for an admin;
- a group (a focal point's, the moderators', any other): only the cases the group holds
  now (an active post: a case moved away is no longer its own), an open reporter's
  identity on those cases and nothing else about any reporter, no other group's chat id,
  only files that were made safe;
- a private chat with anyone else: nothing.

Every staff command, every button answer, the case card and every file go through this
module (`bot/telegram/staff.py`, `flows/staff/commands.py`, `bot/telegram/case_card.py`,
`bot/telegram/sender.py`); issue 16's PDF case file is meant to as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flows.policy import Policy
from flows.staff.roles import Caller, Role, role_of
from storage import Tx, case_posts
from storage.cases import Case


class Reader(StrEnum):
    ADMIN = "admin"
    """A private chat with an admin."""
    MODERATOR = "moderator"
    """A private chat with a moderator."""
    GROUP = "group"
    """Every member of a group."""
    NOBODY = "nobody"
    """A private chat with someone who has no role."""


@dataclass(frozen=True, slots=True)
class Audience:
    chat_id: int
    reader: Reader

    @classmethod
    def group(cls, chat_id: int) -> Audience:
        return cls(chat_id, Reader.GROUP)

    @property
    def trusted(self) -> bool:
        """A private chat with an admin or a moderator."""
        return self.reader in (Reader.ADMIN, Reader.MODERATOR)

    @property
    def scope(self) -> int | None:
        """The chat whose cases (those it holds now) this audience may see; None: every case."""
        return None if self.trusted else self.chat_id

    async def holds(self, tx: Tx, case_id: int) -> bool:
        """Whether this audience may see the case at all."""
        if self.trusted:
            return True
        if self.reader != Reader.GROUP:
            return False
        post = await case_posts.in_chat(tx, case_id, self.chat_id)
        return post is not None and post.active

    def sees_identity(self, case: Case) -> bool:
        """The reporter's name and phone, on a case this audience holds (check `holds` first)."""
        if case.identity_mode == "terbuka":
            return self.trusted or self.reader == Reader.GROUP
        if case.identity_mode == "rahasia":
            return self.trusted
        return False

    @property
    def export_identity(self) -> bool:
        """The export's name and phone columns: an admin, privately (as the README's table says)."""
        return self.reader == Reader.ADMIN

    @property
    def sees_other_chats(self) -> bool:
        """Other groups' routes and chat ids."""
        return self.trusted

    @property
    def gets_unsafe_files(self) -> bool:
        """Files that could not be made safe are shown (as they are, with a warning) only here."""
        return self.trusted


async def audience_of(tx: Tx, policy: Policy, caller: Caller) -> Audience:
    """The audience of the chat `caller` is typing in."""
    if caller.in_group:
        return Audience.group(caller.chat_id)
    role = await role_of(tx, policy, caller)
    reader = {Role.ADMIN: Reader.ADMIN, Role.MODERATOR: Reader.MODERATOR}.get(role, Reader.NOBODY)
    return Audience(caller.chat_id, reader)
