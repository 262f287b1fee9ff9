"""Staff commands on Telegram (in focal-point groups and in private chats with admins and
moderators): the caller as the flows see them, and a `StaffReply` as messages, a chart,
export files or a case's evidence."""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from telegram import Bot, InputFile, Message, Update
from telegram.error import TelegramError

from bot.charts import render_png_async
from bot.export import write_files
from bot.logs import address_ref
from bot.telegram.inbound import parse_command
from bot.telegram.sender import TelegramSender
from bot.telegram.text_limits import MAX_TEXT, split
from flows.staff.commands import StaffCommands, StaffReply, is_staff_command
from flows.staff.roles import Caller, Role

log = logging.getLogger(__name__)


class StaffChat:
    def __init__(self, commands: StaffCommands, sender: TelegramSender | None) -> None:
        self.commands = commands
        self.sender = sender

    async def handle(self, update: Update, bot: Bot, private: bool) -> bool:
        """True when the update was a staff command and has been answered."""
        message = update.message
        user = update.effective_user
        if message is None or user is None or not (message.text or "").startswith("/"):
            return False
        head = message.text.split()[0] if message.text else ""
        addressee = head.partition("@")[2].lower()
        if addressee and addressee != (bot.username or "").lower():
            return False
        command = parse_command(message.text or "")
        if not is_staff_command(command.name):
            return False
        caller = Caller(user.id, user.full_name, message.chat.id, in_group=not private)
        role = await self.commands.role(caller)
        if command.name in ("bantuan", "help") and role == Role.STRANGER:
            return False  # a reporter's help: the report flow (or, in a group, the pointer) answers
        reply = await self.commands.run(caller, command.name, command.args, str(update.update_id),
                                        datetime.now(UTC).isoformat())
        if reply is not None:
            await self.send(bot, message, reply)
        return reply is not None

    async def decide_route(self, update: Update) -> str | None:
        """A press on the buttons under a route waiting for an admin (in the admin's private
        chat): the toast to answer it with; None when the press is something else."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or query.message is None:
            return None
        option = (query.data or "").partition(":")[2]
        caller = Caller(user.id, user.full_name, query.message.chat.id, in_group=False)
        return await self.commands.decide_route(caller, option, str(update.update_id), datetime.now(UTC).isoformat())

    async def send(self, bot: Bot, message: Message, reply: StaffReply) -> None:
        chat_id = message.chat.id
        try:
            for part in split(reply.text, MAX_TEXT):
                await message.reply_text(part)
            if reply.chart is not None:
                png = await render_png_async(reply.chart, reply.chart_title or "", self.commands.locale)
                await bot.send_photo(chat_id, InputFile(png, filename="statistik.png"))
            if reply.export is not None:
                await self._export(bot, chat_id, reply)
            if reply.evidence_of is not None and self.sender is not None and reply.audience is not None:
                await self.sender.send_case_evidence(chat_id, reply.evidence_of, reply.audience)
        except TelegramError as exc:
            log.warning("could not answer a staff command in chat %s: %s", address_ref(chat_id), type(exc).__name__)

    async def _export(self, bot: Bot, chat_id: int, reply: StaffReply) -> None:
        assert reply.export is not None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        with tempfile.TemporaryDirectory() as tmp:
            csv_path, xlsx_path = Path(tmp) / f"kasus-{stamp}.csv", Path(tmp) / f"kasus-{stamp}.xlsx"
            await write_files(self.commands.db, reply.export, reply.export_identity, csv_path, xlsx_path)
            for path in (csv_path, xlsx_path):
                await bot.send_document(chat_id, InputFile(path.read_bytes(), filename=path.name))
