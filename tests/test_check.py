"""Issue 29, running it for real: `python -m bot check`, and `run`/`serve` refusing bad
settings in one line each (exit code 2, no traceback, no secret), as real processes
against the fake Bot API and the fake Twilio."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
SECRET_PART = tg.TOKEN.split(":", 1)[1]
WRONG_TWILIO = "wrong-auth-token-fedcba9876543210"



def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment (nothing of the machine's settings), Indonesian, on a SQLite file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "PUBLIC_", "EVIDENCE_", "LC_", "LANG", "DYNO",
                                "K_SERVICE", "ALLOW_"))}
    env.update(PYTHONPATH=str(ROOT), LANG="C.UTF-8", DATABASE_PATH=str(tmp_path / "data" / "lapor.db"),
               EVIDENCE_DIR=str(tmp_path / "data" / "evidence"), TELEGRAM_TIMEOUT="3", **settings)
    return env


def telegram_env(fake: FakeTelegram) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": tg.TOKEN, "TELEGRAM_BASE_URL": fake.api_url, "TELEGRAM_BASE_FILE_URL": fake.file_url}


def twilio_env(twilio: FakeTwilio, token: str = tw.AUTH_TOKEN) -> dict[str, str]:
    return {"TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": token, "TWILIO_WHATSAPP_FROM": tw.BOT_NUMBER,
            "TWILIO_API_BASE_URL": twilio.base}


async def cli(tmp_path: Path, *args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, list[str]]:
    """`python -m bot ...` as a process (the fakes keep serving meanwhile): its exit code and
    every line it printed, stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode().splitlines()


@pytest.mark.slow  # the command as a process
async def test_run_with_a_rejected_token_says_so_in_one_line(fake: FakeTelegram, tmp_path: Path) -> None:
    """Before: a 92-line traceback quoting the whole token, then unclosed aiohttp sessions."""
    fake.fail("getMe", 401, "Unauthorized", times=100)
    code, lines = await cli(tmp_path, "run", env=environment(tmp_path, LOG_LEVEL="DEBUG", **telegram_env(fake)))
    assert code == 2, lines
    assert 1 <= len(lines) <= 5, lines
    assert any("TELEGRAM_BOT_TOKEN" in line and "@BotFather" in line for line in lines), lines
    text = "\n".join(lines)
    assert SECRET_PART not in text and "Traceback" not in text and "Unclosed" not in text


@pytest.mark.slow  # the command as a process
async def test_run_with_an_unreachable_api_says_so_in_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path, TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    code, lines = await cli(tmp_path, "run", env=env)
    assert code == 2 and len(lines) == 1, lines
    assert "Telegram tidak bisa dihubungi di 127.0.0.1" in lines[0] and "TELEGRAM_BASE_URL" in lines[0]
    assert SECRET_PART not in lines[0]


