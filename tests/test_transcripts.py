"""Golden transcripts: inbound lines and the exact replies they produce.

Each file in tests/transcripts holds `> input` lines, each followed by the expected
replies, and ends with `= state`. Run with UPDATE_GOLDEN=1 to rewrite them after an
intended change, then read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.engine import Engine
from tests.chat import Chat, render

HERE = Path(__file__).parent / "transcripts"
FILES = sorted(HERE.glob("*.txt"))


def inputs_of(text: str) -> tuple[str | None, list[str]]:
    locale = None
    lines = []
    for line in text.splitlines():
        if line.startswith("# locale: "):
            locale = line.removeprefix("# locale: ").strip()
        elif line.startswith("> "):
            lines.append(line[2:])
    return locale, lines


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_transcript(engine: Engine, path: Path) -> None:
    expected = path.read_text(encoding="utf-8")
    locale, lines = inputs_of(expected)
    chat = Chat(engine, locale=locale or "id")
    header = [line for line in expected.splitlines() if line.startswith("# ")]
    produced = list(header)
    for line in lines:
        handled = await chat.send(line)
        produced.append(f"> {line}")
        produced.extend(f"  {reply}" if reply else "" for reply in render(handled.replies))
    produced.append(f"= {await chat.state()}")
    actual = "\n".join(produced) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == expected
