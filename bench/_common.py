"""Shared by the bench scripts: where the real photos are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PHOTOGROUP_DATA", REPO.parent / "shared" / "data" / "faces"))


def dataset(name: str) -> Path:
    """A folder of ../shared/data/faces (or $PHOTOGROUP_DATA), or a path given as is."""
    path = Path(name)
    if not path.is_dir():
        path = DATA / name
    if not path.is_dir():
        sys.exit(f"No data set {name!r}: looked for {path}. Set PHOTOGROUP_DATA.")
    return path
