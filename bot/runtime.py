"""Everything a running service holds: the database, the engine, the channels that are
configured, and the background loops (delivery, WhatsApp inbox). Opened once per process
by `run` (Telegram polling), `serve` (webhooks) or a test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import metrics
from bot.config import Settings
from bot.delivery import DeliveryWorker, Sender, new_worker_id
from bot.downloads import Downloads
from cleaning import pool as cleaning_pool
from flows.engine import Engine
from flows.staff.commands import StaffCommands
from flows.staff.desk import Desk
from storage import Database
from storage.evidence_files import EvidenceStore

if TYPE_CHECKING:
    from telegram import Bot
    from twilio.rest import Client

    from bot.telegram.channel import TelegramChannel
    from bot.whatsapp.inbox import WhatsAppInbox


@dataclass
class Runtime:
    settings: Settings
    db: Database | None = None
    engine: Engine | None = None
    channel: TelegramChannel | None = None
    worker: DeliveryWorker | None = None
    inbox: WhatsAppInbox | None = None
    twilio: Client | None = None
    warming: asyncio.Task[None] | None = None


async def open_runtime(runtime: Runtime, bot: Bot | None) -> None:
    """Open the database and start what is configured: the Telegram channel when a bot
    is given, WhatsApp when the Twilio credentials are set."""
    if runtime.db is not None:
        return
    settings = runtime.settings
    policy = settings.policy()
    pool = cleaning_pool.configure(settings.cleaning_limits())
    runtime.warming = asyncio.create_task(asyncio.to_thread(pool.start))  # warm before the first file
    db = runtime.db = await settings.open_database()
    store = EvidenceStore.for_database(db, settings.evidence_dir)
    worker_id = new_worker_id()  # the leases of this process name it
    whatsapp = settings.whatsapp_enabled
    durable = {name for name, on in (("telegram", bot is not None), ("whatsapp", whatsapp)) if on}
    engine = runtime.engine = Engine(db, settings.default_locale, settings.timezone, policy=policy,
                                     outbox_channels=frozenset(durable),
                                     windowed_channels=frozenset({"whatsapp"}) if whatsapp else frozenset(),
                                     store=store,
                                     direct_channels=frozenset({"telegram"}) if bot is not None else frozenset(),
                                     lease_seconds=settings.delivery_lease_seconds,
                                     links=settings.link_resolver(), worker_id=worker_id)
    engine.observer = _observe
    senders: dict[str, Sender] = {}
    if bot is not None:
        from bot.case_file import CaseFiles
        from bot.telegram.channel import TelegramChannel
        from bot.telegram.focal import FocalGroups
        from bot.telegram.sender import TelegramSender
        from bot.telegram.staff import StaffChat

        lease = settings.delivery_lease_seconds  # staff answers are sent at once, like replies
        desk = Desk(db, policy, lease, worker_id)
        sender = TelegramSender(bot, db, store, settings.default_locale,
                                CaseFiles(db, store, settings.timezone))
        staff = StaffChat(StaffCommands(db, policy, desk, lease, worker_id))
        runtime.channel = TelegramChannel(engine, store, settings.default_locale,
                                          focal=FocalGroups(desk, staff), staff=staff)
        runtime.channel.downloads = Downloads(settings.download_limits())
        senders["telegram"] = sender
    if whatsapp:
        from bot.whatsapp.inbox import WhatsAppInbox
        from bot.whatsapp.media import MediaRules
        from bot.whatsapp.sender import WhatsAppSender
        from bot.whatsapp.twilio_api import make_client

        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_whatsapp_from
        token = settings.twilio_auth_token.get_secret_value()
        from bot.case_file import CaseFiles
        from bot.whatsapp.media_links import MediaLinks
        from bot.whatsapp.officer_sender import OfficerDeliveries
        from bot.whatsapp.officers import OfficerDesk

        runtime.twilio = make_client(settings.twilio_account_sid, token, settings.twilio_api_base_url,
                                     settings.twilio_timeout)
        links = MediaLinks(settings.public_base_url, settings.media_url_seconds) if settings.public_base_url else None
        officers = OfficerDeliveries(db, store, policy, links, CaseFiles(db, store, settings.timezone),
                                     settings.twilio_case_template_sid)
        senders["whatsapp"] = WhatsAppSender(runtime.twilio, db, settings.twilio_whatsapp_from,
                                             settings.twilio_status_template_sid, officers=officers)
        rules = MediaRules.from_settings(settings.twilio_media_auth_hosts, settings.twilio_media_allow_networks,
                                         settings.twilio_media_ca_file)
        runtime.inbox = WhatsAppInbox(engine, store, settings.twilio_account_sid, token,
                                      poll_seconds=settings.delivery_poll_seconds, rules=rules,
                                      limits=settings.download_limits(), concurrency=settings.whatsapp_concurrency,
                                      worker_id=worker_id)
        officer_desk = Desk(db, policy)  # officers' answers go through the worker, like every WhatsApp message
        runtime.inbox.officers = OfficerDesk(db, policy, officer_desk, StaffCommands(db, policy, officer_desk),
                                             engine.admit)
        db.on_commit(runtime.inbox.wake)
    worker = runtime.worker = DeliveryWorker(
        db, policy, senders, lease_seconds=settings.delivery_lease_seconds,
        poll_seconds=settings.delivery_poll_seconds, deadline_every=settings.deadline_check_seconds,
        base_backoff=settings.delivery_backoff_seconds, store=store, worker_id=worker_id,
        heartbeat_seconds=settings.worker_heartbeat_seconds, dead_after=settings.worker_dead_after_seconds)
    worker.on_sent = engine.delivered
    if runtime.channel is not None:  # Telegram replies go out right after their step's commit
        runtime.channel.deliver_now = worker.deliver_now
        if runtime.channel.staff is not None:  # and so do staff answers
            runtime.channel.staff.deliver_now = worker.deliver_now
    await worker.register()  # before anything is leased: what a dead process held is free again
    if runtime.inbox is not None:
        runtime.inbox.start()
    worker.start()


async def close_runtime(runtime: Runtime) -> None:
    """Stop everything, each part even if another failed to stop: the database is always
    closed, so the process can exit."""
    try:
        if runtime.inbox is not None:
            inbox, runtime.inbox = runtime.inbox, None
            await inbox.stop()
    finally:
        try:
            if runtime.channel is not None:
                await runtime.channel.downloads.close()
            if runtime.worker is not None:
                worker, runtime.worker = runtime.worker, None
                await worker.stop()
            if runtime.engine is not None:
                await runtime.engine.settle()
                await runtime.engine.close()  # what was sent is recorded before the database closes
                await _close_links(runtime.engine)
        finally:
            try:
                if runtime.twilio is not None:
                    from bot.whatsapp.twilio_api import close_client

                    twilio, runtime.twilio = runtime.twilio, None
                    await close_client(twilio)
            finally:
                if runtime.warming is not None:
                    warming, runtime.warming = runtime.warming, None
                    await asyncio.gather(warming, return_exceptions=True)
                if runtime.db is not None:
                    db, runtime.db = runtime.db, None
                    await db.close()


async def _close_links(engine: Engine) -> None:
    close = getattr(engine.links, "close", None)
    if close is not None:
        await close()


def _observe(channel: str, seconds: float) -> None:
    metrics.UPDATES.labels(channel).inc()
    metrics.STEP_SECONDS.labels(channel).observe(seconds)
