"""The shell's case commands: `cases` (a list), `export` (CSV and XLSX), `berkas` (a case
file) and `statistik` (the chart). Input is checked before anything is opened or written;
files with personal data are private (`bot/shell.py`)."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.shell import Shell, private_file, write_private
from flows import menus, regions
from flows.case.case_text import status_label
from storage.case_queries import CaseFilter


def where_it_is(settings: Settings, shell: Shell) -> str:
    return shell._("the PostgreSQL database") if settings.database_url else str(settings.database_path)


async def cases(settings: Settings, shell: Shell, limit: int) -> int:
    from storage import cases as stored

    _ = shell._
    if limit < 1:
        shell.refuse(_("--limit must be a number from 1, for example --limit 20."))
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            rows = await stored.recent(tx, limit)
            counts = {c.id: len(await stored.evidence_of(tx, c.id)) for c in rows}
    if not rows:
        shell.say(_("No cases in {place}.").format(place=where_it_is(settings, shell)))
        return 0
    head = (_("number"), _("received"), _("status"), _("files"), _("region"), _("type"))
    lines = [(c.number, shell.when(c.created_at), status_label(_, c.status), str(counts[c.id]),
              region.name if (region := regions.get(c.region_code)) else c.region_code,
              _(kind.label) if (kind := menus.find(menus.INCIDENT_TYPES, c.incident_type)) else c.incident_type)
             for c in rows]
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    for row in [head, *lines]:
        cells = [value.rjust(width) if column == 3 else value.ljust(width)
                 for column, (value, width) in enumerate(zip(row, widths, strict=True))]
        shell.say("  ".join(cells).rstrip())
    return 0


def export_filter(shell: Shell, status: str | None, region: str | None, incident_type: str | None,
                  since: str | None, until: str | None) -> CaseFilter:
    """The export's selection, or a one-line refusal. Dates are days in the service's zone:
    `--until` is the last day included."""
    _ = shell._
    if status and not menus.find(menus.CASE_STATUSES, status):
        shell.refuse(_("--status: unknown status \"{value}\". Use one of: {values}.").format(
            value=status, values=", ".join(s.id for s in menus.CASE_STATUSES)))
    if incident_type and not menus.find(menus.INCIDENT_TYPES, incident_type):
        shell.refuse(_("--type: unknown type \"{value}\". Use one of: {values}.").format(
            value=incident_type, values=", ".join(t.id for t in menus.INCIDENT_TYPES)))
    if region and regions.get(region) is None:
        shell.refuse(_("--region: \"{value}\" is not a Kemendagri region code. Use a code such as 51 (a province) "
                       "or 51.71 (a kabupaten/kota).").format(value=region))
    first = shell.day(since, "--since") if since else None
    last = shell.day(until, "--until") if until else None
    if first and last and last < first:
        shell.refuse(_("--until ({until}) is before --since ({since}).").format(until=until, since=since))
    return CaseFilter(status, region, incident_type, shell.day_start(first) if first else None,
                      shell.day_after(last) if last else None)


async def export(settings: Settings, shell: Shell, where: CaseFilter, out: Path | None, kind: str,
                 identity: bool) -> int:
    from bot.export import Layout, write_files

    _ = shell._
    if out is not None and out.exists() and not out.is_dir():
        shell.refuse(_("--out {path} is a file; give the folder for the export files.").format(path=out))
    stamp = datetime.now(UTC).astimezone(shell.zone).strftime("%Y%m%d-%H%M")
    names = [f"kasus-{stamp}.{ext}" for ext in ("csv", "xlsx") if kind in (ext, "both")]
    targets = [shell.output_path(None if out is None else out / name, settings.database_path.parent, name)
               for name in names]
    async with settings.opened_database() as db:
        with contextlib.ExitStack() as files:  # a failed export leaves no file behind
            written = {t.suffix: files.enter_context(private_file(t)) for t in targets}
            count = await write_files(db, where, identity, written.get(".csv"), written.get(".xlsx"),
                                      layout=Layout(shell.locale, settings.timezone))
    for target in targets:
        shell.say(str(target))
    text = (shell.ngettext("{count} case exported, with the reporter's identity.",
                           "{count} cases exported, with the reporters' identity.", count) if identity
            else shell.ngettext("{count} case exported.", "{count} cases exported.", count))
    shell.say(text.format(count=count))
    return 0


async def berkas(settings: Settings, shell: Shell, number_text: str, out: Path | None, identity: bool) -> int:
    """One case's file, written where asked and recorded in its audit trail like any other."""
    from bot.case_file import CaseFiles
    from flows.case import case_number
    from flows.case.case_file import Order
    from flows.staff.visibility import Viewer
    from storage import cases as stored
    from storage.evidence_files import EvidenceStore

    _ = shell._
    number = case_number.normalize(number_text)
    if number is None:
        shell.refuse(_("\"{value}\" is not a case number; they look like LN-24-7K3Q9.").format(value=number_text))
    if out is not None and out.is_dir():
        shell.refuse(_("--out {path} is a folder; give the file to write, for example {path}/berkas.pdf.").format(
            path=out))
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            case = await stored.by_number(tx, number)
        if case is None:
            shell.refuse(_("There is no case {number} in {place}.").format(number=number,
                                                                          place=where_it_is(settings, shell)))
        maker = CaseFiles(db, EvidenceStore.for_database(db, settings.evidence_dir), settings.timezone)
        made = await maker.make(Order(case.id, Viewer.shell(identity), "shell"))
    assert made is not None  # the shell sees every case
    target = shell.output_path(out, settings.database_path.parent, made.file_name)
    write_private(target, made.data)
    shell.say(str(target))
    shell.say((_("SHA-256 {sha256} (with the reporter's identity)") if identity else _("SHA-256 {sha256}")).format(
        sha256=made.sha256))
    return 0


def period_of(shell: Shell, text: str, today: date) -> tuple[date, date, str]:
    """`7`, `30`, `90` (days up to today) or `YYYY-MM`: the first day, the day after the
    last, and the chart's title."""
    _ = shell._
    if text.isdecimal() and 0 < int(text) <= 3660:
        days = int(text)
        return (today - timedelta(days=days - 1), today + timedelta(days=1),
                shell.ngettext("Cases in the last {days} day", "Cases in the last {days} days", days).format(days=days))
    if len(text) == 7 and text[4] == "-":
        try:
            first = date.fromisoformat(text + "-01")
        except ValueError:
            first = None
        if first is not None:
            return first, (first + timedelta(days=32)).replace(day=1), _("Cases in {month}").format(month=text)
    shell.refuse(_("\"{value}\" is not a period: give a number of days (7, 30, 90) or a month such as 2026-11.").format(
        value=text))


async def statistik(settings: Settings, shell: Shell, period: str, out: Path | None) -> int:
    """The chart `/statistik` sends, drawn here without Telegram: the same daily counts."""
    from bot.charts import render_png_async
    from storage.case_queries import daily_counts

    _ = shell._
    if out is not None and out.suffix.lower() != ".png":
        shell.refuse(_("--out must name a .png file, for example --out statistik.png."))
    today = datetime.now(UTC).date()
    first, after, title = period_of(shell, period, today)
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            found = await daily_counts(tx, first.isoformat(), after.isoformat())
    png = await render_png_async(found, title, shell.locale)
    target = shell.output_path(out, settings.database_path.parent, f"statistik-{first:%Y%m%d}-{after:%Y%m%d}.png")
    write_private(target, png)
    shell.say(str(target))
    shell.say(_("{title}: {total}").format(title=title, total=found.total))
    return 0
