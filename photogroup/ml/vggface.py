"""The VGGFace2 embedders ``vggface2-resnet50`` and ``vggface2-senet50``.

The networks are the ResNet-50 and SE-ResNet-50 that Oxford's VGG group trained
on VGGFace2 (Cao et al., 2018) as keras-vggface 0.6 (rcmalli/keras-vggface)
ships them: ``VGGFace(model=..., include_top=False, pooling='avg',
input_shape=(224, 224, 3))`` with the release files
``rcmalli_vggface_tf_notop_{resnet50,senet50}.h5``. keras-vggface does not
import on Keras 3, so the two architectures are written out again here, layer
for layer, from ``keras_vggface/models.py`` of keras-vggface 0.6 (the PyPI wheel
``keras_vggface-0.6-py3-none-any.whl``; the architecture is the same on the
repository's master branch): ``RESNET50`` with ``resnet_conv_block`` /
``resnet_identity_block`` and ``SENET50`` with ``senet_conv_block`` /
``senet_identity_block`` / ``senet_se_block``.

Every layer keeps its keras-vggface type, configuration and place in the graph,
and every layer that keras-vggface named keeps its name, with one change: Keras 3
forbids '/' in layer names, so '/' is written ``NAME_SEP`` (``conv1/7x7_s2/bn``
becomes ``conv1__7x7_s2__bn``); `keras3_name` and `keras_vggface_name` convert.
Layers keras-vggface left unnamed (activations, poolings, add, reshape,
multiply) are left unnamed here too; they have no weights. The names of the
weighted layers, in keras-vggface's code:

* ``conv1/7x7_s2`` and ``conv1/7x7_s2/bn`` (stem, in ``RESNET50``/``SENET50``);
* per block, ``'conv' + str(stage) + '_' + str(block)`` followed by
  ``_1x1_reduce``, ``_3x3``, ``_1x1_increase`` (convolutions, each followed by
  its BatchNormalization named ``<conv>/bn``) and, in the first block of a stage
  (``*_conv_block``), the shortcut ``_1x1_proj`` and ``_1x1_proj/bn``;
* SE-ResNet only, per block (``senet_se_block``): ``_1x1_down`` and ``_1x1_up``,
  the two 1x1 convolutions of the squeeze-and-excitation branch (with biases).

Keras 2 wrote the layers to the weights file in the order of ``model.layers``
(deepest from the output first, ties broken by first visit in a depth-first walk
from the output); Keras 3 orders a
functional model's layers by the same algorithm (``keras.src.ops.function.
map_graph``), so `weighted_layer_names` of a model built here lists the
keras-vggface names in file order. Loading is by name in any case
(`photogroup.ml.h5weights.load_weights_by_name`).

TensorFlow and Keras are imported only inside functions: importing this module
and constructing an embedder are cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.align import scaled_template
from ..core.errors import ModelError
from ..core.types import FloatArray, ImageArray
from .embedder import KerasEmbedder

ARCHS = ("resnet50", "senet50")

#: Stands for '/' in the Keras 3 layer names. No keras-vggface layer name
#: contains it (nor a '_' next to a '/'), so the substitution is reversible;
#: `keras3_name` checks that for every name it converts.
NAME_SEP = "__"

#: keras-vggface ``utils.preprocess_input(x, version=2)``: the VGGFace2 channel
#: means, in BGR order, subtracted after RGB -> BGR.
MEAN_BGR = np.array([91.4953, 103.8827, 131.0912], dtype=np.float32)

#: Geometry of the aligned 224 x 224 crop, as arguments of `scaled_template`.
#: The VGGFace2 networks take "loose" crops. Oxford's model release notes: the
#: MTCNN face box extended by a factor 0.3 (1.3 x its width and height, "to
#: include the whole head"; tighter than the dataset's released loose crops,
#: extended by 1.0), its shorter side resized to 256 px, a 224 x 224 crop taken
#: from it (random in training, centred at test time; the Caffe evaluation code
#: circulated with senet50_ft first widens a box narrower than 224/256 of its
#: height to that ratio). That crop is looser than the MTCNN box, yet NOT looser
#: than the ArcFace 112 template that `scaled_template` scales: ARCFACE_112
#: already leaves a wide margin (its crop side is about the MTCNN box *height*,
#: 1.35-1.4 box widths). Measured with the mtcnn package photogroup uses, on 136
#: faces (LFW and five_celebs from the shared test photos), fitting
#: `scaled_template` to the landmarks in the VGGFace2 test crop gives
#: face_fraction 1.03-1.06 (medians; quartiles 1.00-1.08) and y_shift -0.08 (the
#: crop is centred on the box, which sits higher on the face than ARCFACE_112's
#: centre). Without the widening step the fit is 1.26, tighter still; with the
#: released 1.0 extension it would be about 0.7. A face_fraction of 0.6-0.7 (the
#: "extended by 30 %" applied to ARCFACE_112 as if it were a tight box) would
#: show the networks faces at about 60 % of the size they were trained on.
FACE_FRACTION = 1.05
Y_SHIFT = -0.08

INPUT_SIZE = 224
DIM = 2048


# -- names ---------------------------------------------------------------------


def keras3_name(name: str) -> str:
    """The Keras 3 layer name standing for keras-vggface layer name `name`."""
    out = name.replace("/", NAME_SEP)
    if keras_vggface_name(out) != name:
        raise ValueError(f"layer name {name!r} cannot be mapped reversibly with {NAME_SEP!r}")
    return out


def keras_vggface_name(name: str) -> str:
    """The keras-vggface (Keras 2) layer name of the Keras 3 layer name `name`."""
    return name.replace(NAME_SEP, "/")


def weighted_layer_names(model: Any) -> list[str]:
    """keras-vggface names of the model's layers that have weights, in model order."""
    return [keras_vggface_name(layer.name) for layer in model.layers if layer.weights]


