"""The emulator's instance metadata: versions, accounts, levels, dimensions and sheets.

Loaded from `seed.yaml` (or the file named by the emulator option `seed_file`) and rendered as
the nested XML trees that exportVersions / exportAccounts / exportLevels / exportDimensions /
exportSheets answer with. Only the emulator uses this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from migo_sync.adapters.adaptive import periods
from migo_sync.adapters.adaptive.xml import element

SEED_FILE = Path(__file__).with_name("seed.yaml")


@dataclass
class Account:
    id: int
    code: str
    name: str
    type: str
    parent: str | None
    balance: str | None = None
    sheet: int | None = None
    display: str = "CURRENCY"
    children: list[str] = field(default_factory=list)

    @property
    def is_rollup(self) -> bool:
        return bool(self.children)


@dataclass
class Level:
    id: int
    name: str
    short: str
    parent: str | None
    currency: str
    children: list[str] = field(default_factory=list)

    @property
    def is_rollup(self) -> bool:
        return bool(self.children)


@dataclass
class Version:
    id: int
    name: str
    type: str  # ACTUALS, PLANNING or VERSION_FOLDER
    parent: str | None
    start: int | None = None
    end: int | None = None
    locked: bool = False
    default: bool = False
    description: str = ""
    completed_through: int | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class Dimension:
    id: int
    name: str
    seq: int
    auto_create: bool
    values: dict[str, tuple[int, str]]  # name -> (id, description)


@dataclass
class Sheet:
    id: int
    name: str
    type: str
    dimensions: list[str]


@dataclass
class Instance:
    """Everything exportVersions/Accounts/Levels/Dimensions/Sheets know, in tree order."""

    code: str
    name: str
    currency: str
    versions: dict[str, Version] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    levels: dict[str, Level] = field(default_factory=dict)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    sheets: dict[str, Sheet] = field(default_factory=dict)
    values: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 10_000

    def descendants(self, tree: Mapping[str, Any], name: str) -> list[str]:
        """`name` and every node below it, in tree order."""
        out = [name]
        for child in tree[name].children:
            out.extend(self.descendants(tree, child))
        return out

    def ancestors(self, tree: Mapping[str, Any], name: str) -> list[str]:
        out = []
        parent = tree[name].parent
        while parent is not None:
            out.append(parent)
            parent = tree[parent].parent
        return out

    def add_dimension_value(self, dimension: str, value: str) -> None:
        self.next_id += 1
        self.dimensions[dimension].values[value] = (self.next_id, "")


def load_instance(path: Path | None = None) -> Instance:
    data: dict[str, Any] = YAML(typ="safe").load((path or SEED_FILE).read_text(encoding="utf-8"))
    head = data["instance"]
    inst = Instance(code=str(head["code"]), name=str(head["name"]), currency=str(head.get("currency", "USD")))
    for node in data.get("versions") or []:
        _add_version(inst, node, None)
    for node in data.get("accounts") or []:
        _add_account(inst, node, None)
    for node in data.get("levels") or []:
        _add_level(inst, node, None)
    for seq, dim in enumerate(data.get("dimensions") or [], start=1):
        values = {str(v["name"]): (int(v["id"]), str(v.get("description", ""))) for v in dim.get("values") or []}
        inst.dimensions[str(dim["name"])] = Dimension(int(dim["id"]), str(dim["name"]), seq,
                                                      bool(dim.get("auto_create", False)), values)
    for sheet in data.get("sheets") or []:
        inst.sheets[str(sheet["name"])] = Sheet(int(sheet["id"]), str(sheet["name"]), str(sheet.get("type", "cube")),
                                                [str(d) for d in sheet.get("dimensions") or []])
    inst.values = list(data.get("values") or [])
    return inst


def _period(value: Any) -> int | None:
    return periods.parse(str(value)) if value is not None else None


def _add_version(inst: Instance, node: dict[str, Any], parent: str | None) -> None:
    name = str(node["name"])
    inst.versions[name] = Version(
        id=int(node["id"]), name=name, type=str(node.get("type", "PLANNING")), parent=parent,
        start=_period(node.get("start")), end=_period(node.get("end")), locked=bool(node.get("locked", False)),
        default=bool(node.get("default", False)), description=str(node.get("description", "")),
        completed_through=_period(node.get("completed_through")))
    if parent is not None:
        inst.versions[parent].children.append(name)
    for child in node.get("children") or []:
        _add_version(inst, child, name)


def _add_account(inst: Instance, node: dict[str, Any], parent: str | None) -> None:
    code = str(node["code"])
    sheet = node.get("sheet")
    inst.accounts[code] = Account(
        id=int(node["id"]), code=code, name=str(node["name"]), type=str(node.get("type", "")), parent=parent,
        balance=node.get("balance"), sheet=int(sheet) if sheet is not None else None,
        display=str(node.get("display", "CURRENCY")))
    if parent is not None:
        inst.accounts[parent].children.append(code)
    for child in node.get("children") or []:
        _add_account(inst, child, code)


def _add_level(inst: Instance, node: dict[str, Any], parent: str | None) -> None:
    name = str(node["name"])
    inst.levels[name] = Level(id=int(node["id"]), name=name, short=str(node.get("short", "")), parent=parent,
                              currency=str(node.get("currency", inst.currency)))
    if parent is not None:
        inst.levels[parent].children.append(name)
    for child in node.get("children") or []:
        _add_level(inst, child, name)


# --- rendering: the nested trees the export* methods answer with --------------------------------

def render_versions(inst: Instance) -> Any:
    root = element("versions")
    for version in inst.versions.values():
        if version.parent is None:
            root.append(_version_element(inst, version))
    return root


def flag(value: bool) -> str:
    """Account, level and version flags as the real API writes them: 1/0 (isLocked stays true/false)."""
    return "1" if value else "0"


def _version_element(inst: Instance, v: Version) -> Any:
    wire = periods.to_wire
    node = element("version", {
        "id": v.id, "name": v.name, "shortName": "", "type": v.type, "isVirtual": False,
        "description": v.description, "isDefaultVersion": v.default, "isLocked": v.locked,
        "hasAuditTrail": False, "enabledForWorkflow": False,
        "isImportable": flag(v.type != "VERSION_FOLDER" and not v.locked),
        "startVer": wire(v.start) if v.start is not None else None,
        "startPlan": wire(v.completed_through + 1) if v.completed_through is not None else (
            wire(v.start) if v.start is not None else None),
        "endVer": wire(v.end) if v.end is not None else None,
        "completedValuesThru": wire(v.completed_through) if v.completed_through is not None else None,
    })
    for child in v.children:
        node.append(_version_element(inst, inst.versions[child]))
    return node


def render_accounts(inst: Instance, version: Version | None) -> Any:
    root = element("accounts")
    for account in inst.accounts.values():
        if account.parent is None:
            root.append(_account_element(inst, account, version))
    return root


def _account_element(inst: Instance, a: Account, version: Version | None) -> Any:
    leaf = not a.is_rollup
    node = element("account", {
        "id": a.id, "code": a.code, "name": a.name, "description": "", "timeStratum": "month",
        "displayAs": a.display, "accountTypeCode": a.type, "decimalPrecision": 2, "isAssumption": "0",
        "suppressZeroes": "1", "isDefaultRoot": flag(a.parent is None), "shortName": "", "isIntercompany": "0",
        "balanceType": a.balance, "isLinked": "0", "owningSheetId": a.sheet, "isSystem": "0",
        "isImportable": flag(leaf and not version.locked) if version is not None else None,
        "dataEntryType": "STANDARD", "planBy": "DELTA", "actualsBy": "DELTA",
        "timeRollup": "LAST" if a.type in ("ASSET", "LIABILITY", "EQUITY") else "SUM",
        "levelDimRollup": "SUM", "dataPrivacy": "PRIVATE", "enableActuals": "1", "isGroup": flag(a.is_rollup),
        "hasFormula": "0",
    })
    for child in a.children:
        node.append(_account_element(inst, inst.accounts[child], version))
    return node


def render_levels(inst: Instance, version: Version | None) -> Any:
    root = element("levels", {"seqNo": 1})
    for level in inst.levels.values():
        if level.parent is None:
            root.append(_level_element(inst, level, version))
    return root


def _level_element(inst: Instance, lv: Level, version: Version | None) -> Any:
    node = element("level", {
        "id": lv.id, "name": lv.name, "currency": lv.currency, "shortName": lv.short, "isElimination": "0",
        "isLinked": "0", "workflowStatus": "I",
        "isImportable": flag(not lv.is_rollup and not version.locked) if version is not None else None,
        "hasChildren": lv.is_rollup,
    })
    for child in lv.children:
        node.append(_level_element(inst, inst.levels[child], version))
    return node


def render_dimensions(inst: Instance, with_values: bool = True) -> Any:
    root = element("dimensions")
    for dim in inst.dimensions.values():
        node = element("dimension", {"id": dim.id, "name": dim.name, "shortName": "", "autoCreate": dim.auto_create,
                                     "listDimension": False, "keepSorted": False, "useOnLevels": False,
                                     "seqNo": dim.seq})
        if with_values:
            for name, (value_id, description) in dim.values.items():
                node.append(element("dimensionValue", {"id": value_id, "name": name, "description": description,
                                                       "shortName": ""}))
        root.append(node)
    return root


def render_sheets(inst: Instance) -> Any:
    root = element("sheets")
    for sheet in inst.sheets.values():
        node = element("sheet", {"id": sheet.id, "name": sheet.name, "type": sheet.type.upper()})
        for dim in sheet.dimensions:
            node.append(element("dimension", {"name": dim}))
        root.append(node)
    return root
