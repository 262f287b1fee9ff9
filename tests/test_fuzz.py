"""Garbage through the real entry points: hypothesis-generated Telegram updates posted to
the webhook and Twilio forms signed as Twilio signs them. Nothing may answer 500 or
crash a handler; each is answered or ignored by rule, and the service stays healthy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.serve import serve
from tests import fake_twilio as tw
from tests.backends import Backend, inspect_db
from tests.conftest import wait_stopped
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.telegram_harness import settings_for

pytestmark = pytest.mark.slow  # fuzzing

SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
PUBLIC = "https://lapor.example.org"
HOSTILE = st.sampled_from(["<b>x</b>", "*bold* _it_ [a](http://x)", "'; DROP TABLE cases; --", "\u202egnp.exe",
                           "a\u200b\u200c\u200db", "x" * 4096, "/start", "/status LN-24-AAAAA", "1", "", " ",
                           "\x00\x01", "😀" * 50])
TEXT = st.one_of(HOSTILE, st.text(max_size=300))


@pytest.fixture
async def running(backend: Backend, unused_tcp_port: int) -> AsyncIterator[tuple[str, Settings, FakeTwilio]]:
    fake, twilio = FakeTelegram(), FakeTwilio()
    await fake.start()
    await twilio.start()
    config = settings_for(fake, backend, public_base_url=PUBLIC, telegram_webhook_secret="s3cret",
                          host="127.0.0.1", port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID,
                          twilio_auth_token=tw.AUTH_TOKEN, twilio_whatsapp_from=tw.BOT_NUMBER,
                          delivery_poll_seconds=0.05, **twilio.settings(), max_messages_per_minute=0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    await fake.wait_for(lambda: bool(fake.sent("setWebhook")))
    yield f"http://127.0.0.1:{unused_tcp_port}", config, twilio
    stop.set()
    await wait_stopped(task)
    await twilio.stop()
    await fake.stop()


def chats() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"id": st.integers(-10**13, 10**13),
                                  "type": st.sampled_from(["private", "group", "supergroup", "channel", "weird"])})


def messages() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"message_id": st.integers(0, 10**9), "date": st.integers(0, 2**31), "chat": chats()},
        optional={"text": TEXT, "caption": TEXT,
                  "from": st.fixed_dictionaries({"id": st.integers(1, 10**10), "is_bot": st.booleans(),
                                                 "first_name": TEXT}),
                  "entities": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["bot_command", "bold", "x"]),
                                                              "offset": st.integers(-5, 50),
                                                              "length": st.integers(-5, 50)}), max_size=3),
                  "location": st.fixed_dictionaries({"latitude": st.floats(allow_nan=True),
                                                     "longitude": st.floats(allow_infinity=True)}),
                  "contact": st.fixed_dictionaries({"phone_number": TEXT, "first_name": TEXT}),
                  "media_group_id": TEXT,
                  "sticker": st.just({"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                                      "is_animated": False, "is_video": False, "type": "regular"})})


def updates() -> st.SearchStrategy[Any]:
    good = st.fixed_dictionaries({"update_id": st.integers(0, 2**31)},
                                 optional={"message": messages(), "edited_message": messages(),
                                           "callback_query": st.fixed_dictionaries(
                                               {"id": TEXT, "chat_instance": TEXT,
                                                "from": st.fixed_dictionaries({"id": st.integers(1, 10**10),
                                                                               "is_bot": st.booleans(),
                                                                               "first_name": TEXT})},
                                               optional={"data": TEXT, "message": messages()})})
    junk = st.one_of(st.none(), st.integers(), st.text(max_size=50), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=10), st.integers(), max_size=3))
    return st.one_of(good, good, junk)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: each example is an HTTP round trip
@given(update=updates())
async def test_fuzzed_telegram_updates_never_break_the_webhook(running: tuple[str, Settings, FakeTwilio],
                                                               update: Any) -> None:
    url, _config, _twilio = running
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{url}/telegram/webhook", json=update, headers=SECRET) as response:
            assert response.status in (200, 400, 415), (response.status, update)  # never 500
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200


FORM_KEYS = st.sampled_from(["MessageSid", "From", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
                             "Latitude", "Longitude", "MessageType", "ProfileName", "X"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: each example is an HTTP round trip
@given(form=st.dictionaries(FORM_KEYS, TEXT.filter(lambda t: "\x00" not in t), max_size=8), sid=st.uuids())
async def test_fuzzed_twilio_forms_are_answered_or_refused_by_rule(running: tuple[str, Settings, FakeTwilio],
                                                                  form: dict[str, str], sid: Any) -> None:
    url, config, _twilio = running
    form = {"MessageSid": f"SM{sid.hex}", "From": "whatsapp:+6281200000001", **form}
    signature = tw.sign(PUBLIC + "/twilio/whatsapp", form)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{url}/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": signature}) as r:
            assert r.status in (200, 400), (r.status, form)  # never 500
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200
    with inspect_db(config) as db:
        assert db.execute("SELECT count(*) FROM inbound_queue WHERE status = 'failed'").fetchone() == (0,)
