"""Command line: `python -m bot [console|run|serve|cases|routes|export|berkas|migrate-db]`.

With no command the bot runs on Telegram when a token is configured, and otherwise opens
the console chat, so a fresh checkout can be tried offline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings, load_settings
from bot.logs import configure_logging


async def _console(settings: Settings) -> None:
    from bot.console import chat
    from flows.engine import Engine
    from storage import Database
    from storage.evidence_files import EvidenceStore

    db = await Database.open(settings.database)
    try:
        store = EvidenceStore.for_database(db, settings.evidence_dir)
        resolver = settings.link_resolver()
        engine = Engine(db, settings.default_locale, settings.timezone, policy=settings.policy(), store=store,
                        links=resolver)
        try:
            await chat(engine, store, settings.default_locale, sys.stdin, sys.stdout)
            await engine.settle()
        finally:
            if resolver is not None:
                await resolver.close()
    finally:
        await db.close()


async def _cases(settings: Settings, limit: int) -> None:
    from flows import regions
    from storage import Database, cases

    db = await Database.open(settings.database)
    try:
        async with db.reading() as tx:
            rows = await cases.recent(tx, limit)
            counts = {c.id: len(await cases.evidence_of(tx, c.id)) for c in rows}
    finally:
        await db.close()
    if not rows:
        print("No cases in " + ("the PostgreSQL database" if settings.database_url else str(settings.database_path)))
        return
    print(f"{'number':<13} {'created':<19} {'status':<16} {'type':<18} {'files':>5}  region")
    for case in rows:
        region = regions.get(case.region_code)
        print(f"{case.number:<13} {case.created_at[:19]:<19} {case.status:<16} "
              f"{case.incident_type:<18} {counts[case.id]:>5}  {region.name if region else case.region_code}")


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.export import write_files
    from storage import Database
    from storage.case_queries import CaseFilter

    where = CaseFilter(args.status, args.region, args.incident_type, args.since, args.until)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"kasus-{stamp}.csv" if args.format in ("csv", "both") else None
    xlsx_path = args.out / f"kasus-{stamp}.xlsx" if args.format in ("xlsx", "both") else None
    db = await Database.open(settings.database)
    try:
        count = await write_files(db, where, args.identity, csv_path, xlsx_path)
    finally:
        await db.close()
    for path in (csv_path, xlsx_path):
        if path:
            print(path)
    print(f"{count} cases exported" + (" with reporter identity" if args.identity else ""))
    return 0


async def _migrate_db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.migrate import ForeignTarget, migrate

    source = args.source or settings.database_path
    if not Path(source).exists():
        print(f"{source} does not exist: nothing to move", file=sys.stderr)
        return 2
    try:
        report = await migrate(Path(source), args.evidence or settings.evidence_dir, args.to,
                               progress=lambda line: print(line, flush=True))
    except ForeignTarget as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


async def _berkas(settings: Settings, args: argparse.Namespace) -> int:
    """One case's file, written where asked and recorded in its audit trail like any other."""
    from bot.case_file import CaseFiles
    from flows.case import case_number
    from flows.case.case_file import Order
    from flows.staff.visibility import Viewer
    from storage import Database, cases
    from storage.evidence_files import EvidenceStore

    number = case_number.normalize(args.number)
    if number is None:
        print(f"Not a case number: {args.number!r} (they look like LN-24-7K3Q9)", file=sys.stderr)
        return 2
    db = await Database.open(settings.database)
    try:
        async with db.reading() as tx:
            case = await cases.by_number(tx, number)
        if case is None:
            where = "the PostgreSQL database" if settings.database_url else str(settings.database_path)
            print(f"There is no case {number} in {where}", file=sys.stderr)
            return 1
        maker = CaseFiles(db, EvidenceStore.for_database(db, settings.evidence_dir), settings.timezone)
        made = await maker.make(Order(case.id, Viewer.shell(args.identity), "shell"))
    finally:
        await db.close()
    assert made is not None  # the shell sees every case
    out: Path = args.out or Path(made.file_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(made.data)
    print(out)
    print(f"SHA-256 {made.sha256}" + (" (with reporter identity)" if args.identity else ""))
    return 0


async def _routes(settings: Settings, args: argparse.Namespace) -> int:
    from bot import routes_cli

    if args.routes_command == "add":
        return await routes_cli.add(settings, args.region, args.chat_id, args.agency.lower(), args.title)
    if args.routes_command == "remove":
        return await routes_cli.remove(settings, args.chat_id, args.region)
    if args.routes_command == "import":
        return await routes_cli.import_csv(settings, args.file)
    if args.routes_command in ("approve", "refuse"):
        return await routes_cli.decide(settings, args.route_id, approve=args.routes_command == "approve")
    if args.routes_command == "pending":
        return await routes_cli.pending(settings)
    if args.routes_command == "log":
        return await routes_cli.log(settings)
    return await routes_cli.listing(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Lapor Netral")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("console", help="chat in the terminal (offline, same database)")
    sub.add_parser("run", help="Telegram with long polling")
    sub.add_parser("serve", help="web server with the Telegram and WhatsApp webhooks")
    cases_parser = sub.add_parser("cases", help="list stored cases")
    cases_parser.add_argument("--limit", type=int, default=50)
    routes_parser = sub.add_parser("routes", help="focal-point groups per region")
    routes_sub = routes_parser.add_subparsers(dest="routes_command", required=True)
    add_parser = routes_sub.add_parser("add", help="send a region's cases to a Telegram group")
    add_parser.add_argument("region", help="Kemendagri code (51.71) or name (\"Kota Denpasar\")")
    add_parser.add_argument("chat_id", type=int, help="the group's id, e.g. -1001234567890")
    add_parser.add_argument("--agency", default="", help="only cases about this agency group (e.g. pusat)")
    add_parser.add_argument("--title", default=None)
    remove_parser = routes_sub.add_parser("remove", help="stop sending to a group (one region or all)")
    remove_parser.add_argument("chat_id", type=int)
    remove_parser.add_argument("region", nargs="?")
    routes_sub.add_parser("list", help="every route, broken and waiting ones flagged")
    routes_sub.add_parser("pending", help="routes a moderator asked for, waiting for an admin")
    for verb, what in (("approve", "confirm a waiting route: it receives cases from now on"),
                       ("refuse", "refuse a waiting route: it goes")):
        decide_parser = routes_sub.add_parser(verb, help=what)
        decide_parser.add_argument("route_id", type=int, help="the id `routes pending` shows")
    routes_sub.add_parser("log", help="the latest route changes, who made them and when")
    import_parser = routes_sub.add_parser("import", help="add routes from a CSV: region,chat_id[,agency,title]")
    import_parser.add_argument("file", type=Path)
    export_parser = sub.add_parser("export", help="all cases (or a selection) as CSV and XLSX, streamed")
    export_parser.add_argument("--out", type=Path, default=Path("."), help="directory for the files")
    export_parser.add_argument("--format", choices=["csv", "xlsx", "both"], default="both")
    export_parser.add_argument("--identity", action="store_true", help="include reporter name and phone")
    export_parser.add_argument("--status")
    export_parser.add_argument("--region", help="Kemendagri code; a province code takes its regions")
    export_parser.add_argument("--type", dest="incident_type")
    export_parser.add_argument("--since", help="YYYY-MM-DD")
    export_parser.add_argument("--until", help="YYYY-MM-DD (exclusive)")
    migrate_parser = sub.add_parser("migrate-db", help="copy the SQLite database and its evidence into PostgreSQL")
    migrate_parser.add_argument("--to", required=True, metavar="postgresql://...", help="the target database")
    migrate_parser.add_argument("--from", dest="source", type=Path, help="the SQLite file (default: DATABASE_PATH)")
    migrate_parser.add_argument("--evidence", type=Path, help="the evidence directory (default: EVIDENCE_DIR)")
    berkas_parser = sub.add_parser("berkas", help="a case's file (PDF) for a formal report")
    berkas_parser.add_argument("number", help="the case number, e.g. LN-24-7K3Q9")
    berkas_parser.add_argument("--out", type=Path, default=None, help="the PDF to write (default berkas-<no>.pdf)")
    berkas_parser.add_argument("--identity", action="store_true",
                               help="name a confidential or open reporter (an anonymous one never is)")
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging(settings.log_level, settings)
    command = args.command or ("run" if settings.telegram_bot_token else "console")
    if command == "console":
        from bot.console import LOG_FILE_NAME, send_logs_to_file

        send_logs_to_file(settings.database_path.parent / LOG_FILE_NAME)  # the terminal is the chat
        try:
            asyncio.run(_console(settings))
        except KeyboardInterrupt:  # Ctrl-C: the chat has said goodbye
            return 130
    elif command == "cases":
        asyncio.run(_cases(settings, args.limit))
    elif command == "export":
        return asyncio.run(_export(settings, args))
    elif command == "berkas":
        return asyncio.run(_berkas(settings, args))
    elif command == "routes":
        return asyncio.run(_routes(settings, args))
    elif command == "migrate-db":
        from storage.database import is_postgres_url

        if not is_postgres_url(args.to):
            print("--to must be a postgresql:// URL", file=sys.stderr)
            return 2
        return asyncio.run(_migrate_db(settings, args))
    elif command == "run":
        if not settings.telegram_bot_token:
            print("TELEGRAM_BOT_TOKEN is not set; use `python -m bot console` to try the bot offline.",
                  file=sys.stderr)
            return 2
        from bot.telegram.app import run_polling

        run_polling(settings)
    elif command == "serve":
        from bot.serve import run

        run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
