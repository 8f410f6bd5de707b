"""Hostile rows and answers for Workday: one bad journal never holds back the good ones."""

from __future__ import annotations

from pathlib import Path

from helpers.poison import push_poisoned
from workday.workday_support import make_project, posted, sandbox_environ

from migo_sync.sandbox.process import SandboxThread


def test_a_journal_workday_cannot_carry_is_rejected_and_the_others_are_posted(
        workday: SandboxThread, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", sandbox_environ(workday, tmp_path))
    push_poisoned(project, "workday_journals_push", "Memo", lambda: posted(workday))
