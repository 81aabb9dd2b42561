"""Faces of one decoded photo: detect, align, score and embed.

The one code path shared by `scan` (which stores the results) and by `identify`,
`enroll`, `compare` and `draw` (which use them on any photo): same detector
settings, same alignment template, same quality signals, same embedder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..core.align import align_face
from ..core.config import Config
from ..core.detect import downscale_factor, filter_detections
from ..core.quality import quality_score, quality_signals
from ..core.types import Detection, Detector, Embedder, FloatArray, ImageArray
from ..crawl.images import DecodedPhoto, decode_photo


@dataclass
class FaceData:
    """A detection with its aligned crop and quality signals, and later its embedding."""

    detection: Detection
    crop: ImageArray
    signals: dict[str, float]
    face_id: int | None = None  # an existing face that this detection continues (scan)
    vector: FloatArray | None = None


#: A whole-pixel box reduction is used instead of a resize when it leaves the
#: detection image at least this share of max_side (a 12 MP photo decoded at half
#: size, 2000 px, becomes 1000 px instead of 1024 px): 5 times faster than Pillow's
#: bilinear resize, which costs 27 ms there.
REDUCE_MIN_SHARE = 0.95


def detection_image(image: ImageArray, max_side: int) -> tuple[ImageArray, float]:
    """The image detection runs on, at most max_side px, and its scale to `image`."""
    h, w = image.shape[:2]
    factor = downscale_factor(w, h, max_side)
    if factor >= 1.0:
        return image, 1.0
    from PIL import Image

    pil = Image.fromarray(image)
    k = math.ceil(1.0 / factor)
    if 1.0 / k >= REDUCE_MIN_SHARE * factor:
        return np.asarray(pil.reduce(k)), 1.0 / k
    small = pil.resize(
        (max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR
    )
    return np.asarray(small), factor


class FaceAnalyser:
    """Detects, aligns, scores and embeds the faces of decoded photos, as configured."""

    def __init__(self, config: Config, detector: Detector, embedder: Embedder) -> None:
        self.config = config
        self.detector = detector
        self.embedder = embedder

    def detect(self, decoded: DecodedPhoto) -> list[Detection]:
        """Detections in upright full-size pixels, filtered by size and confidence."""
        det_cfg = self.config.detection
        det_image, factor = detection_image(decoded.image, det_cfg.max_side)
        (found,) = self.detector.detect([det_image])
        to_full = 1.0 / (decoded.scale * factor)
        return filter_detections(
            [d.scaled(to_full) for d in found], det_cfg.min_face_size, det_cfg.min_confidence
        )

    def crop(self, decoded: DecodedPhoto, landmarks: Iterable[Iterable[float]]) -> ImageArray:
        """The aligned face crop for the embedder, from `landmarks` in full-size pixels."""
        pts = np.asarray(list(landmarks), dtype=np.float64) * decoded.scale
        e = self.embedder
        return align_face(decoded.image, pts, e.template, e.input_size)

    def face_data(self, decoded: DecodedPhoto, detection: Detection) -> FaceData:
        """The aligned crop and quality signals of `detection`."""
        crop = self.crop(decoded, detection.landmarks)
        signals = quality_signals(detection, crop, decoded.width, decoded.height)
        return FaceData(detection, crop, signals)

    def embed(self, crops: list[ImageArray]) -> FloatArray:
        """Embeddings of `crops`, float32 of shape (len(crops), dim), in configured batches."""
        if not crops:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        batch = self.config.embedding.batch_size
        parts = [
            self.embedder.embed(np.stack(crops[i : i + batch])) for i in range(0, len(crops), batch)
        ]
        return np.concatenate(parts).astype(np.float32)

    def quality(self, signals: dict[str, float]) -> float:
        """Quality in [0, 1] of a face's signals under the configured ramps."""
        return quality_score(signals, self.config.quality.ramps())

    def analyse(self, path: str) -> tuple[DecodedPhoto, list[FaceData]]:
        """Decode `path` (raises ImageError) and return its faces, embedded, left to right."""
        decoded = decode_photo(path, self.config.detection.max_side)
        faces = [self.face_data(decoded, d) for d in self.detect(decoded)]
        faces.sort(key=lambda f: (f.detection.box[0], f.detection.box[1]))
        for f, v in zip(faces, self.embed([f.crop for f in faces]), strict=True):
            f.vector = v
        return decoded, faces


def vectors_of(faces: list[FaceData]) -> FloatArray:
    """The embeddings of analysed faces as one (n, d) array."""
    vecs = [f.vector for f in faces if f.vector is not None]
    if len(vecs) != len(faces):
        raise ValueError("faces must be embedded first (FaceAnalyser.analyse)")
    return np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, 1), np.float32)
