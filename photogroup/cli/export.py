"""photogroup export faces"""

from __future__ import annotations

import json
from typing import IO

import click

from ..pipeline.export import export_faces
from ..pipeline.people import embedder_id
from .context import AppContext


@click.group("export")
def command() -> None:
    """Write library data as JSON Lines."""


@command.command("faces")
@click.option("--embeddings", is_flag=True, help="Add each face's embedding vector.")
@click.option(
    "--embedder",
    default=None,
    help="Embedder id of the vectors (default: the configured model's current id).",
)
@click.option("--missing", "include_missing", is_flag=True, help="Include faces of missing photos.")
@click.option(
    "-o", "--output", type=click.File("w"), default="-", help="Output file (default: stdout)."
)
@click.pass_obj
def faces(
    app: AppContext,
    embeddings: bool,
    embedder: str | None,
    include_missing: bool,
    output: IO[str],
) -> None:
    """One JSON object per face: photo, box [x, y, w, h], landmarks, score, person_id, person."""
    library = app.library(create=False)
    eid = None
    if embeddings:
        eid = embedder or embedder_id(library)
    for obj in export_faces(library, embedder=eid, include_missing=include_missing):
        output.write(json.dumps(obj, ensure_ascii=False) + "\n")
