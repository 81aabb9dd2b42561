"""photogroup draw PHOTO [--out FILE]"""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import UsageError
from .context import AppContext
from .output import plural
from .paths import require_existing


@click.command("draw")
@click.argument("photo", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (default: PHOTO's name + .faces.png in the current folder).",
)
@click.pass_obj
def command(app: AppContext, photo: str, out: Path | None) -> None:
    """Write a copy of PHOTO with every face's box, landmarks and name (or "unknown");
    faces are numbered from the left, as enroll --face counts them."""
    require_existing((photo,), "photo")
    from ..pipeline.identify import Gallery, draw_faces, identify
    from .identify import face_analyser

    library, config = app.library(create=True), app.config
    analyser, model = face_analyser(app)
    gallery = Gallery.of_library(library, config, model)
    (result,) = identify(analyser, gallery, [photo])
    if result.error:
        raise UsageError(f"Cannot read {photo!r}: {result.error}")
    target = out or Path(f"{Path(photo).stem}.faces.png")
    draw_faces(photo, result.faces, target)
    click.echo(f"{target}: {plural(len(result.faces), 'face')}")
