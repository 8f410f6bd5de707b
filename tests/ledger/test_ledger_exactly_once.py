"""Renaming a ledger push mapping never posts a journal twice, end to end through the sandbox, for
every ledger (Intacct, Workday), with and without `name:` in the file."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers import sandboxed

from migo_sync.adapters.intacct.sandbox import credentials as intacct_credentials
from migo_sync.adapters.workday.sandbox import credentials as workday_credentials
from migo_sync.cli import run_cli
from migo_sync.config import Project
from migo_sync.engine.plan import LEDGER_DIFFERS
from migo_sync.engine.runner import RunOptions, run
from migo_sync.errors import MappingError
from migo_sync.sandbox.process import SandboxThread
from migo_sync.warehouse import open_warehouse

LEDGERS = {
    "intacct": (intacct_credentials, "referenceno", "intacct_journals_push"),
    "workday": (workday_credentials, "external_reference", "workday_journals_push"),
}


def posted(handle: SandboxThread, system: str) -> Counter[str]:
    """Journals the ledger holds, per warehouse journal id (Intacct REFERENCENO, Workday
    External_Reference_ID)."""
    field = LEDGERS[system][1]
    return Counter(j[field] for j in handle.dump(system)["journals"])


def project_for(system: str, sandbox: SandboxThread, tmp_path: Path, *, with_name: bool) -> tuple[Project, Path]:
    credentials, _, shipped = LEDGERS[system]
    env = sandboxed.sandbox_environ(sandbox, credentials(tmp_path))
    project = sandboxed.seeded_project(tmp_path / "project", system, env)
    push = project.mappings_dir / f"{shipped}.yaml"
    for other in project.mappings_dir.glob("*.yaml"):
        if other != push:
            other.unlink()  # the pulls depend on the push by name: only the push is renamed here
    if not with_name:
        push.write_text(re.sub(r"(?m)^name: .*\n", "", push.read_text()))
    return project, push


def pushes(project: Project) -> RunOptions:
    return RunOptions(direction="push")


@pytest.mark.parametrize("with_name", [True, False], ids=["with-name", "without-name"])
@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_renaming_a_journal_push_never_posts_again(system: str, with_name: bool, sandbox: SandboxThread,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, push = project_for(system, sandbox, tmp_path, with_name=with_name)
    first = run(project, pushes(project))
    assert first.results[0].status == "ok", first.results[0].error
    ids = sandboxed.journal_ids(project)
    assert posted(sandbox, system) == Counter(ids)
    renamed = push.with_name(f"gl_{push.name}")
    push.rename(renamed)  # git mv mappings/x.yaml mappings/gl_x.yaml
    old_feed = push.stem
    if not with_name:
        # The rename is recognised from the ledger's history: refused before anything is sent.
        with pytest.raises(MappingError) as refused:
            run(project, pushes(project))
        [problem] = refused.value.problems
        assert f"feed '{old_feed}'" in problem.message and f"already sent {len(ids)} of its units" in problem.message
        assert problem.hint == f"if this file is its rename, add `continues: {old_feed}`"
        assert posted(sandbox, system) == Counter(ids)
        # `mapping validate` says the same, one line naming file, line and the fix
        assert run_cli(["mapping", "validate", "--json", "--project", str(project.root)]) == 2
        [reported] = json.loads(capsys.readouterr().out)["problems"]
        assert reported["file"].endswith(renamed.name) and reported["hint"] == problem.hint
        renamed.write_text(renamed.read_text() + f"continues: {old_feed}\n")
        assert run_cli(["mapping", "validate", "--json", "--project", str(project.root)]) == 0
        capsys.readouterr()
    again = run(project, pushes(project))
    assert again.results[0].status == "ok" and again.results[0].rows_changed == 0, again.results[0].error
    assert posted(sandbox, system) == Counter(ids)
    # and the renamed feed goes on: a new journal is posted once, the old ones never again
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("INSERT INTO lending.journal_lines SELECT * REPLACE ('JNEW-' || journal_id AS journal_id) "
                          "FROM lending.journal_lines WHERE journal_id = ?", [ids[0]])
    finally:
        warehouse.close()
    later = run(project, pushes(project))
    assert later.results[0].status == "ok", later.results[0].error
    assert posted(sandbox, system) == Counter([*ids, f"JNEW-{ids[0]}"])


def killed_after_posting(project: Project, journal: str) -> None:
    """The ledger state a SIGKILL between posting and confirming leaves: the journal's rows are
    pending (intent recorded, never confirmed) while the ledger holds it."""
    warehouse = open_warehouse(project)
    try:
        warehouse.execute("UPDATE migo_sync.sent SET pending_hash = sent_hash, sent_hash = NULL, remote_id = NULL "
                          "WHERE unit_key = ?", [journal])
    finally:
        warehouse.close()


def ledger_rows(project: Project, journal: str) -> list[tuple[str | None, str | None, str | None]]:
    warehouse = open_warehouse(project)
    try:
        return [(r[0], r[1], r[2]) for r in warehouse.query(
            "SELECT sent_hash, pending_hash, remote_id FROM migo_sync.sent WHERE unit_key = ?", [journal])]
    finally:
        warehouse.close()


@pytest.mark.parametrize("after_kill", ["unchanged", "changed"])
@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_a_kill_between_posting_and_confirming_is_settled_by_what_the_ledger_holds(
        system: str, after_kill: str, sandbox: SandboxThread, tmp_path: Path) -> None:
    project, _push = project_for(system, sandbox, tmp_path, with_name=True)
    assert run(project, pushes(project)).results[0].status == "ok"
    ids = sandboxed.journal_ids(project)
    journal = ids[3]
    killed_after_posting(project, journal)
    if after_kill == "changed":  # still balanced, other amounts: the ledger keeps the old ones
        warehouse = open_warehouse(project)
        try:
            warehouse.execute("UPDATE lending.journal_lines SET amount = amount * 2 WHERE journal_id = ?", [journal])
        finally:
            warehouse.close()
    report = run(project, pushes(project))
    result = report.results[0]
    assert posted(sandbox, system) == Counter(ids)  # never posted twice
    rows = ledger_rows(project, journal)
    if after_kill == "unchanged":
        assert result.status == "ok" and result.rows_written == len(rows), result.error
        assert all(sent is not None and pending is None and remote for sent, pending, remote in rows)
    else:
        assert result.status == "rejected" and result.rows_rejected == len(rows)
        # never recorded as sent with these values: held by the ledger (its id kept) with others
        assert {(sent, pending) for sent, pending, _remote in rows} == {(LEDGER_DIFFERS, None)}
        assert all(remote for _sent, _pending, remote in rows)
        warehouse = open_warehouse(project)
        try:
            [reason] = {r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects")}
        finally:
            warehouse.close()
        assert reason.startswith(f"the ledger already holds journal {journal} (id ")
        assert reason.endswith("not posted again; post a reversing entry")
        quiet = run(project, pushes(project)).results[0]  # reported once: a rerun says nothing new
        assert (quiet.status, quiet.rows_rejected, quiet.rows_written) == ("ok", 0, 0), quiet.error
        warehouse = open_warehouse(project)
        try:  # the warehouse goes back to what the ledger holds: asked again, confirmed
            warehouse.execute("UPDATE lending.journal_lines SET amount = amount / 2 WHERE journal_id = ?", [journal])
        finally:
            warehouse.close()
        back = run(project, pushes(project)).results[0]
        assert (back.status, back.rows_rejected, back.rows_written) == ("ok", 0, len(rows)), back.error
        assert all(sent not in (None, LEDGER_DIFFERS) and pending is None and remote
                   for sent, pending, remote in ledger_rows(project, journal))
        assert posted(sandbox, system) == Counter(ids)


@pytest.mark.parametrize("system", sorted(LEDGERS))
def test_a_new_feed_posting_references_already_in_the_ledger_is_refused(
        system: str, sandbox: SandboxThread, tmp_path: Path) -> None:
    project, push = project_for(system, sandbox, tmp_path, with_name=True)
    assert run(project, pushes(project)).results[0].status == "ok"
    ids = sandboxed.journal_ids(project)
    # a second feed over the same journals, next to the first (so not a rename)
    text = re.sub(r"(?m)^name: .*\n", "name: second_feed\n", push.read_text())
    (push.parent / "second_feed.yaml").write_text(text)
    report = run(project, RunOptions(names=["second_feed"]))
    [result] = report.results
    assert result.status == "rejected" and result.rows_written == 0
    assert posted(sandbox, system) == Counter(ids)
    warehouse = open_warehouse(project)
    try:
        reasons = {r[0] for r in warehouse.query("SELECT reason FROM migo_sync.rejects WHERE mapping = 'second_feed'")}
    finally:
        warehouse.close()
    assert any(r.startswith(f"journal reference {ids[0]} is already in the ledger (id ") for r in reasons)
