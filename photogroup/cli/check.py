"""photogroup check [--repair] [--json]"""

from __future__ import annotations

import json

import click

from ..core.errors import EXIT_ERROR
from .context import AppContext


@click.command("check")
@click.option("--repair", is_flag=True, help="Apply the safe fixes (never touches your answers).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per problem.")
@click.pass_obj
def command(app: AppContext, repair: bool, as_json: bool) -> int:
    """Check the library: SQLite's integrity and foreign keys, and photogroup's own
    rules (faces without photos, assignments that contradict your answers, person
    figures out of date). Exit code 0 when all is well, 1 when something is wrong."""
    from ..pipeline.check import check

    problems = check(app.library(), repair=repair)
    if as_json:
        for p in problems:
            click.echo(json.dumps(p.as_json()))
    elif not problems:
        click.echo("All is well.")
    for p in problems if not as_json else []:
        fix = (
            " (repaired)"
            if repair and p.repairable
            else (" (--repair fixes it)" if p.repairable else "")
        )
        examples = ", ".join(str(e) for e in p.examples[:5])
        click.echo(f"{p.kind}: {p.count} {p.message}{fix}; e.g. {examples}")
    unrepaired = [p for p in problems if not (repair and p.repairable)]
    return EXIT_ERROR if unrepaired else 0
