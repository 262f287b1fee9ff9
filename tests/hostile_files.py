"""Real files with real metadata, as reporters' phones and office software write them, each
carrying a marker that must never leave the service. Built with the same libraries an
attacker (or an ordinary phone) would produce them with: Pillow, pillow-heif, pikepdf, PyAV."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import cache

import av
import numpy as np
import pikepdf
from PIL import Image, PngImagePlugin, TiffImagePlugin

GPS_TEXT = "+08.6500+115.2100/"
"""What a phone writes into an MP4's ©xyz atom."""

MARKERS = {
    "pdf_author": "PDF-AUTHOR-Siti-Aminah",
    "pdf_xmp": "PDF-XMP-CREATOR-MARKER",
    "pdf_js": "PDF-JS-MARKER",
    "pdf_embedded": "PDF-EMBEDDED-MARKER",
    "mp4_gps": GPS_TEXT,
    "mp4_title": "MP4-TITLE-MARKER",
    "jpeg_comment": "JPEG-COM-MARKER",
    "jpeg_make": "PhoneMakerMarker",
    "png_text": "PNG-TEXT-MARKER",
    "tiff_artist": "TIFF-ARTIST-MARKER",
    "gif_comment": "GIF-COMMENT-MARKER",
    "webp_xmp": "WEBP-XMP-MARKER",
    "heic_make": "HeicMakerMarker",
    "docx_creator": "DOCX-CREATOR-MARKER",
    "opus_tag": "OPUS-VOICE-TAG-MARKER",
    "m4a_title": "M4A-TITLE-MARKER",
    "mp3_id3": "MP3-ID3-MARKER",
    "audio_artist": "Rekaman-Siti-Aminah",
}
ORIGINAL_NAME = "Laporan_dari_Siti_Aminah.pdf"


def _exif(make: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "S", 2: (8.0, 39.0, 0.0), 3: "E", 4: (115.0, 12.0, 36.0)}  # GPSInfo
    return exif


def jpeg(shade: int = 80, size: tuple[int, int] = (64, 48)) -> bytes:
    """EXIF with GPS, a Make, an orientation, and a COM comment segment."""
    image = Image.new("RGB", size, (shade, 120, 200))
    image.paste((255, 0, 0), (0, 0, 16, 16))  # top left red: the orientation must be applied
    out = io.BytesIO()
    image.save(out, "JPEG", exif=_exif(MARKERS["jpeg_make"]), comment=MARKERS["jpeg_comment"].encode())
    return out.getvalue()


def png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", MARKERS["png_text"])
    info.add_itxt("Comment", MARKERS["png_text"] + " itxt", zip=True)
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (10, 200, 30, 255)).save(out, "PNG", pnginfo=info, exif=_exif(MARKERS["jpeg_make"]))
    return out.getvalue()


def tiff() -> bytes:
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[315] = MARKERS["tiff_artist"]  # Artist
    info[270] = MARKERS["tiff_artist"] + " description"  # ImageDescription
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 90, 10)).save(out, "TIFF", tiffinfo=info)
    return out.getvalue()


def gif() -> bytes:
    frames = [Image.new("P", (20, 20), n) for n in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=MARKERS["gif_comment"].encode())
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{MARKERS["webp_xmp"]}</dc:creator></x:xmpmeta>'
    Image.new("RGB", (30, 30), (1, 2, 3)).save(out, "WEBP", exif=_exif(MARKERS["jpeg_make"]), xmp=xmp.encode())
    return out.getvalue()


def bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (5, 6, 7)).save(out, "BMP")
    return out.getvalue()


