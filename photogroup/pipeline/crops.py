"""Face thumbnails and contact sheets, cropped from the photos on demand.

The review page, the terminal review and the people page all use these crops.
A photo is decoded only as large as the crop needs (JPEG draft mode), and the
last few decoded photos are kept, so a page of thumbnails costs little.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ImageError, NotFoundError
from ..crawl.images import decode_photo

MARGIN = 0.3
"""Context around the face box, as a share of the box on each side."""

_cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 6


def _decoded(path: str, max_side: int) -> Any:
    key = (path, max_side)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        decoded = decode_photo(path, max_side=max_side)
    except ImageError as exc:
        raise NotFoundError(f"Cannot read the photo {path!r}: {exc.reason}") from exc
    with _lock:
        _cache[key] = decoded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return decoded


def _longest_side(path: str) -> int:
    """The photo's longest side from its header (rotation does not change it)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return max(im.size)
    except Exception:  # HEIC before its plugin is registered, unreadable: decode fully
        decoded = _decoded(path, 1 << 30)
        return max(decoded.width, decoded.height)


def face_crop(path: str, box: Sequence[float], size: int = 160) -> Any:
    """A square PIL image of `size` pixels around the face `box` ([x, y, w, h] in the
    upright full-size photo)."""
    from PIL import Image

    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * MARGIN)
    # Decode just big enough: the crop should come out at least `size` pixels.
    full_side = _longest_side(path)
    need = math.ceil(full_side * min(1.0, size / max(side, 1.0)) * 1.25)
    decoded = _decoded(path, max(256, min(need, full_side)))
    k = decoded.scale
    cx, cy = (x + w / 2) * k, (y + h / 2) * k
    half = side * k / 2
    img = Image.fromarray(decoded.image)
    crop = img.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return crop.resize((size, size), Image.Resampling.LANCZOS)


def photo_preview(path: str, max_side: int = 1600) -> Any:
    """The upright photo at `path` as a PIL image, its longest side at most `max_side` pixels."""
    from PIL import Image

    decoded = _decoded(path, max_side)
    image = Image.fromarray(decoded.image)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def jpeg_bytes(image: Any, quality: int = 85) -> bytes:
    """`image` (PIL) encoded as an RGB JPEG at `quality`."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def contact_sheet(
    rows: Sequence[tuple[str, Sequence[tuple[str, Sequence[float]]]]],
    out: Path,
    size: int = 128,
) -> Path:
    """A PNG with one labelled row of face crops per (label, [(photo, box), ...])."""
    from PIL import Image, ImageDraw

    label_h = 18
    cols = max((len(faces) for _, faces in rows), default=1) or 1
    sheet = Image.new("RGB", (cols * (size + 4) + 4, len(rows) * (size + label_h + 6) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    y = 4
    for label, faces in rows:
        draw.text((6, y), label, fill="black")
        for i, (photo, box) in enumerate(faces):
            try:
                tile = face_crop(photo, box, size)
            except NotFoundError:
                tile = Image.new("RGB", (size, size), "grey")
            sheet.paste(tile, (4 + i * (size + 4), y + label_h))
        y += size + label_h + 6
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
