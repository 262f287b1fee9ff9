"""Staff commands on Telegram (in focal-point groups and in private chats with admins and
moderators), and the buttons under their answers: the caller as the flows see them, the
answer queued in the outbox with the command's effects (`flows/staff/answers.py`), then
sent at once; and how such an answer looks on Telegram (text with an inline keyboard, a
chart, export files, a case's evidence), for the sender."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import (
    Bot,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
    Update,
)

from bot.delivery import Dropped, Progress
from bot.telegram.inbound import parse_command
from bot.telegram.text_limits import MAX_TEXT, split
from flows.staff import answers, buttons
from flows.staff.answers import Destination
from flows.staff.audience import Reader
from flows.staff.commands import StaffCommands, is_staff_command
from flows.staff.roles import Caller, Role
from storage import case_posts, cases, group_prompts
from storage.outbox import Delivery

if TYPE_CHECKING:
    from bot.telegram.sender import TelegramSender

CHANNEL = "telegram"
REPLACED_BY_PRESS = frozenset({"kasus", "setstatus"})
"""Commands whose answer to a button replaces the message the button was on (the next
page of a list; the status chosen from the menu), rather than coming as a new message."""


class StaffChat:
    def __init__(self, commands: StaffCommands) -> None:
        self.commands = commands
        self.deliver_now: Callable[[Delivery], Awaitable[None]] | None = None
        """Sends an answer leased to us right after its commit (the delivery worker's
        `deliver_now`); None leaves it to the worker."""

    async def handle(self, update: Update, bot: Bot, private: bool) -> bool:
        """True when the update was a staff command or a staff button, and is answered."""
        query = update.callback_query
        if query is not None:
            if not buttons.is_action(query.data):
                return False
            await self.press(update, query, private)
            return True
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
        if command.name in ("bantuan", "help") and await self.commands.role(caller) == Role.STRANGER:
            return False  # a reporter's help: the report flow (or, in a group, the pointer) answers
        await self._answer(caller, command.name, command.args, str(update.update_id),
                           Destination(CHANNEL, str(message.chat.id), reply_to=message.message_id, private=private))
        return True

    async def decide_route(self, update: Update) -> str | None:
        """A press on the buttons under a route waiting for an admin (in the admin's private
        chat): the toast to answer it with; None when the press is something else."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or query.message is None:
            return None
        option = (query.data or "").partition(":")[2]
        caller = Caller(user.id, user.full_name, query.message.chat.id, in_group=False)
        return await self.commands.decide_route(caller, option, str(update.update_id), datetime.now(UTC).isoformat())

    async def press(self, update: Update, query: CallbackQuery, private: bool) -> None:
        """A staff button runs its command as if the presser typed it: the same role and
        audience checks. The press is answered at once (the spinner stops); the answer is
        an outbox message like any other."""
        from bot.telegram.channel import _answer

        await _answer(query)
        decoded = buttons.decode(query.data)
        chat = update.effective_chat
        if decoded is None or chat is None:
            return
        name, args = decoded
        pressed = query.message.message_id if isinstance(query.message, Message) else None
        caller = Caller(query.from_user.id, query.from_user.full_name, chat.id, in_group=not private)
        await self._answer(caller, name, args, str(update.update_id),
                           Destination(CHANNEL, str(chat.id), edit=pressed if name in REPLACED_BY_PRESS else None,
                                       private=private))

    async def _answer(self, caller: Caller, name: str, args: str, update_id: str, destination: Destination) -> None:
        delivery = await self.commands.answer(caller, name, args, update_id, datetime.now(UTC).isoformat(),
                                              destination)
        await self.send_now(delivery)

    async def send_now(self, delivery: Delivery | None) -> None:
        if delivery is not None and delivery.leased and self.deliver_now is not None:
            await self.deliver_now(delivery)


# --- an answer as Telegram shows it (called by the sender) -----------------------------------

def keyboard(staff: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = answers.buttons_of(staff)
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row] for row in rows])


