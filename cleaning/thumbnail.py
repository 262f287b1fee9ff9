"""A small JPEG of a cleaned image, for the case file: made in a cleaning worker like the
cleaning itself, since even a cleaned copy can take a hundred megabytes to decode."""

from __future__ import annotations

import io


def thumbnail(cleaned: bytes, px: int) -> tuple[bytes, int, int] | None:
    """The JPEG with its width and height, at most `px` on its longer side; None when the
    bytes are not an image Pillow can read within the pixel budget."""
    from PIL import Image

    from cleaning.images import MAX_DECODED_BYTES, MAX_PIXELS, bytes_per_pixel

    try:
        with Image.open(io.BytesIO(cleaned)) as image:
            image.draft("RGB", (px, px))  # a JPEG is decoded at a reduced scale
            width, height = image.size
            if width * height > MAX_PIXELS or width * height * (bytes_per_pixel(image.mode) + 4) > MAX_DECODED_BYTES:
                return None
            image.thumbnail((px, px))
            rgb = image.convert("RGB")
            out = io.BytesIO()
            rgb.save(out, "JPEG", quality=80)  # nothing from `image.info`: no metadata
            return out.getvalue(), rgb.width, rgb.height
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
