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
DROPPED_ANNOTATIONS = frozenset({"/FileAttachment", "/Sound", "/Movie", "/Screen", "/RichMedia", "/3D"})


MAX_OBJECTS = 100_000
"""A long scanned report has a few thousand objects; walking one costs ~45 µs and opening
one ~330 bytes. The attack round's PDF had 1.15 million (383 MB just to open it)."""
CHECK_EVERY = 512
"""Objects walked between two looks at the clock."""


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
            for page in document.pages:
                _scrub_images(page)
            budget.check()
            out = io.BytesIO()
            document.save(out, encryption=False, fix_metadata_version=False, compress_streams=True)
    except _OverBudget as exc:
        return Unsafe(exc.reason)
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


def _scrub_images(page: pikepdf.Page) -> None:
    for image in _image_streams(page.obj, set()):
        if str(image.get("/Filter", "")) == "/DCTDecode":
            raw = image.read_raw_bytes()
            stripped = strip_jpeg_segments(raw)
            if stripped != raw:
                parms = image.get("/DecodeParms")
                image.write(stripped, filter=pikepdf.Name.DCTDecode,
                            decode_parms=parms if isinstance(parms, (pikepdf.Dictionary, pikepdf.Array)) else None)


def _image_streams(obj: object, seen: set[tuple[int, int]]) -> list[pikepdf.Stream]:
    found: list[pikepdf.Stream] = []
    if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
        if obj.is_indirect:
            if obj.objgen in seen:
                return found
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Stream) and str(obj.get("/Subtype", "")) == "/Image":
            found.append(obj)
        resources = obj.get("/Resources")
        xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
        if isinstance(xobjects, pikepdf.Dictionary):
            for key in xobjects.keys():
                found += _image_streams(xobjects[key], seen)
    return found


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
