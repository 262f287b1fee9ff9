"""The kind of a file from its first bytes: the name and the claimed MIME type are the
sender's word, and a JPEG sent as `application/octet-stream` is still a JPEG."""

from __future__ import annotations

from typing import Literal

Family = Literal["image", "pdf", "media"]
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})


def sniff(data: bytes) -> Family | None:
    head = data[:32]
    if (head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM"))
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        return "image"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in HEIF_BRANDS else "media"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if (head.startswith((b"\x1aE\xdf\xa3", b"OggS", b"ID3", b"fLaC", b"#!AMR"))
            or (head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "))
            or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG audio / ADTS
            or head[4:8] in (b"moov", b"mdat", b"wide", b"free")):  # QuickTime without ftyp
        return "media"
    return None
