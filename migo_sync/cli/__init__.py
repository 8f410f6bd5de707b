"""The `migo-sync` command line: thin typer commands over the library.

Exit codes: 0 all good; 1 finished but something was rejected or a mapping failed; 2 usage,
config or mapping error (nothing was sent); 3 a system or the warehouse could not be reached.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from migo_sync.cli import demo, docs, init, lineage, mapping, run, runs, sandbox
from migo_sync.console import Terminal
from migo_sync.errors import MigoSyncError

app = typer.Typer(
    name="migo-sync",
    help="Move data both ways between your warehouse (DuckDB, Snowflake) and finance SaaS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
run.register(app)
app.add_typer(mapping.app, name="mapping")
app.add_typer(runs.app, name="runs")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(docs.app, name="docs")
app.command("demo")(demo.demo_command)
app.command("init")(init.init_command)
app.command("lineage")(lineage.lineage_command)
try:
    from migo_sync.cli.reconcile import reconcile_command
except ImportError:  # pragma: no cover - arrives with the ledger adapters
    pass
else:
    app.command("reconcile", help="Compare warehouse totals with what a ledger holds.")(reconcile_command)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; `main` exits with it)."""
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False,
                     prog_name="migo-sync")
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        Terminal().error("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
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
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run_cli())
