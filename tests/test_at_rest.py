"""Issue 24: a stolen copy names nobody. Three reports (Anonim and Terbuka on Telegram,
Rahasia on WhatsApp), each with a photo whose JPEG comment and a PDF whose /Author carry
the reporter's name and phone, go through the real service on each backend; an admin's
private `/lihat` and `/ekspor` still show the identity; then the raw bytes of everything a
copy would hold (the SQLite file and its -wal, every evidence file, a backup; on PostgreSQL
a `pg_dump` and the backup) are searched for the name, the phone in both forms, the chat id
and the WhatsApp number. With sealing switched off (`sealing.unsealed_for_tests`) the same
search finds them, so the search is not blind.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from bot.config import Settings
from bot.runtime import Runtime
from bot.web import make_web_app, start_site
from storage import sealing
from storage.backup import _libpq, backup, pg_tool
from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests import hostile_files as hostile
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio, WhatsAppUser
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_outbound_proof import PUBLIC

ADMIN = 4242001
GROUP = -1001000000001
TG_CHAT = 730111222
WA_NUMBER = "+6281298765432"
NAME = "Siti Aminah"
PHONE_LOCAL, PHONE_INTL = "081234567890", "+6281234567890"
NEEDLES = {"name": NAME, "phone (local)": PHONE_LOCAL, "phone (international)": PHONE_INTL[1:],
           "Telegram chat id": str(TG_CHAT), "WhatsApp number": WA_NUMBER[1:], "Telegram username": "wulan_pelapor"}
DESCRIPTION = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru SMPN-UJI."


def identifying_jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 90, 120)).save(out, "JPEG", comment=f"{NAME} {PHONE_LOCAL} {PHONE_INTL}".encode())
    return out.getvalue()


def identifying_pdf(title: str) -> bytes:
    document = pikepdf.new()
    document.add_blank_page(page_size=(200, 200))
    document.docinfo["/Author"] = f"{NAME} {PHONE_LOCAL} {PHONE_INTL}"
    document.docinfo["/Title"] = title
    out = io.BytesIO()
    document.save(out, compress_streams=False)
    return out.getvalue()


async def telegram_report(fake: FakeTelegram, r: Reporter, identity: str, first: bool, tag: str) -> None:
    await r.until_evidence(DESCRIPTION, first)
    await r.send(tg.photo(fake, r.chat_id, f"foto-{tag}", identifying_jpeg(40 if first else 140)))
    await r.send(tg.document(fake, r.chat_id, f"Laporan_{NAME.replace(' ', '_')}_{tag}.pdf", identifying_pdf(tag)))
    await r.press("done")
    await r.press(identity)
    if identity != "anonim":
        await r.say(NAME)
        await r.say(PHONE_LOCAL)
    await r.press("send")


async def whatsapp_report(twilio: FakeTwilio, user: WhatsAppUser) -> None:
    for answer in ("halo", "1", "denpasar", "Pemerintah daerah", "8", "SMPN 1 Denpasar", "Budi Santoso",
                   "Kepala Sekolah", "1", "2", "19/11/2024", "2", "Ruang guru"):
        await user.say(answer)
    await user.location(-8.65, 115.21)
    await user.say(DESCRIPTION)
    await user.say("1")  # no witnesses
    await user.send(user.form("", NumMedia="1", MediaUrl0=twilio.host("wa-foto", identifying_jpeg(220)),
                              MediaContentType0="image/jpeg"))
    await user.send(user.form("", NumMedia="1", MediaUrl0=twilio.host("wa-pdf", identifying_pdf("wa"), "application/pdf"),
                              MediaContentType0="application/pdf"))
    await user.say("1")  # done with the evidence
    await user.say("2")  # Rahasia
    await user.say(NAME)
    await user.say(PHONE_LOCAL)
    await user.say("1")  # send


@asynccontextmanager
async def service(settings: Settings, twilio: FakeTwilio) -> AsyncIterator[tuple[Runtime, WhatsAppUser]]:  # noqa: F811
    """`run` (Telegram polling) with the WhatsApp webhook of `serve`, on one database."""
    async with polling_bot(settings) as runtime:
        assert runtime.db is not None
        site = await start_site(make_web_app(settings, runtime.db, None), settings.host, settings.port)
        try:
            yield runtime, WhatsAppUser(twilio, f"http://127.0.0.1:{settings.port}/twilio/whatsapp",
                                        PUBLIC + "/twilio/whatsapp", WA_NUMBER, settings)
        finally:
            await site.cleanup()


async def until(condition: object, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


def hits(data: bytes) -> set[str]:
    """Which identifiers the bytes hold, as text or as hex (a dump shows BYTEA in hex)."""
    found = set()
    lowered = data.lower()
    for label, needle in NEEDLES.items():
        raw = needle.encode()
        if raw in data or raw.hex().encode() in lowered:
            found.add(label)
    return found


def copies(backend: Backend, settings: Settings, backup_file: Path) -> dict[str, bytes]:
    """Every file a copy of the installation would hold."""
    files = {"backup": backup_file.read_bytes()}
    if backend.postgres:
        assert backend.url is not None
        bare, env = _libpq(backend.url)
        files["pg_dump"] = subprocess.run([pg_tool("pg_dump"), "--format=plain", f"--dbname={bare}"], env=env,
                                          check=True, capture_output=True).stdout
        return files
    database = Path(settings.database_path)
    for path in (database, Path(f"{database}-wal")):
        if path.exists():
            files[path.name] = path.read_bytes()
    for path in sorted(Path(settings.evidence_dir).rglob("*")):
        if path.is_file():
            files[f"evidence/{path.relative_to(settings.evidence_dir)}"] = path.read_bytes()
    return files


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "unsealed"])
async def test_a_copy_of_the_data_names_nobody(fake: FakeTelegram, twilio: FakeTwilio,  # noqa: F811
                                               backend: Backend, unused_tcp_port: int, sealed: bool,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain_user = tg.user
    monkeypatch.setattr(tg, "user", lambda user_id, language="id", **extra: {
        **plain_user(user_id, language), "first_name": "Wulan", "username": "wulan_pelapor", **extra}
        if user_id == TG_CHAT else plain_user(user_id, language, **extra))
    settings = settings_for(
        fake, backend, admin_telegram_ids=[ADMIN], default_focal_chat_id=GROUP, delivery_poll_seconds=0.05,
        delivery_backoff_seconds=0.1, telegram_timeout=3.0, public_base_url=PUBLIC, host="127.0.0.1",
        port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
        twilio_whatsapp_from=tw.BOT_NUMBER, link_resolve=False, max_messages_per_minute=120, **twilio.settings())
    backup_file = tmp_path / "copies" / "lapor.backup"
    switch = sealing.unsealed_for_tests() if not sealed else _Nothing()
    with switch:
        async with service(settings, twilio) as (runtime, whatsapp):
            reporter = Reporter(fake, TG_CHAT)
            await telegram_report(fake, reporter, "anonim", first=True, tag="a")
            # the news that it was forwarded (with its own buttons) comes once the group has the card:
            # before the next report, so that the next report's buttons are the last ones shown
            await until(lambda: any("telah diteruskan" in t for t in fake.shown(TG_CHAT)))
            await telegram_report(fake, reporter, "terbuka", first=False, tag="t")
            await whatsapp_report(twilio, whatsapp)
            numbers = sorted({m.group(0) for t in twilio.to(WA_NUMBER) if (m := re.search(r"LN-\d{2}-[0-9A-Z]{5}", t))})
            assert len(numbers) == 1, "the WhatsApp report was filed"
            rahasia = numbers[0]
            admin = Reporter(fake, ADMIN)
            shown = await admin.say(f"/lihat {rahasia}")
            assert NAME in "\n".join(shown), "an admin's private /lihat shows the Rahasia name"
            before = len(fake.sent("sendDocument", ADMIN))
            await admin.say("/ekspor")
            await until(lambda: len(fake.sent("sendDocument", ADMIN)) >= before + 2)
            exported = [hostile.text_of(str(v["filename"]), v["data"]) for c in fake.calls
                        if c.method == "sendDocument" and str(c.params.get("chat_id")) == str(ADMIN)
                        for v in c.params.values() if isinstance(v, dict) and "data" in v]
            assert any(NAME in text and rahasia in text for text in exported), "/ekspor with identity has it"
            await until(lambda: len(fake.sent("sendMediaGroup", GROUP)) + len(fake.sent("sendDocument", GROUP)) >= 3)
            assert runtime.db is not None
            written = await backup(runtime.db, Path(settings.evidence_dir), backup_file)
            assert written.size > 0
    found = {name: hits(data) for name, data in copies(backend, settings, backup_file).items()}
    everywhere = set().union(*found.values())
    if sealed:
        assert everywhere == set(), {name: labels for name, labels in found.items() if labels}
    else:  # the same search on an unsealed copy finds every identifier: it is not blind
        assert everywhere >= {"name", "phone (local)", "phone (international)", "Telegram chat id", "WhatsApp number"}, \
            found


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
