"""photogroup undo [DECISION]"""

from __future__ import annotations

import click

from ..pipeline.people import embedder_id
from .context import AppContext
from .params import ID


@click.command("undo")
@click.argument("decision", type=ID, required=False)
@click.pass_obj
def command(app: AppContext, decision: int | None) -> None:
    """Take back your newest answer (or answer number DECISION): its effect is
    reversed (a merge is split again, a name restored, a face returned) and it no
    longer constrains grouping or thresholds. It stays in the history as undone."""
    from ..pipeline.review import undo

    library = app.library()
    click.echo(undo(library, app.config, embedder_id(library), decision))
