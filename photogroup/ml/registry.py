"""Which class serves which model name. Building an adapter loads nothing.

Importing this module imports neither TensorFlow nor Keras (the embedder modules
import them inside functions only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ..core.errors import ConfigError
from ..core.types import Detector, Embedder
from .embedder import KerasEmbedder
from .facenet import FaceNetEmbedder
from .vggface import VGGFace2Embedder


class EmbedderEntry(NamedTuple):
    """The class serving a model name and the arguments it is built with. The weights
    rule is the class's `resolve_weights`: FaceNet provisions its file (downloads it
    into the cache), VGGFace2 only locates it."""

    cls: type[KerasEmbedder]
    options: Mapping[str, Any]


EMBEDDER_CLASSES: Mapping[str, EmbedderEntry] = {
    "facenet": EmbedderEntry(FaceNetEmbedder, {}),
    "vggface2-resnet50": EmbedderEntry(VGGFace2Embedder, {"arch": "resnet50"}),
    "vggface2-senet50": EmbedderEntry(VGGFace2Embedder, {"arch": "senet50"}),
}
EMBEDDERS = tuple(EMBEDDER_CLASSES)


def _embedder(
    name: str,
    weights: Path | None = None,
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> KerasEmbedder:
    entry = EMBEDDER_CLASSES.get(name)
    if entry is None:
        raise ConfigError(
            f"[embedding] model = {name!r} is not a known face model. Choose one of: "
            f"{', '.join(EMBEDDERS)}."
        )
    return entry.cls(
        **entry.options, weights_path=weights, batch_size=batch_size, progress=progress
    )


def make_embedder(name: str, weights: Path | None = None, batch_size: int = 64) -> Embedder:
    return _embedder(name, weights, batch_size)


def gpu_device() -> str | None:
    """'GPU:0' when TensorFlow sees a GPU, else None (imports TensorFlow)."""
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else None


def make_detector(device: str = "CPU:0") -> Detector:
    from .detector import MTCNNDetector

    return MTCNNDetector(device=device)


def resolve_weights(
    name: str, override: Path | None, message: Callable[[str], None]
) -> Path | None:
    """The weights file of a model, provisioned now if photogroup can fetch it."""
    return _embedder(name, override, progress=message).resolve_weights()
