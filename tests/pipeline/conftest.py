"""Fixtures of the pipeline tests: a seeded random generator and person centres."""

from __future__ import annotations

import numpy as np
import pytest

from .test_people import DIM


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def centres(rng: np.random.Generator) -> np.ndarray:
    c = rng.normal(size=(4, DIM))
    return c / np.linalg.norm(c, axis=1, keepdims=True)