# -- architectures ---------------------------------------------------------------
#
# Transcribed from keras_vggface/models.py (0.6). Channels last, so bn_axis = 3.
# Keras 2 defaults that the original relies on are spelt out where Keras 3 could
# differ: Conv2D padding 'valid', BatchNormalization epsilon 1e-3 (SENet sets
# 1e-4), momentum is irrelevant in inference.

_BN_AXIS = 3
_RESNET_BN_EPS = 1e-3  # Keras 2 default; keras-vggface's RESNET50 sets none
_SENET_BN_EPS = 1e-4  # keras-vggface SENET50: bn_eps = 0.0001


def _conv(filters: int, kernel: int | tuple[int, int], name: str, **kwargs: Any) -> Any:
    from keras import layers

    return layers.Conv2D(filters, kernel, name=keras3_name(name), **kwargs)


def _bn(name: str, epsilon: float) -> Any:
    from keras import layers

    return layers.BatchNormalization(axis=_BN_AXIS, epsilon=epsilon, name=keras3_name(name))


def _block_names(stage: int, block: int) -> dict[str, str]:
    base = f"conv{stage}_{block}"
    return {
        "reduce": base + "_1x1_reduce",
        "increase": base + "_1x1_increase",
        "proj": base + "_1x1_proj",
        "3x3": base + "_3x3",
        "down": base + "_1x1_down",
        "up": base + "_1x1_up",
    }


def _bottleneck(
    input_tensor: Any,
    kernel_size: int,
    filters: tuple[int, int, int],
    n: dict[str, str],
    eps: float,
    strides: tuple[int, int] = (1, 1),
) -> Any:
    """1x1 reduce -> kxk -> 1x1 increase, each with batch norm: the body shared by
    every ResNet50 and SENet50 block of keras-vggface (layers created in its order)."""
    from keras import layers

    f1, f2, f3 = filters
    x = _conv(f1, (1, 1), n["reduce"], strides=strides, use_bias=False)(input_tensor)
    x = _bn(n["reduce"] + "/bn", eps)(x)
    x = layers.Activation("relu")(x)
    x = _conv(f2, kernel_size, n["3x3"], padding="same", use_bias=False)(x)
    x = _bn(n["3x3"] + "/bn", eps)(x)
    x = layers.Activation("relu")(x)
    x = _conv(f3, (1, 1), n["increase"], use_bias=False)(x)
    return _bn(n["increase"] + "/bn", eps)(x)


