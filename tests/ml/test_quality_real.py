"""The quality gate on real crops: a sharp frontal face passes; the same face
blurred, shrunk below the size bar, or cut in half by the photo edge fails."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photogroup.core.align import align_face, scaled_template
from photogroup.core.config import load_config
from photogroup.core.quality import quality_score, quality_signals

from ..conftest import DATA

pytestmark = pytest.mark.slow

PHOTO = DATA / "lfw_devtrain" / "Colin_Powell" / "Colin_Powell_0001.jpg"


@pytest.fixture(scope="module")
def detector():
    if not PHOTO.is_file():
        pytest.skip(f"real photos not found at {PHOTO.parent} (set PHOTOGROUP_DATA)")
    from photogroup.ml.detector import MTCNNDetector

    return MTCNNDetector()


def _quality(detector, image: np.ndarray) -> tuple[float, dict[str, float]]:
    (found,) = detector.detect([image])
    h, w = image.shape[:2]
    centre = min(
        found,
        key=lambda d: (
            (d.box[0] + d.box[2] / 2 - w / 2) ** 2 + (d.box[1] + d.box[3] / 2 - h / 2) ** 2
        ),
    )
    crop = align_face(image, centre.landmarks, scaled_template(160), 160)
    signals = quality_signals(centre, crop, w, h)
    return quality_score(signals, load_config().quality.ramps()), signals


def _upscaled(img: Image.Image, factor: int = 3) -> np.ndarray:
    return np.asarray(
        img.resize((img.width * factor, img.height * factor), Image.Resampling.LANCZOS)
    )


def test_sharp_frontal_face_passes(detector):
    bar = load_config().quality.min_quality
    q, signals = _quality(detector, np.asarray(Image.open(PHOTO).convert("RGB")))
    assert q >= bar, signals


def test_blurred_face_fails(detector):
    bar = load_config().quality.min_quality
    img = Image.open(PHOTO).convert("RGB").filter(ImageFilter.GaussianBlur(4))
    q, signals = _quality(detector, np.asarray(img))
    assert q < bar, str(signals)


def test_face_shrunk_below_the_size_bar_fails(detector):
    cfg = load_config().quality
    img = Image.open(PHOTO).convert("RGB")
    # a 250 px LFW photo has a ~100 px face; shrink it to ~1/5 then pad back to a photo
    small = img.resize((img.width // 5, img.height // 5), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (img.width, img.height), (90, 90, 90))
    canvas.paste(small, (img.width // 2 - small.width // 2, img.height // 2 - small.height // 2))
    q, signals = _quality(detector, _upscaled(canvas, 1))
    assert signals["size"] < cfg.size[1] and q < cfg.min_quality, signals


def test_face_cut_by_the_photo_edge_fails(detector):
    bar = load_config().quality.min_quality
    img = np.asarray(Image.open(PHOTO).convert("RGB"))
    (found,) = detector.detect([img])
    d = max(found, key=lambda d: d.box[2])
    x, _, w, _ = d.box
    cut = np.ascontiguousarray(img[:, int(x + w / 2) :])  # the left half of the face is gone
    (again,) = detector.detect([cut])
    if not again:  # the detector gives up on half a face: that also keeps it out
        return
    q, signals = _quality(detector, cut)
    assert q < bar, str(signals)
