"""Issue 29: staff answers go through the outbox (a Telegram 500 or a SIGKILL between the
command and the send delays an answer, never loses it); the command menus per scope, as
Telegram keeps them; `/kasus` pages by button, `/setstatus` offers the statuses, and every
button is checked like the command it stands for. The real PTB Application against the
fake Bot API (and, for the SIGKILL, `python -m bot run` as a process)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from flows.engine import Engine
from flows.policy import Policy
from flows.staff import route_admin
from tests import fake_telegram as tg
from tests.backends import Backend, inspect_db, outbox_of
from tests.chat import HAPPY_PATH, Chat
from tests.fake_telegram import FakeTelegram
from tests.quiet import until_quiet
from tests.telegram_harness import polling_bot, settings_for
from tests.test_focal_points import db_rows

ADMIN = 4242
MODERATOR = 5151
NEWCOMER = 6161
OFFICER = 777
GROUP = -1001000000001
OTHER_GROUP = -1001000000002
MODERATORS = -1001000000999
"""Alerts (the seeded cases are old: escalations) go there, not to the admin's chat."""
ROOT = Path(__file__).resolve().parent.parent
REPORTER_MENU = ["mulai", "kembali", "batal", "bantuan", "bahasa", "status", "data_saya", "hapus_data"]
GROUP_MENU = ["kasus", "lihat", "jejak", "berkas", "setstatus", "alihkan", "statistik", "ekspor", "rute", "bantuan"]
MODERATOR_MENU = [*GROUP_MENU[:-1], "blokir", "buka_blokir", "kaitkan", "lepas_kaitan", "bantuan"]
ADMIN_MENU = [*MODERATOR_MENU[:-1], "tambah_moderator", "hapus_moderator", "bantuan"]


@pytest.fixture
def settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], moderator_chat_id=MODERATORS,
                        delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1, telegram_timeout=2.0,
                        telegram_max_rate=0, telegram_group_max_per_minute=0)


async def seed(settings: Settings, denpasar: int = 1, badung: int = 0) -> None:
    """Routes for two groups and some cases in each region, filed through the report flow."""
    db = await settings.open_database()
    try:
        async with db.transaction() as tx:
            await route_admin.add(tx, Policy(), "51.71", GROUP, by="test", at="2024-11-20T00:00:00+00:00")
            await route_admin.add(tx, Policy(), "51.03", OTHER_GROUP, by="test", at="2024-11-20T00:00:00+00:00")
        engine = Engine(db, policy=Policy(max_cases_per_day=0))
        for n in range(denpasar + badung):
            steps = HAPPY_PATH if n < denpasar else tuple("badung" if s == "denpasar" else s for s in HAPPY_PATH)
            await Chat(engine, address=f"5{n:05d}", update_prefix=f"seed{n}").run(*steps, "@send")
    finally:
        await db.close()


async def quiet(fake: FakeTelegram, settings: Settings) -> None:
    """Until the seeded cases' cards, alerts and news are all out: what comes next is an answer."""
    await fake.wait_for(lambda: db_rows(settings, "SELECT count(*) FROM outbox WHERE status = 'pending'"
                                                  " AND channel = 'telegram'") == [(0,)],
                        timeout=30)


