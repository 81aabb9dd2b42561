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
