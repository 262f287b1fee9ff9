"""The aiohttp server that carries the webhooks (Telegram, WhatsApp), health and readiness."""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from telegram import Update

from bot import metrics
from bot.config import Settings
from bot.health import Health, liveness, readiness
from bot.telegram import TelegramApp
from storage import Database, case_files, cleaned_files, keys, outbox
from storage.evidence_files import EvidenceStore

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 256 * 1024
"""Telegram updates and Twilio forms are a few kilobytes (files come by URL): more is refused (413)."""


def make_web_app(settings: Settings, db: Database, application: TelegramApp | None) -> web.Application:
    """The routes of the configured channels: Telegram's when `application` is given,
    WhatsApp's when the Twilio settings are."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def shown(health: Health, request: web.Request) -> web.Response:
        """Only healthy or not, unless the request carries the metrics token."""
        body = health.body if authorised(request) else {"status": health.body.get("status", "unhealthy")}
        return web.json_response(body, status=health.status)

    async def healthz(request: web.Request) -> web.Response:
        """Liveness: the process and the database answer (`bot/health.py`)."""
        return shown(await liveness(db), request)

    async def readyz(request: web.Request) -> web.Response:
        """Readiness: live, and the oldest delivery that could be sent now is younger than
        `HEALTH_MAX_BACKLOG_SECONDS`; what waits for WhatsApp's window or a route is apart."""
        return shown(await readiness(db, settings.health_max_backlog_seconds), request)

    async def metrics_page(request: web.Request) -> web.Response:
        """Only with `Authorization: Bearer <METRICS_TOKEN>`; off when no token is set."""
        if not token:
            return web.Response(status=404, text="metrics are off (set METRICS_TOKEN)")
        if not authorised(request):
            return web.Response(status=401, text="unauthorised", headers={"WWW-Authenticate": "Bearer"})
        pending, oldest = await backlog(db)
        metrics.OUTBOX_DEPTH.set(pending)
        metrics.OUTBOX_OLDEST.set(oldest or 0)
        data, content_type = metrics.exposition()
        return web.Response(body=data, headers={"Content-Type": content_type})

    if application is not None:
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        app.router.add_post(settings.telegram_webhook_path, _telegram_handler(application, secret))
    if settings.whatsapp_enabled:
        from bot.whatsapp import media_links
        from bot.whatsapp.webhook import handler

        assert settings.twilio_auth_token and settings.public_base_url
        app.router.add_post(settings.twilio_webhook_path, handler(
            db, settings.twilio_auth_token.get_secret_value(), settings.public_base_url))
        app.router.add_get(media_links.PATH + "/{kind}/{sha}/{expires}/{signature}/{name}",
                           _media_handler(db, EvidenceStore.for_database(db, settings.evidence_dir)))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


def _telegram_handler(application: TelegramApp, secret: str) -> Handler:
    async def telegram_webhook(request: web.Request) -> web.Response:
        """Checked first: the secret Telegram echoes back. The update is processed before
        we answer, so if we die midway Telegram delivers it again (and it is then
        recognised as a duplicate if it had been stored). The answer to a button press
        rides in the response."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        if request.content_type != "application/json":
            return web.Response(status=415, text="json expected")
        update = await _update_of(request, application)
        if update is False:
            return web.Response(status=400, text="bad update")
        from bot.telegram.channel import WEBHOOK_ANSWER

        answer: dict[str, object] = {}
        token = WEBHOOK_ANSWER.set(answer)
        try:
            await application.process_update(update)
        finally:
            WEBHOOK_ANSWER.reset(token)
        # A press is answered in this response (Telegram carries out one method given here):
        # one Bot API call fewer per button.
        return web.json_response(answer) if answer else web.Response(text="ok")

    return telegram_webhook


def _media_handler(db: Database, store: EvidenceStore) -> Handler:
    async def media(request: web.Request) -> web.Response:
        """A file an officer gets on WhatsApp, fetched by Twilio (`bot/whatsapp/media_links.py`).
        A wrong or expired signature, or a file that is not a cleaned copy or a recorded case
        file, is a bare 404. Each fetch is logged by case number, never by address."""
        from bot.whatsapp import media_links

        given = request.match_info
        found = media_links.verify(await keys.media_url_key(db), given["kind"], given["sha"], given["expires"],
                                   given["signature"], given["name"])
        if found is None:
            log.info("a media URL with a wrong or expired signature was refused")
            return web.Response(status=404, text="not found")
        async with db.reading() as tx:
            if found.kind == media_links.EVIDENCE:
                mime = await cleaned_files.copy_mime(tx, found.sha256)
            else:
                mime = "application/pdf" if await case_files.recorded(tx, found.sha256) else None
        data = await store.get(found.sha256) if mime else None
        if data is None:
            log.warning("media of %s (%s) was asked for and is not served", found.number, found.label)
            return web.Response(status=404, text="not found")
        log.info("media of %s (%s) fetched", found.number, found.label)
        return web.Response(body=data, headers={"Content-Type": mime or "application/octet-stream",
                                                "Cache-Control": "no-store",
                                                "Content-Disposition": f'inline; filename="{found.name}"'})

    return media


MAX_JSON_DEPTH = 32
"""A Telegram update nests about ten levels deep; a body nested deeper is not an update."""


async def _update_of(request: web.Request, application: TelegramApp) -> Update | None | bool:
    """The update in a webhook body; False when the body is not one (malformed, not UTF-8,
    nested too deep, or not an update's shape). Its content is never logged."""
    try:
        raw = await request.read()
        if _nesting(raw) > MAX_JSON_DEPTH:
            return False
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return False
        return Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # input, not our fault: one line, never the body
        log.info("webhook body refused: %s", type(exc).__name__)
        return False


def _nesting(raw: bytes) -> int:
    """How deep brackets nest outside strings, found before any parser recurses into them
    (regular expressions in C; an ordinary update has too few brackets to look further)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    brackets = _BRACKET.findall(_STRING.sub(b"", raw))
    return max(itertools.accumulate(1 if b in (b"[", b"{") else -1 for b in brackets), default=0)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


async def backlog(db: Database) -> tuple[int, float | None]:
    """Deliveries that could be sent now, and the age in seconds of the oldest."""
    async with db.reading() as tx:
        pending, oldest = await outbox.backlog(tx)
    age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else None
    return pending, age


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
