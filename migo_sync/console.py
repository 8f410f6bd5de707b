"""One output channel: every message, table and JSON document goes through `Terminal`.

Results go to stdout (tables, or one JSON document with --json); messages go to stderr. Every
string is redacted before it is shown and printed verbatim: user, remote and library text is
never read as Rich markup (`fields[phone]`, `migo-sync[snowflake]` keep their brackets).
Tables never cut a value: on a terminal too narrow for a table (or under 80 columns) it is
printed as one block of `column  value` lines per row; into a pipe it is as wide as it needs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from migo_sync.redact import redact

KEY_SEPARATOR = "\x1f"  # joins the parts of a composite row key (see migo_sync.warehouse)
NARROW = 80  # below this many columns a table is printed vertically
ROOM, INDENT = 40, 6  # a hanging text with less room than ROOM goes on the next lines, indented


def readable_key(key: str) -> str:
    """A row key as a person reads it: `JE-0001 / 1` for the composite key ('JE-0001', 1)."""
    return key.replace(KEY_SEPARATOR, " / ")


def plain(value: Any) -> Text:
    """A value as literal text: redacted, composite keys readable, never interpreted as markup."""
    return Text(readable_key(redact("" if value is None else str(value))))


def _styled(prefix: str, style: str, message: str) -> Text:
    return Text.assemble((prefix, style), " ", plain(message))

SQL_SHOWN = 100


def _short_sql(record: logging.LogRecord) -> bool:
    """-v shows the head of each SQL statement (the run's log file keeps it whole)."""
    message = record.getMessage()
    if message.startswith("sql: ") and len(message) > SQL_SHOWN:
        record.msg, record.args = message[:SQL_SHOWN] + " …", ()
    return True


class Terminal:
    def __init__(self, *, json_output: bool = False, quiet: bool = False, verbose: bool = False) -> None:
        self.json_output = json_output
        self.quiet = quiet
        self.verbose = verbose
        self.out = Console(soft_wrap=False, markup=False, highlight=False, emoji=False)
        self.err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False, emoji=False)
        for console in (self.out, self.err):
            if not console.is_terminal:  # a log file or a pipe: don't squeeze tables into 80 columns
                console.width = max(console.width, 160)
        self._configure_logging()

    def _configure_logging(self) -> None:
        from migo_sync.redact import RedactingFilter

        logger = logging.getLogger("migo_sync")
        logger.handlers.clear()
        logger.propagate = False
        if self.verbose:
            # Plain short lines (time, level letter, message): readable at 80 columns, no table.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", "%H:%M:%S"))
            handler.addFilter(RedactingFilter())
            handler.addFilter(_short_sql)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
        else:
            logger.setLevel(logging.WARNING)

    def error(self, message: str) -> None:
        for line in message.splitlines() or [""]:
            self.err.print(_styled("error:", "bold red", line))

    def warn(self, message: str) -> None:
        """Something wrong but not fatal (a reconciliation difference): shown even with --quiet."""
        if not self.json_output or self.verbose:
            self.err.print(_styled("warning:", "yellow", message))

    def info(self, message: str) -> None:
        if not self.quiet and not self.json_output:
            self.err.print(plain(message))

    def success(self, message: str) -> None:
        if not self.quiet and not self.json_output:
            self.err.print(_styled("✓", "green", message))

    def line(self, text: str, head: str = "") -> None:
        """One result line on stdout (nothing with --json or --quiet), folded, never cut; on a
        terminal, `text` wraps under itself after `head` (a hanging indent)."""
        if self.quiet or self.json_output:
            return
        if not self.out.is_terminal:
            self.out.print(plain(head + text), overflow="fold", soft_wrap=True)
        else:
            self._hanging(plain(head), plain(text))

    def _hanging(self, head: Text, text: Text) -> None:
        """`head` then `text`, whose lines wrap under its own start; words longer than the room
        left are folded, never cut; no trailing spaces."""
        room = self.out.width - head.cell_len
        if room < ROOM and text.cell_len > room:  # too little room beside the head: the text goes under it
            alone = head.copy()
            alone.rstrip()
            self.out.print(alone, crop=False)
            head = Text(" " * INDENT)
            room = self.out.width - INDENT
        lines = text.wrap(self.out, max(room, 10), overflow="fold") or [Text()]
        for number, piece in enumerate(lines):
            line = Text.assemble(head if number == 0 else Text(" " * head.cell_len), piece)
            line.rstrip()
            self.out.print(line, overflow="fold", crop=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(redact(json.dumps(data, indent=2, default=str)) + "\n")
        sys.stdout.flush()

    def json_line(self, data: Any) -> None:
        """One compact JSON document per line (watch mode prints one per cycle)."""
        sys.stdout.write(redact(json.dumps(data, default=str, separators=(",", ":"))) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              justify: dict[str, str] | None = None) -> None:
        """A result table on stdout (nothing with --json or --quiet); never truncates a value."""
        if self.json_output or self.quiet:
            return
        table = Table(title=plain(title) if title else None, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(plain(column), justify=(justify or {}).get(column, "left"),  # type: ignore[arg-type]
                             overflow="fold")
        for row in rows:
            table.add_row(*(plain(v) for v in row))
        needed = self.out.measure(table, options=self.out.options.update(width=10**6)).maximum
        if not self.out.is_terminal:  # a pipe or a file: as wide as the table needs
            self.out.print(table, width=max(self.out.width, needed))
        elif needed > self.out.width or self.out.width < NARROW:
            self._vertical(title, columns, rows)  # a table that does not fit would wrap its numbers
        else:
            self.out.print(table)

    def _vertical(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One block per row, `column  value` per line: a narrow terminal cuts nothing."""
        if title:
            self.out.print(Text(redact(title), style="bold"), overflow="fold")
        wide = max((len(c) for c in columns), default=0)
        for index, row in enumerate(rows):
            if index or title:
                self.out.print()
            for column, value in zip(columns, row, strict=False):
                self._hanging(Text(column.ljust(wide) + "  ", style="bold"), plain(value))

    @contextmanager
    def progress(self) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
        """A factory of per-task progress callbacks; silent for --json, --quiet or no terminal."""
        from migo_sync.progress import live_progress

        if self.json_output or self.quiet or not self.err.is_terminal:
            yield lambda name, total: (lambda n: None)
            return
        with live_progress(self.err) as factory:
            yield factory
