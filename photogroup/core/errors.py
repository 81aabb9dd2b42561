"""Domain errors. Lower layers raise these; the CLI maps them to exit codes in one place."""

from __future__ import annotations


class PhotogroupError(Exception):
    """Base class: the message names the bad value and the fix."""

    exit_code = 1


class ConfigError(PhotogroupError):
    """A configuration file or value is wrong."""

    exit_code = 2


class UsageError(PhotogroupError):
    """A command was given a bad argument."""

    exit_code = 2


class NotFoundError(PhotogroupError):
    """Something the user named does not exist (a person, a face, a file)."""

    exit_code = 3


class ModelError(PhotogroupError):
    """A model or its weights cannot be loaded."""

    exit_code = 4


class LibraryError(PhotogroupError):
    """The library database cannot be opened, upgraded or written."""

    exit_code = 5


class SchemaOutOfDate(LibraryError):
    """The library's schema is older than this photogroup's: a read-only opener says
    so, and the caller that may write upgrades it (db.library.open_library)."""


class ScanLockedError(PhotogroupError):
    """Another scan holds the library's scan lock."""

    exit_code = 6


class ImageError(PhotogroupError):
    """One photo cannot be read or decoded. Recorded per file; never stops a scan."""

    def __init__(self, path: str, reason: str, kind: str = "decode") -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.kind = kind


#: Exit codes, in one place (README lists them).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 7
"""A scan finished but some files failed (see `photogroup errors`)."""
EXIT_INTERRUPTED = 130
