"""Cleaning cost: how long `cleaning.clean` takes for the files reporters send (the
memory bound of the pixel cap is checked by tests/test_reporter_safety.py in a child process
with a 1 GiB address-space limit): a 12 MP phone JPEG, a 48 MP JPEG (decoded at half scale),
a 13,300 × 13,300 PNG (refused before decoding), a 30-page PDF, and a ~20 MB MP4 remuxed.

Usage: python bench/cleaning.py
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import av
import numpy as np
import pikepdf
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cleaning  # noqa: E402
from tests import hostile_files  # noqa: E402


def photo(width: int, height: int) -> bytes:
    noise = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG", quality=85, exif=hostile_files._exif("Bench"))
    return out.getvalue()


def pdf(pages: int) -> bytes:
    document = pikepdf.new()
    for _ in range(pages):
        document.add_blank_page()
    document.docinfo["/Author"] = "someone"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def video(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 640, 480, "yuv420p", 8_000_000
        rng = np.random.default_rng(2)
        while buffer.tell() < megabytes * 1024 * 1024:
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def main() -> None:
    cases = [("12 MP JPEG", photo(4000, 3000)), ("48 MP JPEG", photo(8000, 6000)),
             ("13,300² PNG", hostile_files.huge_png()), ("30-page PDF", pdf(30)), ("MP4", video(20))]
    for name, data in cases:
        started = time.perf_counter()
        result = cleaning.clean(data, None)
        seconds = time.perf_counter() - started
        outcome = f"{result.mime} {len(result.data) / 1e6:.1f} MB" if isinstance(result, cleaning.Cleaned) \
            else f"unsafe: {result.reason}"
        print(f"{name:<13} {len(data) / 1e6:6.1f} MB in  {seconds * 1000:7.0f} ms  -> {outcome}")


if __name__ == "__main__":
    main()
