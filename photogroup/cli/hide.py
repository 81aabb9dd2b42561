"""photogroup hide PERSON"""

from __future__ import annotations

import click

from ..pipeline.people import display_name, hide_person
from .context import AppContext


@click.command("hide")
@click.argument("person")
@click.option("--show", "unhide", is_flag=True, help="Show a hidden person again.")
@click.pass_obj
def command(app: AppContext, person: str, unhide: bool) -> None:
    """Hide a person from listings (strangers, bystanders); their faces stay grouped."""
    updated = hide_person(app.library(), person, hidden=not unhide)
    state = "hidden" if updated.hidden else "shown"
    click.echo(f"{display_name(updated)} is {state}.")