def _projection(
    input_tensor: Any, filters: int, n: dict[str, str], eps: float, strides: tuple[int, int]
) -> Any:
    shortcut = _conv(filters, (1, 1), n["proj"], strides=strides, use_bias=False)(input_tensor)
    return _bn(n["proj"] + "/bn", eps)(shortcut)


def _resnet_block(
    input_tensor: Any,
    kernel_size: int,
    filters: tuple[int, int, int],
    stage: int,
    block: int,
    strides: tuple[int, int] | None = None,
) -> Any:
    """keras-vggface resnet_identity_block (strides None) or resnet_conv_block."""
    from keras import layers

    n = _block_names(stage, block)
    eps = _RESNET_BN_EPS
    x = _bottleneck(input_tensor, kernel_size, filters, n, eps, strides or (1, 1))
    shortcut = (
        input_tensor if strides is None else _projection(input_tensor, filters[2], n, eps, strides)
    )
    return layers.Activation("relu")(layers.add([x, shortcut]))


def _senet_se_block(input_tensor: Any, stage: int, block: int, compress_rate: int = 16) -> Any:
    from keras import layers

    n = _block_names(stage, block)
    num_channels = int(input_tensor.shape[-1])
    bottle_neck = num_channels // compress_rate
    se = layers.GlobalAveragePooling2D()(input_tensor)
    se = layers.Reshape((1, 1, num_channels))(se)
    # keras-vggface calls senet_se_block with bias=True: these two have biases.
    se = _conv(bottle_neck, (1, 1), n["down"], use_bias=True)(se)
    se = layers.Activation("relu")(se)
    se = _conv(num_channels, (1, 1), n["up"], use_bias=True)(se)
    se = layers.Activation("sigmoid")(se)
    return layers.multiply([input_tensor, se])


def _senet_block(
    input_tensor: Any,
    kernel_size: int,
    filters: tuple[int, int, int],
    stage: int,
    block: int,
    strides: tuple[int, int] | None = None,
) -> Any:
    """keras-vggface senet_identity_block (strides None) or senet_conv_block."""
    from keras import layers

    n = _block_names(stage, block)
    eps = _SENET_BN_EPS
    x = _bottleneck(input_tensor, kernel_size, filters, n, eps, strides or (1, 1))
    se = _senet_se_block(x, stage=stage, block=block)
    shortcut = (
        input_tensor if strides is None else _projection(input_tensor, filters[2], n, eps, strides)
    )
    return layers.Activation("relu")(layers.add([se, shortcut]))


#: (filters, number of blocks) of stages 2-5, as in RESNET50 and SENET50.
_STAGES = (
    ((64, 64, 256), 3),
    ((128, 128, 512), 4),
    ((256, 256, 1024), 6),
    ((512, 512, 2048), 3),
)


