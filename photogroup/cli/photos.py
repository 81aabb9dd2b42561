"""photogroup photos --person X [--person Y] [--without Z] [--from DATE] [--to DATE]"""

from __future__ import annotations

import click

from ..core.errors import UsageError
from ..pipeline.query import find_photos
from .context import AppContext
from .output import json_lines


@click.command("photos")
@click.option("--person", "people", multiple=True, help="Must appear (repeat: all of them).")
@click.option("--without", "excluded", multiple=True, help="Must not appear (repeatable).")
@click.option("--from", "date_from", help="Taken on or after: YYYY, YYYY-MM or YYYY-MM-DD.")
@click.option("--to", "date_to", help="Taken on or before (the whole day, month or year).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo.")
@click.pass_obj
def command(
    app: AppContext,
    people: tuple[str, ...],
    excluded: tuple[str, ...],
    date_from: str | None,
    date_to: str | None,
    as_json: bool,
) -> None:
    """Photos containing every --person and no --without person, one path a line.

    Dates are the EXIF capture time, or the file time when a photo has none.
    Example: photogroup photos --person Ann --person Bob --without Carl --from 2019 | xargs ...
    """
    if not people and not excluded and not date_from and not date_to:
        raise UsageError("Say whom to look for: photogroup photos --person NAME (see --help).")
    rows = find_photos(app.reader(), list(people), list(excluded), date_from, date_to)
    if as_json:
        json_lines(r.as_json() for r in rows)
    else:
        for r in rows:
            click.echo(r.path)
