"""Storage: SQLAlchemy 2 models and the library (engine, sessions, migrations) in
`library`; the standard-library read path in `reader`. Import the submodules
directly: this package imports nothing, so listings do not load SQLAlchemy."""

from ..core.ids import MAX_ID

__all__ = ["MAX_ID"]
