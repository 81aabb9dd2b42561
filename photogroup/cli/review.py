"""photogroup review [--terminal | --json | --answer QID yes|no|skip [--name NAME]]"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from ..core.errors import UsageError
from ..pipeline.people import embedder_id
from .context import AppContext


def _embedder(app: AppContext) -> str:
    eid = embedder_id(app.library())
    if eid is None:
        raise UsageError('Nothing to review yet: run "photogroup scan DIR" first.')
    return eid


@click.command("review")
@click.option(
    "--terminal",
    is_flag=True,
    help="Ask in the terminal (contact sheets as images; keys y, n, s, u: undo, q).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the next question as JSON and exit.")
@click.option(
    "--answer",
    nargs=2,
    metavar="QID yes|no|skip|notface",
    help="Record the answer to question QID (from --json); notface: a false detection.",
)
@click.option("--name", help='With --answer who:N yes: the name that answers a "Who is this?".')
@click.option(
    "--face",
    "face_id",
    type=click.IntRange(min=1),
    help="With --answer QID notface: which of the question's faces is not a face.",
)
@click.option("--no-browser", is_flag=True, help="Serve the page, print its address only.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port of the page (default: [review] port, 0: any).",
)
@click.pass_obj
def command(
    app: AppContext,
    terminal: bool,
    as_json: bool,
    answer: tuple[str, str] | None,
    name: str | None,
    face_id: int | None,
    no_browser: bool,
    port: int | None,
) -> None:
    """Answer questions that make the grouping right: "Same person?", "Is this one
    person?", "Is this X?", "Who is this?". Every answer is kept, obeyed by later grouping and used to learn
    the distance thresholds. Without options: a page in your browser.

    \b
    Scripts: photogroup review --json            (next question, or null)
             photogroup review --answer QID yes  (or no, skip)
             photogroup review --answer who:N yes --name NAME  (who:N no: leave unnamed)
             photogroup review --answer QID notface [--face F]  (a false detection)
    """
    from ..pipeline import review

    library, config = app.library(), app.config
    eid = _embedder(app)
    if answer:
        qid, reply = answer
        result = review.answer(library, config, eid, qid, reply, name, face_id=face_id)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "message": result.message,
                        "thresholds": [t.as_json() for t in result.thresholds],
                    }
                )
            )
        else:
            click.echo(result.message)
        return
    if name:
        raise UsageError("--name goes with --answer QID yes.")
    if as_json:
        q = review.next_question(library, config, eid)
        click.echo(json.dumps(None if q is None else q.as_json(), ensure_ascii=False))
        return
    if terminal:
        _terminal(app, eid)
        return
    from ..web.server import make_server

    server = make_server(library, config, eid, port=port)
    click.echo(f"Review page: {server.url}  (Ctrl-C to stop)")
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    server.serve_until_interrupted()


def _show_inline(path: Path) -> None:
    """Show a PNG in terminals that can (iTerm2, WezTerm, kitty); else print nothing."""
    import base64

    term = os.environ.get("TERM_PROGRAM", "")
    data = base64.b64encode(path.read_bytes()).decode()
    if term in ("iTerm.app", "WezTerm"):
        sys.stdout.write(f"\033]1337;File=inline=1;size={path.stat().st_size}:{data}\a\n")
    elif os.environ.get("TERM") == "xterm-kitty":
        chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        for i, chunk in enumerate(chunks):
            more = 1 if i < len(chunks) - 1 else 0
            head = "a=T,f=100," if i == 0 else ""
            sys.stdout.write(f"\033_G{head}m={more};{chunk}\033\\")
        sys.stdout.write("\n")
    sys.stdout.flush()


def _terminal(app: AppContext, eid: str) -> None:
    """The contact sheets live in a temporary folder, removed however review ends."""
    with tempfile.TemporaryDirectory(prefix="photogroup-review-") as sheets:
        _ask_in_terminal(app, eid, Path(sheets))


def _ask_in_terminal(app: AppContext, eid: str, sheets: Path) -> None:
    from ..pipeline import crops, review

    library, config = app.library(), app.config
    asked = 0
    while True:
        q = review.next_question(library, config, eid)
        if q is None:
            click.echo("No questions left." if asked else "No questions to ask.")
            return
        asked += 1
        rows = [
            (
                side.label or "This face",
                [(f.photo, f.box) for f in side.faces],
            )
            for side in q.sides
        ]
        sheet = crops.contact_sheet(rows, sheets / f"{asked:04d}-{q.id.replace(':', '-')}.png")
        click.echo(f"\n{q.text}  [{q.id}]")
        for side in q.sides:
            if side.person_id is not None:
                click.echo(f"  {side.label}: {side.size} faces")
        click.echo(f"  faces: {sheet}")
        _show_inline(sheet)
        if q.kind == review.WHO:
            typed = click.prompt(
                "Name (empty: skip, u: undo the last answer, q: quit)",
                default="",
                show_default=False,
            )
            key = typed.strip().lower() if typed.strip().lower() in ("q", "u") else ""
            if key == "q":
                return
            if key != "u":
                result = (
                    review.answer(library, config, eid, q.id, "yes", typed.strip())
                    if typed.strip()
                    else review.answer(library, config, eid, q.id, "skip")
                )
        else:
            click.echo("  y(es) / n(o) / s(kip) / u(ndo) / q(uit)? ", nl=False)
            key = click.getchar().lower()
            click.echo(key)
            if key == "q":
                return
            if key not in ("y", "n", "s", "u"):
                click.echo("  (y, n, s, u or q)")
                continue
            if key != "u":
                result = review.answer(library, config, eid, q.id, key)
        if key == "u":
            _undo_last(app, eid)
            continue
        click.echo(f"  {result.message}")


def _undo_last(app: AppContext, eid: str) -> None:
    """The `u` key: take back the newest answer and say what it was."""
    from ..core.errors import PhotogroupError
    from ..pipeline import review

    try:
        click.echo(f"  {review.undo(app.library(), app.config, eid)}")
    except PhotogroupError as exc:  # "Nothing to undo.": the review goes on
        click.echo(f"  {exc}")
