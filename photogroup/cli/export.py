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
    """Write library data: faces as JSON Lines, face regions as XMP for other tools."""


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


@command.command("xmp")
@click.option("--person", default=None, help="Only this person's faces (an id or a name).")
@click.option("--unnamed", is_flag=True, help="Also the faces of unnamed people (no name).")
@click.option(
    "--in-place",
    is_flag=True,
    help="Write into the photos' own XMP through exiftool instead of sidecars.",
)
@click.option("--touch", is_flag=True, help="With --in-place: let the photos' file times change.")
@click.pass_obj
def xmp(app: AppContext, person: str | None, unnamed: bool, in_place: bool, touch: bool) -> int:
    """Write face regions for other tools: MWG and Microsoft regions, the names in
    Iptc4xmpExt:PersonInImage, lr:hierarchicalSubject and digiKam:TagsList ("People|Name",
    "People/Name"). By default a sidecar beside each photo with named faces ([xmp]
    sidecar_name), merged into an existing one without losing anything in it."""
    from ..core.errors import EXIT_PARTIAL, UsageError
    from ..pipeline.xmp import export_xmp

    if touch and not in_place:
        raise UsageError("--touch only applies with --in-place (sidecars are new files).")
    summary = export_xmp(
        app.library(create=False),
        app.config,
        person=person,
        unnamed=unnamed,
        in_place=in_place,
        touch=touch,
    )
    for path, message in summary.problems:
        click.echo(f"  not written: {path}: {message}", err=True)
    where = "photos" if in_place else "sidecars"
    click.echo(
        f"Wrote {summary.faces} faces of {summary.photos} photos into {where}"
        + (f"; {len(summary.problems)} not written." if summary.problems else "."),
        err=True,
    )
    return EXIT_PARTIAL if summary.problems else 0
