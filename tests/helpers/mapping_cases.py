"""Malformed mappings as data: (id, YAML text, expected line, fragment of the one-line error)."""

from __future__ import annotations

VALID = """\
name: collections_tab
system: sheets
object: tab
direction: push
mode: mirror
warehouse:
  table: lending.collections
key: [loan_id]
options:
  spreadsheet_id: migo-collections
  sheet: Collections
fields:
  - column: loan_id
    remote: Loan ID
  - column: outstanding
    remote: Outstanding
    type: decimal
    scale: 2
"""


def replace(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


INVALID: list[tuple[str, str, int, str]] = [
    ("yaml-syntax", replace("key: [loan_id]", "key: [loan_id"), 9, "invalid YAML"),
    ("empty-file", "", 1, "the file is empty"),
    ("top-level-list", "- system: sheets\n", 1, "must be a YAML mapping"),
    ("missing-system", replace("system: sheets\n", ""), 1, "system: is required"),
    ("misspelt-key", replace("system: sheets", "sytem: sheets"), 2, "unknown key 'sytem' (did you mean 'system'?)"),
    ("bad-direction", replace("direction: push", "direction: psh"), 4, "direction: invalid value 'psh' (valid: push, pull)"),
    ("bad-mode", replace("mode: mirror", "mode: merge"), 5, "mode: invalid value 'merge'"),
    ("table-and-query", replace("  table: lending.collections", "  table: lending.collections\n  query: select 1"), 6,
     "warehouse: warehouse needs exactly one of: table, query"),
    ("no-table", replace("  table: lending.collections", "  tabel: lending.collections"), 7,
     "unknown key 'tabel' (did you mean 'table'?)"),
    ("bad-table-name", replace("table: lending.collections", "table: lending collections"), 7,
     "'lending collections' is not a table name"),
    ("empty-key", replace("key: [loan_id]", "key: []"), 8, "key: List should have at least 1 item"),
    ("key-not-identifier", replace("key: [loan_id]", "key: [loan id]"), 8, "'loan id' is not a column name"),
    ("no-fields", VALID[: VALID.index("fields:")] + "fields: []\n", 12, "fields: List should have at least 1 item"),
    ("fields-not-list", VALID[: VALID.index("fields:")] + "fields:\n  loan_id: Loan ID\n", 12, "fields: Input should be a valid list"),
    ("field-without-remote", replace("    remote: Loan ID\n", ""), 13, "fields[0].remote: is required"),
    ("field-column-and-constant", replace("    remote: Loan ID", "    remote: Loan ID\n    constant: X"), 13,
     "a field has a column or a constant, not both"),
    ("field-no-column", replace("  - column: loan_id\n    remote: Loan ID", "  - remote: Loan ID"), 13,
     "a field needs a column (or a constant)"),
    ("field-misspelt-column", replace("  - column: loan_id", "  - colum: loan_id"), 13,
     "unknown key 'colum' (did you mean 'column'?)"),
    ("bad-type", replace("type: decimal", "type: decimel"), 17, "fields[1].type: invalid value 'decimel'"),
    ("scale-not-decimal", replace("type: decimal", "type: number"), 15, "scale is only for type: decimal"),
    ("scale-negative", replace("scale: 2", "scale: -1"), 18, "fields[1].scale: Input should be greater than or equal to 0"),
    ("column-twice", replace("column: outstanding", "column: loan_id"), 15, "fields[1].column: column 'loan_id' is mapped twice"),
    ("remote-twice", replace("remote: Outstanding", "remote: Loan ID"), 16, "fields[1].remote: remote field 'Loan ID' is mapped twice"),
    ("transform-two-keys", replace("    scale: 2", "    scale: 2\n    transform:\n      - {sign: -1, round: 2}"), 20,
     "a transform has exactly one of"),
    ("transform-unknown", replace("    scale: 2", "    scale: 2\n    transform:\n      - negate: true"), 20,
     "unknown key 'negate'"),
    ("bad-sign", replace("    scale: 2", "    scale: 2\n    transform:\n      - sign: 2"), 20, "fields[1].transform[0].sign"),
    ("check-empty", replace("key: [loan_id]", "key: [loan_id]\nchecks:\n  - message: hi"), 10,
     "a check has exactly one of"),
    ("pull-with-query", replace("direction: push", "direction: pull").replace("table: lending.collections",
                                                                            "query: select 1"), 7,
     "warehouse.query: a pull writes into warehouse.table"),
    ("pull-key-not-field", replace("direction: push", "direction: pull").replace("key: [loan_id]", "key: [loan_ref]"), 8,
     "key[0]: key column 'loan_ref' is not among the fields' columns"),
    ("bad-name", replace("name: collections_tab", "name: Collections Tab"), 1, "is not a mapping name"),
    ("batch-size-zero", replace("key: [loan_id]", "key: [loan_id]\nbatch_size: 0"), 9,
     "batch_size: Input should be greater than or equal to 1"),
    ("key-not-list", replace("key: [loan_id]", "key: {loan_id: 1}"), 8, "key: Input should be a valid list"),
    ("options-not-mapping", replace("options:\n  spreadsheet_id: migo-collections\n  sheet: Collections",
                                    "options: collections"), 9, "options: Input should be a valid dictionary"),
    ("duplicate-yaml-key", replace("mode: mirror", "mode: mirror\nmode: upsert"), 6, "invalid YAML"),
    ("unknown-system", replace("system: sheets", "system: sheeets"), 2, "unknown system 'sheeets' (did you mean 'sheets'?)"),
    ("unknown-object", replace("object: tab", "object: tabs"), 3, "object: sheets has no object 'tabs' (did you mean 'tab'?)"),
    ("missing-option", replace("  spreadsheet_id: migo-collections\n", ""), 9, "options.spreadsheet_id: required"),
    ("mode-not-supported", replace("mode: mirror", "mode: insert"), 5, "mode: sheets tab does not support mode 'insert'"),
    ("unknown-dependency", replace("key: [loan_id]", "key: [loan_id]\ndepends_on: [fx_ratez]"), 9,
     "depends_on[0]: unknown mapping 'fx_ratez'"),
]
