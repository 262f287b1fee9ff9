"""Issue 14: fewer Bot API calls per update, and the outbox still guarantees every reply.

Before: a button press cost three calls (answerCallbackQuery, an edit marking the pressed
message, and the next question as a new message), and every reply went through a worker
round (a read, a lease, a progress write per part, a "sent" write)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.config import Settings
from bot.serve import serve
from tests import fake_telegram as tg
from tests.backends import Backend, inspect_db
from tests.conftest import wait_stopped
from tests.fake_telegram import FakeTelegram
from tests.quiet import until_quiet
from tests.telegram_harness import Reporter, polling_bot, quiet, settings_for

CHAT = 4242
SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
SENDS = ("sendMessage", "editMessageText", "answerCallbackQuery")


def calls_to(fake: FakeTelegram, since: int) -> list[str]:
    return [c.method for c in fake.calls[since:] if c.method in SENDS]


def pending(settings: Settings) -> int:
    with inspect_db(settings) as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0])


async def test_in_polling_mode_a_press_costs_two_calls_and_the_question_moves_forward(
        fake: FakeTelegram, backend: Backend) -> None:
    settings = settings_for(fake, backend)
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        consent = r.last_keyboard_message()
        before = len(fake.calls)
        shown = await r.press("agree")
        assert sorted(calls_to(fake, before)) == ["answerCallbackQuery", "editMessageText"]
        edit = fake.sent("editMessageText", CHAT)[-1]
        assert int(edit["message_id"]) == consent["result"]["message_id"], "the pressed question itself"
        assert shown[0].startswith("» Setuju\n\nLangkah 1 dari 16") and "inline_keyboard" in edit["reply_markup"]
        before = len(fake.calls)
        await r.say("denpasar")
        assert calls_to(fake, before) == ["sendMessage"], "a typed answer: one message"
        await quiet(fake)  # until every reply sent at once is recorded as sent (it times out if one never is)
    assert pending(settings) == 0, "every reply sent at once was recorded as sent"


async def test_a_press_whose_answer_needs_the_phones_own_button_comes_as_a_new_message(
        fake: FakeTelegram, backend: Backend) -> None:
    """The location question has a reply keyboard, which an edit cannot carry."""
    settings = settings_for(fake, backend)
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        for step in (lambda: r.press("agree"), lambda: r.say("denpasar"), lambda: r.press("tni_polri"),
                     lambda: r.press("unknown"), lambda: r.press("unknown"), lambda: r.press("skip"),
                     lambda: r.press("nav:next"), lambda: r.press("lainnya"),  # TNI/Polri: no ASN status
                     lambda: r.press("today"),
                     lambda: r.press("same")):
            await step()
        await r.say("Ruang guru")  # the pin question: a reply keyboard with the location button
        shown = await r.say("Lewati")
        assert "Apa yang terjadi?" in shown[-1]
        assert fake.sent("sendMessage", CHAT)[-2]["reply_markup"]["keyboard"][0][0]["request_location"] is True


@pytest.fixture
async def webhook(fake: FakeTelegram, backend: Backend, unused_tcp_port: int) -> AsyncIterator[tuple[str, Settings]]:
    settings = settings_for(fake, backend, public_base_url="https://lapor.example.org", telegram_webhook_secret="s3cret",
                            host="127.0.0.1", port=unused_tcp_port)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await fake.wait_for(lambda: bool(fake.sent("setWebhook")))
    yield f"http://127.0.0.1:{unused_tcp_port}/telegram/webhook", settings
    stop.set()
    await wait_stopped(task)


async def test_in_webhook_mode_the_press_is_answered_inside_the_response(
        fake: FakeTelegram, webhook: tuple[str, Settings]) -> None:
    url, settings = webhook
    r = Reporter(fake, CHAT)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={**tg.text(CHAT, "/start"), "update_id": 1}, headers=SECRET) as response:
            assert response.status == 200 and await response.text() == "ok"
        await fake.wait_for(lambda: len(fake.shown(CHAT)) >= 2)
        before = len(fake.calls)
        press = {**r.press_update("agree"), "update_id": 2}
        async with http.post(url, json=press, headers=SECRET) as response:
            answer = await response.json()
        assert answer == {"method": "answerCallbackQuery", "callback_query_id": press["callback_query"]["id"]}
        assert calls_to(fake, before) == ["editMessageText"], "one Bot API call for a press"
        assert fake.shown(CHAT)[-1].startswith("» Setuju")
        async with http.post(url, json=press, headers=SECRET) as response:  # Telegram retries: a duplicate
            assert (await response.json())["method"] == "answerCallbackQuery"
        assert calls_to(fake, before) == ["editMessageText"], "nothing sent twice"
    await until_quiet(settings)  # until the replies are recorded as sent (it times out if one never is)
    assert pending(settings) == 0


async def test_a_reply_whose_sender_died_before_sending_goes_out_when_its_lease_runs_out(
        fake: FakeTelegram, backend: Backend) -> None:
    """The reply is in the outbox with the step, leased to the channel; if the process dies
    between the commit and the send, the worker of the next process sends it."""
    settings = settings_for(fake, backend, delivery_lease_seconds=0.5, delivery_poll_seconds=0.05)
    r = Reporter(fake, CHAT)
    async with polling_bot(settings) as runtime:
        assert runtime.channel is not None

        async def dies_before_sending(delivery: object) -> None:
            return None

        runtime.channel.deliver_now = dies_before_sending  # type: ignore[assignment]
        fake.push(tg.text(CHAT, "/start"))
        await fake.wait_for(lambda: bool(fake.sent("getUpdates")) and pending(settings) == 1, timeout=10)
        assert fake.shown(CHAT) == []
    async with polling_bot(settings):  # the next process: its worker finds the lease run out
        welcome = await r.settle(0, at_least=2)
    assert welcome[0].startswith("Selamat datang di Lapor Netral")
    assert len(fake.sent("sendMessage", CHAT)) == 2, "sent once"
