"""Telegram throughput, in one run, of three bots through the same fake Bot API:

- a null bot (plain PTB, replies "ok" to everything): the ceiling;
- a plain PTB bot with a ConversationHandler over the same 20 steps and PicklePersistence
  flushed after every update: the usual peer, which is not durable in our sense;
- Lapor Netral itself (`python -m bot run`, its real report flow), and again in webhook
  mode (`python -m bot serve`), where the fake POSTs the updates.

Each bot runs in a process of its own, and so does the fake (bench/fake_bot_api.py), so
the bot is the bottleneck. 50 reporters in a closed loop each file one complete report
(12 presses, 8 typed answers). Printed per bot: updates/s, reply p50/p99, CPU ms per
update (the bot process's user+system time over the run), Bot API calls per update, and
the ratios to the null bot and the PTB peer. Then the HTTP client's own cost per Bot API
call: PTB's default HTTPXRequest with `sniffio` absent (httpcore then fails to import it
on every request) and, where sniffio is installed, present, and the aiohttp transport
Lapor Netral uses (bot/telegram/request.py); the null bot and the peer keep PTB's default.
Lapor Netral no longer declares sniffio (nothing of it calls httpx), and a plain PTB
install no longer pulls it in (anyio 4 dropped it): the peers run as such an install does.

All bots use the same rate-limiter setting (no overall cap), so the comparison is of the
work per update, not of Telegram's 30 messages/s allowance.

Usage: python bench/telegram_throughput.py [--reporters 50] [--only lapor,null,...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:TEST-TOKEN"
TICKS = os.sysconf("SC_CLK_TCK")
BOTS = ("null", "ptb", "lapor", "lapor-webhook")
LABELS = {"null": "PTB null bot (replies \"ok\")",
          "ptb": "PTB ConversationHandler + PicklePersistence",
          "lapor": "Lapor Netral, polling (python -m bot run)",
          "lapor-webhook": "Lapor Netral, webhook (python -m bot serve)"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_one(kind: str, reporters: int, tmp: Path) -> dict[str, Any]:
    fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_bot_api.py"), "--reporters", str(reporters),
                             "--answer", "any" if kind == "null" else "question"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert fake.stdout is not None
    port = json.loads(fake.stdout.readline())["port"]
    api = f"http://127.0.0.1:{port}"
    folder = tmp / kind
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_BASE_URL": f"{api}/bot",
           "TELEGRAM_BASE_FILE_URL": f"{api}/file/bot", "DATABASE_PATH": str(folder / "lapor.db"),
           "EVIDENCE_DIR": str(folder / "evidence"), "TELEGRAM_MAX_RATE": "0",
           "TELEGRAM_GROUP_MAX_PER_MINUTE": "0", "MAX_MESSAGES_PER_MINUTE": "0", "MAX_CASES_PER_DAY": "0",
           "LOG_LEVEL": "WARNING", "ALLOW_EPHEMERAL_DATABASE": "1"}
    if kind == "lapor":
        command = [sys.executable, "-m", "bot", "run"]
    elif kind == "lapor-webhook":
        bot_port = free_port()
        env.update(PUBLIC_BASE_URL=f"https://127.0.0.1:{bot_port}", TELEGRAM_WEBHOOK_SECRET="bench-secret",
                   HOST="127.0.0.1", PORT=str(bot_port))
        command = [sys.executable, "-m", "bot", "serve"]
    else:
        command = [sys.executable, str(ROOT / "bench" / "telegram_throughput.py"), "--run-bot", kind, "--api", api,
                   "--dir", str(folder)]
    log = (folder / "bot.log").open("w")  # a bot's complaints at being stopped mid-poll stay out of the table
    bot = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert json.loads(fake.stdout.readline()).get("started")
        cpu_before = cpu_seconds(bot.pid)
        result: dict[str, Any] = json.loads(fake.stdout.readline())
        result["cpu_seconds"] = cpu_seconds(bot.pid) - cpu_before
    finally:
        bot.terminate()
        try:
            bot.wait(20)
        except subprocess.TimeoutExpired:
            bot.kill()
        fake.wait(20)
        log.close()
    if kind.startswith("lapor"):
        import sqlite3

        with sqlite3.connect(folder / "lapor.db") as db:
            stored = db.execute("SELECT count(*) FROM cases").fetchone()[0]
        if stored != reporters:
            raise SystemExit(f"{kind}: only {stored} of {reporters} reports were stored; see {folder / 'bot.log'}")
    return result


def show(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'bot':<46} {'updates/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/upd':>10} {'calls/upd':>9}"
          f" {'vs null':>7} {'vs PTB':>7}")
    null = results.get("null")
    peer = results.get("ptb")
    for kind, r in results.items():
        rate = r["updates"] / r["seconds"]
        cpu = r["cpu_seconds"] * 1000 / r["updates"]
        calls = sum(r["calls"].values()) / r["updates"]
        vs_null = f"{rate / (null['updates'] / null['seconds']):.2f}x" if null else "-"
        vs_peer = f"{rate / (peer['updates'] / peer['seconds']):.2f}x" if peer else "-"
        print(f"{LABELS[kind]:<46} {rate:9.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {cpu:10.2f} {calls:9.2f}"
              f" {vs_null:>7} {vs_peer:>7}")
    if peer:
        peer_cpu = peer["cpu_seconds"] / peer["updates"]
        for kind in ("lapor", "lapor-webhook"):
            if kind in results:
                r = results[kind]
                print(f"{LABELS[kind]}: CPU per update {r['cpu_seconds'] / r['updates'] / peer_cpu:.2f}x the PTB peer's")
    for kind, r in results.items():
        extra = f", {r['in_response']} answered inside the webhook response" if r.get("in_response") else ""
        print(f"  {kind}: {r['updates']} updates, calls {dict(sorted(r['calls'].items()))}{extra}")


# --- the peers, run in their own processes ----------------------------------------------

def run_peer(kind: str, api: str, folder: Path) -> None:
    import asyncio

    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, Update
    from telegram.ext import (
        AIORateLimiter,
        Application,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        PicklePersistence,
        TypeHandler,
        filters,
    )

    from bench.fake_bot_api import SCRIPT

    builder = (Application.builder().token(TOKEN).base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
               .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=3)).concurrent_updates(True))
    if kind == "null":
        async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            if update.effective_chat:
                await context.bot.send_message(update.effective_chat.id, "ok")

        application = builder.build()
        application.add_handler(TypeHandler(Update, reply))
    else:
        application = builder.persistence(PicklePersistence(folder / "peer.pickle")).build()

        def question(step: int) -> tuple[str, Any]:
            """The question for SCRIPT[step]: buttons when the answer is a press."""
            text = f"Langkah {step + 1} dari {len(SCRIPT)}: jawab pertanyaan ini."
            line = SCRIPT[step]
            if line.startswith("@"):
                options = [line[1:], "lainnya", "kembali"]
                buttons = [InlineKeyboardButton(o, callback_data=f"{step}:{o}") for o in options]
                return text, InlineKeyboardMarkup([buttons[:2], buttons[2:]])
            return text, ReplyKeyboardRemove()

        def handler(step: int) -> Any:
            async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
                query = update.callback_query
                assert context.user_data is not None
                if query is not None:
                    await query.answer()
                    context.user_data[step] = query.data
                else:
                    context.user_data[step] = update.effective_message.text if update.effective_message else ""
                chat = update.effective_chat
                assert chat is not None
                # Flushed after every update, before the answer: the state changes only when
                # this returns, and the next update must not come in before that.
                await context.application.update_persistence()
                if step + 1 == len(SCRIPT):
                    await context.bot.send_message(chat.id, "Terima kasih, laporan Anda diterima.")
                    return ConversationHandler.END
                text, markup = question(step + 1)
                await context.bot.send_message(chat.id, text, reply_markup=markup)
                return step + 1
            return answer

        states = {}
        for step, line in enumerate(SCRIPT[1:], start=1):
            kind_handler = CallbackQueryHandler(handler(step)) if line.startswith("@") \
                else MessageHandler(filters.TEXT & ~filters.COMMAND, handler(step))
            states[step] = [kind_handler]
        application.add_handler(ConversationHandler(
            entry_points=[CommandHandler("start", handler(0))], states=states, fallbacks=[],
            name="report", persistent=True))

    async def main() -> None:
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            import signal

            loop.add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
            await application.updater.stop()
            await application.stop()

    asyncio.run(main())


# --- what one Bot API call costs the HTTP client -------------------------------------------

CLIENT_CHILD = r"""
import asyncio, importlib.machinery, json, os, sys, time
hide = sys.argv[2] == "hidden"
if hide:
    class Hide:
        # sniffio absent: the same path search, then the failure httpcore meets on every request
        def find_spec(self, name, path=None, target=None):
            if name == "sniffio":
                importlib.machinery.PathFinder.find_spec(name, path)
                raise ModuleNotFoundError("No module named 'sniffio'", name=name)
            return None
    sys.modules.pop("sniffio", None)
    sys.meta_path.insert(0, Hide())
