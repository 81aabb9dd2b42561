"""How a face vector is stored: float32, little-endian, one blob per embedding.

The one home of that rule: writers call `vector_bytes`, readers `vector_from_bytes`
(one vector) or `vectors_from_bytes` (many, as rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

DTYPE = "<f4"


def vector_bytes(vector: Any) -> bytes:
    """The stored form of a vector."""
    return np.asarray(vector, dtype=DTYPE).tobytes()


def vector_from_bytes(blob: bytes) -> npt.NDArray[np.float32]:
    """A stored vector, as native float32."""
    return np.frombuffer(blob, dtype=DTYPE).astype(np.float32)


def vectors_from_bytes(blobs: Iterable[bytes]) -> npt.NDArray[np.float32]:
    """Stored vectors of one dimension as the rows of a float32 matrix."""
    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=DTYPE).reshape(len(blobs), -1).astype(np.float32)
