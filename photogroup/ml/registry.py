"""Which class serves which model name. Building an adapter loads nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.errors import ConfigError
from ..core.types import Detector, Embedder

EMBEDDERS = ("facenet", "vggface2-resnet50", "vggface2-senet50")


def make_embedder(name: str, weights: Path | None = None, batch_size: int = 64) -> Embedder:
    if name == "facenet":
        from .facenet import FaceNetEmbedder

        return FaceNetEmbedder(weights_path=weights, batch_size=batch_size)
    if name in ("vggface2-resnet50", "vggface2-senet50"):
        from .vggface import VGGFace2Embedder

        return VGGFace2Embedder(
            arch=name.split("-", 1)[1], weights_path=weights, batch_size=batch_size
        )
    raise ConfigError(
        f"[embedding] model = {name!r} is not a known face model. Choose one of: "
        f"{', '.join(EMBEDDERS)}."
    )


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
    if name == "facenet":
        from .weights import facenet_weights

        return facenet_weights(override, progress=message)
    if name in ("vggface2-resnet50", "vggface2-senet50"):
        from .vggface import VGGFace2Embedder

        return VGGFace2Embedder(arch=name.split("-", 1)[1], weights_path=override).resolve_weights()
    make_embedder(name)  # raises the ConfigError naming the known models
    return None
