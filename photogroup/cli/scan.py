"""photogroup scan [PATH ...]"""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import EXIT_OK, EXIT_PARTIAL, UsageError
from ..pipeline.lock import scan_lock
from ..pipeline.scan import ScanSummary, scan_library
from .context import AppContext
from .output import plural
from .paths import require_existing
from .progress import BarProgress


def _summary_lines(sm: ScanSummary) -> list[str]:
    lines = [
        f"{plural(sm.seen, 'photo')} seen in {sm.seconds:.1f} s: {sm.new} new, "
        f"{sm.changed} changed, {sm.moved} moved, {sm.unchanged} unchanged, {sm.missing} missing, "
        f"{sm.failed} failed.",
        f"{plural(sm.faces, 'face')} found, {sm.embedded} embedded.",
    ]
    for root in sm.missing_roots:
        lines.append(f"Not found (unmounted?), left as it was: {root}")
    for root in sm.kept_roots:
        lines.append(f"Empty, left as it was (use --prune if its photos are gone): {root}")
    shown = sm.errors[:10]
    for path, message in shown:
        lines.append(f"  failed: {path}: {message}")
    if len(sm.errors) > len(shown):
        lines.append(f"  ... and {len(sm.errors) - len(shown)} more (photogroup errors).")
    return lines


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--wait", is_flag=True, help="Wait for another running scan instead of exiting.")
@click.option(
    "--prune",
    is_flag=True,
    help="Also mark photos missing under roots that came back empty.",
)
@click.option(
    "--retry-errors",
    is_flag=True,
    help="Also read again the unchanged files that failed before (photogroup errors).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.pass_obj
def command(
    app: AppContext,
    paths: tuple[Path, ...],
    wait: bool,
    prune: bool,
    retry_errors: bool,
    progress: bool | None,
) -> int:
    """Index photos under PATHs (default: [library] roots): find, align and embed every face.

    Unchanged files are skipped (and so are unchanged files that failed, unless
    --retry-errors), moved files keep their faces, deleted files are marked
    missing. Exit codes: 0 done, 7 done but some files failed, 6 another
    scan is running, 3 a PATH does not exist.
    """
    require_existing(paths)  # a configured root that is missing is an unmounted disk
    config = app.config
    roots = list(paths) or [Path(r).expanduser() for r in config.library.roots]
    if not roots:
        raise UsageError(
            "No folder to scan. Give one (photogroup scan ~/Pictures) or set "
            "[library] roots in the configuration file."
        )
    bar = BarProgress(progress)
    database = app.database
    database.parent.mkdir(parents=True, exist_ok=True)
    wait_s = None if wait else config.scan.lock_wait_seconds
    with scan_lock(database, wait=wait_s):
        library = app.library(create=True)
        if library.backup is not None:
            bar.message(f"Upgraded the library; a backup of the old one is at {library.backup}")
        from ..pipeline.models import LazyModels

        models = LazyModels(config, bar.message)  # built only if a photo needs them
        result = scan_library(
            library, config, roots, models, bar, prune=prune, retry_errors=retry_errors
        )
    summary, xmp, written = result.summary, result.xmp, result.sidecars
    for line in _summary_lines(summary):
        click.echo(line, err=True)
    if xmp is not None and (xmp.regions or xmp.removed or xmp.problems):
        click.echo(xmp.line(), err=True)
    click.echo(result.grouping, err=True)
    if written is not None and (written.photos or written.problems):
        click.echo(written.line(), err=True)
    return EXIT_PARTIAL if summary.failed or summary.missing_roots else EXIT_OK
