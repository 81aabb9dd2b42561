"""Alignment: the similarity transform and the warp."""

from __future__ import annotations

import numpy as np
import pytest

from photogroup.core.align import align_face, scaled_template, similarity_transform


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_similarity_transform_rejects_bad_shapes():
    with pytest.raises(ValueError, match="matching"):
        similarity_transform(np.zeros((5, 2)), np.zeros((4, 2)))


def test_align_face_puts_landmarks_on_the_template():
    template = scaled_template(64)
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    # landmarks = template scaled x2 and moved: mark them with bright dots
    landmarks = template * 2.0 + np.array([50.0, 30.0])
    for x, y in landmarks:
        image[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    crop = align_face(image, landmarks, template, 64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    for x, y in template:
        assert crop[int(round(y)), int(round(x))].max() > 100


def test_scaled_template_margin():
    full = scaled_template(160)
    loose = scaled_template(160, face_fraction=0.8)
    centre = np.array([80.0, 80.0])
    assert (
        np.linalg.norm(loose - centre, axis=1).max() < np.linalg.norm(full - centre, axis=1).max()
    )


def test_warp_affine_equals_warping_the_whole_photo():
    """warp_affine hands PIL only the region the crop samples; the pixels must equal
    PIL's transform of the whole photo, for crops inside, across the edge and outside."""
    from PIL import Image

    from photogroup.core.align import warp_affine

    def whole(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
        inv = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))
        out = Image.fromarray(image).transform(
            (size, size),
            Image.Transform.AFFINE,
            data=tuple(float(c) for c in inv[:2].ravel()),
            resample=Image.Resampling.BILINEAR,
        )
        return np.asarray(out)

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    kinds = {"inside": 0, "edge": 0, "outside": 0}
    for _ in range(600):
        scale, angle = rng.uniform(0.3, 4.0), rng.uniform(-np.pi, np.pi)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = rng.uniform([-100, -100], [500, 400])  # the photo point at the crop's centre
        size = int(rng.choice([112, 160]))
        shift = np.array([size / 2, size / 2]) - rot @ centre
        matrix = np.hstack([rot, shift[:, None]])
        expected = whole(image, matrix, size)
        assert np.array_equal(warp_affine(image, matrix, size), expected)
        black = (expected == 0).all(axis=2).mean()
        kinds["outside" if black == 1 else "inside" if black < 0.001 else "edge"] += 1
    assert min(kinds.values()) >= 20, kinds