@pytest.mark.slow  # the command as a process
async def test_serve_lists_every_missing_or_wrong_setting_at_once(tmp_path: Path) -> None:
    """Before: PUBLIC_BASE_URL first, and after a restart the next one."""
    env = environment(tmp_path, TWILIO_ACCOUNT_SID=tw.ACCOUNT_SID, PORT="delapan", ADMIN_TELEGRAM_IDS="12,abc")
    code, lines = await cli(tmp_path, "serve", env=env)
    assert code == 2, lines
    for setting in ("PORT", "ADMIN_TELEGRAM_IDS", "PUBLIC_BASE_URL", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"):
        assert sum(line.startswith(setting) for line in lines) == 1, (setting, lines)
    assert len(lines) == 5 and "delapan" not in "\n".join(lines), "a wrong value is named, never shown"


@pytest.mark.slow  # the command as a process
async def test_serve_with_a_wrong_twilio_secret_refuses_in_one_line(twilio: FakeTwilio, tmp_path: Path) -> None:
    env = environment(tmp_path, PUBLIC_BASE_URL="https://lapor.example.org", **twilio_env(twilio, WRONG_TWILIO))
    code, lines = await cli(tmp_path, "serve", env=env)
    assert code == 2 and len(lines) == 1, lines
    assert "TWILIO_AUTH_TOKEN" in lines[0] and WRONG_TWILIO not in lines[0]


@pytest.mark.slow  # the command as a process
async def test_check_names_each_problem_and_fails(fake: FakeTelegram, twilio: FakeTwilio, tmp_path: Path) -> None:
    """A wrong Telegram token, a wrong Twilio secret, a database not migrated and an http
    public URL: each named in its own line, with the fix; exit code 1."""
    fake.fail("getMe", 401, "Unauthorized", times=100)
    env = environment(tmp_path, PUBLIC_BASE_URL="http://lapor.example.org", TELEGRAM_WEBHOOK_SECRET="s3cret",
                      **telegram_env(fake), **twilio_env(twilio, WRONG_TWILIO))
    code, lines = await cli(tmp_path, "check", env=env)
    assert code == 1, lines
    failed = [line for line in lines if line.startswith("✗")]
    assert len(failed) == 4, lines
    assert any("PUBLIC_BASE_URL" in line and "https://" in line for line in failed)
    assert any("TELEGRAM_BOT_TOKEN" in line and "@BotFather" in line for line in failed)
    assert any("TWILIO_AUTH_TOKEN" in line for line in failed)
    assert any("python -m bot migrate" in line for line in failed)
    text = "\n".join(lines)
    assert SECRET_PART not in text and WRONG_TWILIO not in text and "s3cret" not in text
    assert not (tmp_path / "data" / "lapor.db").exists(), "check creates no database"


@pytest.mark.slow  # the command as a process
async def test_check_passes_when_everything_answers(fake: FakeTelegram, twilio: FakeTwilio, tmp_path: Path) -> None:
    env = environment(tmp_path, PUBLIC_BASE_URL="https://lapor.example.org", TELEGRAM_WEBHOOK_SECRET="s3cret",
                      **telegram_env(fake), **twilio_env(twilio))
    assert (await cli(tmp_path, "migrate", env=env))[0] == 0
    assert (await cli(tmp_path, "routes", "add", "51.71", "-100201", "--title", "Fokus Denpasar", env=env))[0] == 0
    fake.webhook_url = "https://lapor.example.org/telegram/webhook"  # as `serve` set it
    code, lines = await cli(tmp_path, "check", env=env)
    assert code == 0, lines
    assert all(line.startswith("✓") for line in lines), lines
    assert [line.split(":")[0] for line in lines] == [
        "✓ Basis data (SQLite)", "✓ Kunci data", "✓ Telegram", "✓ Webhook Telegram adalah https", "✓ Twilio",
        "✓ Narahubung", "✓ Pekerjaan yang dikesampingkan karena layanan berulang kali berhenti (7 hari terakhir)"]
    fake.webhook_error = (int(time.time()) - 60, "Wrong response from the webhook: 502 Bad Gateway")
    fake.gone_chats.add(-100201)
    code, lines = await cli(tmp_path, "check", env=env)
    assert code == 1
    failed = [line for line in lines if line.startswith("✗")]
    assert len(failed) == 2 and "502 Bad Gateway" in failed[0] and "-100201" in failed[1], lines


@pytest.mark.slow  # the command as a process
async def test_check_names_work_set_aside_after_crashes_without_failing(fake: FakeTelegram, twilio: FakeTwilio,
                                                                        tmp_path: Path) -> None:
    """Work the service died on three times (issue 28's poison pills) is a "!" line per kind,
    with how many and when the last was, and no identifier: someone should look, but the
    setup is right, so `check` still passes."""
    from storage import Database, workers

    env = environment(tmp_path, PUBLIC_BASE_URL="https://lapor.example.org", TELEGRAM_WEBHOOK_SECRET="s3cret",
                      **telegram_env(fake), **twilio_env(twilio))
    assert (await cli(tmp_path, "migrate", env=env))[0] == 0
    fake.webhook_url = "https://lapor.example.org/telegram/webhook"
    db = await Database.open(tmp_path / "data" / "lapor.db")
    try:
        async with db.transaction() as tx:
            for kind, days_ago in (("delivery:post_case", 1), ("delivery:post_case", 0), ("inbound", 2),
                                   ("inbound", 8)):  # the last one is older than a week: not counted
                at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
                await workers.record_set_aside(tx, kind, "telegram", None, workers.MAX_CRASHES, at)
    finally:
        await db.close()
    code, lines = await cli(tmp_path, "check", env=env)
    assert code == 0, lines
    looks = [line for line in lines if line.startswith("!")]
    assert len(looks) == 2, lines
    assert "2 × kartu kasus atau filenya untuk grup" in looks[0] and "WIB" in looks[0], looks
    assert "1 × pesan atau file dari pelapor" in looks[1], looks


@pytest.mark.slow  # the command as a process
async def test_serve_refuses_an_ephemeral_disk_unless_allowed(tmp_path: Path) -> None:
    from bot.check import filesystem_of

    base = environment(tmp_path, PUBLIC_BASE_URL="https://lapor.example.org", TELEGRAM_WEBHOOK_SECRET="s3cret",
                       TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    code, lines = await cli(tmp_path, "serve", env={**base, "DYNO": "web.1"})
    assert code == 2 and len(lines) == 1, lines
    assert "DATABASE_URL" in lines[0] and "Heroku" in lines[0] and "ALLOW_EPHEMERAL_DATABASE=1" in lines[0]
    code, lines = await cli(tmp_path, "serve", env={**base, "DYNO": "web.1", "ALLOW_EPHEMERAL_DATABASE": "1"})
    assert code == 2 and len(lines) == 1 and "DATABASE_URL" not in lines[0], "allowed: the next problem is named"
    if filesystem_of(Path("/dev/shm")) == "tmpfs":
        shm = Path("/dev/shm") / f"lapor-{uuid.uuid4().hex}"
        try:
            code, lines = await cli(tmp_path, "serve", env={**base, "DATABASE_PATH": str(shm / "lapor.db")})
            assert code == 2 and "DATABASE_URL" in lines[0] and "tmpfs" in lines[0], lines
        finally:
            if shm.exists():
                for child in sorted(shm.rglob("*"), reverse=True):
                    child.unlink() if child.is_file() else child.rmdir()
                shm.rmdir()


def test_the_file_system_of_a_path_comes_from_the_mount_table(tmp_path: Path) -> None:
    from bot.check import filesystem_of

    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\ntmpfs /app/data tmpfs rw 0 0\n"
                      "tmpfs /srv/my\\040data tmpfs rw 0 0\n", encoding="utf-8")
    assert filesystem_of(Path("/app/data/lapor.db"), mounts) == "tmpfs"
    assert filesystem_of(Path("/app/database/lapor.db"), mounts) == "ext4"
    assert filesystem_of(Path("/srv/my data/x.db"), mounts) == "tmpfs"
    assert filesystem_of(Path("/app/data/lapor.db"), tmp_path / "none") is None


@pytest.mark.slow  # the command as a process
async def test_check_reads_the_schema_without_migrating(backend: Backend, tmp_path: Path) -> None:
    """On both backends: a database that does not exist yet is named, and `migrate` makes it."""
    env = environment(tmp_path)
    if backend.postgres:
        import psycopg

        from tests.backends import _psycopg_dsn
        assert backend.url is not None
        empty = f"e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_psycopg_dsn(backend.url), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {empty}")
        env["DATABASE_URL"] = backend.url.replace(backend.url.split("?")[0].rsplit("/", 1)[1], empty, 1)
    code, lines = await cli(tmp_path, "check", "--for", "run", env=env)
    assert code == 1 and any("belum ada" in line and "python -m bot migrate" in line for line in lines), lines
    code, lines = await cli(tmp_path, "migrate", env=env)
    assert code == 0 and len(lines) == 1 and "dimigrasi" in lines[0], lines
    code, lines = await cli(tmp_path, "migrate", env=env)
    assert code == 0 and lines == [lines[0]] and "sudah mutakhir" in lines[0]
    code, lines = await cli(tmp_path, "check", "--for", "run", env=env)
    database = next(line for line in lines if "Basis data" in line)
    assert database.startswith("✓") and "mutakhir" in database, lines
