"""Storage: SQLAlchemy 2 models and the library (engine, sessions, migrations) in
`library`; the standard-library read path in `reader`. Import the submodules
directly: this package imports nothing, so listings do not load SQLAlchemy."""

MAX_ID = 2**63 - 1
"""SQLite's largest INTEGER: no row id is above it (a larger number finds nothing)."""
