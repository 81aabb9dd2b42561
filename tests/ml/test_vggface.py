"""VGGFace2 embedders: architecture, layer names, keras-vggface weight files, errors.

The real keras-vggface weight files cannot be had here, so files in exactly their
layout (Keras 2 ``save_weights``) are written with random weights by
`write_keras2_weights`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from photogroup.core.align import scaled_template
from photogroup.core.errors import ModelError
from photogroup.core.types import Embedder
from photogroup.ml import vggface
from photogroup.ml.vggface import (
    FACE_FRACTION,
    MEAN_BGR,
    Y_SHIFT,
    VGGFace2Embedder,
    build_resnet50,
    build_senet50,
    default_weights_path,
    keras3_name,
    keras_vggface_name,
    preprocess,
    weighted_layer_names,
)

BUILDERS: dict[str, Callable[[], Any]] = {"resnet50": build_resnet50, "senet50": build_senet50}

# -- helpers ---------------------------------------------------------------------


def write_keras2_weights(model: Any, path: Path, rename: Callable[[str], str]) -> None:
    """Write the model's weights as Keras 2 ``model.save_weights(path)`` (HDF5) did.

    Layout of Keras 2's ``save_weights_to_hdf5_group``: root attributes
    ``layer_names`` (every layer, weighted or not, in ``model.layers`` order),
    ``backend`` and ``keras_version``; one group per layer, named by the layer
    (a '/' in it makes nested groups), with attribute ``weight_names`` (the
    variables' TF names, ``<layer>/kernel:0``) and one dataset per weight at that
    name inside the layer group. `rename` maps a Keras 3 layer name to the stored one.
    """
    with h5py.File(path, "w") as f:
        names = [rename(layer.name) for layer in model.layers]
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer, name in zip(model.layers, names, strict=True):
            g = f.create_group(name)
            weight_names = [f"{name}/{w.name}:0" for w in layer.weights]
            g.attrs["weight_names"] = np.array([w.encode("utf8") for w in weight_names])
            for wname, value in zip(weight_names, layer.get_weights(), strict=True):
                g.create_dataset(wname, data=value)


def randomise(model: Any, seed: int) -> dict[str, list[np.ndarray]]:
    """Set random weights; return them by layer name.

    Scaled so that activations stay of order 1 (He-scaled kernels, the stem
    scaled down for inputs of order 100, small gammas on the residual branches):
    with careless random weights the 16 residual (and SE) blocks amplify float
    rounding until graph and eager execution give different vectors.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        name = keras_vggface_name(layer.name)
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name == "kernel":
                fan_in = int(np.prod(shape[:-1]))
                std = np.sqrt(2.0 / fan_in) / (100.0 if name == "conv1/7x7_s2" else 1.0)
                v = rng.normal(0.0, std, shape)
            elif w.name == "gamma" and name.endswith(("_1x1_increase/bn", "_1x1_proj/bn")):
                v = rng.uniform(0.1, 0.3, shape)
            elif w.name in ("gamma", "moving_variance"):
                v = rng.uniform(0.5, 1.5, shape)
            else:  # beta, moving_mean, bias
                v = rng.normal(0.0, 0.1, shape)
            values.append(v.astype(np.float32))
        layer.set_weights(values)
        out[layer.name] = values
    return out


def expected_weighted_names(arch: str) -> list[str]:
    """The weighted layers keras-vggface 0.6 would save, in Keras 2 ``model.layers`` order.

    Keras 2 orders layers by depth from the output (deepest first) and breaks
    ties by first visit in a depth-first walk from the output, inputs in call
    order. In a projection block the shortcut convolution and its BN are only
    two layers from the add, so they come with ``_1x1_increase`` and its BN
    (ResNet) or after the whole SE branch (SE-ResNet, whose ``_1x1_increase/bn``
    feeds the long squeeze path).
    """
    names = ["conv1/7x7_s2", "conv1/7x7_s2/bn"]
    for stage, blocks in ((2, 3), (3, 4), (4, 6), (5, 3)):
        for block in range(1, blocks + 1):
            b = f"conv{stage}_{block}"
            names += [f"{b}_1x1_reduce", f"{b}_1x1_reduce/bn", f"{b}_3x3", f"{b}_3x3/bn"]
            if arch == "resnet50":
                if block == 1:
                    names += [f"{b}_1x1_increase", f"{b}_1x1_proj"]
                    names += [f"{b}_1x1_increase/bn", f"{b}_1x1_proj/bn"]
                else:
                    names += [f"{b}_1x1_increase", f"{b}_1x1_increase/bn"]
            else:
                names += [f"{b}_1x1_increase", f"{b}_1x1_increase/bn"]
                names += [f"{b}_1x1_down", f"{b}_1x1_up"]
                if block == 1:
                    names += [f"{b}_1x1_proj", f"{b}_1x1_proj/bn"]
    return names


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)


