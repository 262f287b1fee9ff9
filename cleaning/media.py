"""Video and audio are remuxed with PyAV (FFmpeg's libraries, shipped in its wheel): every
audio and video packet is copied as it is (nothing is re-encoded, so nothing is lost) into a
new container written without any metadata: no location atom (©xyz, phones write it in MP4
and MOV), no device make and model, no creation time, no title, comment or encoder tags of
the original, no chapters. Streams other than audio and video (subtitles, GPS telemetry
tracks, timecodes, attachments, cover art) are left behind."""

from __future__ import annotations

import io

import av

from cleaning.result import Cleaned, Unsafe

ALLOWED_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})
"""What the muxer itself writes; anything else in the output means a tag came along."""
WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
M4A_CODECS = frozenset({"aac", "alac", "mp3", "ac3", "eac3"})
"""What the M4A (ipod) muxer takes; other audio in an MP4 or 3GP (AMR from Android recorders) stays 3GP."""


def clean_media(data: bytes) -> Cleaned | Unsafe:
    try:
        with av.open(io.BytesIO(data), "r", metadata_errors="ignore") as source:
            assert isinstance(source, av.container.InputContainer)
            kept = [s for s in source.streams if s.type in ("video", "audio")
                    and not (s.type == "video" and s.disposition & av.stream.Disposition.attached_pic)]
            if not kept:
                return Unsafe("unsupported")
            target = _target(set(source.format.name.split(",")), kept)
            if target is None:
                return Unsafe("unsupported")
            out_format, mime, extension = target
            buffer = io.BytesIO()
            with av.open(buffer, "w", format=out_format) as out:
                assert isinstance(out, av.container.OutputContainer)
                mapping = {s.index: out.add_stream_from_template(s) for s in kept}
                for stream in mapping.values():
                    stream.metadata.clear()
                for packet in source.demux(kept):
                    if packet.dts is None or packet.stream.index not in mapping:
                        continue
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
        data_out = buffer.getvalue()
        with av.open(io.BytesIO(data_out), mode="r") as check:
            if {tag.lower() for tag in check.metadata} - ALLOWED_TAGS or not check.streams:  # Matroska: ENCODER
                return Unsafe("unparseable")
            duration = check.duration / 1_000_000 if check.duration and check.duration > 0 else None
    except (av.FFmpegError, ValueError, TypeError, OSError):
        return Unsafe("unparseable")
    return Cleaned(data_out, mime, extension, duration=duration)


def _target(names: set[str], streams: list[av.stream.Stream]) -> tuple[str, str, str] | None:
    video = any(s.type == "video" for s in streams)
    codecs = {s.codec_context.name for s in streams}
    if names & {"mp4", "mov", "3gp", "m4a"}:
        if video:
            return ("mp4", "video/mp4", ".mp4")
        return ("ipod", "audio/mp4", ".m4a") if codecs <= M4A_CODECS else ("3gp", "audio/3gpp", ".3gp")
    if "matroska" in names or "webm" in names:
        if codecs <= WEBM_CODECS:
            return ("webm", "video/webm" if video else "audio/webm", ".webm")
        return ("matroska", "video/x-matroska", ".mkv")
    simple = {"ogg": ("ogg", "audio/ogg", ".ogg"), "mp3": ("mp3", "audio/mpeg", ".mp3"),
              "wav": ("wav", "audio/wav", ".wav"), "flac": ("flac", "audio/flac", ".flac"),
              "aac": ("adts", "audio/aac", ".aac"), "amr": ("amr", "audio/amr", ".amr"),
              "avi": ("avi", "video/x-msvideo", ".avi")}
    for name, target in simple.items():
        if name in names:
            return target
    return None