async def deliver_answer(sender: TelegramSender, delivery: Delivery, progress: Progress) -> None:
    """Parts, each recorded as sent: the text (the last part with the buttons), then the
    chart, the export files, the case's evidence. A group gets an answer about a case only
    if it still holds the case when the answer goes out."""
    bot = sender.bot
    payload = delivery.payload
    staff: dict[str, Any] = payload["staff"]
    chat_id = int(delivery.address)
    audience = answers.audience_of(staff)
    if staff.get("holds") is not None:
        async with sender.db.reading() as tx:
            post = await case_posts.in_chat(tx, int(staff["holds"]), chat_id)
        if post is None or not post.active:
            raise Dropped("the group no longer holds the case")
    reply_to = payload.get("reply_to")
    reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None
    texts = split(staff["text"], MAX_TEXT)
    markup: Any = keyboard(staff)
    if staff.get("ask"):
        markup = ForceReply(selective=True)
    part = 0
    for index, text in enumerate(texts):
        part += 1
        if part <= delivery.progress:
            continue
        kwargs: dict[str, Any] = {"text": text}
        if index == len(texts) - 1 and markup is not None:
            kwargs["reply_markup"] = markup
        if index == 0 and payload.get("edit") and not staff.get("ask") \
                and await sender._edit_into(chat_id, int(payload["edit"]), dict(kwargs)):
            await progress(part, int(payload["edit"]))
            continue
        sent = await bot.send_message(chat_id, reply_parameters=reply, **kwargs)
        if staff.get("ask"):
            await _record_question(sender, chat_id, sent.message_id, staff["ask"], delivery)
        await progress(part, sent.message_id)
    chart = answers.chart_of(staff)
    if chart is not None:
        part += 1
        if part > delivery.progress:
            from bot.charts import render_png_async

            found, title = chart
            png = await render_png_async(found, title, str(payload.get("locale") or sender.locale))
            await bot.send_photo(chat_id, InputFile(png, filename="statistik.png"))
            await progress(part, None)
    export = answers.export_of(staff)
    if export is not None:
        part += 1
        if part > delivery.progress:
            sender._room_for(chat_id, 2)  # the CSV and the XLSX: both now, or both at the group's next slot
            await _send_export(sender, chat_id, payload, *export)
            await progress(part, None)
    if staff.get("evidence") is not None and audience is not None:
        part += 1
        if part > delivery.progress:
            async with sender.db.reading() as tx:
                case = await cases.get(tx, int(staff["evidence"]))
            if case is not None and (audience.reader != Reader.GROUP or await _holds(sender, case.id, chat_id)):
                await sender.send_case_evidence(chat_id, case, audience)
            await progress(part, None)


async def _holds(sender: TelegramSender, case_id: int, chat_id: int) -> bool:
    async with sender.db.reading() as tx:
        post = await case_posts.in_chat(tx, case_id, chat_id)
    return post is not None and post.active


async def _record_question(sender: TelegramSender, chat_id: int, message_id: int, ask: dict[str, Any],
                           delivery: Delivery) -> None:
    """The officer's reply to this message is the answer to the question (`Desk.reply`)."""
    async with sender.db.transaction() as tx:
        await group_prompts.add(tx, int(ask["case_id"]), chat_id, message_id, str(ask["action"]), str(ask["by"]),
                                delivery.created_at)


async def _send_export(sender: TelegramSender, chat_id: int, payload: dict[str, Any], where: Any,
                       identity: bool) -> None:
    """The files are made when the answer goes out (from the data as it is then)."""
    from bot.export import Layout, write_files

    layout = Layout(str(payload.get("locale") or sender.locale), str(payload.get("timezone") or "Asia/Jakarta"))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, xlsx_path = Path(tmp) / f"kasus-{stamp}.csv", Path(tmp) / f"kasus-{stamp}.xlsx"
        await write_files(sender.db, where, identity, csv_path, xlsx_path, layout=layout)
        for path in (csv_path, xlsx_path):
            await sender.bot.send_document(chat_id, InputFile(path.read_bytes(), filename=path.name))
