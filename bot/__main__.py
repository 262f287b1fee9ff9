"""Command line: `python -m bot [console|run|serve|check|migrate|cases|statistik|routes|export|berkas|migrate-db|
keygen|rotate-key|backup|restore]`.

With no command the bot runs on Telegram when a token is configured, and otherwise opens
the console chat, so a fresh checkout can be tried offline. The shell commands speak the
operator's language and print only their result (`bot/shell.py`); `run` and `serve` check
their settings first and refuse to start in one line per problem (`bot/check.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import check as checks
from bot.check import Finding
from bot.config import Settings
from bot.logs import configure_logging, redact
from bot.shell import OneLineParser, Refused, Shell, shell_locale, use_language

SERVICES = ("console", "run", "serve")
SHELL_LOG_LEVEL = "WARNING"
"""Shell commands print their result; libraries may add only their warnings and errors."""


def build_parser(locale: str) -> OneLineParser:
    from flows.i18n import gettext_for

    _ = gettext_for(locale)
    use_language(locale)
    common = OneLineParser(add_help=False)
    common.add_argument("--lang", choices=["id", "en"], default=argparse.SUPPRESS,
                        help=_("the language of the output (default: id, or English when LANG says so)"))
    common.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                        help=_("show more: libraries' information, and the traceback of an error"))
    parser = OneLineParser(prog="python -m bot", description=_("Lapor Netral: the chatbot and its shell commands."),
                           parents=[common])
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser, metavar=_("command"))

    def command(name: str, help_text: str) -> OneLineParser:
        parser: OneLineParser = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        return parser

    command("console", _("chat in the terminal (offline, same database)"))
    command("run", _("the Telegram bot with long polling"))
    command("serve", _("the web server with the Telegram and WhatsApp webhooks"))
    check = command("check", _("check the settings that run or serve would use, without starting them"))
    check.add_argument("--for", dest="mode", choices=["run", "serve"], default=None,
                       help=_("which one (default: serve when PUBLIC_BASE_URL or WhatsApp is set, else run)"))
    command("migrate", _("bring the database's schema up to date, then exit"))
    cases = command("cases", _("list the newest cases"))
    cases.add_argument("--limit", type=_number(_, "--limit"), default=50, help=_("how many (default 50)"))
    stats = command("statistik", _("the statistics chart (PNG), drawn offline"))
    stats.add_argument("period", nargs="?", default="30", help=_("7, 30 or 90 days, or a month such as 2026-11 "
                                                                  "(default 30)"))
    stats.add_argument("--out", type=Path, default=None, help=_("the PNG to write (default: a file in data/exports)"))
    routes = command("routes", _("focal-point groups per region"))
    routes_sub = routes.add_subparsers(dest="routes_command", required=True, parser_class=OneLineParser,
                                       metavar=_("command"))

    def routes_command(name: str, help_text: str) -> OneLineParser:
        parser: OneLineParser = routes_sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        return parser

    add = routes_command("add", _("send a region's cases to a Telegram group or an officer's WhatsApp number"))
    add.add_argument("region", help=_("a Kemendagri code (51.71) or a name (\"Kota Denpasar\")"))
    add.add_argument("chat_id", type=_focal(_), help=_("the group's id, for example -1001234567890, or an officer's "
                                                        "WhatsApp number, for example whatsapp:+6281300000001"))
    add.add_argument("--agency", default="", help=_("only cases about this agency group (for example pusat)"))
    add.add_argument("--title", default=None, help=_("the group's name, or the office of a WhatsApp roster, as "
                                                     "the lists show it"))
    remove = routes_command("remove", _("stop sending to a group or a WhatsApp number (one region, or all)"))
    remove.add_argument("chat_id", type=_focal(_), help=_("the group's id, or the WhatsApp number"))
    remove.add_argument("region", nargs="?", help=_("only this region's route"))
    routes_command("list", _("every route, broken and waiting ones flagged"))
    routes_command("pending", _("routes a moderator asked for, waiting for an admin"))
    for verb, what in (("approve", _("confirm a waiting route: its group receives cases from now on")),
                       ("refuse", _("refuse a waiting route: it goes"))):
        decided = routes_command(verb, what)
        decided.add_argument("route_id", type=_focal(_), help=_("the number `routes pending` shows, or the "
                                                                   "WhatsApp number waiting"))
    routes_command("log", _("the latest route changes, who made them and when"))
    imported = routes_command("import", _("add routes from a CSV file: region,chat_id[,agency,title]"))
    imported.add_argument("file", type=Path)
    export = command("export", _("cases as CSV and XLSX files, streamed"))
    export.add_argument("--out", type=Path, default=None, help=_("the folder for the files (default: data/exports)"))
    export.add_argument("--format", choices=["csv", "xlsx", "both"], default="both")
    export.add_argument("--identity", action="store_true", help=_("with the reporter's name and phone"))
    export.add_argument("--status", help=_("one status, for example diterima"))
    export.add_argument("--region", help=_("a Kemendagri code; a province's code takes its kabupaten/kota"))
    export.add_argument("--type", dest="incident_type", help=_("one incident type, for example media_sosial"))
    export.add_argument("--since", help=_("the first day, YYYY-MM-DD"))
    export.add_argument("--until", help=_("the last day, YYYY-MM-DD"))
    migrate_db = command("migrate-db", _("copy the SQLite database and its evidence into PostgreSQL"))
    migrate_db.add_argument("--to", required=True, metavar="postgresql://...", help=_("the target database"))
    migrate_db.add_argument("--from", dest="source", type=Path, help=_("the SQLite file (default: DATABASE_PATH)"))
    migrate_db.add_argument("--evidence", type=Path, help=_("the evidence folder (default: EVIDENCE_DIR)"))
    command("keygen", _("print a new data key (for DATA_KEY or NEW_DATA_KEY)"))
    command("rotate-key", _("seal every value and file again under a new data key, while the service runs"))
    backup = command("backup", _("a consistent copy of the database and its evidence, sealed, while the service runs"))
    backup.add_argument("--out", type=Path, required=True, help=_("the backup file to write"))
    restore = command("restore", _("put a backup back (the data key must open it)"))
    restore.add_argument("file", type=Path, help=_("a file written by `backup`"))
    restore.add_argument("--force", action="store_true", help=_("replace a database that already holds cases"))
    berkas = command("berkas", _("a case's file (PDF) for a formal report"))
    berkas.add_argument("number", help=_("the case number, for example LN-24-7K3Q9"))
    berkas.add_argument("--out", type=Path, default=None, help=_("the PDF to write (default: a file in "
                                                                 "data/exports)"))
    berkas.add_argument("--identity", action="store_true",
                        help=_("name a confidential or open reporter (an anonymous one never is)"))
    return parser


def _number(_: Callable[[str], str], name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_("\"{value}\" is not a whole number").format(value=text)) from None

    parse.__name__ = name
    return parse


def _focal(_: Callable[[str], str]) -> Callable[[str], int | str]:
    """A Telegram group's id (a whole number) or an officer's WhatsApp number (`whatsapp:+62…`)."""
    from flows.staff.roster_admin import looks_like_number, normalize_number

    def parse(text: str) -> int | str:
        if looks_like_number(text):
            number = normalize_number(text)
            if number is None:
                raise argparse.ArgumentTypeError(_("\"{value}\" is not a WhatsApp number: give it with the country "
                                                   "code, for example whatsapp:+6281300000001").format(value=text))
            return number
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_("\"{value}\" is neither a group's id nor a WhatsApp number").format(
                value=text)) from None

    parse.__name__ = "chat_id"
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    locale = shell_locale(argv)
    args = build_parser(locale).parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    shell = Shell(locale, verbose=verbose)
    try:
        settings, wrong = checks.load(shell)
    except Exception as exc:  # noqa: BLE001 - settings that cannot even be read field by field: one line
        shell.warn(redact(f"{type(exc).__name__}"))
        return 2
    shell = Shell(locale, settings.timezone, verbose=verbose)
    command = args.command or ("run" if settings.telegram_bot_token else "console")
    if command in ("run", "serve"):
        return _service(command, settings, wrong, shell)
    if command == "check":
        return _check(settings, wrong, shell, args.mode)
    if command == "keygen":
        from bot.data_cli import keygen

        return keygen(shell)
    if wrong:
        for finding in wrong:
            shell.warn(finding.line)
        return 2
    from storage.sealing import KeyProblem

    if command == "console":
        configure_logging(settings.log_level, settings)
        from bot.console import LOG_FILE_NAME, send_logs_to_file

        send_logs_to_file(settings.database_path.parent / LOG_FILE_NAME)  # the terminal is the chat
        try:
            asyncio.run(_console(settings))
        except KeyboardInterrupt:  # Ctrl-C: the chat has said goodbye
            return 130
        except KeyProblem as exc:  # before the chat opens: one line, nothing changed
            from bot.data_cli import key_problem

            shell.warn(key_problem(shell, exc))
            return 2
        return 0
    configure_logging("INFO" if verbose else SHELL_LOG_LEVEL, settings)
    try:
        return asyncio.run(_shell_command(command, args, settings, shell))
    except Refused as exc:
        shell.warn(str(exc))
        return 2
    except KeyProblem as exc:
        from bot.data_cli import key_problem

        shell.warn(key_problem(shell, exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the shell's last word: one line, not a traceback
        return _failed(shell, command, exc)


async def _shell_command(command: str, args: argparse.Namespace, settings: Settings, shell: Shell) -> int:
    from bot import cases_cli, data_cli, routes_cli

    if command == "rotate-key":
        return await data_cli.rotate_key(settings, shell)
    if command == "backup":
        return await data_cli.backup(settings, shell, args.out)
    if command == "restore":
        return await data_cli.restore(settings, shell, args.file, args.force)
    if command == "cases":
        return await cases_cli.cases(settings, shell, args.limit)
    if command == "statistik":
        return await cases_cli.statistik(settings, shell, args.period, args.out)
    if command == "export":
        where = cases_cli.export_filter(shell, args.status, args.region, args.incident_type, args.since, args.until)
        return await cases_cli.export(settings, shell, where, args.out, args.format, args.identity)
    if command == "berkas":
        return await cases_cli.berkas(settings, shell, args.number, args.out, args.identity)
    if command == "migrate":
        return await _migrate(settings, shell)
    if command == "migrate-db":
        return await _migrate_db(settings, shell, args)
    if args.routes_command == "add":
        return await routes_cli.add(settings, shell, args.region, args.chat_id, args.agency.lower(), args.title)
    if args.routes_command == "remove":
        return await routes_cli.remove(settings, shell, args.chat_id, args.region)
    if args.routes_command == "import":
        return await routes_cli.import_csv(settings, shell, args.file)
    if args.routes_command in ("approve", "refuse"):
        return await routes_cli.decide(settings, shell, args.route_id, approve=args.routes_command == "approve")
    if args.routes_command == "pending":
        return await routes_cli.pending(settings, shell)
    if args.routes_command == "log":
        return await routes_cli.log(settings, shell)
    return await routes_cli.listing(settings, shell)


def _failed(shell: Shell, command: str, exc: BaseException) -> int:
    """An error nobody foresaw: one line (the traceback with --verbose), never a secret."""
    import traceback

    _ = shell._
    if shell.verbose:
        shell.warn(redact("".join(traceback.format_exception(exc))).rstrip())
    shell.warn(redact(_("{command} failed: {error} (--verbose shows the traceback)").format(
        command=command, error=_error_line(exc))))
    return 1


def _error_line(exc: BaseException) -> str:
    import sqlite3

    if isinstance(exc, (OSError, sqlite3.Error)):
        return f"{type(exc).__name__}: {exc}"[:200]
    return type(exc).__name__  # other messages may quote input or a secret


async def _console(settings: Settings) -> None:
    from bot.console import chat
    from flows.engine import Engine
    from storage.evidence_files import EvidenceStore

    db = await settings.open_database()
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


async def _migrate(settings: Settings, shell: Shell) -> int:
    """Apply the migrations (under the same lock as a starting service) and exit."""
    from storage.schema import schema_status

    _ = shell._
    before = await schema_status(settings.database)
    db = await settings.open_database()
    try:
        version = await db.schema_version()
    finally:
        await db.close()
    if before.current == version:
        shell.say(_("The database is up to date (schema version {version}).").format(version=version))
    else:
        shell.say(_("The database is migrated: schema version {before} → {after}.").format(
            before=before.current or 0, after=version))
    return 0


async def _migrate_db(settings: Settings, shell: Shell, args: argparse.Namespace) -> int:
    """The copy's result: rows per table on both sides, the evidence files, OK or FAILED
    (the progress per table only with --verbose)."""
    from storage.database import is_postgres_url
    from storage.migrate import ForeignTarget, migrate

    _ = shell._
    if not is_postgres_url(args.to):
        shell.refuse(_("--to must be a postgresql:// address."))
    source = args.source or settings.database_path
    if not Path(source).exists():
        shell.refuse(_("{path} does not exist: nothing to move.").format(path=source))
    try:
        report = await migrate(Path(source), args.evidence or settings.evidence_dir, args.to, settings.key_source(),
                               progress=shell.say if shell.verbose else lambda _line: None)
    except ForeignTarget as exc:
        shell.refuse(_("The target database holds {count} cases that are not in this SQLite file: refusing to "
                       "overwrite another installation (use an empty database).").format(count=exc.count))
    shell.say(f"{_('table'):<20} {'sqlite':>9} {'postgresql':>11}")
    for table, (before, after) in report.tables.items():
        shell.say(f"{table:<20} {before:>9} {after:>11}" + ("" if before == after else "   " + _("MISMATCH")))
    shell.say(_("evidence files: {files} ({copied} copied now), {bad} failing their SHA-256").format(
        files=report.files, copied=report.files_copied, bad=len(report.bad_files)))
    if report.missing_files:
        shell.say(_("evidence named by cases but never received (also absent before): {count}").format(
            count=len(report.missing_files)))
    shell.say(_("OK") if report.ok else _("FAILED"))
    return 0 if report.ok else 1


def _check(settings: Settings, wrong: list[Finding], shell: Shell, mode: str | None) -> int:
    configure_logging("INFO" if shell.verbose else SHELL_LOG_LEVEL, settings)
    chosen = mode or checks.mode_of(settings)

    async def run() -> list[Finding]:
        return await checks.Checks(settings, shell, chosen).everything()  # type: ignore[arg-type]

    try:
        findings = [*wrong, *asyncio.run(run())]
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        return _failed(shell, "check", exc)
    for finding in findings:
        shell.say(finding.shown())
    return 1 if any(not f.ok for f in findings) else 0


def _service(command: str, settings: Settings, wrong: list[Finding], shell: Shell) -> int:
    """Check first, and refuse with one line per problem (exit code 2); then run. A start
    that fails all the same (the token revoked a second later) is one line too."""
    configure_logging(settings.log_level, settings)
    problems = [*wrong, *checks.static_problems(settings, command, shell)]  # type: ignore[arg-type]
    if not problems:
        try:
            problems = asyncio.run(checks.Checks(settings, shell, command).before_start())  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - one line, not a traceback
            return _failed(shell, command, exc)
    if problems:
        for finding in problems:
            shell.warn(finding.line)
        return 2
    try:
        if command == "run":
            from bot.telegram.app import run_polling

            run_polling(settings)
        else:
            from bot.serve import run

            run(settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        refusal = _refusal(shell, exc)
        if refusal is None:
            raise
        if shell.verbose:
            _failed(shell, command, exc)
        shell.warn(refusal)
        return 2
    return 0


def _refusal(shell: Shell, exc: BaseException) -> str | None:
    """The one line for a start refused by Telegram or Twilio, or None for anything else."""
    from telegram.error import InvalidToken, NetworkError

    from storage.sealing import KeyProblem

    _ = shell._
    if isinstance(exc, KeyProblem):
        from bot.data_cli import key_problem

        return key_problem(shell, exc)
    if isinstance(exc, InvalidToken):
        return _("Telegram refused TELEGRAM_BOT_TOKEN: copy the token again from @BotFather (or make a new one "
                 "with /revoke).")
    if isinstance(exc, NetworkError):
        return _("Telegram cannot be reached ({reason}): check the network, or TELEGRAM_BASE_URL.").format(
            reason=redact(type(exc).__name__))
    return None


if __name__ == "__main__":
    sys.exit(main())
