"""Issue 30's console transcripts, replayed through the real channels: every line typed into
the WhatsApp webhook (signed as Twilio signs it, answered through the fake Twilio REST API)
and into the Telegram bot (the real PTB Application polling the fake Bot API). Each answer
must be what the engine gives that line on that channel (tests/chat.py, in step with the
same clock): what the console transcript shows holds on both phones, worded for each (a
numbered list on WhatsApp, buttons on Telegram), with nothing lost or added by an adapter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.plain_text import render as render_plain
from bot.plain_text import split_text
from bot.telegram.render import messages
from bot.whatsapp.sender import LOCATION_HINT, MAX_BODY
from flows.engine import Engine
from flows.i18n import gettext_for
from flows.replies import ChoicesReply, Reply
from storage import Database
from tests.backends import Backend
from tests.chat import Chat
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_transcripts import HERE, inputs_of
from tests.test_whatsapp import NUMBER, server
from tests.test_whatsapp import settings as whatsapp_settings

__all__ = ["whatsapp_settings"]  # a fixture, used by name

FILES = [HERE / f"{name}.txt" for name in
         ("console_forgiving_answers", "console_everyday_yes_and_no", "console_village_head_menu")]
WIB = ZoneInfo("Asia/Jakarta")
_ = gettext_for("id")
CHAT = 7301
_CASE = re.compile(r"LN-\d{2}-[0-9A-Z]{5}")
_DAY = re.compile(r"(Senin|Selasa|Rabu|Kamis|Jumat|Sabtu|Minggu), \d{1,2} \w+ \d{4}")


def golden_answers(path: Path) -> list[str]:
    """The console transcript's answer to each line, as the console prints it."""
    answers: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("> "):
            answers.append("")
        elif answers and not line.startswith(("= ", "# ")):
            answers[-1] += line.removeprefix("  ") + "\n"
    return [answer.strip("\n") for answer in answers]


def labels_only(text: str) -> str:
    """A long menu as WhatsApp's small screen shows it: labels, explanations on "?"."""
    text = re.sub(r"^(  \d+\. .*?) - .*$", r"\1", text, flags=re.MULTILINE)
    return re.sub(r"^(.*)\n(  1\. )", r"\1 " + _("(type ? for explanations)") + r"\n\2", text, flags=re.MULTILINE)


def masked(texts: list[str]) -> list[str]:
    """Case numbers drawn at random, and the days that "kemarin" or "3 hari lalu" stand
    for (the two runs are a moment apart, which may be either side of midnight)."""
    return [_DAY.sub("<hari>", _CASE.sub("LN-XX-XXXXX", text)) for text in texts]


@pytest.fixture
async def reference(tmp_path: Path) -> AsyncIterator[Engine]:
    """The engine alone, on a file of its own: what each line should get."""
    db = await Database.open(tmp_path / "reference.db")
    yield Engine(db)
    await db.close()


async def expected(chat: Chat, line: str) -> list[Reply]:
    chat.now = datetime.now(WIB) - timedelta(seconds=20)  # Chat.send adds its 20 s
    return (await chat.send(line)).replies


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_the_console_transcripts_pass_through_whatsapp(path: Path, whatsapp_settings: Settings,
                                                            twilio: FakeTwilio, reference: Engine) -> None:
    _locale, _channel, lines = inputs_of(path.read_text(encoding="utf-8"))
    golden = golden_answers(path)
    chat = Chat(reference, address=NUMBER, channel="whatsapp")
    async with server(whatsapp_settings, twilio) as user:
        for line, printed in zip(lines, golden, strict=True):
            replies = await expected(chat, line)
            text = "\n\n".join(render_plain(r, "id", LOCATION_HINT) for r in replies)
            got = await user.say(line)
            assert masked(got) == masked(split_text(text, MAX_BODY)), line
            on_console = printed.replace(_("(To send a location, type: lokasi -8.65, 115.21)"), _(LOCATION_HINT))
            if _("(type ? for explanations)") in "".join(got):
                on_console = labels_only(on_console)
            assert masked(["\n\n".join(got)]) == masked([on_console]), "the console transcript holds on WhatsApp"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_the_console_transcripts_pass_through_telegram(path: Path, fake: FakeTelegram, backend: Backend,
                                                            reference: Engine) -> None:
    _locale, _channel, lines = inputs_of(path.read_text(encoding="utf-8"))
    chat = Chat(reference, address=str(CHAT), channel="telegram")
    async with polling_bot(settings_for(fake, backend)):
        person = Reporter(fake, CHAT)
        for line in lines:
            replies = await expected(chat, line)
            sent = [m for r in replies for m in messages(r, "id")]
            got = await person.say(line, at_least=len(sent))
            assert masked(got) == masked([m["text"] for m in sent]), line
            asked = [r for r in replies if isinstance(r, ChoicesReply) and r.options and not r.request]
            if asked:
                keyboard = person.last_keyboard_message()["params"]["reply_markup"]["inline_keyboard"]
                assert [b["text"] for row in keyboard for b in row] == [o.label for o in asked[-1].options], line
