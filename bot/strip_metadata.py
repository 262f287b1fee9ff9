"""Photos from phones carry EXIF metadata, often the GPS position of whoever took them.
Before an image leaves for a focal-point group it is re-encoded without any metadata
(after applying its orientation, so it still looks the right way up)."""

from __future__ import annotations

import asyncio
import io

from PIL import Image, ImageOps, UnidentifiedImageError

_SAVE_AS = {"JPEG": ("JPEG", ".jpg"), "MPO": ("JPEG", ".jpg"), "PNG": ("PNG", ".png"), "WEBP": ("WEBP", ".webp")}


def clean_image(data: bytes) -> tuple[bytes, str] | None:
    """The image without metadata and its file extension, or None if it is not an image
    we can re-encode (the caller then decides what may be sent)."""
    try:
        with Image.open(io.BytesIO(data)) as original:
            target = _SAVE_AS.get(original.format or "")
            if target is None:
                return None
            image = ImageOps.exif_transpose(original)
            if target[0] == "JPEG" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            out = io.BytesIO()
            # Nothing from `image.info` is passed on: no EXIF, XMP, comments or text chunks.
            image.save(out, target[0], **({"quality": 90} if target[0] != "PNG" else {}))
            return out.getvalue(), target[1]
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


async def clean_image_async(data: bytes) -> tuple[bytes, str] | None:
    return await asyncio.to_thread(clean_image, data)
