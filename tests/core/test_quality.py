"""Face quality signals and score (synthetic values)."""

from __future__ import annotations

import numpy as np
import pytest

from photogroup.core.quality import (
    QualityRamps,
    frontalness,
    inside_share,
    laplacian_variance,
    quality_score,
)

GOOD = {"size": 120.0, "score": 0.999, "sharpness": 300.0, "frontal": 0.95, "inside": 1.0}


def test_a_good_face_scores_one_and_the_weakest_signal_decides():
    assert quality_score(GOOD) == 1.0
    r = QualityRamps()
    half_size = (r.size[0] + r.size[1]) / 2
    assert quality_score({**GOOD, "size": half_size}) == pytest.approx(0.5)
    assert quality_score({**GOOD, "size": 10.0, "sharpness": 1000.0}) == 0.0


def test_frontalness_from_landmarks():
    frontal = [(40, 50), (80, 50), (60, 70), (45, 90), (75, 90)]
    profile = [(40, 50), (80, 50), (85, 70), (60, 90), (80, 90)]
    tilted = [
        (x * np.cos(0.5) - y * np.sin(0.5), x * np.sin(0.5) + y * np.cos(0.5)) for x, y in frontal
    ]
    assert frontalness(frontal) == pytest.approx(1.0)
    assert frontalness(tilted) == pytest.approx(1.0)  # roll does not matter
    assert frontalness(profile) < 0.2


def test_inside_share():
    assert inside_share((40, 40, 20, 20), 100, 100) == pytest.approx(1.0)
    assert inside_share((-12, 40, 20, 20), 100, 100) < 0.5


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(0)
    sharp = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    from PIL import Image, ImageFilter

    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(3)))
    assert laplacian_variance(sharp) > 10 * laplacian_variance(blurred)
