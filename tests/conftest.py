"""Shared fixtures: fake models that satisfy the detector/embedder interfaces, photo makers.

The fakes find "faces" drawn as saturated colour squares, so logic tests run in
milliseconds with no TensorFlow; the real models are tested in tests/ml and in
tests/test_integration.py on real photos.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photogroup.core.align import scaled_template
from photogroup.core.config import Config, load_config
from photogroup.core.types import Detection, l2_normalise
from photogroup.db.library import Library, open_library

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PHOTOGROUP_DATA", REPO.parent / "shared" / "data" / "faces"))

#: Marker colours the fake detector recognises, each one "person".
MARKERS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
}


class FakeDetector:
    """One detection per marker colour present (its bounding box), 5 landmarks inside."""

    id = "fake-detector"

    def __init__(self) -> None:
        self.calls = 0
        self.images = 0

    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        self.calls += 1
        self.images += len(images)
        out = []
        for img in images:
            found = []
            for rgb in MARKERS.values():
                mask = np.all(np.abs(img.astype(int) - rgb) < 60, axis=2)
                if mask.sum() < 4:
                    continue
                ys, xs = np.nonzero(mask)
                x, y = float(xs.min()), float(ys.min())
                w, h = float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)
                lm = (
                    (x + 0.3 * w, y + 0.35 * h),
                    (x + 0.7 * w, y + 0.35 * h),
                    (x + 0.5 * w, y + 0.55 * h),
                    (x + 0.35 * w, y + 0.75 * h),
                    (x + 0.65 * w, y + 0.75 * h),
                )
                found.append(Detection((x, y, w, h), lm, 0.99))
            out.append(found)
        return out


class FakeEmbedder:
    """The crop's mean colour as a vector: same marker colour, same "person"."""

    dim = 8
    input_size = 32

    def __init__(self, id: str = "fake-embedder-v1") -> None:
        self.id = id
        self.template = scaled_template(self.input_size)
        self.calls = 0
        self.faces = 0

    def embed(self, crops: np.ndarray) -> np.ndarray:
        assert crops.dtype == np.uint8 and crops.shape[1:] == (32, 32, 3), crops.shape
        self.calls += 1
        self.faces += len(crops)
        mean = crops.reshape(len(crops), -1, 3).mean(axis=1) / 255.0
        vec = np.concatenate([mean, np.ones((len(crops), 1)), np.zeros((len(crops), 4))], axis=1)
        return l2_normalise(vec)


def make_photo(
    path: Path,
    faces: list[tuple[str, int, int, int]] = (),  # type: ignore[assignment]
    size: tuple[int, int] = (320, 240),
    background: tuple[int, int, int] = (128, 128, 128),
    fmt: str | None = None,
    **save: object,
) -> Path:
    """A photo with marker squares: faces = [(colour, x, y, side), ...]."""
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[:] = background
    for colour, x, y, side in faces:
        arr[y : y + side, x : x + side] = MARKERS[colour]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt, **save)
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.delenv("PHOTOGROUP_CONFIG", raising=False)
    monkeypatch.delenv("PHOTOGROUP_LIBRARY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    cfg = load_config()
    cfg.library.database = str(tmp_path / "library.db")
    cfg.detection.min_face_size = 8
    cfg.scan.commit_every = 4
    return cfg


@pytest.fixture
def library(config: Config) -> Library:
    lib = open_library(config.database_path())
    yield lib
    # Whatever the test did through photogroup, the per-person figures are current.
    from photogroup.db.library import sqlite_connection
    from photogroup.db.stats import stale_people_stats

    with lib.session() as s:
        stale = stale_people_stats(sqlite_connection(s))
    lib.close()
    assert stale == [], f"people figures not refreshed for {stale}"


@pytest.fixture
def detector() -> FakeDetector:
    return FakeDetector()


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


class ByColour:
    """A stand-in clusterer: each face goes to the nearest of fixed centres (the marker
    colours), so tests choose the groups (HDBSCAN sees one person in a handful of
    flat marker faces)."""

    def __init__(self, centres: np.ndarray) -> None:
        self.centres = centres

    def fit(self, X: np.ndarray) -> ByColour:
        self.labels_ = np.argmax(np.asarray(X) @ self.centres.T, axis=1)
        return self


def _marker_photo(root: Path, colour: str, i: int) -> Path:
    return make_photo(root / f"{colour}{i}.png", [(colour, 20 + 15 * i, 30, 90)], size=(320, 240))


def touch_marker_photos(root: Path) -> None:
    """Write every marker photo of `marker_people` again (same faces, new files): a
    rescan then detects and embeds them all again."""
    for path in sorted(root.glob("*.png")):
        colour = "".join(ch for ch in path.stem if ch.isalpha())
        _marker_photo(root, colour, int(path.stem[len(colour) :]))


def marker_people(library: Library, config: Config, detector, embedder, root: Path) -> None:  # type: ignore[no-untyped-def]
    """Nine marker photos (three red, three green, three blue) scanned with the fake
    models and grouped by colour into three people. Sets the quality gate off: flat
    marker squares have no sharpness."""
    from sqlalchemy import select

    from photogroup.db.models import Embedding
    from photogroup.pipeline.people import regroup
    from photogroup.pipeline.scan import Scanner

    config.quality.min_quality = 0.0
    for i in range(3):
        for c in ("red", "green", "blue"):
            _marker_photo(root, c, i)
    Scanner(library, config, detector, embedder).run([root])
    with library.session() as s:
        V = np.stack([np.frombuffer(v, "<f4") for v in s.scalars(select(Embedding.vector))])
    centres = np.stack([V[np.argmax(V[:, :3], axis=1) == c][0] for c in range(3)])
    regroup(library, config, embedder.id, clusterer_factory=lambda: ByColour(centres))


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command that builds the configured models gets the fakes instead."""
    from photogroup.pipeline import models

    monkeypatch.setattr(
        models, "load_models", lambda config, say=None: (FakeDetector(), FakeEmbedder())
    )
    monkeypatch.setattr(
        models,
        "LazyModels",
        lambda config, say=None: models.ReadyModels(FakeDetector(), FakeEmbedder()),
    )
