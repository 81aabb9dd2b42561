"""Paths named on the command line: checked before anything slow starts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import NotFoundError


def require_existing(paths: Iterable[str | Path], what: str = "file or folder") -> None:
    """NotFoundError (exit 3) naming the first path that does not exist: a typo is
    told at once, before the models load, and not taken for an unmounted disk."""
    for path in paths:
        if not os.path.exists(path):
            where = "" if os.path.isabs(path) else f" (from {os.getcwd()!r})"
            raise NotFoundError(f"No such {what}: {str(path)!r}{where}. Check the path.")
