"""photogroup merge PERSON OTHER"""

from __future__ import annotations

import click

from ..pipeline.people import display_name, merge_people
from .context import AppContext


@click.command("merge")
@click.argument("person")
@click.argument("other")
@click.pass_obj
def command(app: AppContext, person: str, other: str) -> None:
    """Merge OTHER into PERSON: they are the same person (remembered by later groupings)."""
    kept = merge_people(app.library(), person, other)
    click.echo(f"Merged {other} into {display_name(kept)} (id {kept.id}).")
