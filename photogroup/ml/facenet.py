"""FaceNet (InceptionResNetV1, 128-d, 160x160 crops): the default embedder.

The network is written here for Keras 3 with the layer names of the Keras 2.1.2
file ``facenet_keras.h5`` (the MS-Celeb-1M model 20170512-110547 of
davidsandberg/facenet, converted to Keras by nyoki-mtl), whose weights are then
set by name with h5py. The file's own model configuration holds Lambda layers
as Python bytecode; it is never deserialised or executed.

TensorFlow and Keras are imported inside functions only: importing this module
is cheap.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..core.align import scaled_template
from ..core.types import FloatArray, ImageArray
from .embedder import KerasEmbedder

#: Side of the aligned crop the network takes.
INPUT_SIZE = 160
#: Length of an embedding.
EMBEDDING_DIM = 128

#: Landmark placement in the 160x160 crop, chosen on LFW pairsDevTrain with
#: bench/lfw_pairs.py --template-search: the ArcFace constellation scaled by
#: FACE_FRACTION about the crop centre and moved by Y_SHIFT * 160 (negative: up).
#: FaceNet was trained on MTCNN box crops (box + margin, centred on the box), so
#: the face fills the crop and sits higher than in ArcFace's template.
#: 10-fold accuracy on the 2,200 pairs: (1.1, -0.09) 99.73 %; (1.05, -0.09) 99.68 %;
#: (1.1, 0) 99.55 %; (1.0, -0.09) 99.50 %; (1.2, 0) 99.41 %; (1.2, -0.09) 99.36 %.
#: Changing these changes the vectors: bump FaceNetEmbedder.id.
FACE_FRACTION = 1.1
Y_SHIFT = -0.09

_BN_EPSILON = 0.001
_BN_MOMENTUM = 0.995


@functools.cache
def scale_sum_layer() -> type:
    """The Keras layer that replaces the file's ``Lambda`` ScaleSum: inputs[0] + inputs[1] * scale.

    Built on first use (Keras is imported lazily) and registered for serialisation
    as ``photogroup>ScaleSum``.
    """
    import keras

    @keras.saving.register_keras_serializable(package="photogroup")
    class ScaleSum(keras.layers.Layer):
        """Residual connection of Inception-ResNet: shortcut + residual * scale."""

        def __init__(self, scale: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.scale = float(scale)

        def call(self, inputs: Any) -> Any:
            shortcut, residual = inputs
            return shortcut + residual * self.scale

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape[0]

        def get_config(self) -> dict[str, Any]:
            config: dict[str, Any] = super().get_config()
            config["scale"] = self.scale
            return config

    return ScaleSum


def build_inception_resnet_v1(input_shape: tuple[int, int, int] = (160, 160, 3)) -> Any:
    """InceptionResNetV1 as in ``facenet_keras.h5``, every layer named as in the file.

    Returns an uncompiled ``keras.Model`` whose output is the 128-d
    ``Bottleneck_BatchNorm`` (not yet L2-normalised).
    """
    import keras
    from keras import layers

    scale_sum = scale_sum_layer()

    def conv_bn(
        x: Any,
        filters: int,
        kernel: tuple[int, int],
        name: str,
        strides: int = 1,
        padding: str = "same",
        activation: bool = True,
    ) -> Any:
        x = layers.Conv2D(
            filters, kernel, strides=strides, padding=padding, use_bias=False, name=name
        )(x)
        x = layers.BatchNormalization(
            axis=3,
            momentum=_BN_MOMENTUM,
            epsilon=_BN_EPSILON,
            scale=False,
            name=f"{name}_BatchNorm",
        )(x)
        if activation:
            x = layers.Activation("relu", name=f"{name}_Activation")(x)
        return x

    def residual(x: Any, branches: list[Any], block: str, scale: float, activation: bool) -> Any:
        mixed = layers.Concatenate(axis=3, name=f"{block}_Concatenate")(branches)
        up = layers.Conv2D(
            int(x.shape[3]), 1, padding="same", use_bias=True, name=f"{block}_Conv2d_1x1"
        )(mixed)
        out = scale_sum(scale, name=f"{block}_ScaleSum")([x, up])
        if activation:
            out = layers.Activation("relu", name=f"{block}_Activation")(out)
        return out

    def block35(x: Any, block: str, scale: float = 0.17) -> Any:
        b0 = conv_bn(x, 32, (1, 1), f"{block}_Branch_0_Conv2d_1x1")
        b1 = conv_bn(x, 32, (1, 1), f"{block}_Branch_1_Conv2d_0a_1x1")
        b1 = conv_bn(b1, 32, (3, 3), f"{block}_Branch_1_Conv2d_0b_3x3")
        b2 = conv_bn(x, 32, (1, 1), f"{block}_Branch_2_Conv2d_0a_1x1")
        b2 = conv_bn(b2, 32, (3, 3), f"{block}_Branch_2_Conv2d_0b_3x3")
        b2 = conv_bn(b2, 32, (3, 3), f"{block}_Branch_2_Conv2d_0c_3x3")
        return residual(x, [b0, b1, b2], block, scale, activation=True)

    def block17(x: Any, block: str, scale: float = 0.1) -> Any:
        b0 = conv_bn(x, 128, (1, 1), f"{block}_Branch_0_Conv2d_1x1")
        b1 = conv_bn(x, 128, (1, 1), f"{block}_Branch_1_Conv2d_0a_1x1")
        b1 = conv_bn(b1, 128, (1, 7), f"{block}_Branch_1_Conv2d_0b_1x7")
        b1 = conv_bn(b1, 128, (7, 1), f"{block}_Branch_1_Conv2d_0c_7x1")
        return residual(x, [b0, b1], block, scale, activation=True)

    def block8(x: Any, block: str, scale: float = 0.2, activation: bool = True) -> Any:
        b0 = conv_bn(x, 192, (1, 1), f"{block}_Branch_0_Conv2d_1x1")
        b1 = conv_bn(x, 192, (1, 1), f"{block}_Branch_1_Conv2d_0a_1x1")
        b1 = conv_bn(b1, 192, (1, 3), f"{block}_Branch_1_Conv2d_0b_1x3")
        b1 = conv_bn(b1, 192, (3, 1), f"{block}_Branch_1_Conv2d_0c_3x1")
        return residual(x, [b0, b1], block, scale, activation=activation)

    inputs = keras.Input(shape=input_shape, name="input_1")
    # Stem.
    x = conv_bn(inputs, 32, (3, 3), "Conv2d_1a_3x3", strides=2, padding="valid")
    x = conv_bn(x, 32, (3, 3), "Conv2d_2a_3x3", padding="valid")
    x = conv_bn(x, 64, (3, 3), "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="MaxPool_3a_3x3")(x)
    x = conv_bn(x, 80, (1, 1), "Conv2d_3b_1x1", padding="valid")
    x = conv_bn(x, 192, (3, 3), "Conv2d_4a_3x3", padding="valid")
    x = conv_bn(x, 256, (3, 3), "Conv2d_4b_3x3", strides=2, padding="valid")

    for i in range(1, 6):
        x = block35(x, f"Block35_{i}")

    # Reduction A.
    b0 = conv_bn(x, 384, (3, 3), "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = conv_bn(x, 192, (1, 1), "Mixed_6a_Branch_1_Conv2d_0a_1x1")
    b1 = conv_bn(b1, 192, (3, 3), "Mixed_6a_Branch_1_Conv2d_0b_3x3")
    b1 = conv_bn(b1, 256, (3, 3), "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(
        3, strides=2, padding="valid", name="Mixed_6a_Branch_2_MaxPool_1a_3x3"
    )(x)
    x = layers.Concatenate(axis=3, name="Mixed_6a")([b0, b1, b2])

    for i in range(1, 11):
        x = block17(x, f"Block17_{i}")

    # Reduction B.
    b0 = conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_0_Conv2d_0a_1x1")
    b0 = conv_bn(b0, 384, (3, 3), "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_1_Conv2d_0a_1x1")
    b1 = conv_bn(b1, 256, (3, 3), "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = conv_bn(x, 256, (1, 1), "Mixed_7a_Branch_2_Conv2d_0a_1x1")
    b2 = conv_bn(b2, 256, (3, 3), "Mixed_7a_Branch_2_Conv2d_0b_3x3")
    b2 = conv_bn(b2, 256, (3, 3), "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid")
    b3 = layers.MaxPooling2D(
        3, strides=2, padding="valid", name="Mixed_7a_Branch_3_MaxPool_1a_3x3"
    )(x)
    x = layers.Concatenate(axis=3, name="Mixed_7a")([b0, b1, b2, b3])

    for i in range(1, 6):
        x = block8(x, f"Block8_{i}")
    # The last block: no scaling of the residual, no activation.
    x = block8(x, "Block8_6", scale=1.0, activation=False)

    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_DIM, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(
        axis=-1,
        momentum=_BN_MOMENTUM,
        epsilon=_BN_EPSILON,
        scale=False,
        name="Bottleneck_BatchNorm",
    )(x)
    return keras.Model(inputs, x, name="inception_resnet_v1")


def prewhiten(crops: ImageArray) -> FloatArray:
    """Per-image standardisation as FaceNet was trained: (x - mean) / max(std, 1/sqrt(x.size))."""
    x = np.asarray(crops, dtype=np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    floor = 1.0 / np.sqrt(np.prod(x.shape[1:]))
    return ((x - mean) / np.maximum(std, floor)).astype(np.float32)


class FaceNetEmbedder(KerasEmbedder):
    """128-d FaceNet embeddings of 160x160 crops aligned onto `template`.

    Construction is cheap; the weights are provisioned (see `photogroup.ml.weights`)
    and loaded on the first `embed` (or `load`).
    """

    id = "facenet-keras-v1"
    dim = EMBEDDING_DIM
    input_size = INPUT_SIZE
    template: FloatArray = scaled_template(INPUT_SIZE, face_fraction=FACE_FRACTION, y_shift=Y_SHIFT)
    label = "FaceNet"

    def resolve_weights(self) -> Path:
        """The verified ``facenet_keras.h5``, downloaded into the cache when needed."""
        from .weights import facenet_weights

        return facenet_weights(self.weights_path, self._progress)

    def build(self) -> Any:
        return build_inception_resnet_v1((INPUT_SIZE, INPUT_SIZE, 3))

    def load_weights(self, model: Any, path: Path) -> None:
        from .h5weights import load_weights_by_name

        load_weights_by_name(model, path)

    def preprocess(self, crops: ImageArray) -> FloatArray:
        return prewhiten(crops)
