"""The web floor reads and writes through pipeline/ only: no ORM, no db module."""

from __future__ import annotations

import ast
from pathlib import Path

import photogroup.web.server as server


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported when the file runs (imports under `if TYPE_CHECKING:` left out)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []  # type-only names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return found


def test_the_server_imports_no_db_module_and_no_sqlalchemy():
    imports = _runtime_imports(ast.parse(Path(server.__file__).read_text(encoding="utf-8")))
    assert "..pipeline.query" in imports  # the check sees the server's imports
    bad = [m for m in imports if m.startswith(("sqlalchemy", "..db", "photogroup.db"))]
    assert bad == []
