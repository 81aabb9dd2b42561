"""Decode one photo: upright (EXIF orientation applied), RGB, reduced while decoding.

JPEGs are decoded at a reduced scale (libjpeg DCT scaling through Pillow's
``draft``) when the photo is much larger than what detection needs; other
formats are reduced by a whole factor right after decoding (`_reduced`). The
returned `scale` says how the decoded pixels relate to the upright full-size
photo, in whose pixels boxes and landmarks are stored.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ImageError
from ..core.types import ImageArray

#: Refuse images with more pixels than this (decompression bombs). 24k x 24k.
MAX_PIXELS = 576_000_000

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_DATETIME = 0x0132
_ORIENTATION = 0x0112

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - declared dependency
            pass
        _heif_registered = True


@dataclass
class DecodedPhoto:
    """A decoded photo: upright pixels and their scale, full-size dimensions, EXIF time, hash."""

    path: str
    image: ImageArray
    """Upright RGB uint8, possibly reduced: its pixels = full-size pixels * scale."""
    scale: float
    width: int
    """Upright full-size width."""
    height: int
    taken_at: datetime | None
    content_hash: str

    def release_pixels(self) -> None:
        """Drop the pixels, keep the rest: a scan holds a photo until its batch is
        written, but needs its pixels only until its faces are cropped."""
        self.image = np.zeros((0, 0, 3), dtype=np.uint8)


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes (identifies a photo across moves and renames)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _parse_exif_time(value: object) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("\x00")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            parsed = datetime.strptime(text[:19], fmt)
        except ValueError:
            continue
        return parsed if parsed.year > 1800 else None
    return None


def capture_time(exif: Any) -> datetime | None:
    """EXIF DateTimeOriginal, then DateTimeDigitized, then DateTime; None if absent or broken."""
    try:
        ifd: Any = exif.get_ifd(_EXIF_IFD)
    except Exception:
        ifd = {}
    for source, tag in ((ifd, _DATETIME_ORIGINAL), (ifd, _DATETIME_DIGITIZED), (exif, _DATETIME)):
        try:
            value = source.get(tag)
        except Exception:
            continue
        parsed = _parse_exif_time(value)
        if parsed:
            return parsed
    return None


def _reduced(img: Any, max_side: int) -> Any:
    """A photo decoded at twice max_side or more, reduced by a whole factor (box filter)
    to between max_side and twice it: what JPEG's DCT scaling (`draft`) gives, for
    the formats without it (PNG, HEIC, TIFF, WebP). Detection runs at max_side and the
    faces are cropped from this, so a 48 MP HEIC costs 12 MB per photo in flight, not
    144 MB. Modes Pillow cannot reduce (palette, 1-bit, 16-bit) stay as they are."""
    longest = max(img.size)
    if not max_side or longest < 2 * max_side:
        return img
    try:
        return img.reduce(longest // max_side)
    except ValueError:
        return img


def _to_rgb_array(img: object) -> ImageArray:
    from PIL import Image

    assert isinstance(img, Image.Image)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        arr = arr * (255.0 / hi) if hi > 255 else arr
        grey = np.clip(arr, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_photo(path: str, max_side: int, content_hash: str | None = None) -> DecodedPhoto:
    """Read, hash and decode one photo. Raises ImageError with a clear reason."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        if os.path.getsize(path) == 0:
            raise ImageError(
                path,
                "the file is empty (0 bytes): an interrupted copy or download? Copy it again",
                kind="empty",
            )
        digest = content_hash or file_hash(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                raw_w, raw_h = img.size
                if raw_w * raw_h > MAX_PIXELS:
                    raise ImageError(
                        path,
                        f"declares {raw_w}x{raw_h} pixels, more than photogroup decodes "
                        f"({MAX_PIXELS:,}); likely a decompression bomb",
                        kind="too_large",
                    )
                exif = img.getexif()
                orientation = exif.get(_ORIENTATION, 1) if exif else 1
                taken = capture_time(exif) if exif else None
                if img.format == "JPEG" and max(raw_w, raw_h) > max_side:
                    ratio = max_side / max(raw_w, raw_h)
                    img.draft("RGB", (math.ceil(raw_w * ratio), math.ceil(raw_h * ratio)))
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)
                img.load()
                img = _reduced(img, max_side)
                decoded_w = img.size[0]
                upright = ImageOps.exif_transpose(img) if orientation != 1 else img
                array = _to_rgb_array(upright)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "the file disappeared during the scan", kind="missing") from None
    except PermissionError:
        raise ImageError(
            path, "permission denied: give the scanning user read access", kind="unreadable"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image file Pillow can read", kind="not_image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(path, f"decompression bomb refused: {exc}", kind="too_large") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(path, f"cannot decode: {exc}", kind="decode") from None
    except MemoryError:
        raise ImageError(path, "not enough memory to decode", kind="too_large") from None

    scale = decoded_w / raw_w if raw_w else 1.0
    swapped = orientation in (5, 6, 7, 8)
    width, height = (raw_h, raw_w) if swapped else (raw_w, raw_h)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(path, f"decoded to an unusable shape {array.shape}", kind="decode")
    return DecodedPhoto(
        path=path,
        image=array,
        scale=scale,
        width=width,
        height=height,
        taken_at=taken,
        content_hash=digest,
    )


def load_upright(path: str | Path) -> ImageArray:
    """The full-size upright RGB image (for drawing and tests)."""
    return decode_photo(str(path), max_side=1 << 30).image