def answers(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    """Messages the chat really received (failed attempts left out), with what the fake returned."""
    return [{"params": c.params, "result": c.result} for c in fake.calls
            if c.method in ("sendMessage", "editMessageText") and c.result and str(c.params.get("chat_id")) == str(chat_id)]


async def say(fake: FakeTelegram, chat_id: int, text: str, user_id: int, count: int = 1) -> list[dict[str, Any]]:
    before = len(answers(fake, chat_id))
    if chat_id < 0:
        fake.push(tg.group_text(chat_id, text, user_id))
    else:
        update = tg.text(chat_id, text)
        update["message"]["from"] = tg.user(user_id)
        fake.push(update)
    await fake.wait_for(lambda: len(answers(fake, chat_id)) >= before + count)
    return answers(fake, chat_id)[before:]


def keyboard(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message["params"].get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def press(fake: FakeTelegram, message: dict[str, Any], label: str, user_id: int,
                data: str | None = None) -> list[dict[str, Any]]:
    chat_id = int(message["params"]["chat_id"])
    data = data or next(d for text, d in keyboard(message) if text == label)
    shown = dict(message["result"], reply_markup=message["params"].get("reply_markup"))
    before = len(answers(fake, chat_id))
    if chat_id < 0:
        fake.push(tg.group_press(chat_id, data, shown, user_id))
    else:
        update = tg.press(chat_id, data, int(message["result"]["message_id"]), str(message["params"]["text"]))
        update["callback_query"]["from"] = tg.user(user_id)
        update["callback_query"]["message"]["reply_markup"] = message["params"].get("reply_markup")
        fake.push(update)
    await fake.wait_for(lambda: len(answers(fake, chat_id)) > before)
    return answers(fake, chat_id)[before:]


# --- durable answers ------------------------------------------------------------------------

async def test_a_staff_answer_survives_a_telegram_500(fake: FakeTelegram, settings: Settings) -> None:
    """Before: the answer was sent directly and lost on an error, with only a log line."""
    await seed(settings)
    async with polling_bot(settings):
        fake.fail("sendMessage", 500, "Internal Server Error", times=2, chat_id=ADMIN)
        fake.push(tg.text(ADMIN, "/tambah_moderator 5151"))
        await fake.wait_for(lambda: any("5151 sekarang moderator" in a["params"]["text"] for a in answers(fake, ADMIN)),
                            timeout=20)
        assert len([c for c in fake.calls if c.method == "sendMessage" and str(c.params["chat_id"]) == str(ADMIN)
                    and "5151" in str(c.params.get("text"))]) == 3, "two failures, then the answer"
        await until_quiet(settings, chat=("telegram", str(ADMIN)))  # sent, then recorded as sent
    assert db_rows(settings, "SELECT count(*) FROM moderators") == [(1,)]
    assert [r.status for r in outbox_of(settings) if r.address == str(ADMIN) and "staff" in r.text] == ["sent"]


def _bot(fake: FakeTelegram, tmp: Path, settings: Settings) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL=fake.api_url, TELEGRAM_BASE_FILE_URL=fake.file_url,
               DATABASE_PATH=str(settings.database_path), EVIDENCE_DIR=str(settings.evidence_dir),
               ADMIN_TELEGRAM_IDS=str(ADMIN), MODERATOR_CHAT_ID=str(MODERATORS), DELIVERY_POLL_SECONDS="0.1",
               DELIVERY_LEASE_SECONDS="2",
               DELIVERY_BACKOFF_SECONDS="0.2", TELEGRAM_TIMEOUT="20", ALLOW_EPHEMERAL_DATABASE="1",
               LOG_LEVEL="ERROR", PYTHONPATH=str(ROOT))
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=(tmp / "bot.log").open("ab"))


