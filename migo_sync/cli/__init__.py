"""The `migo-sync` command line: thin typer commands over the library.

Exit codes: 0 all good; 1 finished but something was rejected or a mapping failed; 2 usage,
config or mapping error (nothing was sent); 3 a system or the warehouse could not be reached.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperOption

from migo_sync.boundary import library_error, origin
from migo_sync.cli import demo, docs, doctor, init, lineage, mapping, run, runs, sandbox
from migo_sync.console import Terminal
from migo_sync.errors import MigoSyncError

app = typer.Typer(
    name="migo-sync",
    help="Move data both ways between your warehouse (DuckDB, Snowflake) and finance SaaS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # help text is shown as written: `[targets.NAME]` keeps its brackets
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"migo-sync {version('migo-sync')}")
        except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
            from migo_sync import __version__

            typer.echo(f"migo-sync {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Move data both ways between your warehouse (DuckDB, Snowflake) and finance SaaS."""


SELECTOR_OPTIONS = {"tag": "tag", "tags": "tag", "system": "system", "systems": "system", "direction": "direction"}
METAVARS = {"INT": "N", "FLOAT": "NUMBER", "DIRECTORY": "DIR", "PATH": "PATH", "STR": "TEXT"}


def tidy_help(command: Any) -> Any:
    """Plain metavars in --help (`--port N`, `-p DIR`), never typer's `<bool>` or `<list[str]>`."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010 - the usage line names it
        elif isinstance(param, TyperOption) and param.metavar is None and not param.is_flag:
            described = param.type_descriptor
            kind = ("DIRECTORY" if described.path_type == "dir" else "PATH") if described.is_path else (
                param.bare_type().removeprefix("list[").rstrip("]").upper())
            param.metavar = METAVARS.get(kind, "VALUE")
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
    return command
run.register(app)
app.add_typer(mapping.app, name="mapping")
app.add_typer(runs.app, name="runs")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(docs.app, name="docs")
app.command("demo")(demo.demo_command)
app.command("init")(init.init_command)
app.command("lineage")(lineage.lineage_command)
app.command("doctor")(doctor.doctor_command)
try:
    from migo_sync.cli.reconcile import reconcile_command
except ImportError:  # pragma: no cover - arrives with the ledger adapters
    pass
else:
    app.command("reconcile", help="Compare warehouse totals with what a ledger holds.")(reconcile_command)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; `main` exits with it)."""
    try:
        command = tidy_help(typer.main.get_command(app))
        result = command.main(args=list(argv) if argv is not None else None, standalone_mode=False,
                              prog_name="migo-sync")
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        Terminal().error("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        selector = str(getattr(exc, "option_name", "") or "").lstrip("-")
        if type(exc).__name__ == "NoSuchOption" and selector in SELECTOR_OPTIONS:
            # click would offer the closest option by spelling (--direction → --project): name the real way
            Terminal().error(f"no such option --{selector}: select mappings with --select "
                             f"{SELECTOR_OPTIONS[selector]}:VALUE (see: migo-sync run --help)")
            return 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            Terminal().error(str(exc))
        return int(getattr(exc, "exit_code", 2) or 2)
    except MigoSyncError as exc:
        Terminal().error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        Terminal().error("interrupted")
        return 130
    except Exception as exc:  # a library's own exception outside the runner: the same mapping as inside
        mapped = library_error(origin(exc), exc)
        if mapped is None:
            raise  # a real bug: its traceback is what a report needs
        Terminal().error(str(mapped))
        return mapped.exit_code
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run_cli())
