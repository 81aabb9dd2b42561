"""Detection geometry shared by the pipeline and the benchmarks: pure numpy, no model.

The pipeline detects on a copy of each photo whose longest side is at most
``max_side`` (``downscale_factor``), maps the detections back to the upright
image with ``Detection.scaled(1 / factor)``, then keeps the faces that are
big and sure enough (``filter_detections``). The product's minimum face size
is applied here, after detection, and never passed to mtcnn as its
``min_face_size`` (mtcnn 1.0.0 breaks above 20 px; see ``photogroup.ml.detector``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .types import Box, Detection


def downscale_factor(width: int, height: int, max_side: int | None) -> float:
    """The factor (<= 1.0) that brings the longest side of a width x height image to max_side.

    ``max_side`` None or 0 means "no limit" (factor 1.0); images already small
    enough are never enlarged. The caller resizes to
    ``(round(width * f), round(height * f))`` and maps detections back with
    ``Detection.scaled(1 / f)``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max_side is None or max_side == 0:
        return 1.0
    if max_side < 0:
        raise ValueError(f"max_side must be positive, 0 or None (no limit), got {max_side}")
    longest = max(width, height)
    return 1.0 if longest <= max_side else max_side / longest


def face_size(box: Box) -> float:
    """Size of a face box: the shorter of its sides, in pixels."""
    return float(min(box[2], box[3]))


def filter_detections(
    dets: Iterable[Detection], min_size: float, min_confidence: float
) -> list[Detection]:
    """The detections with face_size >= min_size and score >= min_confidence, order kept.

    Sizes are measured in the pixels of the detections' frame: pass detections
    already scaled back to the upright image so that ``min_size`` means the same
    thing whatever the detection resolution was.
    """
    if min_size < 0 or math.isnan(min_size):
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    return [d for d in dets if face_size(d.box) >= min_size and d.score >= min_confidence]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x, y, w, h] boxes (0.0 when either is empty)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0
