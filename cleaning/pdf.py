"""PDFs are rewritten object by object with pikepdf (QPDF): the document information
dictionary (/Author, /Creator, /Producer, dates), XMP metadata streams on the catalogue and on
every object, page-piece data, embedded and attached files, JavaScript and other actions run
on opening or on a click (launch, submit, import, sound, movie), and file-attachment
annotations are removed; the file gets a new document ID. Photos embedded as JPEG lose their
EXIF/XMP/comment segments. Text and drawings stay as they are: what a reporter wrote in
the document is evidence."""

from __future__ import annotations

import io
import re
import time

import pikepdf

from cleaning.result import Cleaned, Unsafe

DROPPED_KEYS = ("/Metadata", "/PieceInfo", "/AA", "/OpenAction", "/JS", "/JavaScript", "/EmbeddedFiles",
                "/EF", "/XFA", "/Collection", "/LastModified", "/Perms", "/SpiderInfo", "/URLS")
DANGEROUS_ACTIONS = frozenset({"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToE", "/GoToR",
                               "/Sound", "/Movie", "/Rendition", "/RichMediaExecute", "/Hide", "/ResetForm"})
ANNOTATION_AUTHOR_KEYS = ("/T", "/M", "/NM", "/CreationDate")
"""A note's or highlight's author (PDF editors write the user's name or e-mail), its times and
its id; what it says (/Contents) is evidence and stays."""
DROPPED_ANNOTATIONS = frozenset({"/FileAttachment", "/Sound", "/Movie", "/Screen", "/RichMedia", "/3D"})


MAX_OBJECTS = 100_000
"""A long scanned report has a few thousand objects; walking one costs ~45 µs and opening
one ~330 bytes. The attack round's PDF had 1.15 million (383 MB just to open it)."""
CHECK_EVERY = 512
"""Objects walked between two looks at the clock."""


class _Unsupported(Exception):
    """An image whose metadata we cannot take out (JPEG 2000, a JPEG under a filter we do not undo)."""


class _OverBudget(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_pdf(data: bytes, *, max_objects: int = MAX_OBJECTS, deadline: float | None = None) -> Cleaned | Unsafe:
    """`deadline` (on `time.monotonic`'s clock): past it the walk stops, "too_slow"; more
    than `max_objects` objects (declared, or met on the walk) is "too_large"."""
    if declared_objects(data) > max_objects:
        return Unsafe("too_large")
    budget = _Budget(max_objects, deadline)
    try:
        with pikepdf.open(io.BytesIO(data)) as document:
            if "/Info" in document.trailer:
                del document.trailer["/Info"]
            if "/ID" in document.trailer:
                del document.trailer["/ID"]
            _scrub(document.Root, set(), budget)
            _scrub_images(document, budget)
            budget.check()
            out = io.BytesIO()
            document.save(out, encryption=False, fix_metadata_version=False, compress_streams=True)
    except _OverBudget as exc:
        return Unsafe(exc.reason)
    except _Unsupported:
        return Unsafe("unsupported")
    except pikepdf.PasswordError:
        return Unsafe("encrypted")
    except (pikepdf.PdfError, ValueError, RecursionError, KeyError, TypeError):
        return Unsafe("unparseable")
    return Cleaned(out.getvalue(), "application/pdf", ".pdf")


_SIZE = re.compile(rb"/Size\s+(\d{1,12})")
_OBJECT_STREAM_COUNT = re.compile(rb"/N\s+(\d{1,12})")


def declared_objects(data: bytes) -> int:
    """How many objects the file says it holds, read from the bytes before any parser runs:
    the largest cross-reference /Size, or the objects written out plus those packed in
    object streams (their /N), whichever is more. A guess a liar can lower; the walk's
    count and the worker's limits hold anyway."""
    declared = max((int(m.group(1)) for m in _SIZE.finditer(data)), default=0)
    packed = 0
    at = data.find(b"/ObjStm")
    while at != -1:
        near = _OBJECT_STREAM_COUNT.search(data, max(0, at - 256), at + 256)
        packed += int(near.group(1)) if near else 0
        at = data.find(b"/ObjStm", at + 7)
    return max(declared, data.count(b"endobj") + packed)


class _Budget:
    def __init__(self, max_objects: int, deadline: float | None) -> None:
        self.left = max_objects
        self.deadline = deadline
        self.until_check = 0

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _OverBudget("too_large")
        self.until_check -= 1
        if self.until_check <= 0:
            self.until_check = CHECK_EVERY
            self.check()

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _OverBudget("too_slow")


def _scrub(obj: object, seen: set[tuple[int, int]], budget: _Budget) -> None:
    """Walk the object graph once, removing what DROPPED_KEYS, DANGEROUS_ACTIONS and
    DROPPED_ANNOTATIONS name."""
    if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream, pikepdf.Array)) and obj.is_indirect:
        if obj.objgen in seen:
            return
        seen.add(obj.objgen)
        budget.spend()
    if isinstance(obj, pikepdf.Array):
        keep = [item for item in obj if not _dangerous(item)]
        if len(keep) != len(obj):
            obj[:] = keep
        for item in obj:
            _scrub(item, seen, budget)
        return
    if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
        return
    for key in DROPPED_KEYS:
        if key in obj:
            del obj[key]
    if "/Rect" in obj and "/Subtype" in obj:  # an annotation: who made it, and when, is the editor's user
        for key in ANNOTATION_AUTHOR_KEYS:
            if key in obj and not (key == "/T" and str(obj.get("/Subtype")) == "/Widget"):  # a form field's name
                del obj[key]
    for key in list(obj.keys()):
        value = obj[key]
        if _dangerous(value):
            del obj[key]
        else:
            _scrub(value, seen, budget)


