"""Pure helpers around detection: the downscaled copy and the filters applied after it."""

from __future__ import annotations

from collections.abc import Iterable

from .types import Detection


def downscale_factor(width: int, height: int, max_side: int) -> float:
    """Factor (<= 1) that brings the longest side to at most `max_side` pixels."""
    longest = max(width, height)
    if longest <= 0 or max_side <= 0 or longest <= max_side:
        return 1.0
    return max_side / longest


def filter_detections(
    detections: Iterable[Detection], min_size: float, min_confidence: float
) -> list[Detection]:
    """Keep detections whose shorter box side is >= min_size pixels (upright full-size
    photo) and whose score is >= min_confidence. Applied after detection: MTCNN's own
    min_face_size is left alone (raising it there was measured to return no faces)."""
    return [
        d for d in detections if min(d.box[2], d.box[3]) >= min_size and d.score >= min_confidence
    ]
