"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest

from ..conftest import marker_people


@pytest.fixture
def lib_args(library, config, detector, embedder, tmp_path):  # type: ignore[no-untyped-def]
    """A library of marker photos in three unnamed people, and the CLI arguments to use it."""
    cfg = tmp_path / "config.toml"
    # The fake embedder's marker colours lie 0.3 apart: with the default merge threshold
    # the three people would look like one, and "Same person?" would come first.
    cfg.write_text(
        "[quality]\nmin_quality = 0.0\n[review]\nwho_min_faces = 2\n"
        "[people]\nmerge_threshold = 0.1\n"
    )
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    return ["--config", str(cfg), "--library", str(config.database_path())]
