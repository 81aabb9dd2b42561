"""The image detection runs on: at most max_side px, by box reduction where it fits."""

from __future__ import annotations

import numpy as np

from photogroup.pipeline.faces import detection_image


def test_half_size_camera_photo_is_box_reduced() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    small, factor = detection_image(image, 1024)
    assert small.shape == (750, 1000, 3) and factor == 0.5
    means = image.reshape(750, 2, 1000, 2, 3).mean(axis=(1, 3))
    assert np.abs(small.astype(float) - means).max() <= 1.0


def test_other_sizes_are_resized_to_max_side() -> None:
    image = np.zeros((900, 1200, 3), np.uint8)  # 1 / 2 would leave 600 px, far below 1024
    small, factor = detection_image(image, 1024)
    assert small.shape == (768, 1024, 3) and abs(factor - 1024 / 1200) < 1e-9


def test_small_images_are_untouched() -> None:
    image = np.zeros((250, 250, 3), np.uint8)
    small, factor = detection_image(image, 1024)
    assert small is image and factor == 1.0
