"""What every command shares: the configuration and the library, opened on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.config import Config, load_config
from ..db.reader import Reader, open_reader

if TYPE_CHECKING:
    from ..db.library import Library


def _note(message: str) -> None:
    """What opening the library did that the user should know (a repair)."""
    click.echo(message, err=True)


def _upgrade(path: Path) -> None:
    """Bring a library to the newest schema (with a backup first) for a reader."""
    from ..db.library import open_library

    open_library(path, create=False, on_note=_note).close()


@dataclass
class AppContext:
    """What the commands share: the configuration and library, each opened on first use."""

    config_path: str | None = None
    library_path: str | None = None
    _config: Config | None = field(default=None, repr=False)
    _library: Library | None = field(default=None, repr=False)
    _reader: Reader | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The configuration, loaded on first use (ConfigError when it is invalid)."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def database(self) -> Path:
        """The library's path: --library, $PHOTOGROUP_LIBRARY, the configuration, or the default."""
        return self.config.database_path(self.library_path)

    def known_database(self) -> Path | None:
        """The library's path if it is known without raising (for error messages)."""
        for opened in (self._library, self._reader):
            if opened is not None:
                return opened.path
        try:
            return self.database.expanduser().resolve()
        except Exception:  # a bad configuration: that error is the one to report
            return None

    def library(self, create: bool = False) -> Library:
        """The library for commands that write (imports SQLAlchemy)."""
        if self._library is None:
            from ..db.library import open_library

            self._library = open_library(self.database, create=create, on_note=_note)
        return self._library

    def reader(self) -> Reader:
        """Read-only access for listings: standard-library sqlite3, starts fast."""
        if self._reader is None:
            self._reader = open_reader(self.database, upgrade=_upgrade)
        return self._reader

    def close(self) -> None:
        """Close the reader and the library, if opened."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._library is not None:
            self._library.close()
            self._library = None
