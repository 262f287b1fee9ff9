"""Golden transcripts: inbound lines and the exact replies they produce.

Each file in tests/transcripts holds `> input` lines, each followed by the expected
replies, and ends with `= state`. Messages that reach the reporter outside the step's
answer (news about the case, through the outbox) follow as `~` lines. A `# channel:`
header (whatsapp, console) shows the replies exactly as that channel prints them;
without one they are shown as buttons (`[id] label`), as on Telegram. `#notice V`
changes the privacy notice's version from that line on. Run with
UPDATE_GOLDEN=1 to rewrite them after an intended change, then read the diff before
committing it.

A transcript of the conversation alone runs through the report flow without a database
(`tests/steps.py`), once. One that needs what is stored (`/status`, `/data_saya`,
`/hapus_data`, a focal point with `#route`, news in `~` lines) runs through the engine, on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.engine import Engine
from flows.i18n import long_date
from flows.reporter import consent
from tests.chat import Chat, render
from tests.console_driver import ConsoleSession, console_env
from tests.steps import Steps

HERE = Path(__file__).parent / "transcripts"
FILES = sorted(HERE.glob("*.txt"))
STORED_INPUT = re.compile(r"^> (#route |/?status\b|/data_saya|/hapus_data|data_saya|hapus_data)|^  ~",
                          re.MULTILINE | re.IGNORECASE)


def needs_storage(path: Path) -> bool:
    """Whether the transcript reads what is stored (else `Steps` would refuse it anyway)."""
    return bool(STORED_INPUT.search(path.read_text(encoding="utf-8")))


ALONE = [p for p in FILES if not needs_storage(p)]
STORED = [p for p in FILES if needs_storage(p)]


def inputs_of(text: str) -> tuple[str | None, str, list[str]]:
    locale = None
    channel = "test"
    lines = []
    for line in text.splitlines():
        if line.startswith("# locale: "):
            locale = line.removeprefix("# locale: ").strip()
        elif line.startswith("# channel: "):
            channel = line.removeprefix("# channel: ").strip()
        elif line.startswith("> "):
            lines.append(line[2:])
    return locale, channel, lines


@pytest.mark.parametrize("path", ALONE, ids=[p.stem for p in ALONE])
async def test_transcript(steps: Steps, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await replay(steps, path, monkeypatch)


@pytest.mark.parametrize("path", STORED, ids=[p.stem for p in STORED])
async def test_transcript_with_storage(engine: Engine, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await replay(engine, path, monkeypatch)


def test_every_transcript_runs() -> None:
    assert sorted(ALONE + STORED) == FILES and ALONE and STORED


async def replay(engine: Engine | Steps, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = path.read_text(encoding="utf-8")
    locale, channel, lines = inputs_of(expected)
    chat = Chat(engine, locale=locale or "id", channel=channel)
    header = [line for line in expected.splitlines() if line.startswith("# ")]
    produced = list(header)
    for line in lines:
        if line.startswith("#notice "):  # the privacy notice changes from here on
            monkeypatch.setattr(consent, "NOTICE_VERSION", line.split()[1])
            produced.append(f"> {line}")
            continue
        handled = await chat.send(line)
        produced.append(f"> {line}")
        produced.extend(f"  {reply}" if reply else "" for reply in render(handled.replies, channel, handled.locale))
        news = await chat.news()
        produced.extend(f"  ~ {reply}" if reply else "  ~" for reply in render(news, channel, handled.locale))
    produced.append(f"= {await chat.state()}")
    actual = "\n".join(produced) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == expected


# --- the real console, through pipes --------------------------------------------------

CONSOLE = HERE / "console"
CONSOLE_FILES = sorted(CONSOLE.glob("*.txt"))
MASKS = [(re.compile(r"LN-\d{2}-[0-9A-Z]{5}"), "LN-XX-XXXXX")]


def _evidence_files(folder: Path) -> None:
    """Real files for the session to send: a JPEG (with a space in its name) and a PDF."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    (folder / "bukti saya.jpg").write_bytes(buffer.getvalue())
    (folder / "surat.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


def _typed(line: str, case: str | None) -> str:
    """Directives for lines a golden file cannot hold literally."""
    if line.startswith("/#word "):
        return "/" + "x" * int(line.split()[1])
    word, _, rest = line.partition(" ")
    if word == "#word":
        return "x" * int(rest)
    if word == "#line":
        return ("kata " * int(rest))[: int(rest)]
    if word == "#nul":
        return "foto\x00.jpg"
    return line.replace("{case}", case or "")


def _mask(text: str) -> list[str]:
    for locale, today in itertools.product(("id", "en"), _todays()):
        text = re.sub(re.escape(long_date(today, locale)) + r"(,? (pukul |at )?\d{1,2}[.:]\d{2}( [AP]M)?( WIB)?)?",
                      "<today>", text)
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return [f"  {line}" if line else "" for line in text.rstrip("\n").split("\n")]


def _todays() -> tuple[date, ...]:
    """The console's today is Jakarta's; the machine's may be a day behind it."""
    return tuple(dict.fromkeys((datetime.now(ZoneInfo("Asia/Jakarta")).date(), date.today())))


@pytest.mark.slow  # the console as a process
@pytest.mark.parametrize("path", CONSOLE_FILES, ids=[p.stem for p in CONSOLE_FILES])
def test_console_session(tmp_path: Path, path: Path) -> None:
    """`python -m bot console` with piped input, line by line: the screen shows only the
    bot and the person (nothing on stderr, logs in data/console.log), whatever is typed."""
    expected = path.read_text(encoding="utf-8")
    _evidence_files(tmp_path)
    env = console_env(tmp_path)
    produced = [line for line in expected.splitlines() if line.startswith("# ")]
    session: ConsoleSession | None = None
    case: str | None = None
    stderr = ""
    try:
        for line in (line[2:] for line in expected.splitlines() if line.startswith("> ")):
            produced.append(f"> {line}")
            if line in ("#open", "#restart"):
                if line == "#restart" and session is not None:
                    screen, code = session.eof()
                    stderr += session.stderr_text()
                    session.close()
                    produced.extend(_mask(screen) + [f"= exit {code}"])
                session = ConsoleSession(tmp_path, env)
                screen = session.start()
            elif line in ("#eof", "#ctrl-c"):
                assert session is not None
                screen, code = session.eof() if line == "#eof" else session.interrupt()
                stderr += session.stderr_text()
                produced.extend(_mask(screen) + [f"= exit {code}"])
                session.close()
                session = None
                continue
            else:
                assert session is not None
                screen = session.send(_typed(line, case))
            found = re.findall(r"LN-\d{2}-[0-9A-Z]{5}", screen)
            case = found[-1] if found else case
            produced.extend(_mask(screen))
    finally:
        if session is not None:
            stderr += session.stderr_text()
            session.close()
    actual = "\n".join(produced) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert stderr == "", "nothing reaches the terminal but the chat"
    assert (tmp_path / "data" / "console.log").exists(), "logs go to the file the README names"
    assert actual == expected
