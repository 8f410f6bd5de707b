"""Options shared by every command, and how a failure becomes output and an exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from migo_sync.config import Project
from migo_sync.console import Terminal
from migo_sync.errors import MappingError, MigoSyncError, UsageError

ProjectOpt = Annotated[Path, typer.Option("--project", "-p", help="Project folder (holds migo-sync.toml).",
                                          file_okay=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for cron/CI).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every request (never secrets).")]
SELECT_HELP = ("Mappings by name, glob (intacct_*), tag:NAME, system:NAME or direction:push|pull; a comma "
               "intersects (tag:nightly,system:intacct); a leading + adds what they depend on. Repeatable.")
SelectOpt = Annotated[list[str] | None, typer.Option("--select", "-s", help=SELECT_HELP, metavar="SELECTOR")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", "-x", metavar="SELECTOR",
                                                      help="Leave out the mappings a selector matches. Repeatable.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success; only errors.")]


def terminal(json_output: bool = False, verbose: bool = False, quiet: bool = False) -> Terminal:
    """The output channel for one command; `--quiet` with `--verbose` is a usage error (exit 2)."""
    if quiet and verbose:
        raise UsageError("--quiet and --verbose cannot be used together: choose one")
    return Terminal(json_output=json_output, verbose=verbose, quiet=quiet)


TargetOpt = Annotated[str | None, typer.Option("--target", "-t", metavar="NAME", help=(
    "Settings from [targets.NAME] in migo-sync.toml; 'sandbox' points every system at the local emulators. "
    "Default: MIGO_SYNC_TARGET, then default_target."))]


def load_project(path: Path, target: str | None = None) -> Project:
    return Project.load(path, target=target)


def fail(term: Terminal, exc: MigoSyncError) -> int:
    """Show an error (one line per problem) and return its exit code; JSON too with --json."""
    if term.json_output:
        doc: dict[str, Any] = {"ok": False, "error": str(exc), "exit_code": exc.exit_code}
        if isinstance(exc, MappingError):
            doc["problems"] = [p.as_dict() for p in exc.problems]
        term.json(doc)
    term.error(str(exc))
    return exc.exit_code