def heic() -> bytes:
    import pillow_heif

    image = Image.new("RGB", (64, 64), (200, 30, 30))
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, format="HEIF", exif=_exif(MARKERS["heic_make"]).tobytes())
    return out.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg(size=(256, 192))
    return data[: len(data) // 2]


def pdf() -> bytes:
    """/Author in the document info, XMP, JavaScript run on open, and an embedded file."""
    document = pikepdf.new()
    document.add_blank_page(page_size=(200, 200))
    page = document.pages[0]
    photo = document.make_stream(jpeg())  # a phone photo pasted into the document, EXIF and all
    photo.Type, photo.Subtype, photo.Filter = pikepdf.Name.XObject, pikepdf.Name.Image, pikepdf.Name.DCTDecode
    photo.Width, photo.Height, photo.BitsPerComponent, photo.ColorSpace = 64, 48, 8, pikepdf.Name.DeviceRGB
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=photo))
    page.Contents = document.make_stream(b"BT /F1 12 Tf 20 100 Td (Laporan bukti) Tj ET q 64 0 0 48 20 20 cm /Im0 Do Q")
    with document.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        meta["dc:creator"] = [MARKERS["pdf_xmp"]]
    document.docinfo["/Author"] = MARKERS["pdf_author"]
    document.docinfo["/Creator"] = "Microsoft Word - " + ORIGINAL_NAME
    script = document.make_stream(f"app.alert('{MARKERS['pdf_js']}');".encode())
    action = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=script)
    document.Root.OpenAction = action
    document.Root.Names = pikepdf.Dictionary(
        JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("hello"), action])))
    document.attachments["catatan.txt"] = pikepdf.AttachedFileSpec(document, MARKERS["pdf_embedded"].encode())
    out = io.BytesIO()
    document.save(out, compress_streams=False)  # the markers readable in the bytes
    return out.getvalue()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


@cache
def mp4() -> bytes:
    """A short MP4 (MPEG-4 video) with a title, and the ©xyz location atom phones write in moov/udta."""
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format="mp4")
    out.metadata["title"] = MARKERS["mp4_title"]
    stream = out.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for n in range(10):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), n * 20, dtype=np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    data = buffer.getvalue()
    location = GPS_TEXT.encode()
    udta = _box(b"udta", _box(b"\xa9xyz", struct.pack(">HH", len(location), 0x15C7) + location))
    offset = 0
    while offset < len(data):  # moov is written last, so growing it moves no sample offsets
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"moov":
            moov = _box(b"moov", data[offset + 8:offset + size] + udta)
            return data[:offset] + moov + data[offset + size:]
        offset += size
    raise AssertionError("no moov box")


