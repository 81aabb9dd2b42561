"""Typed values passed between the layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

#: Order of the five landmarks everywhere in photogroup (as the subject sees it
#: from the camera: "left" is the left side of the picture).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

Box = tuple[float, float, float, float]
"""x, y, width, height in pixels of the upright (EXIF-rotated) image."""

Landmarks = tuple[tuple[float, float], ...]
"""Five (x, y) points in the order of LANDMARK_NAMES, upright-image pixels."""

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Detection:
    """One face found by a detector, in upright-image pixels."""

    box: Box
    landmarks: Landmarks
    score: float

    def scaled(self, factor: float) -> Detection:
        """The same detection in an image `factor` times larger."""
        x, y, w, h = self.box
        return Detection(
            box=(x * factor, y * factor, w * factor, h * factor),
            landmarks=tuple((px * factor, py * factor) for px, py in self.landmarks),
            score=self.score,
        )


@runtime_checkable
class Detector(Protocol):
    """Finds faces. Implementations load their model on first use."""

    id: str

    def detect(self, images: list[ImageArray]) -> list[list[Detection]]:
        """RGB uint8 images (H, W, 3) -> for each image, its detections (unfiltered)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns aligned face crops into L2-normalised float32 vectors.

    Implementations are cheap to construct and load their weights on first use.
    """

    id: str
    """Stored with every embedding; changes whenever the vectors would change."""
    dim: int
    input_size: int
    """Side of the square aligned crop, in pixels."""
    template: FloatArray
    """(5, 2) landmark positions in the aligned crop, order of LANDMARK_NAMES."""

    def embed(self, crops: ImageArray) -> FloatArray:
        """(N, input_size, input_size, 3) RGB uint8 -> (N, dim) float32, rows L2-normalised."""
        ...


def l2_normalise(vectors: npt.NDArray[np.floating]) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)
