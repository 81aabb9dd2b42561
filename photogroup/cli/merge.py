"""photogroup merge PERSON OTHER"""

from __future__ import annotations

import click

from ..pipeline.people import display_name, find_person, merge_people
from .context import AppContext


@click.command("merge")
@click.argument("person")
@click.argument("other")
@click.pass_obj
def command(app: AppContext, person: str, other: str) -> None:
    """Merge OTHER into PERSON: they are the same person (remembered by later groupings)."""
    library = app.library()
    with library.new_session() as s:
        before = display_name(find_person(s, person))
        moving = find_person(s, other)
        label, faces = display_name(moving), moving.face_count
    kept = merge_people(library, person, other)
    now = display_name(kept)
    into = before if before == now else f"{before}, now named {now}"
    click.echo(f"Merged {label} ({faces} faces) into {into} (id {kept.id}).")