def _audio(container: str, codec: str, rate: int, seconds: float = 1.5, layout: str = "mono",
           tags: bool = True) -> bytes:
    """A short tone encoded as a phone's recorder or WhatsApp would, with the tags recorders
    and music apps write (title, artist, comment, a location)."""
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format=container)
    if tags:
        marker = {"ogg": MARKERS["opus_tag"], "ipod": MARKERS["m4a_title"], "mp4": MARKERS["m4a_title"],
                  "mp3": MARKERS["mp3_id3"]}.get(container, "")
        out.metadata.update({"title": marker, "artist": MARKERS["audio_artist"], "comment": marker,
                             "location": GPS_TEXT})
    stream = out.add_stream(codec, rate=rate, layout=layout)
    if tags:
        stream.metadata.update({"title": marker, "artist": MARKERS["audio_artist"]})
    samples = int(rate * seconds)
    frame_size = stream.codec_context.frame_size or 1024
    tone = (np.sin(np.arange(samples) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
    pts = 0
    for start in range(0, samples, frame_size):
        chunk = tone[start:start + frame_size]
        if len(chunk) < frame_size:
            chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate, frame.pts = rate, pts
        pts += frame_size
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buffer.getvalue()


@cache
def opus_voice() -> bytes:
    """A voice note as WhatsApp and Telegram record it: Opus in Ogg (audio/ogg; codecs=opus)."""
    return _audio("ogg", "libopus", 48000)


@cache
def m4a() -> bytes:
    """A phone recorder's M4A (AAC in MP4) with a title, an artist and a location."""
    return _audio("ipod", "aac", 44100)


@cache
def mp3() -> bytes:
    """An MP3 with ID3 tags."""
    return _audio("mp3", "libmp3lame", 44100)


@cache
def amr() -> bytes:
    """AMR-NB, as older Android recorders and WhatsApp on them write it (no tags: the format has none)."""
    return _audio("amr", "libopencore_amrnb", 8000, tags=False)


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("docProps/core.xml", f"<cp:coreProperties><dc:creator>{MARKERS['docx_creator']}"
                                              "</dc:creator></cp:coreProperties>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@cache
def huge_png(side: int = 13_300) -> bytes:
    """A valid side×side RGB PNG of a few hundred kilobytes that decodes to ~700 MB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(1)
    row = b"\x00" + b"\x00" * (side * 3)
    parts = [packer.compress(row) for _ in range(side)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@cache
def flat_png(side: int = 6300, mode: str = "RGBA", shade: int = 200) -> bytes:
    """The attack round's small image: one colour, 170 KB, that decodes to 160 MB (RGBA) and
    cost 635 MB to clean. A different `shade` makes a different file."""
    out = io.BytesIO()
    colour = {"RGBA": (shade, 30, 30, 255), "RGB": (shade, 30, 30), "L": shade % 256, "P": 3}[mode]
    Image.new(mode, (side, side), colour).save(out, "PNG")
    return out.getvalue()


@cache
def many_objects_pdf(count: int) -> bytes:
    """A valid one-page PDF carrying `count` small objects in object streams (the attack
    round's had 1.15 million in 19.5 MB): every object is reachable, so a cleaner walks them all."""
    document = pikepdf.new()
    document.add_blank_page(page_size=(200, 200))
    junk = pikepdf.Array()
    for n in range(count):
        junk.append(document.make_indirect(pikepdf.Dictionary(N=n)))
    document.Root.Junk = document.make_indirect(junk)
    out = io.BytesIO()
    document.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def markers_in(data: bytes) -> list[str]:
    """Every planted marker (or GPS/EXIF trace) found in these bytes."""
    found = [name for name, marker in MARKERS.items() if marker.encode() in data]
    if b"\xa9xyz" in data:
        found.append("mp4_xyz_atom")
    if b"Exif\x00\x00" in data:
        found.append("exif_block")
    if ORIGINAL_NAME.encode() in data or b"Siti_Aminah" in data:
        found.append("original_name")
    if b"/JavaScript" in data or b"/EmbeddedFile" in data:
        found.append("pdf_active_content")
    return found


PNG_CHUNKS_ALLOWED = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def findings(name: str, data: bytes) -> list[str]:
    """What in an uploaded file could identify a reporter: planted markers in the bytes and,
    since compression hides them from a byte search, in decoded PDF streams and zipped
    parts; and any metadata block a clean file should not have at all."""
    found = markers_in(data)
    if data.startswith(b"%PDF"):
        with pikepdf.open(io.BytesIO(data)) as document:
            if "/Info" in document.trailer or "/Metadata" in document.Root or document.attachments:
                found.append("pdf_metadata")
            for obj in document.objects:
                if isinstance(obj, pikepdf.Stream):
                    try:
                        found += markers_in(obj.read_bytes())
                    except pikepdf.PdfError:  # an image left in its own encoding (JPEG)
                        found += markers_in(obj.read_raw_bytes())
    elif data.startswith(b"\x89PNG"):
        offset = 8
        while offset + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[offset:offset + 8])
            if kind not in PNG_CHUNKS_ALLOWED:
                found.append(f"png_chunk_{kind.decode('latin-1')}")
            offset += 12 + length
    elif data.startswith(b"\xff\xd8"):
        offset = 2
        while offset + 4 <= len(data) and data[offset] == 0xFF and data[offset + 1] != 0xDA:
            marker = data[offset + 1]
            if 0xE1 <= marker <= 0xEF or marker == 0xFE:
                found.append(f"jpeg_segment_{marker:02X}")
            offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    elif data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for part in archive.namelist():
                found += markers_in(archive.read(part))
    return found


def text_of(name: str, data: bytes) -> str:
    """A file's bytes as searchable text, zipped parts (XLSX, DOCX) unpacked."""
    text = data.decode("latin-1")
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text += "".join(archive.read(part).decode("utf-8", "replace") for part in archive.namelist())
    return text
