"""Route changes are guarded: a moderator's `/daftar_fokus` waits for an admin (a button in
the admin's private chat, or `python -m bot routes approve`), an admin's own change takes
effect at once, every change is announced to the admins with who made it and recorded in
the routes' audit trail, and a group gets no case before it was confirmed. The attack
round's rogue moderator registered a group for 51.71 and the next case went there."""

from __future__ import annotations

from typing import Any

import pytest

from bot import routes_cli
from bot.config import Settings
from bot.shell import Refused, Shell
from storage import routes
from tests import fake_telegram as tg
from tests.backends import Backend, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, settings_for, submit_report

ADMIN = 4242
MODERATOR = 5151
ROGUE_GROUP = -1001000000777
GROUP = -1001000000001
REPORTER = 730111333


@pytest.fixture
def settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], delivery_poll_seconds=0.05,
                        delivery_backoff_seconds=0.1, telegram_timeout=1.0)


def events(settings: Settings) -> list[tuple[Any, ...]]:
    with inspect_db(settings) as db:
        return db.execute("SELECT action, actor, actor_name, region_code, chat_id FROM route_events ORDER BY id").fetchall()


def announcements(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(ADMIN)
            and "Rute" in str(c.params.get("text", ""))]


async def make_moderator(fake: FakeTelegram) -> None:
    before = len(fake.texts(ADMIN))
    fake.push(tg.text(ADMIN, f"/tambah_moderator {MODERATOR}"))
    await fake.wait_messages(ADMIN, before + 1)


async def group_command(fake: FakeTelegram, chat_id: int, text: str, user_id: int) -> str:
    before = len(fake.texts(chat_id))
    fake.push(tg.group_text(chat_id, text, user_id))
    return (await fake.wait_messages(chat_id, before + 1))[-1]


def press_in_admin_chat(fake: FakeTelegram, announcement: dict[str, Any], result: dict[str, Any], label: str) -> None:
    keyboard = announcement["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
    fake.push(tg.press(ADMIN, data, result["message_id"], announcement["text"], keyboard))


async def test_a_moderators_group_waits_for_an_admin_and_gets_no_case_before(
        fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await make_moderator(fake)
        answer = await group_command(fake, ROGUE_GROUP, "/daftar_fokus 51.71", MODERATOR)
        assert "admin" in answer.lower() and "belum" in answer.lower() or "konfirmasi" in answer.lower(), answer
        await fake.wait_for(lambda: len(announcements(fake)) == 1)
        asked = announcements(fake)[0]
        assert f"User{MODERATOR}" in asked["text"] and str(ROGUE_GROUP) in asked["text"] and "51.71" in asked["text"]
        number = await submit_report(r, [], identity="terbuka")
        assert not any(number in t for t in fake.texts(ROGUE_GROUP)), "no case before it was confirmed"
        with inspect_db(settings) as db:
            assert db.execute("SELECT status FROM cases").fetchall() == [("menunggu_rute",)]
        call = next(c for c in fake.calls if c.params is asked)
        press_in_admin_chat(fake, asked, call.result, "Setujui")
        await fake.wait_for(lambda: any(str(t).startswith("<b>Laporan") and number in t
                                         for t in fake.texts(ROGUE_GROUP)), timeout=10)
        await fake.wait_for(lambda: len(announcements(fake)) == 2)
        assert "dikonfirmasi" in announcements(fake)[1]["text"] and f"User{ADMIN}" in announcements(fake)[1]["text"]
        toast = fake.sent("answerCallbackQuery")[-1].get("text", "")
        assert "Dikonfirmasi" in toast, toast
    assert [(e[0], e[1]) for e in events(settings)] == [("requested", f"telegram:{MODERATOR}"),
                                                          ("confirmed", f"telegram:{ADMIN}")]


async def test_an_admins_own_route_takes_effect_at_once_and_is_announced(fake: FakeTelegram, settings: Settings) -> None:
    async with polling_bot(settings):
        answer = await group_command(fake, GROUP, "/daftar_fokus 51.71", ADMIN)
        assert answer.startswith("Grup ini sekarang menerima laporan untuk Kota Denpasar")
        await fake.wait_for(lambda: len(announcements(fake)) == 1)
        assert "ditambahkan" in announcements(fake)[0]["text"] and "reply_markup" not in announcements(fake)[0]
        removed = await group_command(fake, GROUP, "/hapus_fokus", ADMIN)
        assert "tidak lagi menerima" in removed
        await fake.wait_for(lambda: len(announcements(fake)) == 2)
        assert "dihapus" in announcements(fake)[1]["text"]
    assert [e[0] for e in events(settings)] == ["added", "removed"]


async def test_a_refused_route_goes_and_the_group_is_told(fake: FakeTelegram, settings: Settings) -> None:
    async with polling_bot(settings):
        await make_moderator(fake)
        await group_command(fake, ROGUE_GROUP, "/daftar_fokus 51.71", MODERATOR)
        await fake.wait_for(lambda: len(announcements(fake)) == 1)
        asked = announcements(fake)[0]
        stranger_press = tg.press(ADMIN, asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"], 1)
        stranger_press["callback_query"]["from"] = tg.user(MODERATOR)
        fake.push(stranger_press)
        await fake.wait_for(lambda: len(fake.sent("answerCallbackQuery")) == 1)
        assert "admin" in fake.sent("answerCallbackQuery")[0].get("text", "").lower(), "only an admin decides"
        call = next(c for c in fake.calls if c.params is asked)
        press_in_admin_chat(fake, asked, call.result, "Tolak")
        await fake.wait_for(lambda: len(fake.texts(ROGUE_GROUP)) == 2)
        assert "tidak mengonfirmasi" in fake.texts(ROGUE_GROUP)[-1]
    with inspect_db(settings) as db:
        assert db.execute("SELECT count(*) FROM routes").fetchall() == [(0,)]
    assert [e[0] for e in events(settings)] == ["requested", "refused"]


async def test_the_shell_approves_a_waiting_route(fake: FakeTelegram, settings: Settings,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    async with polling_bot(settings):
        await make_moderator(fake)
        await group_command(fake, ROGUE_GROUP, "/daftar_fokus 51.71", MODERATOR)
    db = await settings.open_database()
    try:
        async with db.reading() as tx:
            waiting = await routes.pending(tx)
    finally:
        await db.close()
    assert len(waiting) == 1
    shell = Shell("en")
    assert await routes_cli.pending(settings, shell) == 0 and f"{waiting[0].id}:" in capsys.readouterr().out
    assert await routes_cli.decide(settings, shell, waiting[0].id, approve=True) == 0
    with pytest.raises(Refused, match="is waiting for an admin"):  # decided once: a second try is refused
        await routes_cli.decide(settings, shell, waiting[0].id, approve=True)
    assert [e[0] for e in events(settings)] == ["requested", "confirmed"]
    assert await routes_cli.log(settings, shell) == 0 and "confirmed 51.71" in capsys.readouterr().out
