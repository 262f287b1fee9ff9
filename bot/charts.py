"""The statistics chart: cases by region, by type and by status, as one PNG. matplotlib
draws it off the event loop (in a thread), with the non-interactive Agg backend.

matplotlib is imported when the first chart is drawn, not when the bot starts (it is the
biggest import of the process). The layout is fixed rather than computed by
`tight_layout`, which draws the figure once more just to measure it; and the last few
charts are kept, so the same figures asked again (several officers, a repeated command)
are not drawn twice."""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from typing import Any

from flows import menus
from flows.case import notify
from flows.case.case_text import status_label
from flows.i18n import gettext_for
from storage.case_queries import Counts

WIDTH_PX, DPI = 1000, 100
TOP = 10
ROW_PX, BAR = 34, 0.7
"""Each bar's row, and the bar's share of it: 24 px thick at any count."""
TITLE_PX, HEADING_PX, TICKS_PX = 60, 34, 46
LEFT, RIGHT = 0.34, 0.95
MAX_HEIGHT_PX = TITLE_PX + 3 * (HEADING_PX + TICKS_PX) + (2 * TOP + 8) * ROW_PX
"""The tallest chart (ten regions, ten types, eight statuses): 1,252 px, within the 1,280 px
Telegram keeps of a photo, so the PNG reaches the phone at the size it was drawn."""
FONT_PT, HEADING_PT, TITLE_PT = 11, 12, 14
"""Text sizes in points at DPI: 11 pt is 15 px in the PNG as sent."""
LABEL_CHARS = 34
CACHED = 32
_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_lock = threading.Lock()  # matplotlib's text and font caches are not thread-safe


def _figure_class() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def render_png(found: Counts, title: str, locale: str) -> bytes:
    key = (found.total, tuple(found.by_region[:TOP]), tuple(found.by_type[:TOP]), tuple(found.by_status), title,
           locale)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
        png = _draw(found, title, locale)
        _cache[key] = png
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
        return png


def figure(found: Counts, title: str, locale: str) -> Any:
    """The chart as a matplotlib Figure: whole cases on every axis (never "0.2 of a case"),
    every bar as thick as any other whatever their number (the image grows with the rows,
    so one case is not a panel-wide slab), and text of at least FONT_PT points at the size
    the PNG is sent."""
    from matplotlib.ticker import MaxNLocator

    _ = gettext_for(locale)

    def incident(type_id: str) -> str:
        item = menus.find(menus.INCIDENT_TYPES, type_id)
        return _(item.label) if item else type_id

    panels = [
        (_("By region"), [(notify.region_name(code), n) for code, n in found.by_region[:TOP]]),
        (_("By type"), [(incident(code), n) for code, n in found.by_type[:TOP]]),
        (_("By status"), [(status_label(_, code), n) for code, n in found.by_status]),
    ]
    heights = [max(len(rows), 1) * ROW_PX for _heading, rows in panels]
    height_px = TITLE_PX + sum(HEADING_PX + h + TICKS_PX for h in heights)
    chart = _figure_class()(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI)
    chart.suptitle(f"{title} ({found.total})", fontsize=TITLE_PT, y=1 - 18 / height_px, va="top")
    top = height_px - TITLE_PX
    for (heading, rows), axis_px in zip(panels, heights, strict=True):
        top -= HEADING_PX
        ax = chart.add_axes((LEFT, (top - axis_px) / height_px, RIGHT - LEFT, axis_px / height_px))
        top -= axis_px + TICKS_PX
        labels = [_short(label) for label, _n in rows] or ["-"]
        values = [n for _label, n in rows] or [0]
        ax.barh(range(len(values)), values, height=BAR, color="#2f6f9f")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(len(values) - 0.5, -0.5)  # the largest on top
        ax.set_title(heading, loc="left", fontsize=HEADING_PT)
        ax.tick_params(axis="both", labelsize=FONT_PT)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.set_xlim(0, max(*values, 1) * 1.15)  # room for the numbers at the end of the bars
        for y, value in enumerate(values if rows else []):
            ax.annotate(str(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=FONT_PT)
    return chart


def _draw(found: Counts, title: str, locale: str) -> bytes:
    out = io.BytesIO()
    figure(found, title, locale).savefig(out, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})  # flat colours
    return out.getvalue()


async def render_png_async(found: Counts, title: str, locale: str) -> bytes:
    return await asyncio.to_thread(render_png, found, title, locale)
