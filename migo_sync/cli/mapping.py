"""`migo-sync mapping validate|diff|schema`: what reviewers run on every mapping change."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migo_sync.cli.common import (
    ExcludeOpt,
    JsonOpt,
    ProjectOpt,
    SelectOpt,
    TargetOpt,
    VerboseOpt,
    fail,
    load_project,
    terminal,
)
from migo_sync.errors import ConfigError, MappingError, MigoSyncError, Problem, UsageError
from migo_sync.mapping.loader import (
    LoadedMapping,
    collect_mappings,
    load_mappings,
    mapping_files,
    parse_mapping_text,
)

if TYPE_CHECKING:
    from migo_sync.config import Project
    from migo_sync.console import Terminal
    from migo_sync.mapping.diff import Change
    from migo_sync.systems import AdapterPool
    from migo_sync.warehouse.base import Warehouse

app = typer.Typer(help="Validate, diff and describe mapping files.", no_args_is_help=True, rich_markup_mode=None)

RemoteOpt = Annotated[bool, typer.Option("--remote", help="Also check against the live remote schema.")]


@app.command("validate")
def validate_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Mapping files or folders (default: the project's).",
                                                       metavar="PATH")] = None,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    remote: RemoteOpt = False,
    offline: Annotated[bool, typer.Option("--offline", help="Skip the warehouse checks.")] = False,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Check mappings: YAML and model, the system catalog, the warehouse, and with --remote the live remote.
    Every problem of every file and level is reported at once as FILE:LINE: path: message (hint).
    A disabled mapping's table is not looked for unless the mapping is named."""
    from migo_sync.governance import govern, view_catalog
    from migo_sync.mapping.validate import validate_all
    from migo_sync.selection import select as choose
    from migo_sync.systems import AdapterPool

    term = terminal(json_output, verbose)
    try:
        if remote and offline:
            raise UsageError("--remote and --offline cannot be used together: choose one")
        proj = load_project(project, target)
        loaded, problems = collect_mappings(paths or [proj.mappings_dir])
        chosen = choose(loaded, select or [], exclude or []) if select or exclude else None
        items = chosen.mappings if chosen else loaded
        named = chosen.names if chosen else []
        if chosen:
            files = {m.display for m in items}
            problems = [p for p in problems if p.file in files or p.file not in {m.display for m in loaded}]
        pool = AdapterPool(proj)
        try:
            everything = loaded
            if paths:  # the project's other mappings still decide zones (a Sheets pull makes a DMZ)
                with contextlib.suppress(MappingError):
                    everything = load_mappings([proj.mappings_dir])
            warehouse = None
            if not offline:
                from migo_sync.warehouse import open_warehouse

                warehouse = open_warehouse(proj)
            try:
                catalog = view_catalog(warehouse) if warehouse is not None else None
                items, gov, governed = govern(proj, everything, items, pool, catalog)
                problems = [*problems, *governed]
                notes = [*gov.graph.notes, *(f"view {v} cannot be traced ({why}): it counts as DMZ"
                                             for v, why in sorted(gov.graph.unresolved.items()))]
                problems = validate_all(items, pool, warehouse, remote=remote, problems=problems,
                                        check_disabled=named)
                if not problems and warehouse is not None:
                    problems = _renames(proj, items, warehouse, pool, bool(paths))
            finally:
                if warehouse is not None:
                    warehouse.close()
        finally:
            pool.close()
        if problems:
            raise MappingError(problems)
    except MigoSyncError as exc:
        return fail(term, exc)
    names = [m.mapping.name for m in items]
    off = [m.mapping.name for m in items if not m.mapping.enabled and m.mapping.name not in named]
    if json_output:
        term.json({"ok": True, "mappings": names, "disabled": off, "problems": [], "notes": notes})
    else:
        term.success(f"{len(items)} mapping(s) valid: " + ", ".join(names))
        for note in notes:
            term.info(note)
        if off and not offline:
            term.info(f"disabled, so their warehouse tables were not checked: {', '.join(off)} "
                      "(name one to check it: migo-sync mapping validate -s NAME)")
    return 0


def _renames(proj: Project, loaded: list[LoadedMapping], warehouse: Warehouse, pool: AdapterPool,
             some: bool) -> list[Problem]:
    """Pushes that look like a renamed feed (from the ledger's history), as problems. With `some`
    files named, the project's other mappings still count as pushing their feeds."""
    from migo_sync.engine.feeds import rename_problems
    from migo_sync.engine.runner import project_feeds, unit_of

    everything = [*loaded, *load_mappings([proj.mappings_dir])] if some else loaded
    return rename_problems(warehouse, loaded, project_feeds(everything), lambda item: unit_of(pool, item))


