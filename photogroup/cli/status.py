"""photogroup status"""

from __future__ import annotations

import json

import click

from ..pipeline.status import library_status
from .context import AppContext


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def command(app: AppContext, as_json: bool) -> None:
    """What the library holds and how the last scan went."""
    from ..pipeline.schedule import service_state

    st = library_status(app.library())
    st["service"] = service_state(app.database)
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False))
        return
    photos = st["photos"]
    click.echo(f"Library: {st['library']}")
    click.echo(
        f"Photos: {photos.get('ok', 0)} present, {photos.get('missing', 0)} missing, "
        f"{photos.get('error', 0)} unreadable"
    )
    click.echo(
        f"Faces: {st['faces']} ({st['assigned_faces']} in people); people: {st['people']} "
        f"({st['named_people']} named)"
    )
    service = st["service"]
    if service:
        click.echo(
            f"Service: photogroup serve (pid {service['pid']}) scans every "
            f"{service['interval_minutes']:g} min; "
            + ("scanning now." if service["running"] else f"next scan {service['next_run']}.")
            + (f" Last: {service['last_result']}" if service.get("last_result") else "")
        )
    run = st["last_scan"]
    if run is None:
        click.echo("No scan yet.")
        return
    click.echo(
        f"Last scan: #{run['id']} {run['status']}, started {run['started']}, "
        f"finished {run['finished'] or '-'}: {run['new']} new, {run['changed']} changed, "
        f"{run['moved']} moved, {run['missing']} missing, {run['failed']} failed, "
        f"{run['faces']} faces"
    )
    if run["failed"]:
        click.echo('Run "photogroup errors" to list the files that failed.')
