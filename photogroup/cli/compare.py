"""photogroup compare PHOTO_A PHOTO_B [--json] [--draw DIR]"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .context import AppContext
from .output import plural
from .paths import require_existing


def _box(box: list[float]) -> str:
    return ",".join(str(round(v)) for v in box)


@click.command("compare")
@click.argument("photo_a", type=click.Path(dir_okay=False))
@click.argument("photo_b", type=click.Path(dir_okay=False))
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
    """Every face of PHOTO_A against every face of PHOTO_B: each pair's distance, and
    the pairs judged the same person (within [people] compare_threshold; a face
    matches at most one face of the other photo)."""
    require_existing((photo_a, photo_b), "photo")
    from ..pipeline.identify import compare, draw_faces
    from .identify import drawn_name, face_analyser

    config = app.config
    analyser, _model = face_analyser(app)
    threshold = config.people.compare_threshold
    a, b, considered = compare(analyser, photo_a, photo_b, threshold)
    same = [p for p in considered if p.same]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "a": a.as_json(),
                    "b": b.as_json(),
                    "threshold": threshold,
                    "pairs": [p.as_json() for p in same],
                    "distances": [p.as_json() for p in considered],
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(
            f"{plural(len(a.faces), 'face')} in {photo_a}, {plural(len(b.faces), 'face')} in "
            f"{photo_b}; the same person up to distance {threshold} ([people] compare_threshold)."
        )
        for p in considered:
            verdict = "same person" if p.same else "not the same person"
            if not p.same and p.distance <= threshold:
                verdict += " (each face pairs with one: another pair is nearer)"
            click.echo(
                f"A face {p.a.index} [{_box(p.a.box)}] ~ B face {p.b.index} [{_box(p.b.box)}]"
                f"  distance {p.distance:.3f}  {verdict}"
            )
        if considered and not same:
            nearest = considered[0].distance
            click.echo(
                f"No face of one is the same person as a face of the other: the nearest "
                f"pair is at {nearest:.3f}, above {threshold}."
            )
    if draw_dir is not None:
        for side in (a, b):
            draw_faces(side.path, side.faces, drawn_name(draw_dir, side.path))
