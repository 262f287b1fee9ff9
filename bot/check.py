"""`python -m bot check`, and the same checks before `run` and `serve` start: every wrong
or missing setting at once, one line each, naming the setting and the fix; then whether the
database, Telegram and Twilio accept what is configured.

A service refuses to start on the first group of problems (exit code 2) with no traceback
and no secret in what it prints; `check` goes through everything and exits with 1 if
anything failed. The order of the lines is the order of `Checks.everything`.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from bot.config import Settings
from bot.shell import Shell
from flows.i18n import N_

if TYPE_CHECKING:
    from storage import Database

Mode = Literal["run", "serve"]
OK, FAIL, LOOK = "✓", "✗", "!"
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WHATSAPP_NUMBER = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
RECENT_WEBHOOK_ERROR = timedelta(hours=1)
CHAT_CHECKS_AT_ONCE = 8
EPHEMERAL_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
PLATFORMS = (("DYNO", "Heroku"), ("K_SERVICE", "Cloud Run"))
"""Environment variables by which a platform says its disk is wiped on every restart."""


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    line: str
    look: bool = False
    """Worth a person's look, but not a failed check (`ok` stays True): shown with "!"."""

    def shown(self) -> str:
        return f"{LOOK if self.look else OK if self.ok else FAIL} {self.line}"


# --- settings -----------------------------------------------------------------------------

_PROBLEMS = {
    "int_parsing": N_("is not a whole number"), "int_type": N_("is not a whole number"),
    "int_from_float": N_("is not a whole number"), "float_parsing": N_("is not a number"),
    "float_type": N_("is not a number"), "bool_parsing": N_("is not 1 or 0"),
    "greater_than": N_("must be more than {limit}"), "greater_than_equal": N_("must be at least {limit}"),
    "less_than": N_("must be less than {limit}"), "less_than_equal": N_("must be at most {limit}"),
    "string_too_short": N_("is empty"), "string_too_long": N_("is too long (at most {limit} characters)"),
}
_FIELD_PROBLEMS = {
    "default_locale": N_("must be id or en"),
    "database_url": N_("must start with postgresql:// (unset it to use the SQLite file)"),
    "admin_telegram_ids": N_("must be Telegram user ids separated by commas, such as 111,222"),
}


def load(shell: Shell, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[Finding]]:
    """The settings, and a line for each that could not be read. A wrong value is named
    (never shown: it may be a secret) and left at its default, so that every other check
    can still run and the operator sees everything at once."""
    wrong: dict[str, str] = {}
    while True:
        try:
            overrides = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in wrong}
            return Settings(**overrides), [Finding(False, line) for line in wrong.values()]
        except ValidationError as exc:
            found = _wrong_fields(shell, exc)
            if not set(found) - set(wrong):  # nothing new: give up rather than loop
                raise
            wrong.update(found)


