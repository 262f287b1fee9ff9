"""Issue 14: a lean process. The heavy libraries (matplotlib for the chart, XlsxWriter for
the export, Pillow and the file cleaners for evidence) are imported when first needed,
not when the bot starts: a fresh idle process does not carry them. bench/idle_memory.py
measures the RSS this saves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # Python started as a process

ROOT = Path(__file__).resolve().parent.parent
# `cleaning` itself is a dispatcher of a few kilobytes; its libraries are the heavy part
HEAVY = ("matplotlib", "PIL", "xlsxwriter", "pikepdf", "av", "pillow_heif", "numpy", "fpdf", "dateparser")
START_PATH = """
import sys
import bot.__main__, bot.runtime, bot.delivery, bot.web, bot.serve, bot.background, bot.metrics
import bot.telegram.app, bot.telegram.polling, bot.telegram.channel, bot.telegram.focal
import bot.telegram.sender, bot.telegram.staff, bot.telegram.case_card, bot.telegram.inbound
import bot.whatsapp.inbox, bot.whatsapp.sender, bot.whatsapp.webhook
import bot.charts, bot.export
heavy = sorted({name.split('.')[0] for name in sys.modules} & set(sys.argv[1:]))
print(",".join(heavy))
"""


def test_starting_the_bot_imports_none_of_the_heavy_libraries() -> None:
    """Before: bot/charts.py imported matplotlib, bot/export.py XlsxWriter and the sender
    Pillow at import time, so every process carried them from the start."""
    out = subprocess.run([sys.executable, "-c", START_PATH, *HEAVY], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_the_chart_and_the_cleaner_still_load_when_used() -> None:
    code = """
import sys
from bot.charts import render_png
from storage.case_queries import Counts
png = render_png(Counts(1, [("51.71", 1)], [("media_sosial", 1)], [("baru", 1)]), "t", "id")
assert png.startswith(b"\\x89PNG")
import cleaning
assert "matplotlib" in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
