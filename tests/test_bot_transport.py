"""The Bot API transport (bot/telegram/request.py) against PTB's own HTTPXRequest, over HTTP
to the fake Bot API: the same calls arrive with the same fields and files, and a slow or
dropped connection fails as PTB's TimedOut or NetworkError, which PTB's retries and the
delivery worker know."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMediaPhoto
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.request import AiohttpRequest
from tests import fake_telegram as tg
from tests.fake_telegram import Failure, FakeTelegram
from tests.test_focal_points import jpeg_with_gps

CHAT = 4242
TRANSPORTS = {"httpx": lambda **kw: HTTPXRequest(connection_pool_size=4, **kw),
              "aiohttp": lambda **kw: AiohttpRequest(4, **kw)}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def bot_over(fake: FakeTelegram, request: BaseRequest) -> Bot:
    return Bot(tg.TOKEN, base_url=fake.api_url, base_file_url=fake.file_url, request=request)


async def calls_made(fake: FakeTelegram, transport: str) -> list[tuple[str, dict[str, Any], list[bytes]]]:
    """A text with buttons, a document from a file handle, an album of two photos, a
    download: what the bot does with Telegram."""
    photo = jpeg_with_gps(1)
    fake.files["documents/bukti.jpg"] = photo * 20  # about 1 MB, sent in several chunks
    start = len(fake.calls)
    async with bot_over(fake, TRANSPORTS[transport]()) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Setuju ✅", callback_data="c:agree:7")]])
        await bot.send_message(CHAT, "Langkah 1 dari 9 — <b>ü</b> & ?=", reply_markup=markup, parse_mode="HTML")
        await bot.send_document(CHAT, InputFile(io.BytesIO(b"%PDF-1.4 bukti"), filename="bukti_1.pdf"),
                                caption="Bukti 1", write_timeout=20)
        await bot.send_media_group(CHAT, [InputMediaPhoto(photo, caption="a"), InputMediaPhoto(photo[::-1])])
        downloaded = await bot.request.retrieve(f"{fake.file_url}{tg.TOKEN}/documents/bukti.jpg")
    assert downloaded == photo * 20
    made = []
    for call in fake.calls[start:]:
        files = [part for part in _parts(call.raw) if b"\xff\xd8" in part or b"%PDF" in part]
        params = {k: v for k, v in call.params.items() if not k.startswith("attach")}  # random part names
        params["files"] = sorted((v["filename"], v["data"]) for k, v in call.params.items() if k.startswith("attach"))
        made.append((call.method, params, files))
    return made


def _parts(raw: bytes) -> list[bytes]:
    """The file contents of a multipart body (empty for a form)."""
    if not raw.startswith(b"--"):
        return []
    boundary = raw.split(b"\r\n", 1)[0]
    return [p.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n-") for p in raw.split(boundary) if b"filename=" in p]


async def test_both_transports_send_the_same_calls_fields_and_files(fake: FakeTelegram) -> None:
    ours = await calls_made(fake, "aiohttp")
    theirs = await calls_made(fake, "httpx")
    assert [m for m, _, _ in ours] == ["getMe", "sendMessage", "sendDocument", "sendMediaGroup"]
    assert [(m, {k: v for k, v in p.items() if k != "media"}) for m, p, _ in ours] \
        == [(m, {k: v for k, v in p.items() if k != "media"}) for m, p, _ in theirs]
    assert [files for _, _, files in ours] == [files for _, _, files in theirs]
    assert ours[1][1]["text"] == "Langkah 1 dari 9 — <b>ü</b> & ?="
    assert [len(files) for _, _, files in ours] == [0, 0, 1, 2]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_that_does_not_answer_in_time_is_a_timeout(fake: FakeTelegram, transport: str) -> None:
    fake.failures["sendMessage"] = [Failure(200, {"ok": True, "result": True}, delay=3.0)]
    async with bot_over(fake, TRANSPORTS[transport](read_timeout=0.5)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "halo")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_dropped_connection_is_a_network_error(fake: FakeTelegram, transport: str) -> None:
    fake.fail_rate, fake.fail_modes = 1.0, ("drop",)
    async with bot_over(fake, TRANSPORTS[transport]()) as bot:
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "halo")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_telegram_errors_come_through_as_ptb_knows_them(fake: FakeTelegram, transport: str) -> None:
    fake.failures["sendMessage"] = [Failure(400, {"ok": False, "error_code": 400,
                                                  "description": "Bad Request: chat not found"})]
    async with bot_over(fake, TRANSPORTS[transport]()) as bot:
        with pytest.raises(NetworkError) as caught:  # BadRequest is a NetworkError in PTB
            await bot.send_message(CHAT, "halo")
    assert "chat not found" in str(caught.value).lower()
