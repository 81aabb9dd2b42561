"""photogroup serve [--port N]"""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path

import click

from ..core.errors import ScanLockedError, UsageError
from .context import AppContext
from .output import plural


@click.command("serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port (default: [review] port; 0 picks a free one).",
)
@click.pass_obj
def command(app: AppContext, port: int | None) -> None:
    """Run photogroup as a service: the web page (people, photos of X and Y, review
    questions) and its JSON API on 127.0.0.1, and scans of the [library] roots every
    [serve] scan_every_minutes in the same process, never two at once."""
    from ..pipeline.models import LazyModels
    from ..pipeline.people import embedder_id
    from ..pipeline.schedule import Scheduler, state_path
    from ..web import client
    from ..web.models import ModelAPI
    from ..web.server import make_server

    config = app.config
    database = app.database
    database.parent.mkdir(parents=True, exist_ok=True)
    library = app.library(create=True)
    # Built by the first scan that finds a new or changed photo, or by the first
    # identify, compare or draw sent here; then kept.
    models = LazyModels(config, lambda m: click.echo(m, err=True))
    # the vectors grouping reads: the newest scan's, or those the configured model writes
    eid = embedder_id(library) or models.embedder_id
    server = make_server(library, config, eid, port=port)
    server.model_api = ModelAPI(config, models)
    roots = [Path(r).expanduser() for r in config.library.roots]
    every = config.serve.scan_every_minutes
    scheduler = None
    if every > 0 and roots:

        def log(line: str) -> None:
            click.echo(f"{datetime.now():%Y-%m-%d %H:%M:%S} {line}", err=True)

        def scan_job() -> str:
            log(f"Scan of {', '.join(str(r) for r in roots)} started.")
            try:
                line = scan()
            except ScanLockedError:
                log("Scan skipped: another scan holds the library's lock.")
                raise
            except Exception as exc:
                log(f"Scan failed: {type(exc).__name__}: {exc}")
                raise
            log(f"Scan finished: {line}")
            return line

        def scan() -> str:
            from ..pipeline.lock import scan_lock
            from ..pipeline.scan import scan_library

            with scan_lock(database, wait=0.0):
                result = scan_library(library, config, roots, models)
                sm, grouping = result.summary, result.grouping
                if result.sidecars is not None:
                    grouping += " " + result.sidecars.line()
                server.state.embedder = models.embedder_id
                server.state.filled = False
                return (
                    f"{sm.status}: {plural(sm.seen, 'photo')} seen, {sm.new} new, {sm.changed} "
                    f"changed, {sm.missing} missing, {sm.failed} failed, "
                    f"{plural(sm.faces, 'face')}. {grouping}"
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

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (systemd, kill) ends the service as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    endpoint = client.publish(
        database, server.url, server.csrf, server.access_token, models.embedder_id
    )
    try:
        server.serve_until_interrupted()
    finally:
        endpoint.unlink(missing_ok=True)
        if scheduler is not None:
            scheduler.stop()