@pytest.mark.slow  # SIGKILL of a bot process
async def test_a_staff_answer_survives_a_sigkill_between_the_command_and_the_send(
        fake: FakeTelegram, settings: Settings, tmp_path: Path) -> None:
    """The command's effect and its answer are committed together; the process dies while
    the answer is on its way (Telegram holds the call, then fails it). After a restart the
    redelivered update changes nothing again, and the answer goes out once its lease ends.
    Before: the redelivered command answered "Sudah dilakukan." and the real answer was lost."""
    await seed(settings)
    fake.known_chats.add(ADMIN)
    process = _bot(fake, tmp_path, settings)
    try:
        await fake.wait_for(lambda: bool(fake.sent("getUpdates")), timeout=30)
        fake.fail("sendMessage", 500, "Internal Server Error", delay=30, chat_id=ADMIN)  # held, then failed
        fake.push(tg.text(ADMIN, "/tambah_moderator 5151"))
        await fake.wait_for(lambda: any(c.method == "sendMessage" and str(c.params["chat_id"]) == str(ADMIN)
                                        for c in fake.calls), timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert not answers(fake, ADMIN), "nothing reached the admin"
        assert db_rows(settings, "SELECT count(*) FROM moderators") == [(1,)], "the effect was committed"
        process = _bot(fake, tmp_path, settings)
        await fake.wait_for(lambda: bool(answers(fake, ADMIN)), timeout=60)
        await asyncio.sleep(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    texts = [a["params"]["text"] for a in answers(fake, ADMIN)]
    assert texts == ["5151 sekarang moderator."], (texts, (tmp_path / "bot.log").read_text())


async def test_an_answer_sent_at_once_is_leased_to_this_worker_and_a_private_one_is_a_reply(
        fake: FakeTelegram, settings: Settings) -> None:
    """Issue 25 meets issue 29: the lease of an answer the channel sends at once names the
    process's worker (a restart, or another worker once its heartbeat stops, frees it at
    once instead of when the lease ends), and an answer in a private chat goes before news
    and group posts, as a reporter's reply does; one in a group is a post like any other."""
    await seed(settings)
    fake.known_chats.add(ADMIN)
    async with polling_bot(settings) as runtime:
        assert runtime.worker is not None
        worker = runtime.worker.worker_id
        await quiet(fake, settings)
        fake.hold("sendMessage", ADMIN, 1.5)  # carried out now, answered later: the answers are in flight
        fake.hold("sendMessage", GROUP, 1.5)
        await say(fake, ADMIN, "/kasus", ADMIN)
        await say(fake, GROUP, "/kasus", OFFICER)
        in_flight = [(r.address, priority, leased_by) for r in outbox_of(settings) if r.status == "pending"
                     and "staff" in r.payload
                     for priority, leased_by in db_rows(settings, "SELECT priority, leased_by FROM outbox WHERE id = ?",
                                                        r.id)]
        await quiet(fake, settings)
    assert in_flight == [(str(ADMIN), 0, worker), (str(GROUP), 1, worker)]
    assert [(r.status, db_rows(settings, "SELECT leased_by FROM outbox WHERE id = ?", r.id)[0][0])
            for r in outbox_of(settings) if "staff" in r.payload] == [("sent", None), ("sent", None)]


@pytest.mark.slow  # waits for a group's next per-minute slot in real time (~40 s)
async def test_an_answer_in_a_group_keeps_to_its_rate_and_no_part_goes_twice(fake: FakeTelegram,
                                                                             backend: Backend) -> None:
    """A group gets 3 messages a minute here. The second /statistik's text takes the last
    slot; its chart has none, so the answer gives its lease back until the group's next slot
    (it never waits inside the call) and then sends the chart only: the text that went is
    recorded and not sent again."""
    settings = settings_for(fake, backend, admin_telegram_ids=[ADMIN], moderator_chat_id=MODERATORS,
                            delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1, telegram_timeout=2.0,
                            telegram_max_rate=0, telegram_group_max_per_minute=3)
    await seed(settings, denpasar=0, badung=1)  # the case goes to the other group: this one has had no message
    async with polling_bot(settings) as runtime:
        assert runtime.worker is not None
        await quiet(fake, settings)
        assert not fake.sent("sendMessage", GROUP) and not fake.sent("sendPhoto", GROUP)
        await say(fake, GROUP, "/statistik", OFFICER)
        await fake.wait_for(lambda: len(fake.sent("sendPhoto", GROUP)) == 1, timeout=20)
        await quiet(fake, settings)  # recorded as sent: the next answer is leased to the channel, sent at once
        await say(fake, GROUP, "/statistik 7", OFFICER)
        await fake.wait_for(lambda: runtime.worker is not None and runtime.worker.throttled >= 1, timeout=10)
        assert len(fake.sent("sendPhoto", GROUP)) == 1, "the second chart waits for the group's next slot"
        await fake.wait_for(lambda: len(fake.sent("sendPhoto", GROUP)) == 2, timeout=60)
        await quiet(fake, settings)
    texts = [c["text"].split(":")[0] for c in fake.sent("sendMessage", GROUP)]
    assert texts == ["Kasus 30 hari terakhir", "Kasus 7 hari terakhir"], texts
    with inspect_db(settings) as db:  # an address is stored as its keyed hash
        parts = db.execute("SELECT status, progress FROM outbox WHERE address = ? ORDER BY id",
                           (db.lookup(str(GROUP)),)).fetchall()
    assert parts == [("sent", 2), ("sent", 2)], "sent at once, each part recorded as it went"


# --- menus ---------------------------------------------------------------------------------

async def test_the_menus_per_scope_as_telegram_keeps_them(fake: FakeTelegram, settings: Settings) -> None:
    """Reporters (incl. /data_saya and /hapus_data), focal groups, each admin's and moderator's
    private chat; a moderator's menu follows them being added and removed."""
    reporter = REPORTER_MENU
    fake.known_chats.update({ADMIN, MODERATOR})  # people who wrote to the bot before
    async with polling_bot(settings):
        assert fake.menu_seen(123, "id") == reporter and fake.menu_seen(123, "en") == reporter
        assert fake.menus[("all_private_chats", "")][-1]["description"] == "Hapus data Anda"
        assert fake.menus[("all_private_chats", "en")][-1]["description"] == "Erase your data"
        assert fake.menu_seen(GROUP) == GROUP_MENU
        assert fake.menus[("all_group_chats", "")][0]["description"] == "Daftar kasus per halaman"
        assert fake.menu_seen(ADMIN, "en") == ADMIN_MENU, "the staff's language, whatever the client's"
        assert fake.menu_seen(MODERATOR) == reporter, "not a moderator yet"
        await say(fake, ADMIN, f"/tambah_moderator {MODERATOR}", ADMIN)
        await fake.wait_for(lambda: fake.menu_seen(MODERATOR) == MODERATOR_MENU)
        await say(fake, ADMIN, f"/tambah_moderator {NEWCOMER}", ADMIN)  # never wrote to the bot: no menu yet
        await say(fake, ADMIN, f"/hapus_moderator {MODERATOR}", ADMIN)
        await fake.wait_for(lambda: fake.menu_seen(MODERATOR) == reporter)
        await until_quiet(settings)  # each menu sent, then recorded as sent
    menus = Counter(r.status for r in outbox_of(settings) if '"menu"' in r.text)
    assert sorted(menus.items()) == [("failed", 1), ("sent", 2)]


# --- buttons ---------------------------------------------------------------------------------

async def test_kasus_pages_by_button_and_opens_a_case(fake: FakeTelegram, settings: Settings) -> None:
    await seed(settings, denpasar=12)
    fake.known_chats.add(ADMIN)
    async with polling_bot(settings):
        await quiet(fake, settings)
        (listing,) = await say(fake, ADMIN, "/kasus", ADMIN)
        assert listing["params"]["text"].startswith("12 kasus, halaman 1 dari 2:")
        labels = [text for text, _data in keyboard(listing)]
        assert len(labels) == 11 and labels[-1] == "›" and all(t.startswith("LN-") for t in labels[:10])
        (page,) = await press(fake, listing, "›", ADMIN)
        assert page["params"]["text"].startswith("12 kasus, halaman 2 dari 2:")
        assert page["result"]["message_id"] == listing["result"]["message_id"], "the list turned its page in place"
        assert [t for t, _d in keyboard(page)][-1] == "‹" and len(keyboard(page)) == 3
        number = keyboard(page)[0][0]
        (case,) = await press(fake, page, number, ADMIN)
        assert case["params"]["text"].startswith(f"Laporan {number}")
        assert case["result"]["message_id"] != listing["result"]["message_id"], "a case opens as a new message"
        (back,) = await press(fake, page, "‹", ADMIN)
        assert back["params"]["text"].startswith("12 kasus, halaman 1 dari 2:")


async def test_buttons_go_through_the_same_audience_and_role_checks(fake: FakeTelegram, settings: Settings) -> None:
    await seed(settings, denpasar=1, badung=1)
    async with polling_bot(settings):
        await quiet(fake, settings)
        (mine,) = await say(fake, GROUP, "/kasus", OFFICER)
        assert mine["params"]["text"].startswith("1 kasus, halaman 1 dari 1:"), "a group lists only its own cases"
        (theirs,) = await say(fake, OTHER_GROUP, "/kasus", OFFICER)
        other = keyboard(theirs)[0][1]
        assert other.startswith("s:l:")
        (refused,) = await press(fake, mine, "", OFFICER, data=other)  # a button of another group's case
        assert refused["params"]["text"] == "Kasus ini tidak ditugaskan ke grup ini."
        stranger = 999
        fake.known_chats.add(stranger)
        message = {"params": {"chat_id": stranger, "text": "x"}, "result": {"message_id": 1, "chat": {"id": stranger}}}
        (refused,) = await press(fake, message, "", stranger, data=keyboard(mine)[0][1])
        assert refused["params"]["text"] == "Maaf, perintah itu tidak tersedia untuk Anda."


async def test_setstatus_without_a_status_offers_the_statuses(fake: FakeTelegram, settings: Settings) -> None:
    await seed(settings)
    async with polling_bot(settings):
        await quiet(fake, settings)
        (listing,) = await say(fake, GROUP, "/kasus", OFFICER)
        number = keyboard(listing)[0][0]
        (menu,) = await say(fake, GROUP, f"/setstatus {number}", OFFICER)
        assert menu["params"]["text"].startswith(f"{number} berstatus Diteruskan. Pilih status barunya")
        assert [t for t, _d in keyboard(menu)] == ["Diterima", "Ditolak"], "what an officer may do now"
        # the card's edit may land in the same moment as the answer: it is not the answer
        (done,) = [a for a in await press(fake, menu, "Diterima", OFFICER)
                   if not str(a["params"].get("text", "")).startswith("<b>Laporan")]
        assert done["params"]["text"] == f"{number}: Diteruskan → Diterima."
        assert done["result"]["message_id"] == menu["result"]["message_id"], "the menu became the answer"
        await quiet(fake, settings)  # the card's edit
        (again,) = await press(fake, menu, "Ditolak", OFFICER)
        assert again["params"]["text"].startswith("Penolakan perlu alasan")
    assert db_rows(settings, "SELECT status FROM cases") == [("diterima",)]
