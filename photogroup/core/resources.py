"""Files that ship with photogroup: the Alembic environment, the migrations, the default config.

In the repository they sit at the top level (`alembic/`, `migrations/`, `config.toml`);
an installed wheel carries them inside the package (`_alembic/`, `_migrations/`,
`default_config.toml`, see pyproject.toml). Both layouts are looked up here, once.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
_REPO = _PACKAGE.parent

_LOCATIONS = {
    "alembic": ("_alembic", "alembic"),
    "migrations": ("_migrations", "migrations"),
    "config": ("default_config.toml", "config.toml"),
}


def resource(name: str) -> Path:
    """Path of a shipped resource: 'alembic', 'migrations' or 'config'."""
    packaged, in_repo = _LOCATIONS[name]
    for candidate in (_PACKAGE / packaged, _REPO / in_repo):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"photogroup is installed without its {name!r} files (looked for {_PACKAGE / packaged} "
        f"and {_REPO / in_repo}); reinstall it from a wheel or a source checkout."
    )
