"""Building the configured detector and embedder (imports photogroup.ml lazily).

`load_models` builds them now (commands that always need them: identify,
compare, draw); `LazyModels` names them now and builds them only when a photo
needs detection or embedding (scan, enroll, serve): a rescan that finds nothing
new never imports TensorFlow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ..core.config import Config
from ..core.types import Detector, Embedder


def load_models(
    config: Config, message: Callable[[str], None] = lambda _m: None
) -> tuple[Detector, Embedder]:
    """The detector and the embedder of `config`; weights are provisioned (FaceNet)
    or located now, so a missing file is reported before any work starts. The
    networks are built on first use (`warm_up` builds them now)."""
    from ..ml.registry import gpu_device, make_detector, make_embedder, resolve_weights

    name = config.embedding.model
    weights = resolve_weights(name, config.weights_path(), message)
    gpu = gpu_device()
    if gpu:
        message(f"TensorFlow sees a GPU: the models run on {gpu}.")
        return make_detector(gpu), make_embedder(name, weights, config.embedding.gpu_batch_size)
    return make_detector(), make_embedder(name, weights, config.embedding.batch_size)


def warm_up(models: tuple[Detector, Embedder]) -> None:
    """Build the networks now rather than on the first photo (the real adapters have
    `load`; fakes need no loading)."""
    for model in models:
        load = getattr(model, "load", None)
        if callable(load):
            load()


class ModelSource(Protocol):
    """A detector and an embedder whose ids are known before they are built."""

    detector_id: str
    embedder_id: str

    def load(self) -> tuple[Detector, Embedder]:
        """The models, built on the first call (may take seconds)."""
        ...

    @property
    def loaded(self) -> bool:
        """Whether the models are built already."""


class ReadyModels:
    """Models already built (tests, benchmarks, a service that keeps them)."""

    def __init__(self, detector: Detector, embedder: Embedder) -> None:
        self.detector_id = detector.id
        self.embedder_id = embedder.id
        self._models = (detector, embedder)

    @property
    def loaded(self) -> bool:
        """Always True."""
        return True

    def load(self) -> tuple[Detector, Embedder]:
        """The models given."""
        return self._models


class LazyModels:
    """The configured models: named now (an unknown model name is a ConfigError
    here), built on the first `load()`, then kept."""

    def __init__(self, config: Config, message: Callable[[str], None] = lambda _m: None) -> None:
        from ..ml.registry import make_detector, make_embedder

        self.config = config
        self.message = message
        # Building an adapter loads nothing; it only names the model.
        self.detector_id = make_detector().id
        self.embedder_id = make_embedder(config.embedding.model).id
        self._models: tuple[Detector, Embedder] | None = None
        self._lock = threading.Lock()  # `serve`: a scan and a request may ask at once

    @property
    def loaded(self) -> bool:
        """Whether the models are built already."""
        return self._models is not None

    def load(self) -> tuple[Detector, Embedder]:
        """The models, built and warmed up on the first call (thread-safe)."""
        with self._lock:
            if self._models is None:
                models = load_models(self.config, self.message)
                warm_up(models)
                self._models = models
            return self._models
