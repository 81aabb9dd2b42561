"""What every command shares: the configuration and the library, opened on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import Config, load_config
from ..db.library import Library, open_library


@dataclass
class AppContext:
    config_path: str | None = None
    library_path: str | None = None
    _config: Config | None = field(default=None, repr=False)
    _library: Library | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def database(self) -> Path:
        return self.config.database_path(self.library_path)

    def library(self, create: bool = False) -> Library:
        if self._library is None:
            self._library = open_library(self.database, create=create)
        return self._library

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None
