"""The case file laid out as an A4 PDF with fpdf2, in DejaVu Sans (the font matplotlib
ships, which covers Indonesian and most Latin text). Every text is wrapped inside its box:
long words are broken, and rows that do not fit go to the next page.

fpdf2 is imported only here, when a file is generated (start-up stays light).
"""

from __future__ import annotations

import importlib.util
import io
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flows.case.case_file import Content, EvidenceEntry, Field, Section

MARGIN = 18.0
"""Left, right and top margins in mm; the bottom one leaves room for the footer."""
BOTTOM = 20.0
LABEL_W = 50.0
THUMB_W = 40.0
THUMB_H = 32.0
EVIDENCE_LABEL_W = 24.0
BLANKS_H = 11.0
SIGNATURE_H = 24.0
LINE = 4.6
GREY = (110, 110, 110)
ALERT = (176, 0, 32)
FILL = (232, 236, 242)


@dataclass(frozen=True, slots=True)
class Preview:
    """A thumbnail of the cleaned copy of an image (JPEG) with its pixel size."""

    jpeg: bytes
    width: int
    height: int


@cache
def font_dir() -> Path:
    """matplotlib's bundled fonts, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            found = Path(location) / "mpl-data" / "fonts" / "ttf"
            if (found / "DejaVuSans.ttf").exists():
                return found
    import matplotlib  # an unusual install: ask matplotlib itself

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _printable(text: str, cmap: dict[int, str]) -> str:
    """Control and formatting characters dropped (a bidi override must not reorder the
    file), characters the font lacks shown as "?" instead of an empty box."""
    out = []
    for char in text:
        if char in "\n\t":
            out.append(" " if char == "\t" else char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(char if ord(char) in cmap or char == " " else "?")
    return "".join(out)


class _Layout:
    def __init__(self, content: Content) -> None:
        from fpdf import FPDF
        from fpdf.fonts import TTFFont

        self.content = content
        layout = self

        class _Document(FPDF):
            def footer(self) -> None:
                layout.footer()

        pdf = self.pdf = _Document(orientation="P", unit="mm", format="A4")
        fonts = font_dir()
        pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
        pdf.add_font("DejaVuMono", "", str(fonts / "DejaVuSansMono.ttf"))
        font = pdf.fonts["dejavu"]
        assert isinstance(font, TTFFont), "added from its TrueType file just above"
        self.cmap: dict[int, str] = font.cmap
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, BOTTOM)
        pdf.set_title(content.title)
        pdf.set_subject(content.subtitle)
        pdf.set_lang("id")
        pdf.set_creator("Lapor Netral")
        pdf.set_creation_date(content.generated_at)
        self.width = pdf.w - 2 * MARGIN

    def text(self, value: str) -> str:
        return _printable(value, self.cmap)

    def font(self, size: float, bold: bool = False, mono: bool = False, color: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.pdf.set_font("DejaVuMono" if mono else "DejaVu", "B" if bold and not mono else "", size)
        self.pdf.set_text_color(*color)

    def footer(self) -> None:
        pdf = self.pdf
        pdf.set_y(-BOTTOM + 6)
        self.font(7, color=GREY)
        pages = self.content.page_label.format(page=pdf.page_no(), pages="{nb}")
        room = self.width - pdf.get_string_width(pages.replace("{nb}", "999")) - 4
        footer = self.text(self.content.footer)
        while footer and pdf.get_string_width(footer) > room:
            footer = footer[:-2] + "…"
        pdf.cell(room, 4, footer, align="L")
        pdf.set_x(MARGIN + room)
        pdf.cell(self.width - room, 4, pages, align="R")

    def room_left(self) -> float:
        return self.pdf.h - BOTTOM - self.pdf.get_y()

    def ensure(self, height: float) -> None:
        """Start a new page unless `height` fits (a taller block is split by fpdf2)."""
        if height > self.room_left() and height < self.pdf.h - BOTTOM - MARGIN:
            self.pdf.add_page()

    def lines_of(self, width: float, text: str) -> int:
        lines = self.pdf.multi_cell(width, LINE, text, dry_run=True, output="LINES", align="L")
        return len(lines) if isinstance(lines, list) else 1

    def heading(self) -> None:
        pdf, content = self.pdf, self.content
        self.font(16, bold=True)
        pdf.multi_cell(0, 8, self.text(content.title), new_x="LMARGIN", new_y="NEXT", align="L")
        self.font(9, color=GREY)
        pdf.multi_cell(0, 5, self.text(content.subtitle), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(2)

    def section(self, title: str, first: float) -> None:
        """A heading never ends a page: it goes to the next one with the block that follows
        it (`first`: that block's height)."""
        pdf = self.pdf
        self.ensure(12 + first)
        pdf.ln(2)
        self.font(11, bold=True)
        pdf.set_fill_color(*FILL)
        pdf.multi_cell(0, 7, self.text(title), fill=True, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1.5)

    def field_height(self, field: Field, label_w: float, value_w: float) -> float:
        self.font(8.5, bold=True)
        label_lines = self.lines_of(label_w, self.text(field.label))
        self.font(7.2 if field.mono else 9, bold=field.alert, mono=field.mono)
        value_lines = self.lines_of(value_w, self.text(field.value) or "-")
        return max(label_lines, value_lines) * LINE

    def field(self, field: Field, x: float, label_w: float, value_w: float) -> None:
        pdf = self.pdf
        label, value = self.text(field.label), self.text(field.value) or "-"
        self.ensure(self.field_height(field, label_w, value_w))
        page, top = pdf.page, pdf.get_y()
        self.font(8.5, bold=True, color=GREY)
        pdf.set_xy(x, top)
        pdf.multi_cell(label_w, LINE, label, new_x="LMARGIN", new_y="NEXT", align="L")
        label_end = (pdf.page, pdf.get_y())
        pdf.page = page
        pdf.set_xy(x + label_w, top)
        self.font(7.2 if field.mono else 9, bold=field.alert, mono=field.mono, color=ALERT if field.alert else (0, 0, 0))
        pdf.multi_cell(value_w, LINE, value, new_x="LMARGIN", new_y="NEXT", align="L")
        value_end = (pdf.page, pdf.get_y())
        end = max(label_end, value_end)
        pdf.page = end[0]
        pdf.set_xy(MARGIN, end[1] + 0.8)

    def paragraph(self, text: str) -> None:
        self.font(9.5)
        self.pdf.multi_cell(0, 5, self.text(text) or "-", new_x="LMARGIN", new_y="NEXT", align="L")

    def small_lines(self, lines: tuple[str, ...]) -> None:
        for line in lines:
            self.font(8)
            text = self.text(line)
            self.ensure(self.lines_of(self.width, text) * 4.2)
            self.pdf.multi_cell(0, 4.2, text, new_x="LMARGIN", new_y="NEXT", align="L")
            self.pdf.ln(0.6)

    def _evidence_fields(self, entry: EvidenceEntry, preview: Preview | str | None) -> list[Field]:
        fields = list(entry.fields)
        if isinstance(preview, str):
            fields.append(Field(self.content.preview_label, preview))
        return fields

    def evidence_height(self, entry: EvidenceEntry, preview: Preview | str | None) -> float:
        width = self.width - THUMB_W - 4
        self.font(9)
        height = 6 + sum(max(self.lines_of(width - EVIDENCE_LABEL_W, self.text(f.value)), 1) * LINE + 0.8
                         for f in self._evidence_fields(entry, preview))
        return max(THUMB_H, height) + 4

    def evidence(self, entry: EvidenceEntry, preview: Preview | str | None) -> None:
        pdf = self.pdf
        fields = self._evidence_fields(entry, preview)
        x = MARGIN + THUMB_W + 4
        width = self.width - THUMB_W - 4
        label_w = EVIDENCE_LABEL_W
        self.ensure(self.evidence_height(entry, preview))
        top = pdf.get_y()
        if isinstance(preview, Preview):
            scale = min(THUMB_W / preview.width, THUMB_H / preview.height)
            w, h = preview.width * scale, preview.height * scale
            pdf.image(io.BytesIO(preview.jpeg), x=MARGIN + (THUMB_W - w) / 2, y=top, w=w, h=h)
        else:
            pdf.set_draw_color(190, 190, 190)
            pdf.set_fill_color(245, 245, 245)
            pdf.rect(MARGIN, top, THUMB_W, THUMB_H * 0.6, style="DF")
        pdf.set_xy(x, top)
        self.font(9.5, bold=True)
        pdf.multi_cell(width, 5.5, self.text(entry.heading), new_x="LMARGIN", new_y="NEXT", align="L")
        for f in fields:
            self.field(f, x, label_w, width - label_w)
        bottom = max(pdf.get_y(), top + (THUMB_H if isinstance(preview, Preview) else THUMB_H * 0.6))
        pdf.set_xy(MARGIN, bottom + 3)

    def blanks(self, labels: tuple[str, ...]) -> None:
        """Rows to fill in by hand, the last (the signature) taller: kept on one page."""
        pdf = self.pdf
        self.ensure(BLANKS_H * (len(labels) - 1) + SIGNATURE_H)
        pdf.set_draw_color(120, 120, 120)
        for n, label in enumerate(labels):
            height = SIGNATURE_H if n == len(labels) - 1 else BLANKS_H
            top = pdf.get_y()
            self.font(8.5, bold=True, color=GREY)
            pdf.set_xy(MARGIN, top + height - 6)
            pdf.cell(LABEL_W, 5, self.text(label))
            pdf.line(MARGIN + LABEL_W, top + height - 1.5, MARGIN + self.width, top + height - 1.5)
            pdf.set_xy(MARGIN, top + height)

    def first_height(self, section: Section, previews: dict[int, Preview | str]) -> float:
        """The height of what follows a section's heading first: its first row, the start
        of its text, its first piece of evidence, or its whole block of blanks."""
        if section.fields:
            return self.field_height(section.fields[0], LABEL_W, self.width - LABEL_W) + 0.8
        if section.text is not None:
            self.font(9.5)
            return min(self.lines_of(self.width, self.text(section.text) or "-"), 3) * 5
        if section.lines:
            self.font(8)
            return self.lines_of(self.width, self.text(section.lines[0])) * 4.2
        if section.evidence:
            return self.evidence_height(section.evidence[0], previews.get(section.evidence[0].evidence_id))
        if section.blanks:
            return BLANKS_H * (len(section.blanks) - 1) + SIGNATURE_H
        return LINE

    def build(self, previews: dict[int, Preview | str]) -> bytes:
        pdf, content = self.pdf, self.content
        pdf.add_page()
        self.heading()
        for section in content.sections:
            self.section(section.title, self.first_height(section, previews))
            for f in section.fields:
                self.field(f, MARGIN, LABEL_W, self.width - LABEL_W)
            if section.text is not None:
                self.paragraph(section.text)
            if section.lines:
                self.small_lines(section.lines)
            for entry in section.evidence:
                self.evidence(entry, previews.get(entry.evidence_id))
            if section.blanks:
                self.blanks(section.blanks)
            if section.empty and not (section.fields or section.text or section.lines or section.evidence
                                      or section.blanks):
                self.font(9, color=GREY)
                pdf.multi_cell(0, LINE, self.text(section.empty), new_x="LMARGIN", new_y="NEXT", align="L")
        return bytes(pdf.output())


def render(content: Content, previews: dict[int, Preview | str]) -> bytes:
    """The PDF's bytes. `previews`: per evidence id, a thumbnail or why there is none.
    CPU-bound: run it in a thread."""
    return _Layout(content).build(previews)
