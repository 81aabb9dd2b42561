"""photogroup people"""

from __future__ import annotations

import click

from ..pipeline.query import list_people
from .context import AppContext
from .output import json_lines, table


@click.command("people")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per person.")
@click.option("--all", "include_all", is_flag=True, help="Also hidden people and single faces.")
@click.pass_obj
def command(app: AppContext, as_json: bool, include_all: bool) -> None:
    """List people: id, name, faces, photos and a representative face.

    Named people first, then unnamed groups from largest to smallest.
    """
    rows = list_people(
        app.reader(),
        include_all=include_all,
        min_faces=app.config.people.min_faces_listed,
        min_quality=app.config.quality.min_quality,
    )
    if as_json:
        json_lines(r.as_json() for r in rows)
        return
    if not rows:
        click.echo('No people yet. Run "photogroup scan DIR" (or "photogroup cluster").')
        return
    table(
        ["ID", "NAME", "FACES", "PHOTOS", "FACE"],
        [
            [
                str(r.id),
                r.label + (" (hidden)" if r.hidden else ""),
                str(r.faces),
                str(r.photos),
                f"{r.cover_photo} [{', '.join(str(round(v)) for v in r.cover_box or [])}]"
                if r.cover_photo
                else "",
            ]
            for r in rows
        ],
    )
