"""Images are rebuilt from their pixels alone: decoded (after a size check on the header),
turned the right way up, copied into a fresh image that carries nothing but pixels, and
encoded again. EXIF (with its GPS position and camera serials), XMP, IPTC, ICC profiles,
comments, PNG text chunks and every other block of the original stay behind.

JPEG stays JPEG, WebP stays WebP, PNG stays PNG; GIF (its first frame), TIFF (its first page)
and BMP become PNG, HEIC/HEIF (iPhones) becomes JPEG."""

from __future__ import annotations

import io
import math
import warnings

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from cleaning.result import Cleaned, Unsafe

pillow_heif.register_heif_opener()

MAX_PIXELS = 40_000_000
"""Checked on the header, before decoding: a 40 MP photo decodes to ~160 MB. A larger JPEG is
decoded at a reduced scale (its DCT allows 1/2, 1/4, 1/8); any other larger image is refused."""

JPEG = ("JPEG", "image/jpeg", ".jpg")
PNG = ("PNG", "image/png", ".png")
WEBP = ("WEBP", "image/webp", ".webp")
OUTPUT = {"JPEG": JPEG, "MPO": JPEG, "HEIF": JPEG, "PNG": PNG, "GIF": PNG, "TIFF": PNG, "BMP": PNG, "WEBP": WEBP}
PNG_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I;16"})


def clean_image(data: bytes) -> Cleaned | Unsafe:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as original:
                target = OUTPUT.get(original.format or "")
                if target is None:
                    return Unsafe("unsupported")
                if not _fits(original):
                    return Unsafe("too_large")
                original.load()  # a truncated or corrupt file fails here
                pixels = _pixels_only(ImageOps.exif_transpose(original), target[0])
    except Image.DecompressionBombError:
        return Unsafe("too_large")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return Unsafe("unparseable")
    out = io.BytesIO()
    if target[0] == "PNG":
        pixels.save(out, "PNG")
    else:
        pixels.save(out, target[0], quality=90)
    return Cleaned(out.getvalue(), target[1], target[2], pixels.width, pixels.height)


def _fits(image: Image.Image) -> bool:
    """Whether the image can be decoded within MAX_PIXELS, asking a JPEG for a reduced
    scale if needed. Only the header has been read so far."""
    width, height = image.size
    if width * height <= MAX_PIXELS:
        return True
    if image.format not in ("JPEG", "MPO"):
        return False
    factor = math.sqrt(width * height / MAX_PIXELS)
    # draft() picks the largest scale whose result is at least the requested size: asking
    # for half the needed size guarantees a scale strictly beyond `factor`.
    image.draft("RGB", (max(1, int(width / (2 * factor))), max(1, int(height / (2 * factor)))))
    return image.size[0] * image.size[1] <= MAX_PIXELS


def _pixels_only(image: Image.Image, encoder: str) -> Image.Image:
    """A fresh image from the decoded pixels: no `info`, no EXIF, no palette tricks."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if encoder == "JPEG":
        mode = "L" if image.mode in ("1", "L", "I;16", "I", "F") else "RGB"
    elif encoder == "PNG" and image.mode in PNG_MODES:
        mode = image.mode
    else:
        mode = "RGBA" if has_alpha else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    return Image.frombytes(mode, image.size, image.tobytes())
