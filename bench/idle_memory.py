"""Idle memory: the resident size (RSS) of a fresh, idle bot process, against a null bot
(plain PTB that replies "ok"). Each runs in its own process, polling the fake Bot API
(here, in this process); once it has polled a few times, its VmRSS is read from /proc,
and /proc/PID/maps says whether matplotlib's or Pillow's compiled parts were loaded.

`--code DIR` measures the bot from another checkout (for a before/after figure): for
example `git archive <commit> | tar -x -C /tmp/old` and `--code /tmp/old`.

Usage: python bench/idle_memory.py [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fake_telegram as tg  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

HEAVY_LIBRARIES = {"matplotlib": "matplotlib/", "Pillow": "PIL/", "XlsxWriter": "xlsxwriter/"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def loaded(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, path in HEAVY_LIBRARIES.items() if path in maps]


async def measure(label: str, command: list[str], env: dict[str, str], cwd: Path) -> tuple[str, float, list[str]]:
    fake = FakeTelegram()
    await fake.start()
    command = [fake.base if part == "{api}" else part for part in command]
    env = {**env, "TELEGRAM_BOT_TOKEN": tg.TOKEN, "TELEGRAM_BASE_URL": fake.api_url,
           "TELEGRAM_BASE_FILE_URL": fake.file_url}
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await fake.wait_for(lambda: len(fake.sent("getUpdates")) >= 3, timeout=60)
        await asyncio.sleep(2.0)  # idle: background loops have run their first rounds
        return label, rss_mib(process.pid), loaded(process.pid)
    finally:
        process.terminate()
        process.wait(20)
        await fake.stop()


async def main(code: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "DATABASE_PATH": f"{tmp}/lapor.db", "EVIDENCE_DIR": f"{tmp}/evidence",
                "LOG_LEVEL": "WARNING"}
        rows = [
            await measure("PTB null bot", [sys.executable, str(ROOT / "bench" / "telegram_throughput.py"),
                                           "--run-bot", "null", "--api", "{api}", "--dir", tmp],
                          {**base, "PYTHONPATH": str(ROOT)}, ROOT),
            await measure(f"Lapor Netral (python -m bot run, {code})", [sys.executable, "-m", "bot", "run"],
                          {**base, "PYTHONPATH": str(code)}, code),
        ]
    print(f"{'process':<60} {'RSS':>8}  heavy libraries loaded")
    for label, rss, heavy in rows:
        print(f"{label:<60} {rss:5.0f} MiB  {', '.join(heavy) or 'none'}")
    print(f"ratio {rows[1][1] / rows[0][1]:.2f}x the null bot")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose bot is measured")
    asyncio.run(main(parser.parse_args().code.resolve()))
