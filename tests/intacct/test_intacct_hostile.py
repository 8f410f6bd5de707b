"""Hostile Intacct answers over loopback: the session id never goes to a port we did not configure."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from helpers.poison import push_poisoned
from intacct.intacct_support import make_project, posted, sandbox_environ

from migo_sync.adapters.intacct.adapter import IntacctAdapter
from migo_sync.adapters.intacct.emulator import IntacctEmulator
from migo_sync.errors import FatalRemoteError
from migo_sync.sandbox.process import SandboxThread


def test_a_session_endpoint_on_another_port_of_the_same_host_is_refused(
        adapter: IntacctAdapter, emulator: IntacctEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(4)
    trap.settimeout(0.2)
    port = trap.getsockname()[1]
    reached: list[bytes] = []

    def watch() -> None:
        try:
            conn, _ = trap.accept()
        except OSError:
            return
        trap.close()  # a retry finds the port closed: the test fails fast, not by timing out
        with conn:
            conn.settimeout(1)
            reached.append(conn.recv(65536))

    watcher = threading.Thread(target=watch)
    watcher.start()
    inner = emulator.handle
    monkeypatch.setattr(emulator, "handle",
                        lambda body, endpoint: inner(body, f"http://127.0.0.1:{port}/ia/xml/xmlgw.phtml"))
    try:
        with pytest.raises(FatalRemoteError, match=f"unexpected host or port: http://127.0.0.1:{port}/"):
            adapter.list_accounts()
    finally:
        watcher.join(5)
        trap.close()
    assert reached == []


def test_a_journal_intacct_cannot_carry_is_rejected_and_the_others_are_posted(
        intacct: SandboxThread, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", sandbox_environ(intacct, tmp_path))
    push_poisoned(project, "intacct_journals_push", "DESCRIPTION", lambda: posted(intacct))
