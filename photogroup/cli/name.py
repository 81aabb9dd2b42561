"""photogroup name PERSON NAME"""

from __future__ import annotations

import click

from ..core.errors import UsageError
from ..core.words import person_label
from ..pipeline.people import name_person
from .context import AppContext


@click.command("name")
@click.argument("person")
@click.argument("name", required=False)
@click.option("--clear", is_flag=True, help="Remove the person's name (the person stays).")
@click.pass_obj
def command(app: AppContext, person: str, name: str | None, clear: bool) -> None:
    """Name a person (PERSON: an id, "Person 17" or a current name). A name is one
    line of text, not used by another person (in any letter case), not "Person N"."""
    if clear == (name is not None):
        raise UsageError('Give a NAME, or --clear to remove the name: photogroup name 17 "Ann"')
    updated = name_person(app.library(), person, None if clear else name)
    if updated.name:
        click.echo(f'Person {updated.id} is now named "{updated.name}".')
    else:
        click.echo(f"{person_label(updated.id, None)} has no name now.")