from telegram import Bot
from telegram.request import HTTPXRequest
from bot.telegram.request import AiohttpRequest
async def main():
    request = AiohttpRequest(8) if sys.argv[2] == "aiohttp" else HTTPXRequest(connection_pool_size=8)
    bot = Bot("123456:TEST-TOKEN", base_url=sys.argv[1] + "/bot", request=request)
    async with bot:
        for _ in range(50):
            await bot.send_message(1, "warm-up")
        calls = int(sys.argv[3])
        cpu = time.process_time()
        started = time.perf_counter()
        for n in range(calls // 8):
            await asyncio.gather(*(bot.send_message(1, "x") for _ in range(8)))
        print(json.dumps({"cpu_us": (time.process_time() - cpu) / calls * 1e6,
                          "wall_us": (time.perf_counter() - started) / calls * 1e6,
                          "sniffio": "sniffio" in sys.modules}))
asyncio.run(main())
"""


def client_cost(calls: int) -> None:
    fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_bot_api.py"), "--reporters", "1"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert fake.stdout is not None
    port = json.loads(fake.stdout.readline())["port"]
    print(f"\nHTTP client cost per Bot API call ({calls} sendMessage calls, 8 at a time):")
    labels = {"hidden": "PTB HTTPXRequest, sniffio absent (a failed import per request)",
              "present": "PTB HTTPXRequest, sniffio installed",
              "aiohttp": "bot/telegram/request.py (aiohttp), what the bot uses"}
    if importlib.util.find_spec("sniffio") is None:
        del labels["present"]
        print("  (sniffio is not installed: `.venv/bin/pip install sniffio` adds the httpx-with-sniffio line)")
    try:
        figures = {}
        for mode in labels:
            out = subprocess.run([sys.executable, "-c", CLIENT_CHILD, f"http://127.0.0.1:{port}", mode, str(calls)],
                                 capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                 check=True)
            figures[mode] = json.loads(out.stdout)
            print(f"  {labels[mode]:<64} {figures[mode]['cpu_us']:7.0f} us CPU per call")
        if "present" in figures:
            print(f"  saved by sniffio: {figures['hidden']['cpu_us'] - figures['present']['cpu_us']:.0f} us"
                  f" per call ({1 - figures['present']['cpu_us'] / figures['hidden']['cpu_us']:.0%}); aiohttp against"
                  f" httpx with sniffio: {figures['aiohttp']['cpu_us'] / figures['present']['cpu_us']:.2f}x")
        print(f"  aiohttp against httpx without sniffio: {figures['aiohttp']['cpu_us'] / figures['hidden']['cpu_us']:.2f}x")
    finally:
        fake.kill()
        fake.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=50)
    parser.add_argument("--only", default=",".join(BOTS), help="comma-separated: " + ", ".join(BOTS))
    parser.add_argument("--client-calls", type=int, default=2000, help="0 skips the HTTP client measurement")
    parser.add_argument("--run-bot", choices=("null", "ptb"), help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_bot:
        run_peer(args.run_bot, args.api, args.dir)
        return
    from bench.fake_bot_api import SCRIPT

    print(f"{args.reporters} reporters x {len(SCRIPT)} updates, closed loop; fake Bot API and each bot in its own "
          f"process; {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [k for k in BOTS if k in args.only.split(",")]:
            results[kind] = run_one(kind, args.reporters, Path(tmp))
            r = results[kind]
            print(f"  {kind}: {r['updates'] / r['seconds']:.0f} updates/s", flush=True)
    show(results)
    if args.client_calls:
        client_cost(args.client_calls)


if __name__ == "__main__":
    main()