# -- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module", params=["resnet50", "senet50"])
def weights_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Any, Path, dict[str, list[np.ndarray]]]:
    """(arch, model with random weights, keras-vggface-style file of them, the weights)."""
    arch: str = request.param
    model = BUILDERS[arch]()
    weights = randomise(model, seed=1 if arch == "resnet50" else 2)
    path = tmp_path_factory.mktemp(arch) / vggface.weights_filename(arch)
    write_keras2_weights(model, path, rename=keras_vggface_name)
    return arch, model, path, weights


# -- cheap -----------------------------------------------------------------------


def test_import_and_construction_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from photogroup.ml.vggface import VGGFace2Embedder\n"
        "e = VGGFace2Embedder('senet50')\n"
        "assert e.id == 'vggface2-senet50-v1', e.id\n"
        "bad = sorted(m for m in ('tensorflow', 'keras', 'h5py') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_name_mapping_is_reversible() -> None:
    assert keras3_name("conv1/7x7_s2/bn") == "conv1__7x7_s2__bn"
    assert keras_vggface_name("conv1__7x7_s2__bn") == "conv1/7x7_s2/bn"
    for name in expected_weighted_names("senet50"):
        mapped = keras3_name(name)
        assert "/" not in mapped
        assert keras_vggface_name(mapped) == name
    with pytest.raises(ValueError):
        keras3_name("a_/b")  # would come back as "a/_b"


def test_embedder_attributes() -> None:
    e = VGGFace2Embedder("resnet50")
    assert isinstance(e, Embedder)
    assert (e.id, e.dim, e.input_size) == ("vggface2-resnet50-v1", 2048, 224)
    assert e.template.dtype == np.float32 and e.template.shape == (5, 2)
    np.testing.assert_array_equal(e.template, scaled_template(224, FACE_FRACTION, Y_SHIFT))
    assert ((e.template > 0) & (e.template < 224)).all()
    assert VGGFace2Embedder("senet50").id == "vggface2-senet50-v1"
    with pytest.raises(ValueError):
        VGGFace2Embedder("vgg16")


