"""`migo-sync sandbox serve|dump`: the local emulators of every system."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from migo_sync.cli.common import ProjectOpt, fail, terminal
from migo_sync.config import CONFIG_FILE, Project
from migo_sync.errors import ConfigError, MigoSyncError

app = typer.Typer(help="Run the local emulators (the sandbox) and inspect their state.", no_args_is_help=True, rich_markup_mode=None)
SERVER_FILE = "server.json"


def default_state_dir(project: Path) -> Path | None:
    if (project / CONFIG_FILE).exists():
        return Project.load(project).state_dir / "sandbox"
    return None


@app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 picks a free one).", min=0,
                                      max=65535)] = 8765,
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="Share of requests that fail: 429 with "
                                              "Retry-After, 500/503, dropped connections, slow answers.",
                                              min=0.0, max=1.0)] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the seeded data and the faults.")] = 0,
    retry_after: Annotated[int, typer.Option("--retry-after", help="Seconds in injected Retry-After headers.",
                                             min=0)] = 1,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where state persists (default: the "
                                                   "project's .migo-sync/sandbox).")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="An emulator knob, SYSTEM.KEY=VALUE "
                                                     "(VALUE is JSON or text), e.g. zendesk.incremental_limit=0. "
                                                     "Repeatable.")] = None,
    realistic: Annotated[bool, typer.Option("--realistic", help="Answer like a real tenant: each system's "
                                            "reported latency, calls in flight and per minute (override "
                                            "with --option SYSTEM.latency_ms=… etc.).")] = False,
    ready_file: Annotated[Path | None, typer.Option("--ready-file", hidden=True)] = None,
    project: ProjectOpt = Path("."),
) -> int:
    """Serve every system's emulator on 127.0.0.1 until interrupted; state is kept between runs."""
    from migo_sync.sandbox.server import bind, build_sandbox, parse_options, serve

    term = terminal()
    try:
        state = state_dir or default_state_dir(project)
        sandbox = build_sandbox(state_dir=state, fault_rate=fault_rate, seed=seed, retry_after=retry_after,
                                options=parse_options(option or []), realistic=realistic)
        try:
            sock = bind(port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    except MigoSyncError as exc:
        return fail(term, exc)
    host, bound = sock.getsockname()[:2]
    url = f"http://{host}:{bound}"
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
        server_file = state / SERVER_FILE
        server_file.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down, so clean up in the shutdown hook.
        sandbox.on_stop.append(lambda: server_file.unlink(missing_ok=True))
    if ready_file is None:
        from migo_sync.targets import sandbox_credentials

        term.info(f"sandbox listening on {url} (systems: {', '.join(sorted(sandbox.emulators))}; "
                  f"state: {state or 'in memory'}; fault rate {fault_rate})")
        term.info("in this project: migo-sync run --target sandbox; elsewhere, point migo-sync at it with:")
        keys = state or Path(tempfile.gettempdir()) / "migo-sync-sandbox"
        for key, value in {**sandbox.env(url), **sandbox_credentials(keys)}.items():
            typer.echo(f"export {key}={shlex.quote(value)}")
    serve(sandbox, sock, ready_file)
    return 0


@app.command("dump")
def dump_command(
    system: Annotated[str, typer.Argument(help="sheets, intacct, adaptive, zendesk or workday.")],
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Sandbox state folder.")] = None,
    project: ProjectOpt = Path("."),
) -> int:
    """Print an emulator's state as JSON: exactly what reached the "remote"."""
    term = terminal()
    try:
        data = dump_state(system, state_dir or default_state_dir(project))
    except MigoSyncError as exc:
        return fail(term, exc)
    typer.echo(json.dumps(data, indent=2, default=str))
    return 0


def dump_state(system: str, state: Path | None) -> dict[str, object]:
    """Ask a running sandbox; if none runs, rebuild the emulator from its saved state."""
    import httpx

    from migo_sync.registry import get_system, load_object

    spec = get_system(system)
    if spec.emulator is None:
        raise ConfigError(f"{system} has no emulator")
    if state is not None and (state / SERVER_FILE).exists():
        info = json.loads((state / SERVER_FILE).read_text())
        try:
            response = httpx.get(f"{info['url']}/_sandbox/dump/{system}", timeout=30)
            response.raise_for_status()
            result: dict[str, object] = response.json()
            return result
        except httpx.HTTPError:
            pass  # a stale server file: fall back to the saved state
    emulator = load_object(spec.emulator)(seed=0)
    if state is not None and (state / f"{system}.json").exists():
        emulator.load(json.loads((state / f"{system}.json").read_text(encoding="utf-8")))
    elif state is None:
        raise ConfigError("no sandbox state here: pass --project DIR (a project the demo or sandbox ran in) "
                          "or --state-dir")
    dumped: dict[str, object] = emulator.dump()
    return dumped
