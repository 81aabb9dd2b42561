"""photogroup identify PHOTO... [--json] [--draw DIR]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import AppContext
from .paths import require_existing
from .progress import BarProgress

if TYPE_CHECKING:
    from ..pipeline.faces import FaceAnalyser


def face_analyser(app: AppContext) -> tuple[FaceAnalyser, str]:
    """What finds and embeds the faces of a photo, and the embedder's id: the warm
    models of a `photogroup serve` running on this library, else models loaded here."""
    from ..web.client import RemoteAnalyser, find_service

    endpoint = find_service(app.database)
    if endpoint is not None:
        return RemoteAnalyser(app.config, endpoint), str(endpoint["embedder"])
    from ..pipeline.faces import FaceAnalyser
    from ..pipeline.models import load_models

    detector, embedder = load_models(app.config, BarProgress(None).message)
    return FaceAnalyser(app.config, detector, embedder), embedder.id


def drawn_name(directory: Path, photo: str) -> Path:
    """The file in `directory` that `draw` writes for `photo`: `<stem>.faces.png`."""
    return directory / f"{Path(photo).stem}.faces.png"


@click.command("identify")
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo.")
@click.option(
    "--draw",
    "draw_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each photo with its faces drawn into DIR.",
)
@click.pass_obj
def command(app: AppContext, photos: tuple[str, ...], as_json: bool, draw_dir: Path | None) -> int:
    """Name every face in PHOTOs (inside the library or not; nothing is stored):
    the nearest person, the distance, and a confidence (the calibrated probability of
    being the same person), or "unknown" when nobody is close enough."""
    require_existing(photos, "photo")
    from ..pipeline.identify import Gallery, draw_faces, identify
    from ..pipeline.people import embedder_id

    library, config = app.library(create=True), app.config
    analyser, model = face_analyser(app)
    eid = embedder_id(library) or model
    if eid != model:
        click.echo(
            f"Note: the library's faces were embedded with {eid}, the configuration says "
            f"{model}; run photogroup scan to re-embed.",
            err=True,
        )
    gallery = Gallery.of_library(library, config, model)
    results = identify(analyser, gallery, list(photos))
    failed = 0
    for r in results:
        if r.error:
            failed += 1
        if as_json:
            click.echo(json.dumps(r.as_json(), ensure_ascii=False))
        elif r.error:
            click.echo(f"{r.path}: cannot read: {r.error}", err=True)
        else:
            if not r.faces:
                click.echo(f"{r.path}\t(no face found)")
            for f in r.faces:
                box = ",".join(str(round(v)) for v in f.box)
                conf = "" if f.match.confidence is None else f"\t{f.match.confidence:.2f}"
                dist = "" if f.match.distance is None else f"\t{f.match.distance:.3f}"
                click.echo(f"{r.path}\t{f.index}\t{box}\t{f.label}{dist}{conf}")
        if draw_dir is not None and not r.error:
            draw_faces(r.path, r.faces, drawn_name(draw_dir, r.path))
    return 7 if failed else 0