def _build(arch: str) -> Any:
    import keras
    from keras import layers

    senet = arch == "senet50"
    eps = _SENET_BN_EPS if senet else _RESNET_BN_EPS
    block_of = _senet_block if senet else _resnet_block

    img_input = keras.Input(shape=(INPUT_SIZE, INPUT_SIZE, 3))
    x = _conv(64, (7, 7), "conv1/7x7_s2", use_bias=False, strides=(2, 2), padding="same")(img_input)
    x = _bn("conv1/7x7_s2/bn", eps)(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    for stage, (filters, blocks) in enumerate(_STAGES, start=2):
        # Stage 2 follows the max pooling and keeps its resolution: strides (1, 1).
        strides = (1, 1) if stage == 2 else (2, 2)
        x = block_of(x, 3, filters, stage=stage, block=1, strides=strides)
        for block in range(2, blocks + 1):
            x = block_of(x, 3, filters, stage=stage, block=block)

    # include_top=False, pooling='avg': keras-vggface applies AveragePooling2D
    # ((7, 7), name='avg_pool') unconditionally, then GlobalAveragePooling2D. On a
    # 224 x 224 input stage 5 is 7 x 7 x 2048, so avg_pool gives 1 x 1 x 2048 and
    # the global pooling just drops the two unit axes: a 2048-d vector.
    x = layers.AveragePooling2D((7, 7), name="avg_pool")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(img_input, x, name=f"vggface_{arch}")


def build_resnet50() -> Any:
    """keras-vggface ``RESNET50(include_top=False, pooling='avg', input_shape=(224, 224, 3))``."""
    return _build("resnet50")


def build_senet50() -> Any:
    """keras-vggface ``SENET50(include_top=False, pooling='avg', input_shape=(224, 224, 3))``."""
    return _build("senet50")


# -- weights ---------------------------------------------------------------------


def weights_filename(arch: str) -> str:
    """File name keras-vggface gave the no-top weights of `arch`."""
    return f"rcmalli_vggface_tf_notop_{arch}.h5"


def default_weights_path(arch: str) -> Path:
    """Where keras-vggface's ``get_file`` kept the weights: the Keras cache.

    ``$KERAS_HOME/models/vggface/`` when ``KERAS_HOME`` is set, else
    ``~/.keras/models/vggface/`` (keras-vggface's ``cache_subdir='models/vggface'``).
    """
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home).expanduser() if keras_home else Path.home() / ".keras"
    return base / "models" / "vggface" / weights_filename(arch)


def preprocess(crops: ImageArray) -> FloatArray:
    """keras-vggface ``preprocess_input(x, version=2)``: RGB -> BGR, minus the VGGFace2 means."""
    x = np.asarray(crops, dtype=np.float32)[..., ::-1]
    return np.ascontiguousarray(x - MEAN_BGR, dtype=np.float32)


# -- embedder --------------------------------------------------------------------


class VGGFace2Embedder(KerasEmbedder):
    """2048-d VGGFace2 descriptors (ResNet-50 or SE-ResNet-50) of aligned 224 x 224 crops.

    Construction is cheap; the weights are found and loaded on the first `embed`
    (or `load`). The weights file is never downloaded: it is the one named by
    `weights_path` or, without it, the one in keras-vggface's Keras cache folder.
    """

    dim: int = DIM
    input_size: int = INPUT_SIZE
    template: FloatArray = scaled_template(INPUT_SIZE, face_fraction=FACE_FRACTION, y_shift=Y_SHIFT)
    label = "VGGFace2"

    def __init__(
        self,
        arch: str,
        weights_path: Path | None = None,
        batch_size: int = 32,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if arch not in ARCHS:
            raise ValueError(f"unknown VGGFace2 architecture {arch!r}; expected one of {ARCHS}")
        path = Path(weights_path).expanduser() if weights_path is not None else None
        super().__init__(path, batch_size, progress=progress)
        self.arch = arch
        self.id = f"vggface2-{arch}-v1"

    def resolve_weights(self) -> Path:
        """The weights file to load; ModelError (saying where to put it) when absent."""
        if self.weights_path is not None:
            if not self.weights_path.is_file():
                raise ModelError(
                    f"The VGGFace2 {self.arch} weights file {str(self.weights_path)!r} "
                    "(set by [embedding] weights) does not exist. Correct [embedding] weights "
                    f"in config.toml: it must name keras-vggface's {weights_filename(self.arch)}."
                )
            return self.weights_path
        path = default_weights_path(self.arch)
        if not path.is_file():
            raise ModelError(
                f"The weights of the model vggface2-{self.arch} ({weights_filename(self.arch)}, "
                "from keras-vggface) were not found: looked for "
                f"{str(path)!r} (the Keras cache folder, $KERAS_HOME or ~/.keras, "
                "where keras-vggface kept them). photogroup cannot download them. "
                "Fix: copy the file there, or set\n"
                f'  [embedding]\n  weights = "/path/to/{weights_filename(self.arch)}"\n'
                "in config.toml."
            )
        return path

    def build(self) -> Any:
        return _build(self.arch)

    def load_weights(self, model: Any, path: Path) -> None:
        from .h5weights import load_weights_by_name

        load_weights_by_name(model, path, rename=keras3_name)

    def preprocess(self, crops: ImageArray) -> FloatArray:
        return preprocess(crops)
