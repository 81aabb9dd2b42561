"""Storage: SQLAlchemy 2 models, the library (engine, sessions, migrations), queries."""

from .library import Library, open_library

__all__ = ["Library", "open_library"]
