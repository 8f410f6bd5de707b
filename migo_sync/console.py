"""One output channel: every message, table and JSON document goes through `Terminal`.

Results go to stdout (tables, or one JSON document with --json); messages go to stderr. Every
string is redacted before it is shown.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from migo_sync.redact import RedactingFilter, redact

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
        self.out = Console(soft_wrap=True)
        self.err = Console(stderr=True, soft_wrap=True)
        for console in (self.out, self.err):
            if not console.is_terminal:  # a log file or a pipe: don't squeeze tables into 80 columns
                console.width = max(console.width, 160)
        self._configure_logging()

    def _configure_logging(self) -> None:
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
        for line in redact(message).splitlines() or [""]:
            self.err.print(f"[bold red]error:[/] {line}", markup=True, highlight=False)

    def warn(self, message: str) -> None:
        if not self.json_output or self.verbose:
            self.err.print(f"[yellow]warning:[/] {redact(message)}", markup=True, highlight=False)

    def info(self, message: str) -> None:
        if not self.quiet and not self.json_output:
            self.err.print(redact(message), markup=False, highlight=False)

    def success(self, message: str) -> None:
        if not self.quiet and not self.json_output:
            self.err.print(f"[green]✓[/] {redact(message)}", markup=True, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(redact(json.dumps(data, indent=2, default=str)) + "\n")
        sys.stdout.flush()

    def json_line(self, data: Any) -> None:
        """One compact JSON document per line (watch mode prints one per cycle)."""
        sys.stdout.write(redact(json.dumps(data, default=str, separators=(",", ":"))) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              justify: dict[str, str] | None = None) -> None:
        if self.json_output:
            return
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, justify=(justify or {}).get(column, "left"))  # type: ignore[arg-type]
        for row in rows:
            table.add_row(*(redact("" if v is None else str(v)) for v in row))
        self.out.print(table)

    @contextmanager
    def progress(self) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
        """A factory of per-task progress callbacks; silent for --json, --quiet or no terminal."""
        if self.json_output or self.quiet or not self.err.is_terminal:
            yield lambda name, total: (lambda n: None)
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed:,} rows"), TimeElapsedColumn()]
        with Progress(*columns, console=self.err, transient=False) as bar:
            def factory(name: str, total: int | None) -> Callable[[int], None]:
                task = bar.add_task(name, total=total)
                return lambda n: bar.advance(task, n)

            yield factory
