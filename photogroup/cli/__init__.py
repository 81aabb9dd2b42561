"""The command line: one module per command; errors become exit codes here, only here."""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from .. import __version__
from ..core.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, PhotogroupError
from ..db.errors import storage_error
from .context import AppContext

#: Every command, named after its module in this package (imported only when used,
#: so that `photogroup photos` does not pay for the scanner's imports).
COMMANDS = (
    "scan",
    "status",
    "errors",
    "cluster",
    "people",
    "photos",
    "name",
    "merge",
    "hide",
    "export",
    "review",
    "undo",
    "thresholds",
    "identify",
    "enroll",
    "compare",
    "draw",
    "check",
    "serve",
)


class LazyGroup(click.Group):
    """The command group: imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The command names, in the order --help lists them."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named `cmd_name` (its module imported now), None if there is none."""
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"{__name__}.{cmd_name}")
        command: click.Command = module.command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, but an unknown command is a UsageError suggesting close names."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, COMMANDS, n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise click.UsageError(
                f"No such command {name!r}.{hint} (photogroup --help lists them.)", ctx
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its whole first sentence (click cuts it at the width),
        read from its module's source: `photogroup --help` imports no command."""
        rows = [(name, _short_help(name)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short_help(name: str) -> str:
    """The first sentence of the docstring of `command` in the command's module."""
    spec = importlib.util.find_spec(f"{__name__}.{name}")
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "command":
            doc = ast.get_docstring(node) or ""
            return click.Command(name, help=doc).get_short_help_str(limit=1000)
    return ""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PHOTOGROUP_CONFIG",
    help="Configuration file (default: ~/.config/photogroup/config.toml).",
)
@click.option(
    "--library",
    "library_path",
    type=click.Path(dir_okay=False),
    envvar="PHOTOGROUP_LIBRARY",
    help="Library database (default: [library] database in the configuration).",
)
@click.version_option(__version__, prog_name="photogroup")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, library_path: str | None) -> None:
    """Group the faces in your photo library into people."""
    app = ctx.ensure_object(AppContext)  # main() passes one in, to name the library in errors
    app.config_path, app.library_path = config_path, library_path
    ctx.call_on_close(app.close)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: runs a command and maps every error to a message and an exit code."""
    app = AppContext()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, standalone_mode=False, obj=app
        )
    except PhotogroupError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except (KeyboardInterrupt, click.Abort):
        click.echo("Interrupted; everything finished so far is saved.", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # `photogroup export faces | head`
        return 0
    except OSError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_ERROR
    except Exception as exc:
        # SQLite failures of the library itself (disk full, read-only, locked, damaged),
        # raised by sqlite3 or wrapped by SQLAlchemy, wherever a command was writing.
        error = storage_error(exc, app.known_database())
        if error is None:
            raise
        click.echo(f"Error: {error}", err=True)
        return error.exit_code
    return result if isinstance(result, int) else 0


def run() -> None:
    """The console-script entry point: exits with main()'s exit code."""
    sys.exit(main())
