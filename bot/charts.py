"""The statistics chart: cases by region, by type and by status, as one PNG. matplotlib
draws it off the event loop (in a thread), with the non-interactive Agg backend."""

from __future__ import annotations

import asyncio
import io

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from flows import menus  # noqa: E402
from flows.case import notify  # noqa: E402
from flows.case.case_text import status_label  # noqa: E402
from flows.i18n import gettext_for  # noqa: E402
from storage.case_queries import Counts  # noqa: E402

WIDTH_PX, HEIGHT_PX, DPI = 1000, 1200, 100
TOP = 10


def render_png(found: Counts, title: str, locale: str) -> bytes:
    _ = gettext_for(locale)

    def incident(type_id: str) -> str:
        item = menus.find(menus.INCIDENT_TYPES, type_id)
        return _(item.label) if item else type_id

    panels = [
        (_("By region"), [(notify.region_name(code), n) for code, n in found.by_region[:TOP]]),
        (_("By type"), [(incident(code), n) for code, n in found.by_type[:TOP]]),
        (_("By status"), [(status_label(_, code), n) for code, n in found.by_status]),
    ]
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    figure.suptitle(f"{title} ({found.total})")
    axes = figure.subplots(3, 1)
    for ax, (heading, rows) in zip(axes, panels, strict=True):
        labels = [label for label, _n in rows][::-1]
        values = [n for _label, n in rows][::-1]
        ax.barh(labels or ["-"], values or [0], color="#2f6f9f")
        ax.set_title(heading, loc="left")
        ax.tick_params(axis="y", labelsize=8)
        for y, value in enumerate(values):
            ax.annotate(str(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


async def render_png_async(found: Counts, title: str, locale: str) -> bytes:
    return await asyncio.to_thread(render_png, found, title, locale)
