"""Making a thumbnail of one upload: decode, orient, shrink, re-encode as JPEG. No AWS here.

A file that is not an image, is corrupt, or is too large (bytes or pixels: a decompression bomb)
raises `Rejected`, which no retry can cure.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

THUMBNAIL_BOX = (256, 256)
JPEG_QUALITY = 85


class Rejected(Exception):
    """The upload cannot become a thumbnail; `reason` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_thumbnail(data: bytes, *, max_pixels: int, box: tuple[int, int] = THUMBNAIL_BOX) -> bytes:
    """A JPEG at most `box` in size, of the image in `data` (EXIF orientation applied)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise Rejected(f"too large: {width}x{height} pixels, the limit is {max_pixels}")
            image.draft("RGB", box)  # JPEG: decode at the smallest scale that still covers the box
            image.load()
            oriented = ImageOps.exif_transpose(image)
            oriented.thumbnail(box)
            if oriented.mode != "RGB":
                oriented = oriented.convert("RGB")
            out = io.BytesIO()
            oriented.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            return out.getvalue()
    except Rejected:
        raise
    except UnidentifiedImageError:
        raise Rejected("not an image Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise Rejected(f"too large: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise Rejected(f"corrupt image: {error}") from None
