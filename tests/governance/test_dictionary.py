"""The company dictionary: every check of `mapping validate` as FILE:LINE: path: message (hint), exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.projects import make_project

from migo_sync.cli import run_cli
from migo_sync.dictionary.bind import bind_mapping
from migo_sync.dictionary.loader import load_dictionary
from migo_sync.mapping.loader import parse_mapping_text

DICTIONARY = """\
terms:
  - name: loan_status
    definition: Where a customer's latest loan stands.
    kind: dimension
    type: string
    accepted_values: [current, late, default, repaid, written_off, no_loan]
    owner: Credit risk
    status: approved
    synonyms: [repayment status]
    systems:
      zendesk: {name: user_fields.loan_status, values: {written_off: Written off}}
  - name: outstanding_balance
    definition: Principal not yet repaid, in KES.
    kind: measure
    type: decimal
    scale: 2
    currency: KES
    range: {min: 0}
    aggregation: sum
    owner: Finance
    status: draft
  - name: customer
    definition: A person who has applied for a loan.
    owner: Growth
    status: approved
    synonyms: [client]
"""

PUSH = """\
name: users
system: zendesk
object: users
direction: push
warehouse:
  table: lending.customer_status
key: [customer_id]
fields:
  - {column: customer_id, remote: external_id, term: null}
  - {column: full_name, remote: name}
  - {column: loan_status, remote: user_fields.loan_status, term: loan_status}