def _dangerous(value: object) -> bool:
    if not isinstance(value, pikepdf.Dictionary):
        return False
    return (str(value.get("/S", "")) in DANGEROUS_ACTIONS
            or (str(value.get("/Type", "")) in ("/Annot", "") and str(value.get("/Subtype", "")) in DROPPED_ANNOTATIONS)
            or str(value.get("/Type", "")) in ("/Filespec", "/EmbeddedFile"))


UNDOABLE_FILTERS = frozenset({"/FlateDecode", "/LZWDecode", "/ASCIIHexDecode", "/ASCII85Decode", "/RunLengthDecode"})
"""Filters that may wrap a JPEG and that QPDF undoes for us."""


def _scrub_images(document: pikepdf.Pdf, budget: _Budget) -> None:
    """Every image in the file, wherever it is drawn (a page, a form, an annotation's
    appearance) or not drawn at all: a JPEG, also under other filters, loses its EXIF, XMP
    and comments; a JPEG 2000 (which can carry the same in its boxes) makes the file unsafe."""
    for n, obj in enumerate(document.objects):
        if n % CHECK_EVERY == 0:
            budget.check()  # the walk above counted these objects; only the clock is left to watch
        if not isinstance(obj, pikepdf.Stream) or str(obj.get("/Subtype", "")) != "/Image":
            continue
        value = obj.get("/Filter")
        filters = [str(f) for f in value] if isinstance(value, pikepdf.Array) else [str(value)] if value else []
        if "/JPXDecode" in filters or ("/DCTDecode" in filters and filters[-1] != "/DCTDecode"):
            raise _Unsupported
        if not filters or filters[-1] != "/DCTDecode":
            continue
        if not set(filters[:-1]) <= UNDOABLE_FILTERS:
            raise _Unsupported
        jpeg = _jpeg_bytes(document, obj, filters)
        stripped = strip_jpeg_segments(jpeg)
        if stripped != jpeg or len(filters) > 1:
            parms = obj.get("/DecodeParms")
            last = parms[len(parms) - 1] if isinstance(parms, pikepdf.Array) and len(parms) else parms
            obj.write(stripped, filter=pikepdf.Name.DCTDecode,
                      decode_parms=last if isinstance(last, pikepdf.Dictionary) else None)


def _jpeg_bytes(document: pikepdf.Pdf, image: pikepdf.Stream, filters: list[str]) -> bytes:
    """The JPEG inside the stream: the filters before /DCTDecode undone (QPDF will not undo
    only some of a stream's filters, so a copy carries them alone)."""
    if len(filters) == 1:
        return bytes(image.read_raw_bytes())
    copy = pikepdf.Stream(document, image.read_raw_bytes())
    copy["/Filter"] = pikepdf.Array([pikepdf.Name(f) for f in filters[:-1]])
    parms = image.get("/DecodeParms")
    if isinstance(parms, pikepdf.Array):
        copy["/DecodeParms"] = pikepdf.Array(list(parms)[:-1])
    return bytes(copy.read_bytes())


def strip_jpeg_segments(data: bytes) -> bytes:
    """A JPEG without its APP1..APP13 and APP15 segments (EXIF, XMP, IPTC) and comments;
    APP0 (JFIF) and APP14 (Adobe colour transform) are needed to decode it and stay."""
    if not data.startswith(b"\xff\xd8"):
        return data
    out, i = bytearray(b"\xff\xd8"), 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        segment = data[i:i + 2 + length]
        if not (0xE1 <= marker <= 0xED or marker in (0xEF, 0xFE)):
            out += segment
        i += 2 + length
    return bytes(out + data[i:])