def test_preprocess_is_keras_vggface_version_2() -> None:
    x = np.zeros((1, 224, 224, 3), dtype=np.uint8)
    x[0, 0, 0] = (10, 20, 30)  # R, G, B
    out = preprocess(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(
        out[0, 0, 0], [30 - 91.4953, 20 - 103.8827, 10 - 131.0912], rtol=1e-6
    )
    np.testing.assert_allclose(out[0, 1, 1], -MEAN_BGR)


def test_missing_explicit_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "senet.h5"
    e = VGGFace2Embedder("senet50", weights_path=path)
    with pytest.raises(ModelError) as info:
        e.embed(crops(1))
    assert str(path) in str(info.value)
    assert "weights" in str(info.value)


def test_missing_weights_in_keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    expected = tmp_path / "kh" / "models" / "vggface" / "rcmalli_vggface_tf_notop_senet50.h5"
    assert default_weights_path("senet50") == expected
    with pytest.raises(ModelError) as info:
        VGGFace2Embedder("senet50").embed(crops(1))
    message = str(info.value)
    assert str(expected) in message
    assert "cannot download" in message
    assert (
        "[embedding]" in message
        and 'weights = "/path/to/rcmalli_vggface_tf_notop_senet50.h5"' in message
    )


def test_default_weights_path_without_keras_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_weights_path("resnet50") == (
        tmp_path / ".keras" / "models" / "vggface" / "rcmalli_vggface_tf_notop_resnet50.h5"
    )


# -- models ----------------------------------------------------------------------


def test_architecture(weights_file: tuple[str, Any, Path, dict]) -> None:
    arch, model, _, _ = weights_file
    assert tuple(model.output.shape) == (None, 2048)
    assert tuple(model.input.shape) == (None, 224, 224, 3)
    names = weighted_layer_names(model)
    assert names == expected_weighted_names(arch)
    assert len(names) == (106 if arch == "resnet50" else 138)
    assert names[:4] == [
        "conv1/7x7_s2",
        "conv1/7x7_s2/bn",
        "conv2_1_1x1_reduce",
        "conv2_1_1x1_reduce/bn",
    ]
    assert "conv5_3_1x1_increase/bn" in names
    # Parameter counts of keras-vggface's notop models (= Keras's ResNet50 notop,
    # 23,587,712, without its 26,560 conv biases; SENet adds 2,530,992 in SE convs).
    assert model.count_params() == (23_561_152 if arch == "resnet50" else 26_092_144)

    layer = {keras_vggface_name(ly.name): ly for ly in model.layers}
    assert [tuple(w.shape) for w in layer["conv1/7x7_s2"].weights] == [(7, 7, 3, 64)]
    assert [tuple(w.shape) for w in layer["conv2_1_1x1_proj"].weights] == [(1, 1, 64, 256)]
    assert [w.name for w in layer["conv3_1_3x3/bn"].weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert layer["conv3_1_1x1_reduce"].strides == (2, 2)
    assert layer["conv2_1_1x1_reduce"].strides == (1, 1)
    eps = 1e-4 if arch == "senet50" else 1e-3
    assert all(ly.epsilon == pytest.approx(eps) for n, ly in layer.items() if n.endswith("/bn"))
    assert layer["avg_pool"].pool_size == (7, 7)
    if arch == "senet50":
        assert [tuple(w.shape) for w in layer["conv2_1_1x1_down"].weights] == [
            (1, 1, 256, 16),
            (16,),
        ]
        assert [tuple(w.shape) for w in layer["conv5_3_1x1_up"].weights] == [
            (1, 1, 128, 2048),
            (2048,),
        ]
    convs = [n for n, ly in layer.items() if type(ly).__name__ == "Conv2D"]
    with_bias = {n for n in convs if layer[n].use_bias}
    assert with_bias == {n for n in convs if n.endswith(("_1x1_down", "_1x1_up"))}


def test_weights_file_layout(weights_file: tuple[str, Any, Path, dict]) -> None:
    arch, model, path, _ = weights_file
    with h5py.File(path, "r") as f:
        assert f.attrs["backend"] in ("tensorflow", b"tensorflow")
        layer_names = [n.decode() for n in f.attrs["layer_names"]]
        weighted = [n for n in layer_names if len(f[n].attrs["weight_names"])]
        assert weighted == expected_weighted_names(arch)
        assert [w.decode() for w in f["conv1/7x7_s2/bn"].attrs["weight_names"]] == [
            "conv1/7x7_s2/bn/gamma:0",
            "conv1/7x7_s2/bn/beta:0",
            "conv1/7x7_s2/bn/moving_mean:0",
            "conv1/7x7_s2/bn/moving_variance:0",
        ]
        assert f["conv1/7x7_s2"]["conv1/7x7_s2/kernel:0"].shape == (7, 7, 3, 64)


def test_load_and_embed(
    weights_file: tuple[str, Any, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arch, model, path, weights = weights_file
    if arch == "resnet50":
        embedder = VGGFace2Embedder(arch, weights_path=path, batch_size=2)
    else:  # found in the Keras cache folder, as keras-vggface left it
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
        target = default_weights_path(arch)
        target.parent.mkdir(parents=True)
        target.symlink_to(path)
        embedder = VGGFace2Embedder(arch, batch_size=2)

    x = crops(3, seed=5)
    out = embedder.embed(x)  # batches of 2 and 1
    loaded = {ly.name: ly.get_weights() for ly in embedder._model.layers if ly.weights}
    assert loaded.keys() == weights.keys()
    for name, values in weights.items():
        for got, want in zip(loaded[name], values, strict=True):
            np.testing.assert_array_equal(got, want)

    assert out.shape == (3, 2048) and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embedder.embed(x), out)
    # The same vectors one crop at a time, and from the reference model directly.
    np.testing.assert_allclose(embedder.embed(x[2:3])[0], out[2], atol=1e-5)
    direct = np.array(model(preprocess(x[:2]), training=False))
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    np.testing.assert_allclose(out[:2], direct, atol=1e-5)
    # Different faces, different vectors (random weights: not very different).
    dark_and_half_bright = np.full((2, 224, 224, 3), 30, np.uint8)
    dark_and_half_bright[1, :, :112] = 250
    a, b = embedder.embed(dark_and_half_bright)
    assert np.linalg.norm(a - b) > 1e-2
    assert embedder.embed(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 2048)
    with pytest.raises(ValueError):
        embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))


def _copy(weights_file: tuple[str, Any, Path, dict], tmp_path: Path) -> Path:
    copy = tmp_path / "copy.h5"
    shutil.copy(weights_file[2], copy)
    return copy


@pytest.mark.parametrize("weights_file", ["resnet50"], indirect=True)
def test_file_missing_a_layer(weights_file: tuple[str, Any, Path, dict], tmp_path: Path) -> None:
    path = _copy(weights_file, tmp_path)
    with h5py.File(path, "r+") as f:
        names = [n for n in f.attrs["layer_names"] if n != b"conv4_2_3x3/bn"]
        f.attrs["layer_names"] = np.array(names)
        del f["conv4_2_3x3/bn"]
    with pytest.raises(ModelError, match="lacks 1 layers"):
        VGGFace2Embedder("resnet50", weights_path=path).embed(crops(1))


@pytest.mark.parametrize("weights_file", ["resnet50"], indirect=True)
def test_file_with_a_wrong_shape(weights_file: tuple[str, Any, Path, dict], tmp_path: Path) -> None:
    path = _copy(weights_file, tmp_path)
    with h5py.File(path, "r+") as f:
        group = f["conv1/7x7_s2"]
        del group["conv1/7x7_s2/kernel:0"]
        group.create_dataset("conv1/7x7_s2/kernel:0", data=np.zeros((3, 3, 3, 64), np.float32))
    with pytest.raises(ModelError, match="conv1/7x7_s2"):
        VGGFace2Embedder("resnet50", weights_path=path).embed(crops(1))


@pytest.mark.parametrize("weights_file", ["senet50"], indirect=True)
def test_file_of_another_architecture(weights_file: tuple[str, Any, Path, dict]) -> None:
    path = weights_file[2]
    with pytest.raises(ModelError, match="another architecture"):
        VGGFace2Embedder("resnet50", weights_path=path).embed(crops(1))
