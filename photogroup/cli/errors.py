"""photogroup errors"""

from __future__ import annotations

import click

from ..pipeline.status import scan_errors
from .context import AppContext
from .output import json_lines
from .params import ID


@click.command("errors")
@click.option("--run", "run_id", type=ID, help="Scan run id (default: the newest).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per error.")
@click.pass_obj
def command(app: AppContext, run_id: int | None, as_json: bool) -> None:
    """Files a scan could not index, with the reason."""
    rows = scan_errors(app.library(), run_id)
    if as_json:
        json_lines(rows)
        return
    if not rows:
        click.echo("No errors.")
        return
    for r in rows:
        click.echo(f"{r['path']}: {r['message']} [{r['kind']}]")
    click.echo(
        "A failed file is read again when it changes, or by `photogroup scan --retry-errors`.",
        err=True,
    )
