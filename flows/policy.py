"""The service's rules that come from configuration: who moderates, where cases go when
no focal point is registered, and how long officers have before a reminder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_OPERATOR = "Tim Lapor Netral"
"""Who runs the service when OPERATOR_NAME does not say."""


@dataclass(frozen=True, slots=True)
class Policy:
    default_locale: str = "id"
    default_focal_chat_id: int | None = None
    moderator_chat_id: int | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    remind_after: timedelta = timedelta(hours=24)
    escalate_after: timedelta = timedelta(hours=72)
    max_cases_per_day: int = 5
    max_messages_per_minute: int = 30
    retention: timedelta = timedelta(days=365)
    timezone: str = "Asia/Jakarta"
    """Where staff read times (stored in UTC): `/jejak`, lists."""
    outbox_keep: timedelta = timedelta(days=30)
    """How long what a sent message said is kept (then only the row's bare facts stay)."""
    operator_name: str = DEFAULT_OPERATOR
    """Who runs the service, named in the privacy notice."""

    def alert_chats(self) -> list[int]:
        """Moderators' group if there is one, otherwise each admin privately."""
        if self.moderator_chat_id is not None:
            return [self.moderator_chat_id]
        return sorted(self.admin_ids)
