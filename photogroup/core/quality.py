"""Face quality: measurable signals and one score, so bystanders, blurred, tiny,
profile and cut-off faces do not become "people".

Each signal is mapped to [0, 1] by a ramp between a "bad" and a "good" value;
the quality is the weakest of them (a face is as usable as its worst aspect).
Faces under `min_quality` are stored and exported but never start a person and
never join one automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .config import QualityRamps as QualityRamps  # defined with the configuration
from .types import Detection, ImageArray

SIGNALS = ("size", "score", "sharpness", "frontal", "inside")


def _ramp(value: Any, bad: float, good: float) -> Any:
    """A signal (a number or an array of them) mapped to [0, 1] between bad and good."""
    v = np.asarray(value, dtype=np.float64)
    if good == bad:
        return (v >= good).astype(np.float64)
    return np.clip((v - bad) / (good - bad), 0.0, 1.0)


def laplacian_variance(crop: ImageArray, side: int = 64) -> float:
    """Sharpness of an aligned face crop: variance of the 4-neighbour Laplacian of its
    grey version resized to side x side (so crops of any model compare)."""
    from PIL import Image

    grey = Image.fromarray(np.ascontiguousarray(crop)).convert("L")
    if grey.size != (side, side):
        grey = grey.resize((side, side), Image.Resampling.BILINEAR)
    g = np.asarray(grey, dtype=np.float32)
    lap = -4.0 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def frontalness(landmarks: Any) -> float:
    """1 for a frontal face, towards 0 for a profile: from the nose's horizontal offset
    from the eyes' midpoint, in the frame where the eyes are level, over the eye distance."""
    pts = np.asarray(landmarks, dtype=np.float64)
    left, right, nose = pts[0], pts[1], pts[2]
    axis = right - left
    dist = float(np.linalg.norm(axis))
    if dist < 1e-6:
        return 0.0
    ux = axis / dist
    mid = (left + right) / 2.0
    offset = float(np.dot(nose - mid, ux)) / dist
    return float(np.clip(1.0 - 2.0 * abs(offset), 0.0, 1.0))


def inside_share(box: tuple[float, float, float, float], width: int, height: int) -> float:
    """Share of the face box, enlarged 1.2x about its centre (the head), inside the photo."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    w2, h2 = w * 1.2, h * 1.2
    x0, y0, x1, y1 = cx - w2 / 2, cy - h2 / 2, cx + w2 / 2, cy + h2 / 2
    iw = max(0.0, min(x1, width) - max(x0, 0.0))
    ih = max(0.0, min(y1, height) - max(y0, 0.0))
    area = w2 * h2
    return float(iw * ih / area) if area > 0 else 0.0


def quality_signals(
    detection: Detection, crop: ImageArray, width: int, height: int
) -> dict[str, float]:
    """The raw signals of one face (stored with it and exported)."""
    return {
        "size": float(min(detection.box[2], detection.box[3])),
        "score": float(detection.score),
        "sharpness": laplacian_variance(crop),
        "frontal": frontalness(detection.landmarks),
        "inside": inside_share(detection.box, width, height),
    }


def quality_scores(signals: Mapping[str, Any], ramps: QualityRamps | None = None) -> Any:
    """The weakest signal's ramp value, in [0, 1], for arrays of signals (one entry per
    face): the one formula, used for a face at a time by `quality_score` too."""
    r = ramps or QualityRamps()
    return np.minimum.reduce(
        [
            _ramp(signals["size"], *r.size),
            _ramp(signals["score"], *r.score),
            _ramp(signals["sharpness"], *r.sharpness),
            _ramp(signals["frontal"], *r.frontal),
            _ramp(edge_share(signals["inside"], signals["frontal"]), *r.inside),
        ]
    )


def quality_score(signals: Mapping[str, float], ramps: QualityRamps | None = None) -> float:
    """The weakest signal's ramp value, in [0, 1], of one face."""
    return float(quality_scores(signals, ramps))


def edge_share(inside: Any, frontal: Any) -> Any:
    """The share inside the photo, forgiven as much as the face is frontal: a whole
    frontal face with its forehead cut by the frame (inside 0.92, frontal 0.9) scores
    0.99; half a face cut by the edge, whose landmarks look turned (inside 0.917,
    frontal 0.28), scores 0.940."""
    inside = np.asarray(inside, dtype=np.float64)
    return inside + (1.0 - inside) * np.clip(frontal, 0.0, 1.0)
