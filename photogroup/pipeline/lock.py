"""One scan per library at a time: an advisory lock file next to the database."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import ScanLockedError


def lock_path(database: Path) -> Path:
    """The scan lock file of the library `database`: `<name>.scan-lock` beside it."""
    return database.with_name(database.name + ".scan-lock")


@contextmanager
def scan_lock(database: Path, wait: float | None = 0.0) -> Iterator[None]:
    """Hold the library's scan lock. `wait`: seconds to wait (None: for good).

    The kernel releases the lock when the process dies (even SIGKILL), so a
    crashed scan never blocks the next one.
    """
    path = lock_path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    try:
                        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    except OSError:
                        holder = ""
                    who = f" (process {holder})" if holder else ""
                    raise ScanLockedError(
                        f"Another scan of {str(database)!r} is running{who}. "
                        "Wait for it to finish, or use --wait to queue behind it."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
