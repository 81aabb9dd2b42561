"""Printing listings: a table for people, JSON Lines with --json."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

from ..core.words import plural

__all__ = ["json_lines", "plural", "table"]


def json_lines(objects: Iterable[dict[str, Any]]) -> None:
    """Print each object as one line of JSON (non-ASCII kept)."""
    for obj in objects:
        click.echo(json.dumps(obj, ensure_ascii=False))


def table(headers: list[str], rows: list[list[str]]) -> None:
    """Print `rows` as left-aligned columns under `headers`, two spaces apart."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
