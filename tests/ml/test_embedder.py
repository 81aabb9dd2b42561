"""The shared part of the Keras embedders (`KerasEmbedder`), on a tiny real Keras network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photogroup.core.errors import ModelError
from photogroup.core.types import Embedder, FloatArray, ImageArray
from photogroup.ml.embedder import KerasEmbedder

SIZE = 8


class TinyEmbedder(KerasEmbedder):
    """A 4-d embedder: global average pooling then a fixed dense layer."""

    id = "tiny-v1"
    dim = 4
    input_size = SIZE
    template = np.zeros((5, 2), np.float32)
    label = "Tiny"

    def __init__(self, batch_size: int = 64, scale: float = 1 / 255) -> None:
        super().__init__(None, batch_size)
        self.scale = scale
        self.built = 0

    def resolve_weights(self) -> Path:
        return Path("unused")

    def build(self) -> Any:
        import keras

        self.built += 1
        inputs = keras.Input((SIZE, SIZE, 3))
        x = keras.layers.GlobalAveragePooling2D()(inputs)
        x = keras.layers.Dense(4, use_bias=False, name="proj")(x)
        return keras.Model(inputs, x)

    def load_weights(self, model: Any, path: Path) -> None:
        w = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0
        model.get_layer("proj").set_weights([w])

    def preprocess(self, crops: ImageArray) -> FloatArray:
        return (np.asarray(crops, dtype=np.float32) * self.scale).astype(np.float32)


def crops(n: int, seed: int = 0) -> ImageArray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def test_lazy_build_batching_and_timing() -> None:
    e = TinyEmbedder(batch_size=3)
    assert isinstance(e, Embedder)
    assert e.embed(np.zeros((0, SIZE, SIZE, 3), np.uint8)).shape == (0, 4)
    assert e.built == 0  # nothing built for no crops
    x = crops(7)
    out = e.embed(x)
    assert e.built == 1 and e.faces == 7 and e.seconds > 0
    assert out.shape == (7, 4) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    w = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0
    expected = (x.astype(np.float32) / 255).mean(axis=(1, 2)) @ w
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    e.embed(x[:2])
    assert e.built == 1 and e.faces == 9


def test_bad_shape_is_named() -> None:
    e = TinyEmbedder()
    with pytest.raises(
        ValueError, match=r"Tiny takes \(N, 8, 8, 3\) crops, got shape \(2, 9, 8, 3\)"
    ):
        e.embed(np.zeros((2, 9, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(8, 8, 3\)"):
        e.embed(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        TinyEmbedder(batch_size=0)


def test_network_failure_is_a_model_error() -> None:
    class Broken(TinyEmbedder):
        def preprocess(self, crops: ImageArray) -> FloatArray:
            return np.zeros((len(crops), SIZE + 1, SIZE, 3), np.float32)  # not the signature

    with pytest.raises(ModelError, match="Tiny failed on a batch of 2 crops"):
        Broken().embed(crops(2))
