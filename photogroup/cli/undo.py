"""photogroup undo [N] [--list [--json]]"""

from __future__ import annotations

import click

from ..pipeline.people import embedder_id
from .context import AppContext
from .output import json_lines, table
from .params import ID


@click.command("undo")
@click.argument("decision", metavar="[N]", type=ID, required=False)
@click.option(
    "--list", "listing", is_flag=True, help="List the answers you can undo, with their numbers."
)
@click.option("--json", "as_json", is_flag=True, help="With --list: one JSON object per answer.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="With --list.")
@click.pass_obj
def command(
    app: AppContext, decision: int | None, listing: bool, as_json: bool, limit: int
) -> None:
    """Take back your newest answer (or answer number N, from --list): its effect is
    reversed (a merge is split again, a name restored, a face returned) and it no
    longer constrains grouping or thresholds. It stays in the history as undone.
    An older answer that a newer one rests on is refused until the newer one is undone."""
    from ..core.errors import UsageError
    from ..pipeline.review import history, undo

    library = app.library()
    if listing or as_json:
        if decision is not None:
            raise UsageError("Give N to undo answer N, or --list to see them, not both.")
        rows = history(library, limit)
        if as_json:
            json_lines(r.as_json() for r in rows)
            return
        if not rows:
            click.echo("No answers to undo.")
            return
        table(
            ["N", "WHEN", "ANSWER"],
            [
                [
                    str(r.id),
                    f"{r.created:%Y-%m-%d %H:%M}",
                    r.description
                    + (f"  (undo {r.superseded_by} first)" if r.superseded_by else ""),
                ]
                for r in rows
            ],
        )
        click.echo('"photogroup undo N" takes back answer N.', err=True)
        return
    click.echo(undo(library, app.config, embedder_id(library), decision))
