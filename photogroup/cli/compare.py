"""photogroup compare PHOTO_A PHOTO_B [--json] [--draw DIR]"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .context import AppContext
from .progress import BarProgress


@click.command("compare")
@click.argument("photo_a", type=click.Path(dir_okay=False, exists=True))
@click.argument("photo_b", type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option(
    "--draw",
    "draw_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write both photos with their faces drawn into DIR.",
)
@click.pass_obj
def command(
    app: AppContext, photo_a: str, photo_b: str, as_json: bool, draw_dir: Path | None
) -> None:
    """Every face of PHOTO_A against every face of PHOTO_B: the pairs judged the same
    person, with their distances ([people] compare_threshold); a face matches at most
    one face of the other photo."""
    from ..pipeline.faces import FaceAnalyser
    from ..pipeline.identify import compare, draw_faces
    from ..pipeline.models import load_models
    from .identify import drawn_name

    config = app.config
    detector, embedder = load_models(config, BarProgress(None).message)
    analyser = FaceAnalyser(config, detector, embedder)
    threshold = config.people.compare_threshold
    a, b, pairs = compare(analyser, photo_a, photo_b, threshold)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "a": a.as_json(),
                    "b": b.as_json(),
                    "threshold": threshold,
                    "pairs": [p.as_json() for p in pairs],
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(f"{len(a.faces)} face(s) in {photo_a}, {len(b.faces)} in {photo_b}.")
        if not pairs:
            click.echo(f"No face of one is the same person as a face of the other (> {threshold}).")
        for p in pairs:
            click.echo(
                f"same person: A face {p.a.index} [{','.join(str(round(v)) for v in p.a.box)}]"
                f" ~ B face {p.b.index} [{','.join(str(round(v)) for v in p.b.box)}]"
                f"  distance {p.distance:.3f}"
            )
    if draw_dir is not None:
        for side in (a, b):
            draw_faces(side.path, side.faces, drawn_name(draw_dir, side.path))
