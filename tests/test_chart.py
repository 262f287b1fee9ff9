"""Issue 30: the /statistik chart counts whole cases, keeps its bars a bar's width at any
count, and is readable on a phone. The figure is caught as it is saved (the PNG sent is
made from it), so the test reads what was drawn: tick labels, bar sizes in pixels, font
sizes at the size the PNG reaches the phone."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from bot import charts
from storage.case_queries import Counts

TELEGRAM_PHOTO_SIDE = 1280
"""Telegram keeps photos at most this many pixels on their longer side."""
REGIONS = ["51.71", "51.03", "51.02", "51.01", "51.04", "51.05", "51.06", "51.07", "51.08", "32.17", "35.78"]
TYPES = ["media_sosial", "ikut_kampanye", "foto_dukungan", "ajakan_barang", "fasilitas_negara", "mobilisasi",
         "alat_peraga", "atribut", "kebijakan_memihak", "surat_dukungan", "anggota_parpol", "lainnya"]
STATUSES = ["baru", "menunggu_rute", "diteruskan", "diterima", "ditindaklanjuti", "selesai", "bukan_kewenangan",
            "ditolak"]


def spread(total: int, keys: list[str]) -> list[tuple[str, int]]:
    """`total` cases over as many keys as there are cases (at most all), biggest first."""
    used = keys[:min(total, len(keys))]
    counts = {key: total // len(used) for key in used}
    for key in used[: total % len(used)]:
        counts[key] += 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def drawn(found: Counts, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, bytes]:
    from matplotlib.figure import Figure

    caught: list[Any] = []
    save = Figure.savefig

    def catching(self: Any, *args: Any, **kwargs: Any) -> Any:
        caught.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", catching)
    png = charts._draw(found, "Kasus dalam 30 hari terakhir", "id")
    return caught[0], png


@pytest.mark.parametrize("total", [1, 3, 300])
def test_ticks_are_whole_cases_bars_keep_their_width_and_labels_are_readable(
        total: int, monkeypatch: pytest.MonkeyPatch) -> None:
    found = Counts(total, spread(total, REGIONS)[:charts.TOP], spread(total, TYPES)[:charts.TOP],
                   spread(total, STATUSES))
    figure, png = drawn(found, monkeypatch)
    image = Image.open(io.BytesIO(png))
    scale = min(1.0, TELEGRAM_PHOTO_SIDE / max(image.size))  # what the phone gets
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in figure.axes:
        low, high = ax.get_xlim()
        labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
        assert labels and all(re.fullmatch(r"\d+", label) for label in labels), labels
        assert [int(label) for label in labels] == sorted({int(label) for label in labels})
        bars = [patch.get_window_extent(renderer).height * scale for patch in ax.patches]
        assert bars and all(18 <= height <= 40 for height in bars), (total, bars)
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_text().strip() and t.get_visible()]
    assert texts
    smallest = min(t.get_fontsize() for t in texts) * scale
    assert smallest >= 10, f"smallest text {smallest:.1f} pt at the size sent"