def _wrong_fields(shell: Shell, exc: ValidationError) -> dict[str, str]:
    _ = shell._
    found: dict[str, str] = {}
    for error in exc.errors(include_input=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        if name not in Settings.model_fields or name in found:
            continue
        field = Settings.model_fields[name]
        if field.default is PydanticUndefined and field.default_factory is None:
            continue
        context: dict[str, Any] = error.get("ctx") or {}
        limit = next((context[k] for k in ("gt", "ge", "lt", "le", "max_length") if k in context), "")
        problem = _FIELD_PROBLEMS.get(name) or _PROBLEMS.get(error["type"], N_("is not valid"))
        found[name] = _("{setting} {problem}.").format(setting=name.upper(), problem=_(problem).format(limit=limit))
    return found


def mode_of(settings: Settings) -> Mode:
    """What `check` checks for: `serve` when it has a public address or WhatsApp (whose
    webhooks only `serve` carries), else `run`."""
    return "serve" if settings.public_base_url or _any_twilio(settings) else "run"


def _any_twilio(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid or settings.twilio_auth_token or settings.twilio_whatsapp_from)


def static_problems(settings: Settings, mode: Mode, shell: Shell, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """What is missing or malformed for `mode`, without asking anyone."""
    _ = shell._
    found: list[str] = []
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if mode == "run" and not token:
        found.append(_("TELEGRAM_BOT_TOKEN is not set: `run` is the Telegram bot (ask @BotFather for a token); "
                       "`python -m bot console` tries the bot offline."))
    if mode == "serve" and not token and not _any_twilio(settings):
        found.append(_("Neither TELEGRAM_BOT_TOKEN nor the TWILIO_* settings are set: `serve` needs at least one "
                       "channel."))
    if token and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
        found.append(_("TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters and "
                       "digits): copy it again from @BotFather."))
    if _any_twilio(settings):
        for name, value in (("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                            ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                            ("TWILIO_WHATSAPP_FROM", settings.twilio_whatsapp_from)):
            if not value:
                found.append(_("{setting} is not set: WhatsApp needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                               "TWILIO_WHATSAPP_FROM.").format(setting=name))
        if settings.twilio_whatsapp_from and not WHATSAPP_NUMBER.match(settings.twilio_whatsapp_from):
            found.append(_("TWILIO_WHATSAPP_FROM must be the WhatsApp sender as whatsapp:+<country code><number>, "
                           "for example whatsapp:+14155238886."))
    if mode == "serve" and not settings.public_base_url:
        found.append(_("PUBLIC_BASE_URL is not set: the https address at which Telegram and Twilio reach `serve`, "
                       "for example https://lapor.example.org."))
    address = urlsplit(settings.public_base_url or "")
    if mode == "serve" and settings.public_base_url and (address.scheme != "https" or not address.hostname):
        found.append(_("PUBLIC_BASE_URL must be an https:// address (Telegram calls webhooks only over https), "
                       "for example https://lapor.example.org."))
    if mode == "serve" and token:
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        if not WEBHOOK_SECRET.match(secret):
            found.append(_("TELEGRAM_WEBHOOK_SECRET must be 1-256 letters, digits, _ or - (for example the output of "
                           "`openssl rand -hex 32`).") if secret else
                         _("TELEGRAM_WEBHOOK_SECRET is not set: a random secret of letters and digits that Telegram "
                           "sends back with every update (for example the output of `openssl rand -hex 32`)."))
    reason = ephemeral_reason(settings, shell, environ)
    if reason:
        found.append(_("DATABASE_URL is not set, and {reason}: the SQLite file would be lost. Set DATABASE_URL to a "
                       "PostgreSQL database (or ALLOW_EPHEMERAL_DATABASE=1 for a trial).").format(reason=reason))
    reason = key_file_reason(settings, shell, environ)
    if reason:
        found.append(_("DATA_KEY is not set, and {reason}: the key file would be lost, and with it every sealed value. "
                       "Set DATA_KEY on every worker to one key from `python -m bot keygen`.").format(reason=reason))
    return [Finding(False, line) for line in found]


def platform_reason(shell: Shell, environ: Mapping[str, str]) -> str | None:
    """The platform we run on wipes its disk on every restart (a variable it sets says so)."""
    for variable, platform in PLATFORMS:
        if environ.get(variable):
            return shell._("{platform} wipes the disk on every restart ({variable} is set)").format(
                platform=platform, variable=variable)
    return None


def key_file_reason(settings: Settings, shell: Shell, environ: Mapping[str, str] | None = None,
                    mounts: Path = Path("/proc/mounts")) -> str | None:
    """Why a key file made on PostgreSQL's workers would not survive a restart (the database
    would then outlive the only key that opens it)."""
    if not settings.database_url or settings.data_key or settings.data_key_file:
        return None
    _ = shell._
    wiped = platform_reason(shell, os.environ if environ is None else environ)
    if wiped:
        return wiped
    path = settings.key_source().file
    kind = filesystem_of(path, mounts)
    if kind in EPHEMERAL_FILESYSTEMS:
        return _("{path} is on a {kind} (memory), wiped on every restart").format(path=path, kind=kind)
    return None


def ephemeral_reason(settings: Settings, shell: Shell, environ: Mapping[str, str] | None = None,
                     mounts: Path = Path("/proc/mounts")) -> str | None:
    """Why the SQLite file would not survive a restart, if the platform says so."""
    if settings.database_url or settings.allow_ephemeral_database:
        return None
    _ = shell._
    wiped = platform_reason(shell, os.environ if environ is None else environ)
    if wiped:
        return wiped
    kind = filesystem_of(settings.database_path, mounts)
    if kind in EPHEMERAL_FILESYSTEMS:
        return _("{path} is on a {kind} (memory), wiped on every restart").format(
            path=settings.database_path, kind=kind)
    return None


def filesystem_of(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The type of the file system that holds `path` (or would hold it), from the mount
    table; None where there is none to read (not Linux)."""
    try:
        table = mounts.read_text(encoding="utf-8")
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


# --- asking the services ------------------------------------------------------------------

class Checks:
    """Each check is one line: ✓ with what was found, or ✗ with the setting and the fix."""

    def __init__(self, settings: Settings, shell: Shell, mode: Mode) -> None:
        self.settings = settings
        self.shell = shell
        self.mode = mode
        self._ = shell._
        self.telegram_ok = False
        """getMe answered: the routes' groups can be asked about."""

    async def everything(self) -> list[Finding]:
        """`check`: the settings, the database (opened read-only, nothing migrated), the
        data key, Telegram, Twilio, the public URL, and the routes' groups."""
        findings = static_problems(self.settings, self.mode, self.shell)
        findings.append(await self.database(migrated=True))
        findings += await self.data_key()
        findings += await self.telegram(webhook=self.mode == "serve")
        findings += await self.twilio()
        findings += await self.routes()
        findings += await self.set_aside()
        findings += await self.extra()
        return findings

    async def before_start(self) -> list[Finding]:
        """`run` and `serve`: only what would stop them, and no ✓ lines (they migrate the
        database themselves, and set the webhook)."""
        problems = static_problems(self.settings, self.mode, self.shell)
        if problems:
            return problems
        problems = [f for f in [await self.database(migrated=False), *await self.data_key()] if not f.ok]
        if problems:  # a database it cannot open: nobody is asked anything
            return problems
        return [f for f in [*await self.telegram(webhook=False), *await self.twilio()] if not f.ok]

    async def database(self, migrated: bool) -> Finding:
        """It opens; with `migrated`, its schema is the one this version needs."""
        from storage.schema import Unreachable, schema_status

        _ = self._
        kind = "PostgreSQL" if self.settings.database_url else "SQLite"
        try:
            status = await schema_status(self.settings.database)
        except Unreachable as exc:
            setting = "DATABASE_URL" if self.settings.database_url else "DATABASE_PATH"
            return Finding(False, _("Database ({kind}): cannot be opened ({reason}): check {setting}.").format(
                kind=kind, reason=exc.reason, setting=setting))
        if not migrated:
            return Finding(True, "")
        if status.current is None:
            return Finding(False, _("Database ({kind}): it does not exist yet: run `python -m bot migrate`.").format(
                kind=kind))
        if status.current < status.latest:
            return Finding(False, _("Database ({kind}): its schema is at version {current} of {latest}: run "
                                    "`python -m bot migrate`.").format(kind=kind, current=status.current,
                                                                      latest=status.latest))
        if status.current > status.latest:
            return Finding(False, _("Database ({kind}): its schema (version {current}) is newer than this program "
                                    "knows ({latest}): deploy the newer version.").format(
                kind=kind, current=status.current, latest=status.latest))
        return Finding(True, _("Database ({kind}): opens, schema up to date (version {current}).").format(
            kind=kind, current=status.current))

    async def data_key(self) -> list[Finding]:
        """Whether the data key opens the database (read without changing anything: no key
        file is made here). A database or key file that does not exist yet is fine: the
        first start makes them."""
        from bot.data_cli import key_problem
        from storage.at_rest import key_status

        _ = self._
        source = self.settings.key_source()
        status = await key_status(self.settings.database, source)
        if status.problem is not None:
            return [Finding(False, _("Data key: {problem}").format(problem=key_problem(self.shell, status.problem)))]
        if status.state == "unreadable":
            return []  # the database's own line says why it does not open
        if status.state == "will_make":
            return [Finding(True, _("Data key: {setting} will be made on the first start (mode 0600).").format(
                setting=source.setting))]
        if status.state == "will_seal":
            return [Finding(True, _("Data key: {setting} (key {key}) will seal this database on its first start.")
                            .format(setting=source.setting, key=status.key_id))]
        line = _("Data key: {setting} (key {key}) opens the database.").format(setting=source.setting,
                                                                              key=status.key_id)
        if status.rotating:
            line += " " + _("A key rotation is under way (`python -m bot rotate-key`).")
        return [Finding(True, line)]

    async def telegram(self, webhook: bool) -> list[Finding]:
        """`getMe` answers with the token; in webhook mode `getWebhookInfo` shows our URL
        and no recent error."""
        if not self.settings.telegram_bot_token:
            return []
        from telegram.error import InvalidToken, NetworkError, TelegramError

        from bot.telegram.app import plain_bot

        _ = self._
        host = urlsplit(self.settings.telegram_base_url).hostname or self.settings.telegram_base_url
        try:
            async with plain_bot(self.settings) as bot:  # getMe, as PTB starts every bot
                found = [Finding(True, _("Telegram: the token is accepted (@{username}).").format(
                    username=bot.username))]
                if webhook:
                    found.append(await self._webhook(bot))
        except InvalidToken:
            return [Finding(False, _("Telegram refused TELEGRAM_BOT_TOKEN: copy the token again from @BotFather "
                                     "(or make a new one with /revoke)."))]
        except NetworkError as exc:
            return [Finding(False, _("Telegram cannot be reached at {host} ({reason}): check the network, or "
                                     "TELEGRAM_BASE_URL.").format(host=host, reason=_reason(exc)))]
        except TelegramError as exc:
            return [Finding(False, _("Telegram answered getMe with an error ({reason}): try again later.").format(
                reason=_reason(exc)))]
        self.telegram_ok = True
        return found

    async def _webhook(self, bot: Any) -> Finding:
        from telegram.error import TelegramError

        _ = self._
        ours = (self.settings.public_base_url or "").rstrip("/") + self.settings.telegram_webhook_path
        try:
            info = await bot.get_webhook_info()
        except TelegramError as exc:
            return Finding(False, _("Telegram's webhook could not be read ({reason}): try again later.").format(
                reason=_reason(exc)))
        if info.url != ours:
            return Finding(False, _("Telegram's webhook is {url} instead of {ours}: start `serve` (it sets the "
                                    "webhook), and check PUBLIC_BASE_URL and TELEGRAM_WEBHOOK_PATH.").format(
                url=info.url or _("not set"), ours=ours))
        when = info.last_error_date
        if when is not None and datetime.now(UTC) - when < RECENT_WEBHOOK_ERROR:
            return Finding(False, _("Telegram could not deliver to the webhook at {time}: \"{error}\" ({count} "
                                    "updates waiting): check that `serve` answers at PUBLIC_BASE_URL.").format(
                time=self.shell.when(when), error=info.last_error_message or "-", count=info.pending_update_count))
        return Finding(True, _("Telegram's webhook is {url}, with no recent error.").format(url=ours))

    async def twilio(self) -> list[Finding]:
        """One read-only call with the credentials: the account itself."""
        settings = self.settings
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            return []
        import aiohttp
        from twilio.base.exceptions import TwilioRestException

        from bot.whatsapp.twilio_api import close_client, make_client

        _ = self._
        client = make_client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                             settings.twilio_api_base_url, settings.twilio_timeout)
        host = urlsplit(settings.twilio_api_base_url or "https://api.twilio.com").hostname
        try:
            account = await client.api.v2010.accounts(settings.twilio_account_sid).fetch_async()
        except TwilioRestException as exc:
            if exc.status in (401, 403, 404):
                return [Finding(False, _("Twilio refused TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: copy both again "
                                         "from the Twilio console."))]
            return [Finding(False, _("Twilio answered with an error (HTTP {status}): try again later.").format(
                status=exc.status))]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return [Finding(False, _("Twilio cannot be reached at {host} ({reason}): check the network, or "
                                     "TWILIO_API_BASE_URL.").format(host=host, reason=type(exc).__name__))]
        finally:
            await close_client(client)
        if account.status not in (None, "active"):
            return [Finding(False, _("Twilio account is {status}: WhatsApp messages cannot be sent.").format(
                status=account.status))]
        return [Finding(True, _("Twilio: the credentials are accepted."))]

    async def _migrated_database(self) -> Database | None:
        """The database, opened only when its schema is already up to date (opening it
        would otherwise migrate it); None when it is not (the database line says why)."""
        from storage.schema import Unreachable, schema_status

        try:
            status = await schema_status(self.settings.database)
        except Unreachable:
            return None
        if status.current is None or status.current < status.latest:
            return None
        from storage.sealing import KeyProblem

        try:
            return await self.settings.open_database()
        except KeyProblem:
            return None  # the data key's line says why

    async def routes(self) -> list[Finding]:
        """Focal routes whose group has gone: marked broken by a failed delivery, or no
        longer reachable now (asked with `getChat`, which changes nothing)."""
        from storage import routes

        _ = self._
        db = await self._migrated_database()
        if db is None:
            return []
        try:
            async with db.reading() as tx:
                found = await routes.all_routes(tx)
        finally:
            await db.close()
        chats = sorted({r.chat_id for r in found if r.status == "active"}
                       | {c for c in (self.settings.default_focal_chat_id, self.settings.moderator_chat_id) if c})
        broken = {r.chat_id: r.broken_reason or "-" for r in found if r.status == "broken"}
        if self.telegram_ok:
            broken.update(await self._gone(chats))
        if not broken:
            return [Finding(True, self.shell.ngettext("Focal points: {count} group, none gone.",
                                                      "Focal points: {count} groups, none gone.",
                                                      len(chats)).format(count=len(chats)))]
        return [Finding(False, _("Focal point group {chat} has gone ({reason}): add the bot back and register it "
                                 "again, or remove it with `python -m bot routes remove {chat}`.").format(
            chat=chat, reason=reason)) for chat, reason in sorted(broken.items())]

    async def _gone(self, chats: list[int]) -> dict[int, str]:
        from telegram.error import BadRequest, Forbidden, TelegramError

        from bot.telegram.app import plain_bot
        from bot.telegram.sender import GONE_PHRASES

        gone: dict[int, str] = {}
        limit = asyncio.Semaphore(CHAT_CHECKS_AT_ONCE)
        async with plain_bot(self.settings) as bot:
            async def ask(chat_id: int) -> None:
                async with limit:
                    try:
                        await bot.get_chat(chat_id)
                    except Forbidden as exc:
                        gone[chat_id] = exc.message
                    except BadRequest as exc:
                        if any(phrase in exc.message.lower() for phrase in GONE_PHRASES):
                            gone[chat_id] = exc.message
                    except TelegramError:
                        pass  # not an answer about the chat

            await asyncio.gather(*(ask(c) for c in chats))
        return gone

    async def set_aside(self) -> list[Finding]:
        """Work set aside in the last 7 days after the service stopped three times while
        doing it (`flows/set_aside.py`): a line to look at, not a failed check. The service
        goes on without it, and the moderators were alerted each time with the case number."""
        from bot import health
        from storage.workers import MAX_CRASHES

        _ = self._
        db = await self._migrated_database()
        if db is None:
            return []
        try:
            summary = await health.set_aside(db)
        finally:
            await db.close()
        if not summary:
            return [Finding(True, _("Work set aside after repeated crashes (last 7 days): none."))]
        return [Finding(True, _("Set aside after the service stopped {crashes} times while doing it (last 7 days): "
                                "{count} × {what}, the last at {time}. The moderators were alerted each time.").format(
            crashes=MAX_CRASHES, count=item["count"], what=_(SET_ASIDE_KINDS.get(kind, OUTGOING)),
            time=self.shell.when(str(item["last"]))), look=True) for kind, item in sorted(summary.items())]

    async def extra(self) -> list[Finding]:
        """Checks that other parts register (`EXTRA_CHECKS`)."""
        found: list[Finding] = []
        for check in EXTRA_CHECKS:
            found += await check(self.settings, self.shell)
        return found


EXTRA_CHECKS: list[Callable[[Settings, Shell], Awaitable[list[Finding]]]] = []
"""More `check` lines that other parts register (the work set aside after crashes has its own)."""
SET_ASIDE_KINDS = {"inbound": N_("a message or file from a reporter"),
                   "delivery:post_case": N_("a case card or its files for a group"),
                   "delivery:edit_case": N_("an update of a case card")}
OUTGOING = N_("a message of ours")


def _reason(exc: BaseException) -> str:
    """An error as one short line that cannot carry a secret (PTB's messages may quote the token)."""
    from bot.logs import redact

    message = getattr(exc, "message", "") or str(exc)
    return redact(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)[:160]
