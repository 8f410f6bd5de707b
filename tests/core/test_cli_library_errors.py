"""Library exceptions reach the user as one line with the documented exit code from every command,
not only inside the runner: the CLI's top-level handler uses the same mapping (migo_sync/boundary.py).
Real parts: a loopback server answering garbage XML or dropping the connection, a DuckDB file that is
not a database, a sandbox server file httpx cannot parse."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import sandboxed

from migo_sync.adapters.intacct.sandbox import credentials
from migo_sync.cli import run_cli
from migo_sync.config import Project

pytestmark = pytest.mark.timeout(120)


def _server(behaviour: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if behaviour == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = b"<response><control><status>succ"  # cut off mid-element
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(params=["garbage", "drop"])
def hostile(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[str, Project]]:
    server = _server(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**credentials(tmp_path), "MIGO_SYNC_NO_KEYRING": "1",
           "MIGO_SYNC_INTACCT_URL": f"http://127.0.0.1:{server.server_port}/ia/xml/xmlgw.phtml"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        yield request.param, sandboxed.seeded_project(tmp_path / "project", "intacct", env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def one_line(err: str) -> str:
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("command", [["reconcile", "intacct"], ["mapping", "validate", "--remote"]])
def test_a_hostile_remote_is_one_line(hostile: tuple[str, Project], command: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    behaviour, project = hostile
    capsys.readouterr()
    code = run_cli([*command, "--project", str(project.root)])
    line = one_line(capsys.readouterr().err)
    if behaviour == "garbage":  # a bad answer fails the work (1); it is not "unreachable"
        assert code == 1 and "intacct" in line and "malformed XML" in line
    else:
        assert code == 3 and "intacct" in line and "connection lost" in line


@pytest.mark.parametrize("command", [["reconcile", "intacct"], ["mapping", "validate"], ["runs", "list"]])
def test_a_file_that_is_not_a_database(tmp_path: Path, command: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    project = sandboxed.seeded_project(tmp_path / "project", "intacct", {"MIGO_SYNC_NO_KEYRING": "1"})
    (project.root / "warehouse.duckdb").write_bytes(b"not a database\n" * 1000)
    capsys.readouterr()
    code = run_cli([*command, "--project", str(project.root)])
    line = one_line(capsys.readouterr().err)
    assert code == 3 and str(project.root / "warehouse.duckdb") in line and "not a valid DuckDB" in line


def test_a_library_exception_outside_every_adapter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sandbox dump` asks the server named in server.json with httpx; a URL httpx cannot parse raises
    httpx.InvalidURL (not an httpx.HTTPError) straight to the top-level handler."""
    (tmp_path / "server.json").write_text(json.dumps({"url": "http://[::1"}))
    code = run_cli(["sandbox", "dump", "intacct", "--state-dir", str(tmp_path)])
    line = one_line(capsys.readouterr().err)
    assert code == 3 and "InvalidURL" in line and "Invalid port" in line
