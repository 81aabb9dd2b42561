"""Walk photo folders: extensions, ignore globs, hidden entries, symlinks without loops."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileEntry:
    """A photo file found under a root, with its size and mtime (nanoseconds)."""

    path: str
    """Absolute path (symlinks not resolved: the path the user sees)."""
    root: str
    size: int
    mtime_ns: int


ErrorCallback = Callable[[str, str], None]


def _ignored(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def walk(
    roots: Iterable[Path],
    *,
    extensions: Iterable[str],
    ignore: Iterable[str] = (),
    follow_symlinks: bool = True,
    on_error: ErrorCallback | None = None,
) -> Iterator[FileEntry]:
    """Every photo file under the roots, depth first, in a stable (sorted) order.

    Hidden files and folders (name starting with '.') are skipped. A symlinked
    folder is followed once: a folder already visited (same device and inode) is
    not entered again, so link loops end. Unreadable folders and broken links are
    reported through `on_error(path, message)` and skipped.
    """
    exts = {e.lower() for e in extensions}
    patterns = list(ignore)
    report = on_error or (lambda _p, _m: None)
    seen_dirs: set[tuple[int, int]] = set()

    for root in roots:
        root_str = os.path.abspath(os.fspath(root))
        try:
            st = os.stat(root_str)
        except OSError as exc:
            report(root_str, f"cannot read: {exc.strerror}")
            continue
        if stat.S_ISREG(st.st_mode):
            if os.path.splitext(root_str)[1].lower() in exts:
                yield FileEntry(root_str, os.path.dirname(root_str), st.st_size, st.st_mtime_ns)
            continue
        stack = [root_str]
        while stack:
            folder = stack.pop()
            try:
                fst = os.stat(folder)
            except OSError as exc:
                report(folder, f"cannot read folder: {exc.strerror}")
                continue
            key = (fst.st_dev, fst.st_ino)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                report(folder, f"cannot list folder: {exc.strerror}")
                continue
            subdirs: list[str] = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = entry.path
                if patterns and _ignored(path, patterns):
                    continue
                try:
                    is_link = entry.is_symlink()
                    if is_link and not follow_symlinks:
                        continue
                    if entry.is_dir(follow_symlinks=True):
                        subdirs.append(path)
                        continue
                    if os.path.splitext(entry.name)[1].lower() not in exts:
                        continue
                    est = entry.stat(follow_symlinks=True)
                except OSError as exc:
                    report(path, f"cannot read: {exc.strerror or exc}")
                    continue
                if stat.S_ISREG(est.st_mode):
                    yield FileEntry(path, root_str, est.st_size, est.st_mtime_ns)
            stack.extend(reversed(subdirs))
