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
from PIL import Image, UnidentifiedImageError

from cleaning.result import Cleaned, Unsafe

pillow_heif.register_heif_opener()

MAX_PIXELS = 40_000_000
"""A larger JPEG is decoded at a reduced scale (its DCT allows 1/2, 1/4, 1/8); any other
larger image is refused."""
MAX_DECODED_BYTES = 200_000_000
"""Memory the pixels may take, checked on the header before decoding: the decoded image and
the copy it is rebuilt into, at Pillow's bytes per pixel for each colour mode (4 for RGB and
RGBA, 1 for greyscale and palettes). A 6300×6300 RGBA PNG of one colour is 170 KB and under
40 megapixels, but would take 318 MB here (it took 635 MB to clean): refused. Together with
the libraries (~180 MB of address space) this stays inside a cleaning worker's 512 MB."""

JPEG = ("JPEG", "image/jpeg", ".jpg")
PNG = ("PNG", "image/png", ".png")
WEBP = ("WEBP", "image/webp", ".webp")
OUTPUT = {"JPEG": JPEG, "MPO": JPEG, "HEIF": JPEG, "PNG": PNG, "GIF": PNG, "TIFF": PNG, "BMP": PNG, "WEBP": WEBP}
PNG_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I;16"})
ORIENTATION = 0x0112


def clean_image(data: bytes) -> Cleaned | Unsafe:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            target = OUTPUT.get(image.format or "")
            if target is None:
                return Unsafe("unsupported")
            if not _fits(image, target[0]):
                return Unsafe("too_large")
            transpose = _transposition(image)
            image.load()  # a truncated or corrupt file fails here
            pixels = _pixels_only(image, target[0], transpose)
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


def bytes_per_pixel(mode: str) -> int:
    """As Pillow holds a decoded image in memory."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _cost(width: int, height: int, mode: str, encoder: str) -> int:
    """Peak bytes of pixels while cleaning: the decoded image beside its converted copy, then
    the converted copy beside the fresh image it is pasted into."""
    source, target = bytes_per_pixel(mode), bytes_per_pixel(_output_mode(mode, encoder, False))
    return width * height * max(source + target, 2 * target)


def _fits(image: Image.Image, encoder: str) -> bool:
    """Whether the image can be cleaned within MAX_PIXELS and MAX_DECODED_BYTES, asking a
    JPEG for a reduced scale if needed. Only the header has been read so far."""
    width, height = image.size
    if width * height <= MAX_PIXELS and _cost(width, height, image.mode, encoder) <= MAX_DECODED_BYTES:
        return True
    if image.format not in ("JPEG", "MPO"):
        return False
    factor = max(math.sqrt(width * height / MAX_PIXELS),
                 math.sqrt(_cost(width, height, image.mode, encoder) / MAX_DECODED_BYTES))
    # draft() picks the largest scale whose result is at least the requested size: asking
    # for half the needed size guarantees a scale strictly beyond `factor`.
    image.draft(image.mode if image.mode in ("L", "RGB") else "RGB",
                (max(1, int(width / (2 * factor))), max(1, int(height / (2 * factor)))))
    width, height = image.size
    return width * height <= MAX_PIXELS and _cost(width, height, image.mode, encoder) <= MAX_DECODED_BYTES


def _transposition(image: Image.Image) -> Image.Transpose | None:
    """What turns the picture upright (its EXIF orientation), read before decoding."""
    return {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}.get(image.getexif().get(ORIENTATION, 1))


def _output_mode(mode: str, encoder: str, has_alpha: bool) -> str:
    if encoder == "JPEG":
        return "L" if mode in ("1", "L", "I;16", "I", "F") else "RGB"
    if encoder == "PNG" and mode in PNG_MODES:
        return mode
    return "RGBA" if has_alpha else "RGB"


def _pixels_only(image: Image.Image, encoder: str, transpose: Image.Transpose | None) -> Image.Image:
    """A fresh image from the decoded pixels: no `info`, no EXIF, no palette tricks. Each
    step lets go of the image before it, so at most two copies of the pixels exist at once."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = _output_mode(image.mode, encoder, has_alpha)
    if image.mode != mode:
        image = image.convert(mode)
    if transpose is not None:
        image = image.transpose(transpose)
    fresh = Image.new(mode, image.size)
    fresh.paste(image, (0, 0))
    return fresh
