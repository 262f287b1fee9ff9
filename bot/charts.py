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

WIDTH_PX, HEIGHT_PX, DPI = 1000, 1200, 100
TOP = 10
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


def _draw(found: Counts, title: str, locale: str) -> bytes:
    _ = gettext_for(locale)

    def incident(type_id: str) -> str:
        item = menus.find(menus.INCIDENT_TYPES, type_id)
        return _(item.label) if item else type_id

    panels = [
        (_("By region"), [(notify.region_name(code), n) for code, n in found.by_region[:TOP]]),
        (_("By type"), [(incident(code), n) for code, n in found.by_type[:TOP]]),
        (_("By status"), [(status_label(_, code), n) for code, n in found.by_status]),
    ]
    figure = _figure_class()(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    figure.suptitle(f"{title} ({found.total})")
    figure.subplots_adjust(left=0.3, right=0.95, top=0.94, bottom=0.03, hspace=0.3)
    axes = figure.subplots(3, 1)
    for ax, (heading, rows) in zip(axes, panels, strict=True):
        labels = [_short(label) for label, _n in rows][::-1]
        values = [n for _label, n in rows][::-1]
        ax.barh(labels or ["-"], values or [0], color="#2f6f9f")
        ax.set_title(heading, loc="left")
        ax.tick_params(axis="y", labelsize=8)
        ax.margins(x=0.12)  # room for the numbers at the end of the bars
        for y, value in enumerate(values):
            ax.annotate(str(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})  # flat colours: small anyway
    return out.getvalue()


async def render_png_async(found: Counts, title: str, locale: str) -> bytes:
    return await asyncio.to_thread(render_png, found, title, locale)