@app.command("diff")
def diff_command(
    base: Annotated[str, typer.Option("--base", help="Git revision to compare the working tree with.")] = "HEAD",
    remote: RemoteOpt = False,
    all_fields: Annotated[bool, typer.Option("--all", help="With --remote: also the drift of remote fields no "
                                             "mapping maps (new or changed fields nobody uses).")] = False,
    project: ProjectOpt = Path("."),
    target: TargetOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Show field by field what changed in the mappings since a git revision; with --remote,
    the drift between each mapping's fields and the live remote schema (--all: every field)."""
    from migo_sync.mapping.diff import diff_mappings, drift, mapped_drift

    term = terminal(json_output, verbose)
    try:
        proj = load_project(project, target)
        current = load_mappings([proj.mappings_dir])
        before = _mappings_at(base, proj.mappings_dir)
        changes: list[Change] = diff_mappings([m.mapping for m in before], [m.mapping for m in current])
        hidden = 0  # drift of unmapped remote fields, shown with --all
        if remote:
            from migo_sync.systems import AdapterPool

            pool = AdapterPool(proj)
            try:
                for item in current:
                    adapter = pool(item.mapping.system)
                    expected = next((o for o in adapter.catalog() if o.name == item.mapping.object), None)
                    if expected is not None:
                        found = drift(item.mapping, expected, adapter.describe(item.mapping))
                        shown = found if all_fields else mapped_drift(item.mapping, found)
                        hidden += len(found) - len(shown)
                        changes.extend(shown)
            finally:
                pool.close()
    except MigoSyncError as exc:
        return fail(term, exc)
    if json_output:
        if hidden:
            term.info(f"{hidden} change(s) of remote fields no mapping uses are not shown (--all shows them)")
        term.json({"base": base, "changes": [c.as_dict() for c in changes], "unmapped_drift_hidden": hidden})
    else:
        show_changes(term, base, changes, hidden, remote)
    return 0


def show_changes(term: Terminal, base: str, changes: list[Change], hidden: int, remote: bool) -> None:
    """The field-by-field changes (and remote drift) as a table; how many unmapped drifts were hidden."""
    if hidden:
        term.info(f"{hidden} change(s) of remote fields no mapping uses are not shown (--all shows them)")
    if not changes:
        term.success(f"no mapping changes since {base}" + (" and no remote drift" if remote else ""))
    else:
        term.table(f"Mapping changes since {base}", ["mapping", "change", "path", "before", "after"],
                   [(c.mapping, c.kind, c.path, _show(c.before), _show(c.after)) for c in changes])


def _show(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _mappings_at(rev: str, folder: Path) -> list[LoadedMapping]:
    """Load the mappings as they were at a git revision (files that fail to parse are reported)."""
    cwd = folder if folder.exists() else folder.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
        except FileNotFoundError as exc:
            raise ConfigError("mapping diff needs git on PATH") from exc
        except subprocess.CalledProcessError as exc:
            raise ConfigError(f"git {' '.join(args)}: {exc.stderr.strip() or exc}") from exc
        return done.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    rel = folder.resolve().relative_to(top.resolve())
    cwd = top
    git("rev-parse", "--verify", f"{rev}^{{commit}}")
    names = [n for n in git("ls-tree", "-r", "--name-only", rev, "--", str(rel)).splitlines()
             if n.endswith((".yaml", ".yml"))]
    loaded: list[LoadedMapping] = []
    problems: list[Problem] = []
    for name in names:
        text = git("show", f"{rev}:{name}")
        try:
            loaded.append(parse_mapping_text(text, top / name, display=f"{rev}:{name}"))
        except MappingError as exc:
            problems.extend(exc.problems)
    if problems:
        raise MappingError(problems)
    return loaded


@app.command("schema")
def schema_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")] = None,
) -> int:
    """Print the JSON Schema of mapping files (for editors' completion and linting)."""
    from migo_sync.mapping.model import Mapping

    schema = Mapping.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "migo-sync mapping"
    schema.get("properties", {}).pop("source_file", None)
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]  # defaults to the file name
    text = json.dumps(schema, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        typer.echo(text)
    return 0


__all__ = ["app", "mapping_files"]
