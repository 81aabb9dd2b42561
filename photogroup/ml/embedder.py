"""What every Keras face embedder does the same way: `KerasEmbedder`.

The base holds lazy building (on the first `embed`, or `load`), the input check
(uint8 RGB crops of ``input_size`` x ``input_size``), batching by ``batch_size``,
one compiled inference function, the mapping of TensorFlow/Keras failures to
`ModelError`, and the timing (``seconds``, ``faces``). A subclass gives the
network (`build`), its weights (`resolve_weights`, `load_weights`) and the
`preprocess` of a batch.

TensorFlow and Keras are imported inside methods only: importing this module and
constructing an embedder are cheap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core.errors import ModelError
from ..core.types import FloatArray, ImageArray, l2_normalise


class KerasEmbedder:
    """L2-normalised embeddings of aligned square RGB crops by a Keras network.

    Subclasses set `id`, `dim`, `input_size`, `template` and `label` (the model's
    name in messages) and give `build`, `resolve_weights`, `load_weights` and
    `preprocess`.
    """

    id: str
    dim: int
    input_size: int
    template: FloatArray
    #: The model's name in messages ("FaceNet").
    label: ClassVar[str] = "The embedder"

    def __init__(
        self,
        weights_path: Path | None = None,
        batch_size: int = 64,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.weights_path = weights_path
        self.batch_size = batch_size
        self._progress = progress
        self._model: Any = None
        self._forward: Callable[[FloatArray], Any] | None = None
        self._lock = threading.Lock()
        #: Seconds spent in the network and faces passed through it (for ms/face).
        self.seconds = 0.0
        self.faces = 0

    # -- what a subclass gives ------------------------------------------------------

    def resolve_weights(self) -> Path:
        """The weights file to load (provisioned or located); ModelError when there is none."""
        raise NotImplementedError

    def build(self) -> Any:
        """The Keras network, weights not yet set."""
        raise NotImplementedError

    def load_weights(self, model: Any, path: Path) -> None:
        """Set `model`'s weights from the file at `path`."""
        raise NotImplementedError

    def preprocess(self, crops: ImageArray) -> FloatArray:
        """A batch of uint8 crops as the network's float32 input."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------

    def load(self) -> None:
        """Find the weights, build the network and load them (once; otherwise done by
        the first `embed`)."""
        if self._forward is not None:
            return
        with self._lock:
            if self._forward is not None:
                return
            path = self.resolve_weights()
            model = self.build()
            self.load_weights(model, path)
            self._model = model
            self._forward = inference_function(model, self.input_size)

    def embed(self, crops: ImageArray) -> FloatArray:
        """(N, input_size, input_size, 3) RGB uint8 -> (N, dim) float32, rows L2-normalised."""
        arr = np.asarray(crops)
        size = self.input_size
        if arr.ndim != 4 or arr.shape[1:] != (size, size, 3):
            raise ValueError(
                f"{self.label} takes (N, {size}, {size}, 3) crops, got shape {arr.shape}"
            )
        if len(arr) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        forward = self._forward
        assert forward is not None
        out = np.empty((len(arr), self.dim), dtype=np.float32)
        for start in range(0, len(arr), self.batch_size):
            batch = self.preprocess(arr[start : start + self.batch_size])
            t0 = time.perf_counter()
            try:
                result = forward(batch)
            except Exception as exc:  # TensorFlow raises many kinds (OOM, internal)
                raise ModelError(
                    f"{self.label} failed on a batch of {len(batch)} crops: {exc}"
                ) from exc
            out[start : start + len(batch)] = np.asarray(result, dtype=np.float32)
            self.seconds += time.perf_counter() - t0
            self.faces += len(batch)
        return l2_normalise(out)


def inference_function(model: Any, input_size: int) -> Callable[[FloatArray], Any]:
    """The model in inference mode as one compiled function for every batch size.

    Eager calls are 2-3 times slower on CPU than a graph, and ``predict_on_batch``
    traces a new graph (seconds) for each of the first batch sizes it sees; a
    ``tf.function`` with an unknown batch dimension is traced once.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    import tensorflow as tf

    spec = tf.TensorSpec((None, input_size, input_size, 3), tf.float32)

    def forward(x: Any) -> Any:
        return model(x, training=False)

    compiled = tf.function(forward, input_signature=[spec], autograph=False)
    return lambda x: compiled(x).numpy()
