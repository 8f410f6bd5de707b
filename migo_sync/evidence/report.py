"""`runs report`: one self-contained HTML page for a recorded run, rendered with jinja2.

Everything on the page comes from the run record (`Bookkeeping.get_run`), so the page, `runs
show` and run_results.json agree. No script, font, image or style is fetched: styles are inline,
charts are inline SVG, and a Content-Security-Policy forbids any network access, so the file
opens anywhere (attached to a ticket, mailed to a controller).
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
import jinja2.bccache

from migo_sync import textcache

TEMPLATE = "report.html.j2"
BAR_WIDTH = 360


def money(value: object) -> str:
    """An exact decimal string with thousands separators and its own places: '-1234.50' → '-1,234.50'."""
    text = str(value)
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return text
    if not number.is_finite():
        return text
    places = max(0, -int(number.as_tuple().exponent))
    return f"{number:,.{places}f}"


def count(value: object) -> str:
    return f"{int(value or 0):,}"  # type: ignore[call-overload]


def _bars(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per mapping: written and rejected rows as bar lengths (the chart), scaled to the largest."""
    mappings = run.get("mappings") or []
    top = max([int(m.get("rows_written") or 0) + int(m.get("rows_rejected") or 0) for m in mappings] + [1])
    return [{"name": m["name"], "written": int(m.get("rows_written") or 0),
             "rejected": int(m.get("rows_rejected") or 0),
             "w": round(BAR_WIDTH * int(m.get("rows_written") or 0) / top, 1),
             "r": round(BAR_WIDTH * int(m.get("rows_rejected") or 0) / top, 1)} for m in mappings]


def _difference_bars(rec: dict[str, Any]) -> list[dict[str, Any]]:
    diffs = [r for r in rec.get("rows") or [] if r.get("status") != "match"]
    values = [abs(Decimal(str(r["difference"]))) for r in diffs]
    top = max([*values, Decimal(1)])
    return [{"label": f"{r['period']} {r['account']}", "difference": money(r["difference"]),
             "len": round(float(BAR_WIDTH * v / top), 1)} for r, v in zip(diffs, values, strict=True)]


PALETTE = ("#3b82c4", "#d9822b", "#5a9e6f", "#8e6bb8")
NUMERIC = frozenset({"plan", "actual", "variance", "variance_pct", "warehouse", "ledger", "difference", "amount"})


def _section(section: dict[str, Any]) -> dict[str, Any]:
    """A stored report section with its chart's bars: one per series, scaled to the largest value."""
    series = list(section.get("series") or [])
    points = section.get("chart") or []
    values = [abs(Decimal(str(v))) for p in points for v in p.get("values") or [] if v is not None]
    top = max([*values, Decimal(1)])
    charted = [{"label": p["label"], "bars": [
        {"series": name, "value": value, "len": round(float(BAR_WIDTH * abs(Decimal(str(value))) / top), 1)}
        for name, value in zip(series, p.get("values") or [], strict=False) if value is not None]} for p in points]
    return {**section, "series": series, "points": charted, "rows": section.get("rows") or [],
            "columns": list(section.get("columns") or []), "note": section.get("note"),
            "numeric": NUMERIC & set(section.get("columns") or [])}


class _CompiledTemplates(jinja2.BytecodeCache):
    """jinja2's compiled template kept with the project's other cached results (migo_sync.textcache):
    compiling it took ~0.2 s of every fresh run. jinja2 checks the template's checksum and its own and
    Python's version before using what it reads; anything it cannot read is compiled again."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = textcache.load("jinja", bucket.key)
        if data is not None:
            try:
                bucket.bytecode_from_string(data)
            except (ValueError, EOFError, TypeError):
                bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        textcache.store("jinja", bucket.key, bucket.bytecode_to_string())


@functools.cache
def _template() -> jinja2.Template:
    """Compiled once per process (and kept for the next one): compiling takes longer than rendering."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("migo_sync.evidence", "."),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             bytecode_cache=_CompiledTemplates())
    env.filters["money"] = money
    env.filters["count"] = count
    return env.get_template(TEMPLATE)


def render_report(run: dict[str, Any]) -> str:
    """The HTML page for one run record (its report sections included: plan versus actual, …)."""
    totals = {k: sum(int(m.get(k) or 0) for m in run.get("mappings") or [])
              for k in ("rows_read", "rows_changed", "rows_written", "rows_rejected", "requests")}
    return _template().render(
        run=run, totals=totals, bars=_bars(run), bar_width=BAR_WIDTH, palette=PALETTE,
        reconciliation=[{**rec, "bars": _difference_bars(rec)} for rec in run.get("reconciliation") or []],
        sections=[_section(s) for s in run.get("sections") or []])
