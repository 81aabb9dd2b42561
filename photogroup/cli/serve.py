"""photogroup serve [--port N] [--no-browser]"""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import UsageError
from .context import AppContext


@click.command("serve")
@click.option("--port", type=int, help="Port (default: [review] port; 0 picks a free one).")
@click.option("--no-browser", is_flag=True, default=True, hidden=True)
@click.pass_obj
def command(app: AppContext, port: int | None, no_browser: bool) -> None:
    """Run photogroup as a service: the web page (people, photos of X and Y, review
    questions) and its JSON API on 127.0.0.1, and scans of the [library] roots every
    [serve] scan_every_minutes in the same process, never two at once."""
    from ..pipeline.people import embedder_id, group_library
    from ..pipeline.schedule import Scheduler, state_path
    from ..web.server import make_server

    config = app.config
    database = app.database
    database.parent.mkdir(parents=True, exist_ok=True)
    library = app.library(create=True)
    eid = embedder_id(library) or config.embedding.model
    server = make_server(library, config, eid, port=port)
    roots = [Path(r).expanduser() for r in config.library.roots]
    every = config.serve.scan_every_minutes
    scheduler = None
    if every > 0 and roots:
        models: list = []

        def scan_job() -> str:
            from ..pipeline.lock import scan_lock
            from ..pipeline.models import load_models
            from ..pipeline.scan import Scanner

            with scan_lock(database, wait=0.0):
                if not models:
                    models.extend(load_models(config, lambda m: click.echo(m, err=True)))
                detector, embedder = models
                sm = Scanner(library, config, detector, embedder).run(roots)
                grouping = group_library(library, config, embedder.id)
                if config.xmp.write == "sidecar":
                    from ..pipeline.xmp import sync_sidecars

                    grouping += " " + sync_sidecars(library, config).line()
                server.state.embedder = embedder.id
                server.state.filled = False
                return (
                    f"{sm.status}: {sm.seen} photos seen, {sm.new} new, {sm.changed} changed, "
                    f"{sm.missing} missing, {sm.failed} failed, {sm.faces} faces. {grouping}"
                )

        scheduler = Scheduler(
            scan_job,
            every * 60,
            first_delay_s=0 if config.serve.scan_on_start else None,
            state_file=state_path(database),
        ).start()
        server.scheduler = scheduler
    elif every > 0:
        click.echo(
            "No scheduled scans: set [library] roots in the configuration to scan on a schedule.",
            err=True,
        )
    if not roots and eid is None:
        raise UsageError('Nothing to serve yet: run "photogroup scan DIR" or set [library] roots.')
    click.echo(f"photogroup is serving {server.url}  (Ctrl-C to stop)")
    if scheduler is not None:
        click.echo(f"Scans every {every:g} min; next at {scheduler.state.next_run}.")
    try:
        server.serve_until_interrupted()
    finally:
        if scheduler is not None:
            scheduler.stop()
