"""photogroup enroll NAME PHOTO... [--face N]"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..core.errors import UsageError
from .context import AppContext
from .paths import require_existing
from .progress import BarProgress


@click.command("enroll")
@click.argument("name")
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--face",
    "face_number",
    type=click.IntRange(1),
    help="Which face of a group photo (1 = leftmost).",
)
@click.option("--wait", is_flag=True, help="Wait for a running scan instead of exiting.")
@click.option(
    "--force",
    is_flag=True,
    help="Enroll a reference face even when it is far from the person it extends.",
)
@click.pass_obj
def command(
    app: AppContext,
    name: str,
    photos: tuple[str, ...],
    face_number: int | None,
    wait: bool,
    force: bool,
) -> None:
    """Teach photogroup who NAME is from reference PHOTOs (one face each; --face N for
    a photo with several; asked when run in a terminal). The faces count as
    confirmed; unnamed people and waiting faces that match join NAME at once. NAME
    may be an existing name in any letter case ("mindy" extends Mindy). A face far
    from the person it extends is refused (probably someone else) unless --force.
    Reference photos outside the library's roots are not listed by `photos`."""
    require_existing(photos, "photo")
    from ..core.names import check_name
    from ..pipeline.identify import choose_face, enroll_faces, mark_references, reference_faces
    from ..pipeline.lock import scan_lock
    from ..pipeline.models import load_models
    from ..pipeline.scan import Scanner

    config = app.config
    name = check_name(name)  # before any model loads
    bar = BarProgress(None)
    database = app.database
    database.parent.mkdir(parents=True, exist_ok=True)
    with scan_lock(database, wait=None if wait else config.scan.lock_wait_seconds):
        library = app.library(create=True)
        detector, embedder = load_models(config, bar.message)
        paths = [str(Path(p).resolve()) for p in photos]
        # The scan's own code path indexes the reference photos (already indexed ones
        # are skipped unless they changed).
        summary = Scanner(library, config, detector, embedder).run([Path(p) for p in paths])
        mark_references(library, config, summary.run_id, paths)
        if summary.errors:
            raise UsageError("; ".join(f"{p}: {m}" for p, m in summary.errors))
        chosen = []
        for path, faces in reference_faces(library, paths).items():
            number = face_number
            if not faces:  # one unusable reference does not spoil the others
                click.echo(f"Skipped {path}: no face found in it.", err=True)
                continue
            if number is None and len(faces) > 1 and sys.stdin.isatty():
                click.echo(
                    f"{path} has {len(faces)} faces (1 = leftmost); photogroup draw shows them."
                )
                number = click.prompt("Which one", type=click.IntRange(1, len(faces)))
            chosen.append(choose_face(path, faces, number).id)
        if not chosen:
            raise UsageError(
                f"No face found in any of the {len(paths)} photo(s); choose photos where "
                f"{name}'s face is clear and large enough ([detection] min_face_size)."
            )
        result = enroll_faces(library, config, embedder.id, name, chosen, force=force)
    for far in result.far:
        click.echo(
            f"Warning: the face in {far.path} is at distance {far.distance:.2f} from "
            f"{result.name}'s other faces (assign threshold {far.threshold:.2f}); enrolled "
            "anyway (--force).",
            err=True,
        )
    verb = "Created" if result.created else "Extended"
    click.echo(
        f"{verb} {result.name} (person {result.person_id}) with {len(result.faces)} reference "
        f"face(s); {len(result.merged)} unnamed group(s) and {result.assigned} waiting face(s) "
        "joined."
    )