"""


def project_with(tmp_path: Path, mappings: dict[str, str], dictionary: str = DICTIONARY) -> Path:
    project = make_project(tmp_path)
    (project / "dictionary").mkdir()
    (project / "dictionary" / "terms.yaml").write_text(dictionary, encoding="utf-8")
    for name, text in mappings.items():
        (project / "mappings" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return project


def validate(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = run_cli(["mapping", "validate", "--offline", "--project", str(project)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, [line for line in err.splitlines() if line.strip()]


BAD_MAPPINGS = [
    ("type disagrees", PUSH.replace("term: loan_status}", "term: loan_status, type: integer}"),
     "users.yaml:11: fields[2].type: type integer disagrees with term 'loan_status'", "drop type"),
    ("unknown term", PUSH.replace("term: loan_status", "term: loan_statu"),
     "users.yaml:11: fields[2].term: unknown term 'loan_statu'", "did you mean 'loan_status'?"),
    ("name in system", PUSH.replace("remote: user_fields.loan_status", "remote: user_fields.status"),
     "users.yaml:11: fields[2].remote: term 'loan_status' is called 'user_fields.loan_status' in zendesk", ""),
    ("value map off dictionary", PUSH.replace(
        "term: loan_status}", "term: loan_status, transform: [{value_map: {closed: Closed}}]}"),
     "users.yaml:11: fields[2].transform: value 'closed' is not an accepted value of term 'loan_status'",
     "accepted: "),
    ("value map disagrees", PUSH.replace(
        "term: loan_status}", "term: loan_status, transform: [{value_map: {written_off: WO}}]}"),
     "users.yaml:11: fields[2].transform: value map disagrees with term 'loan_status' for zendesk",
     "drop the value_map"),
    ("unbound name like a term", PUSH.replace("{column: full_name, remote: name}", "{column: client, remote: name}"),
     "users.yaml:10: fields[1]: field 'client' is named like dictionary term 'customer' but not bound to it",
     "did you mean term: customer? or term: null"),
    ("unbound synonym", PUSH.replace("{column: full_name, remote: name}",
                                     "{column: repayment_status, remote: name}"),
     "users.yaml:10: fields[1]: field 'repayment_status' is named like dictionary term 'loan_status'",
     "did you mean term: loan_status?"),
]


@pytest.mark.parametrize(("case", "text", "expected", "hint"), BAD_MAPPINGS, ids=[c[0] for c in BAD_MAPPINGS])
def test_a_field_that_disagrees_with_its_term_is_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, expected: str, hint: str) -> None:
    code, lines = validate(project_with(tmp_path, {"users": text}), capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    assert hint in lines[0]


def test_one_remote_field_under_two_terms_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = PUSH.replace("name: users", "name: users_again").replace("term: loan_status", "term: customer")
    code, lines = validate(project_with(tmp_path, {"users": PUSH, "users_again": other}), capsys)
    assert code == 2
    assert any("users_again.yaml:11: fields[2].term: zendesk users.user_fields.loan_status is written as term "
               "'loan_status' at users.yaml:11" in x or "is written as term 'loan_status'" in x
               for x in lines), lines


def test_one_term_with_two_value_maps_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_map = DICTIONARY.replace(", values: {written_off: Written off}", "")
    a = PUSH.replace("term: loan_status}", "term: loan_status, transform: [{value_map: {written_off: WO}}]}")
    b = PUSH.replace("name: users", "name: users_b").replace("object: users", "object: users").replace(
        "term: loan_status}", "term: loan_status, transform: [{value_map: {written_off: Written-off}}]}")
    code, lines = validate(project_with(tmp_path, {"a": a, "b": b}, no_map), capsys)
    assert code == 2
    assert any("b.yaml:11: fields[2].transform: term 'loan_status' has another value map for zendesk at "
               in x for x in lines), lines


def test_a_draft_term_may_not_feed_a_ledger_push(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journals = (Path(__file__).parents[2] / "mappings" / "intacct_journals_push.yaml").read_text()
    journals = journals.replace("remote: TRX_AMOUNT, type: decimal, scale: 2}",
                                "remote: TRX_AMOUNT, term: outstanding_balance}")
    code, lines = validate(project_with(tmp_path, {"journals": journals}), capsys)
    assert code == 2
    assert any("journals.yaml:" in x and "draft term 'outstanding_balance' may not feed a push into intacct GLBATCH"
               in x and "have Finance approve it" in x for x in lines), lines
    approved = DICTIONARY.replace("    owner: Finance\n    status: draft", "    owner: Finance\n    status: approved")
    (tmp_path / "dictionary" / "terms.yaml").write_text(approved)
    code, lines = validate(tmp_path, capsys)
    assert not any("draft term" in x for x in lines), lines


BAD_TERMS = [
    ("measure without aggregation", DICTIONARY.replace("    aggregation: sum\n", ""), "terms.yaml:12: terms[1]",
     "a measure needs an aggregation rule"),
    ("unknown key", DICTIONARY.replace("    owner: Growth", "    ownr: Growth"), "terms.yaml:24: terms[2]",
     "unknown key 'ownr' (did you mean 'owner'?)"),
    ("bad status", DICTIONARY.replace("status: approved\n    synonyms: [client]", "status: final\n    synonyms: [client]"),
     "terms.yaml:25: terms[2].status", "invalid value 'final'"),
    ("value off the list", DICTIONARY.replace("{written_off: Written off}", "{closed: Closed}"),
     "terms.yaml:11: terms[0].systems.zendesk.values", "'closed' is not an accepted value"),
    ("one synonym, two terms", DICTIONARY.replace("synonyms: [client]", "synonyms: [client, repayment status]"),
     "terms.yaml:26: terms[2].synonyms[1]", "synonym 'repayment status' already means term 'loan_status'"),
]


@pytest.mark.parametrize(("case", "text", "where", "fragment"), BAD_TERMS, ids=[c[0] for c in BAD_TERMS])
def test_a_bad_dictionary_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                                text: str, where: str, fragment: str) -> None:
    code, lines = validate(project_with(tmp_path, {"users": PUSH}, text), capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert where in lines[0] and fragment in lines[0], lines[0]


def test_a_bound_field_inherits_type_scale_value_map_and_accepted_values(tmp_path: Path) -> None:
    project = project_with(tmp_path, {})
    dictionary = load_dictionary(project / "dictionary")
    push = parse_mapping_text(PUSH.replace("{column: full_name, remote: name}",
                                           "{column: balance, remote: user_fields.balance, term: outstanding_balance}"),
                              Path("users.yaml")).mapping
    bound = bind_mapping(push, dictionary)
    balance = next(f for f in bound.fields if f.column == "balance")
    status = next(f for f in bound.fields if f.column == "loan_status")
    assert (balance.type.value, balance.scale) == ("decimal", 2)
    assert status.transform[0].value_map == {"written_off": "Written off"}
    assert any(c.accepted_values == {"loan_status": ["current", "late", "default", "repaid", "written_off", "no_loan"]}
               for c in bound.checks)
    assert any(c.expression == "balance IS NULL OR (balance >= 0)" for c in bound.checks)
    assert push.checks == [] and push.fields[2].transform == []  # the mapping as written is untouched
