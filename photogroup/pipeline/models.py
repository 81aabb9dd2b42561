"""Building the configured detector and embedder (imports photogroup.ml lazily)."""

from __future__ import annotations

from collections.abc import Callable

from ..core.config import Config
from ..core.types import Detector, Embedder


def load_models(
    config: Config, message: Callable[[str], None] = lambda _m: None
) -> tuple[Detector, Embedder]:
    """The detector and the embedder of `config`; weights are provisioned (FaceNet)
    or located now, so a missing file is reported before any work starts."""
    from ..ml.registry import gpu_device, make_detector, make_embedder, resolve_weights

    name = config.embedding.model
    weights = resolve_weights(name, config.weights_path(), message)
    gpu = gpu_device()
    if gpu:
        message(f"TensorFlow sees a GPU: the models run on {gpu}.")
        batch = config.embedding.gpu_batch_size
        return make_detector(gpu), make_embedder(name, weights, batch)
    return make_detector(), make_embedder(name, weights, config.embedding.batch_size)
