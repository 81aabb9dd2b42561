"""photogroup cluster"""

from __future__ import annotations

import click

from ..pipeline.people import embedder_id, group_library
from .context import AppContext


@click.command("cluster")
@click.option("--full", is_flag=True, help="Group every face again (default: only if needed).")
@click.pass_obj
def command(app: AppContext, full: bool) -> None:
    """Group faces into people (runs after every scan too)."""
    library = app.library()
    eid = embedder_id(library)
    if eid is None:
        click.echo('Nothing to group yet: run "photogroup scan DIR" first.')
        return
    click.echo(group_library(library, app.config, eid, full=full))
