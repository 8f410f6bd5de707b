"""The Workday Financial Management adapter: a ledger behind the same port as Sage Intacct.

Journal checks, per-unit write results and reconciliation come from `migo_sync.ledger`; this
module says how Workday names things (`payload.py`) and talks to it (`client.py`, zeep).

There is no balance operation in the WSDL subset (none was found in Financial_Management;
tenants normally expose balances through a custom report): `read_balances()` sums the posted
journal lines Get_Journals returns for the period, so reconciliation compares the warehouse with
what the tenant actually holds, line by line.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as KeyMap
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing, suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

import pyarrow as pa

from migo_sync.adapter import AdapterContext, ArrowBatch, BaseAdapter, PullBatch, PushUnit, UnitResult
from migo_sync.ahead import in_order, started, written_ahead
from migo_sync.errors import ConfigError, OutcomeUnknownError
from migo_sync.ledger import (
    Account,
    AccountBalance,
    BuiltJournals,
    Chart,
    HeldAhead,
    Journal,
    JournalError,
    JournalLayout,
    LedgerLine,
    Period,
    PostedJournal,
    check_units,
    write_units,
)
from migo_sync.ledger.journal import to_date
from migo_sync.mapping.model import Mapping
from migo_sync.options import option_problems
from migo_sync.settings import parse_settings

from . import SYSTEM
from .client import ImportMessage, WorkdayClient, wsdl_document
from .columns import LinesPage, column_kinds, read_lines_page
from .config import PullOptions, PushOptions, WorkdaySettings
from .imports import BOOKED, IMPORT_DONE, IMPORT_WITH_ERRORS, await_imports
from .pages import KEYS, JournalPage, parse_journals_page
from .payload import (
    CANCELED,
    Defaults,
    entry_lines,
    journal_layout,
    journal_xml,
    ledger_lines,
    line_records,
    required_header,
    unsendable,
)
from .soap import FaultTransport

JOURNAL_OBJECT = "Accounting_Journal"
LINES_OBJECT = "Journal_Entry_Line"
ACCOUNTS_OBJECT = "Ledger_Account"
FIRST_YEAR, FUTURE_YEARS = 1990, 10  # the calendar months list_periods() knows
# Worktag kinds the checks know → the operation and item that list their values.
DIMENSIONS = {"cost_center": ("Get_Cost_Centers", "Cost_Center"), "region": ("Get_Regions", "Region")}


class WorkdayAdapter(BaseAdapter):
    name = "workday"
    spec = SYSTEM
    journal_object = JOURNAL_OBJECT

    def __init__(self, context: AdapterContext, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(context)
        self.settings = parse_settings(WorkdaySettings, "workday", context.settings)
        self.now = now or (lambda: datetime.now(UTC))
        self._client: WorkdayClient | None = None
        self._opening = threading.Lock()  # the client is made once, whichever thread asks first
        self._chart: Chart | None = None
        self._chart_lock = threading.Lock()  # reconciliations beside each other (SharedPulls): the chart read once
        self._warming: Future[Chart] | None = None  # the chart a push's warm-up is reading
        # KeysAhead: the first Get_Journals page of a push's look-up, asked beside its warm-up: the span of
        # posting dates it covers (first, last) and its answer; taken once, by the look-up of that span
        self._looking: tuple[tuple[date, date], Future[bytes]] | None = None
        self._looking_lock = threading.Lock()
        self._preparing: Future[Any] | None = None  # prepare_run()'s reading of the WSDL
        self._held = HeldAhead()
        self._built = BuiltJournals()  # a batch's units read as journals once (checks, look-up, write)
        # bodies written while the first batch's chart and look-up are in flight: journal key ->
        # (the very journal, what its body depends on, the body or None when XML cannot carry it)
        self._bodies: dict[str, tuple[Journal, tuple[Any, ...], str | None]] = {}
        self._lead = False  # a write's first look-up not yet asked (see find_journals)
        self._submit = self.settings.submit
        self._concurrency = self.settings.max_concurrency
        self._import = self.settings.journal_import
        self._batch = self.settings.import_batch_size
        self._duplicate = re.compile(self.settings.duplicate_pattern, re.I)

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def client(self) -> WorkdayClient:
        if self._client is None:
            with self._opening:
                if self._client is None:
                    self._client = self._open()
        return self._client

    def _open(self) -> WorkdayClient:
        """The tenant's client: credentials, endpoint and zeep's reading of the WSDL (~0.05 s of CPU)."""
        creds = self.context.credentials
        username = creds.require("username")
        password = creds.require("password")
        tenant = self.settings.tenant or (username.rsplit("@", 1)[1] if "@" in username else None)
        if "@" not in username:
            if tenant is None:
                raise ConfigError(f"workday: the username must be user@tenant: set {creds.env_name('username')} "
                                  "to user@tenant or [systems.workday] tenant")
            username = f"{username}@{tenant}"
        url = self.context.base_url
        if "{tenant}" in url:
            if tenant is None:
                raise ConfigError("workday: no tenant for the endpoint URL: set [systems.workday] tenant, "
                                  "or MIGO_SYNC_WORKDAY_URL")
            url = url.replace("{tenant}", tenant)
        # every call through it, whoever sends it (a pull's pages, a reconciliation read beside it, a
        # push's imports), within the tenant's `max_concurrency` in flight (SharedPulls)
        http = self.context.http(url, transport=FaultTransport(), in_flight=self.settings.max_concurrency,
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
        return WorkdayClient(http, url=url, username=username, password=password, version=self.settings.version)

    def pulls_at_once(self) -> int:
        """SharedPulls: as many reads together as calls may be in flight (a pull's pages and a push's
        reconciliation read beside it share the client's gate; no reference read is shared by two pulls)."""
        return self.settings.max_concurrency

    def prepare_run(self) -> None:
        """RunPreparation: zeep's reading of the WSDL subset (~0.05 s of CPU, before a push's first call
        otherwise), begun on a thread at the run's start; no request, nothing written, no credential
        read. An error is raised again where the client is made, as without the preparation."""
        if self._preparing is None and self._client is None:
            self._preparing = started(wsdl_document, name="workday-prepare")

    def close(self) -> None:
        if self._preparing is not None:  # CPU only, never a request: done in a moment
            wait([self._preparing])
            self._preparing = None
        if self._warming is not None:
            wait([self._warming])  # a warm-up's requests are answered before its client closes
            self._warming = None
        self._drop_looking()
        if self._client is not None:
            self._client.close()
            self._client = None

    def check_connection(self) -> str:
        """One Get_Journals page of one journal: signs in (WS-Security) and reads cheaply."""
        page = self.client.get_journals(page=1, count=1, company=self.settings.company)
        return f"signed in; {page.total_results} journal(s) visible"

    def check_object(self, mapping: Mapping) -> str:
        """Ledger accounts: the account set (Get_Account_Sets); journals and their lines: one
        Get_Journals of one journal (Count=1) with the criteria the mapping reads with."""
        if mapping.object == ACCOUNTS_OBJECT:
            accounts = self.client.ledger_accounts(self.settings.account_set)
            if not accounts:
                raise ConfigError(f"workday: account set '{self.settings.account_set}' holds no ledger account "
                                  "(check [systems.workday] account_set)")
            return f"readable: {len(accounts)} ledger account(s) in {self.settings.account_set}"
        if mapping.direction == "pull":
            options = PullOptions.model_validate(mapping.options)
            page = self.client.get_journals(page=1, count=1, company=options.company,
                                            accounting_from=options.accounting_from,
                                            accounting_to=options.accounting_to)
        else:
            page = self.client.get_journals(page=1, count=1, company=self.settings.company)
        return f"readable: {page.total_results} journal(s)"

    # -- validation ---------------------------------------------------------------------------

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        """Offline: options, and what a journal push needs beyond the catalog's required fields."""
        if mapping.direction == "pull":
            return option_problems(PullOptions, mapping.options)
        problems = option_problems(PushOptions, mapping.options)
        if mapping.object != JOURNAL_OBJECT:
            return problems
        remotes = {f.remote for f in mapping.fields}
        if "Amount" in remotes and remotes & {"Debit_Amount", "Credit_Amount"}:
            problems.append(("fields", "map Amount (signed) or Debit_Amount + Credit_Amount, not both"))
        elif "Amount" not in remotes and not {"Debit_Amount", "Credit_Amount"} <= remotes:
            problems.append(("fields", "Accounting_Journal needs Amount (signed, debit positive) or "
                                       "Debit_Amount + Credit_Amount"))
        settings = self.settings
        for what, field, setting, default in required_header(Defaults(
                company=settings.company, currency=settings.currency, ledger_type=settings.ledger_type,
                journal_source=settings.journal_source, account_set=settings.account_set)):
            if field not in remotes and not default:
                # the tenant's schema requires it on every journal: refuse before anything is sent
                problems.append(("fields", f"no {what}: map {field} or set [systems.workday] {setting}"))
        return problems

    # -- the ledger port ----------------------------------------------------------------------

    def journal_layout(self, mapping: Mapping) -> JournalLayout:
        return journal_layout(mapping)

    def list_accounts(self) -> list[Account]:
        return [Account(number=str(a["Ledger_Account_ID"]), title=a["Ledger_Account_Name"] or "",
                        active=not a["Retired"], account_type=a["Ledger_Account_Type_ID"] or "")
                for a in self.client.ledger_accounts(self.settings.account_set)]

    def list_dimensions(self) -> dict[str, list[str]]:
        """Cost centers and regions, read together (independent calls: one round trip, not two)."""
        reads = [self._dimension_read(kind) for kind in DIMENSIONS]
        return dict(zip(DIMENSIONS, self._parallel(lambda read: read(), reads, at_once=2), strict=True))

    def _dimension_read(self, kind: str) -> Callable[[], list[str]]:
        operation, item = DIMENSIONS[kind]
        client = self.client
        return lambda: [o["ID"] for o in client.organizations(operation, item) if o["Active"]]

    def list_periods(self) -> list[Period]:
        """Calendar months, closed up to `closed_through`. Financial_Management has no operation that
        lists fiscal periods or their status (checked against a real tenant's WSDL), so the setting
        says which are closed; a journal the tenant still refuses for its period comes back as a
        Validation_Fault and is rejected on its own."""
        closed_through = self.settings.closed_through_date
        last_year = self.now().year + FUTURE_YEARS
        periods = []
        for year in range(FIRST_YEAR, last_year + 1):
            for month in range(1, 13):
                start = date(year, month, 1)
                end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
                periods.append(Period(key=f"{year:04d}-{month:02d}", start=start, end=end,
                                      open=closed_through is None or end > closed_through, name=f"{start:%b %Y}"))
        return periods

    def chart(self) -> Chart:
        """Accounts, worktags and periods, pulled once per run (the adapter lives for one run) and
        shared by every push's checks and the reconciliation; the three reads go out together (or
        went out with a push's warm-up: taken here, its error raised here)."""
        with self._chart_lock:
            if self._chart is None:
                warming, self._warming = self._warming, None
                self._chart = warming.result() if warming is not None else self._read_chart()
            return self._chart

    def _read_chart(self) -> Chart:
        reads: list[Callable[[], Any]] = [self.list_accounts, *(self._dimension_read(k) for k in DIMENSIONS)]
        accounts, *values = self._parallel(lambda read: read(), reads, at_once=len(reads))
        return Chart(accounts={account.number: account for account in accounts},
                     dimensions={kind: frozenset(found) for kind, found in zip(DIMENSIONS, values, strict=True)},
                     periods=self.list_periods())

    def warm_up(self, mapping: Mapping) -> None:
        """WarmUp: a journal push's chart (the client's WSDL read, then the three reference reads),
        begun on a thread while the engine reads the units; the look-up of the batch's journals, which
        needs them, leaves from `check()` while these are in flight. `chart()` takes the answer."""
        if (mapping.direction != "push" or mapping.object != JOURNAL_OBJECT or self._chart is not None
                or self._warming is not None):
            return
        self._warming = started(self._read_chart, name="workday-warm-up")

    def keys_ahead(self, mapping: Mapping) -> Sequence[str]:
        """KeysAhead: a journal push's look-up needs only the span of its journals' posting dates."""
        if mapping.direction != "push" or mapping.object != JOURNAL_OBJECT:
            return []
        return [journal_layout(mapping).posting_date]

    def warm_up_keys(self, mapping: Mapping, values: KeyMap[str, Sequence[Any]]) -> None:
        """The look-up's first Get_Journals page over the span of the posting dates handed over, asked now
        on a thread beside the warm-up's three chart reads (the tenant's 4 in flight), not once the units
        are read: `_look_up` takes its answer when its journals span exactly these dates, else asks for
        its own. A value that is no date is left out (its journal is refused by the checks)."""
        if mapping.direction != "push" or mapping.object != JOURNAL_OBJECT or self._looking is not None:
            return
        field = journal_layout(mapping).posting_date
        days: list[date] = []
        for value in values.get(field, ()):
            with suppress(JournalError):
                days.append(to_date(value, field))
        if not days:
            return
        span = (min(days), max(days))
        count, company = self.settings.page_size, self.settings.company
        self._looking = (span, started(lambda: self.client.first_journals_answer(
            count=count, accounting_from=span[0], accounting_to=span[1], company=company), name="workday-look-ahead"))

    def _looked_ahead(self, span: tuple[date, date]) -> bytes | None:
        """The first page asked ahead (`warm_up_keys`), when it covers exactly `span`; taken once. Its
        error is raised here, as the same request asked now would raise it."""
        with self._looking_lock:
            looking, self._looking = self._looking, None
        if looking is None:
            return None
        if looking[0] != span:
            wait([looking[1]])  # another span: not used (its answer or error dropped); the look-up asks its own
            return None
        return looking[1].result()

    def _drop_looking(self) -> None:
        """A first page asked ahead and not taken is never used: not after anything was posted (it would
        not show it), nor past the client's life (its request is answered first)."""
        with self._looking_lock:
            looking, self._looking = self._looking, None
        if looking is not None:
            wait([looking[1]])

    def post_journals(self, journals: Sequence[Journal]) -> list[UnitResult]:
        """Import_Accounting_Journal in batches of `import_batch_size` (the default), or one
        Submit_Accounting_Journal per journal (`journal_import = false`); `max_concurrency` requests
        at a time either way. Add_Only + Accounting_Journal_ID: a replay is refused, and that is success."""
        self._drop_looking()  # a look-up from before these posts would not show them
        defaults = self._defaults()
        results: dict[str, UnitResult] = {}
        shape = self._body_shape()
        ahead, self._bodies = self._bodies, {}

        def ready() -> Iterator[tuple[Journal, str]]:
            """Each journal with its Accounting_Journal_Data, written as the requests go out (the
            first request does not wait for the last journal) or taken as written ahead for this very
            journal and shape; refused ones recorded on the way."""
            for journal in journals:
                missing = [f"{what}: map {field} or set [systems.workday] {setting}"
                           for what, field, setting, default in required_header(defaults)
                           if not (journal.header.get(field) or default)]
                if missing:
                    results[journal.key] = UnitResult(key=journal.key, ok=False, reason="no " + "; no ".join(missing))
                    continue
                written = ahead.get(journal.key)
                body = (written[2] if written is not None and written[0] is journal and written[1] == shape
                        else self._body(journal, shape))
                if body is None:  # a character XML cannot carry: refused here, never half-sent
                    results[journal.key] = UnitResult(key=journal.key, ok=False, reason=unsendable(journal, defaults))
                    continue
                yield journal, body

        results.update(self._import_all(ready()) if self._import else self._submit_all(ready()))
        return [results[journal.key] for journal in journals]

    def _defaults(self) -> Defaults:
        settings = self.settings
        return Defaults(company=settings.company, currency=settings.currency, ledger_type=settings.ledger_type,
                        journal_source=settings.journal_source, account_set=settings.account_set)

    def _body_shape(self) -> tuple[Any, ...]:
        """What a journal's Accounting_Journal_Data depends on besides the journal: the defaults,
        Submit, and the namespace prefix of the operation that carries it."""
        operation = "Import_Accounting_Journal" if self._import else "Submit_Accounting_Journal"
        return self._defaults(), self._submit, self.client.journal_prefix(operation)

    @staticmethod
    def _body(journal: Journal, shape: tuple[Any, ...]) -> str | None:
        """The journal's Accounting_Journal_Data, or None when a value holds a character XML cannot carry."""
        defaults, submit, prefix = shape
        try:
            return journal_xml(journal, defaults, submit=submit, prefix=prefix)
        except ValueError:
            return None

    def _write_ahead(self, journals: Sequence[Journal]) -> None:
        """The bodies `post_journals` will send, written while the calls before it are in flight."""
        shape = self._body_shape()
        self._bodies = {journal.key: (journal, shape, self._body(journal, shape)) for journal in journals}

    def _submit_all(self, journals: Iterator[tuple[Journal, str]]) -> dict[str, UnitResult]:
        client = self.client

        def post(item: tuple[Journal, str]) -> UnitResult:
            journal, body = item
            answer = client.submit_journal(body)
            if answer.fault is None:
                return UnitResult(key=journal.key, ok=True, remote_id=answer.ids.get("WID"))
            if any(self._duplicate.search(e.message) for e in answer.fault.validation_errors):
                return UnitResult(key=journal.key, ok=True, duplicate=True)
            return UnitResult(key=journal.key, ok=False, reason=answer.fault.describe())

        return {result.key: result for _, result in in_order(post, journals, in_flight=self._concurrency,
                                                              name="workday-submit")}

    def _import_all(self, journals: Iterator[tuple[Journal, str]]) -> dict[str, UnitResult]:
        """Every batch imported (`max_concurrency` at once, each sent as soon as it is written),
        their processes awaited together (one status read per poll), and each refused journal
        named by the tenant's messages; the rest are booked. An import that fails, outlives
        `import_timeout_seconds` or reports an error it does not attribute raises: its journals
        stay pending and the next run imports them again (Add_Only refuses any the tenant already
        holds, which counts as posted)."""
        client, size = self.client, self._batch

        def batches() -> Iterator[list[tuple[Journal, str]]]:
            batch: list[tuple[Journal, str]] = []
            for item in journals:
                batch.append(item)
                if len(batch) == size:
                    yield batch
                    batch = []
            if batch:
                yield batch

        # each batch written while the imports before it are in flight (`migo_sync/ahead.py`: `written_ahead`)
        with closing(written_ahead(batches(), ahead=self._concurrency, name="workday-bodies")) as written:
            sent = list(in_order(lambda batch: client.import_journals([body for _, body in batch]), written,
                                 in_flight=self._concurrency, name="workday-import"))
        if not sent:
            return {}
        wids = [wid for _, wid in sent]
        statuses = await_imports(client, wids, deadline=time.monotonic() + self.settings.import_timeout_seconds)
        with_errors = [wid for wid in wids if statuses[wid] != IMPORT_DONE]
        messages = dict(zip(with_errors, self._parallel(client.import_messages, with_errors), strict=True))
        results: dict[str, UnitResult] = {}
        for batch, wid in sent:
            results.update(self._import_results([journal for journal, _ in batch], wid, statuses[wid],
                                                messages.get(wid, [])))
        # An import's answer names no journal's id: the booked ones are looked up once, their pages
        # read together and without their lines (only the ids are wanted; `write_units` asks once
        # more for any still unnamed).
        booked = [journal for batch, _ in sent for journal, _ in batch if results[journal.key].ok]
        for key, held in self._look_up(booked, lines=False).items():
            results[key].remote_id = held.remote_id
        return results

    def _import_results(self, batch: list[Journal], wid: str, status: str,
                        messages: list[ImportMessage]) -> dict[str, UnitResult]:
        errors: dict[str, list[str]] = defaultdict(list)
        for message in messages:
            if message.severity.lower() not in ("error", "critical"):
                continue
            if message.journal_id is None:
                raise OutcomeUnknownError(self.name, f"import {wid} ({status}) reported an error naming no journal: "
                                                  f"{message.summary}; its journals stay pending")
            errors[message.journal_id].append(message.summary)
        if status not in BOOKED or (status == IMPORT_WITH_ERRORS and not errors):
            raise OutcomeUnknownError(self.name, f"import {wid} ended {status!r}: its journals stay pending")
        results = {}
        for journal in batch:
            found = errors.get(journal.idempotency_key)
            if not found:
                results[journal.key] = UnitResult(key=journal.key, ok=True)
            elif all(self._duplicate.search(text) for text in found):
                results[journal.key] = UnitResult(key=journal.key, ok=True, duplicate=True)
            else:
                results[journal.key] = UnitResult(key=journal.key, ok=False, reason="; ".join(found))
        return results

    def _parallel(self, work: Callable[[Any], Any], items: list[Any], *, at_once: int | None = None,
                  meanwhile: Callable[[], None] | None = None) -> list[Any]:
        """`work` over `items`, `max_concurrency` (or `at_once`) at a time, answers in item order;
        `meanwhile` runs on this thread while they are under way."""
        limit = min(at_once or self._concurrency, self._concurrency)
        if limit <= 1 or len(items) <= 1:
            if meanwhile is not None:
                meanwhile()
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(limit, len(items)),
                                thread_name_prefix="workday-post") as pool:
            # in the caller's context: each read's requests are counted to it (RequestStats.tallied)
            futures = [pool.submit(contextvars.copy_context().run, work, item) for item in items]
            try:
                if meanwhile is not None:
                    meanwhile()
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def find_journals(self, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
        """Get_Journals over the journals' accounting dates (company; the pages after the first pinned
        to the moment the tenant answered the first for), matched
        by Accounting_Journal_ID (the idempotency key) or External_Reference_ID (the reference):
        one paged read per batch, however many journals it holds (or the answer the batch's checks
        read beside the chart: `HeldAhead`)."""
        ahead = self._held.take(journals)
        if ahead is not None:
            return ahead
        lead, self._lead = self._lead, False
        if not lead or self._bodies:
            return self._look_up(journals)
        # A write whose checks did not look up (and write) ahead: the bodies of its first requests
        # (`max_concurrency` imports or submits) are written while the look-up is in flight, so they
        # leave as soon as its answer is read rather than one batch's writing later.
        first = journals[:self._concurrency * (self._batch if self._import else 1)]
        found = started(lambda: self._look_up(journals), name="workday-look-up")
        try:
            self._write_ahead(first)
        finally:
            wait([found])
        return found.result()

    def _look_up(self, journals: Sequence[Journal], *, in_flight: int | None = None,
                 lines: bool = True) -> dict[str, PostedJournal]:
        """Get_Journals over the journals' accounting dates, pages after the first `in_flight` at a
        time (default `max_concurrency`); the lines read only of the journals found (none with
        `lines=False`, when only the ids are wanted)."""
        if not journals:
            return {}
        by_id = {j.idempotency_key: j.key for j in journals}
        by_reference: dict[str, list[str]] = {}
        for journal in journals:
            if journal.reference:
                by_reference.setdefault(str(journal.reference), []).append(journal.key)
        found: dict[str, PostedJournal] = {}
        start, end = min(j.posting_date for j in journals), max(j.posting_date for j in journals)
        # a look-up before posting (the posted ids' look-up, lines=False, follows posts: never from ahead)
        first = self._looked_ahead((start, end)) if lines else None

        def wanted(entry: dict[str, Any]) -> bool:
            return entry["Accounting_Journal_ID"] in by_id or (entry["External_Reference_ID"] or "") in by_reference

        for page in self.client.iter_journals(count=self.settings.page_size, accounting_from=start,
                                              accounting_to=end, company=self.settings.company,
                                              lines=wanted if lines else KEYS,
                                              concurrency=in_flight or self._concurrency, first_answer=first):
            for entry in page.entries:
                if entry["Journal_Status"] in CANCELED:
                    continue
                own = entry["Accounting_Journal_ID"] in by_id
                keys = ([by_id[entry["Accounting_Journal_ID"]]] if own
                        else by_reference.get(entry["External_Reference_ID"] or "", []))
                for key in keys:
                    if key not in found or (own and not found[key].by_key):
                        found[key] = PostedJournal(entry["WID"] or entry["Accounting_Journal_ID"] or "",
                                                   tuple(entry_lines(entry)) if entry["lines"] else (), by_key=own)
        return found

    def read_journal_lines(self, start: date, end: date) -> Iterator[list[LedgerLine]]:
        for page in self.client.iter_journals(count=self.settings.page_size, accounting_from=start,
                                              accounting_to=end, company=self.settings.company):
            yield ledger_lines(page.entries)

    def read_balances(self, period: Period) -> list[AccountBalance]:
        """Derived from the period's posted lines (no balance operation in Financial_Management)."""
        debits: dict[str, Decimal] = defaultdict(Decimal)
        credits: dict[str, Decimal] = defaultdict(Decimal)
        for lines in self.read_journal_lines(period.start, period.end):
            for line in lines:
                if line.amount >= 0:
                    debits[line.account] += line.amount
                else:
                    credits[line.account] -= line.amount
        return [AccountBalance(account=account, debits=debits[account], credits=credits[account])
                for account in sorted(set(debits) | set(credits))]

    # -- the adapter hooks --------------------------------------------------------------------

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        return self.check_meanwhile(mapping, units, lambda: None)

    def check_meanwhile(self, mapping: Mapping, units: Sequence[PushUnit],
                        meanwhile: Callable[[], None]) -> dict[str, str]:
        """The journal checks against the chart. The first batch's chart reads go out together
        with the look-up of its journals the write needs first (`HeldAhead`): one round trip, during
        which `meanwhile` runs (`ChecksInFlight`: the engine writes the intents), then this batch's
        request bodies are written (`post_journals`)."""
        if mapping.object != JOURNAL_OBJECT:
            meanwhile()
            return {}
        if self._chart is not None:  # the chart is in: no request to wait on
            meanwhile()
        else:
            self._configure(mapping)
            journals, _ = self._built.build(units, journal_layout(mapping))
            _ = self.client  # opened here, once: not by two threads at a time below

            def during() -> None:
                meanwhile()
                self._write_ahead(journals)

            # beside the chart's three reads: its pages one at a time, within the tenant's in-flight cap
            reads: list[Callable[[], Any]] = [self.chart, lambda: self._look_up(journals, in_flight=1)]
            _chart, held = self._parallel(lambda read: read(), reads, at_once=2, meanwhile=during)
            self._held.keep(journals, held)
        return check_units(self, mapping, units, self.chart(), built=self._built)

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        if mapping.object != JOURNAL_OBJECT:
            raise ConfigError(f"workday: {mapping.object} cannot be pushed (only {JOURNAL_OBJECT})")
        self._configure(mapping)
        self._lead = True  # the write's first look-up is in flight while its first bodies are written
        try:
            return write_units(self, mapping, units, built=self._built)
        finally:
            self._lead = False

    def _configure(self, mapping: Mapping) -> None:
        """The push's options over the system's settings (submit, concurrency, import and its batch)."""
        options = PushOptions.model_validate(mapping.options)
        self._submit = self.settings.submit if options.submit is None else options.submit
        self._concurrency = options.max_concurrency or self.settings.max_concurrency
        self._import = self.settings.journal_import if options.journal_import is None else options.journal_import
        self._batch = options.import_batch_size or self.settings.import_batch_size

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        options = PullOptions.model_validate(mapping.options)
        if mapping.object == ACCOUNTS_OBJECT:
            yield PullBatch(records=self.client.ledger_accounts(self.settings.account_set), state=None)
        elif mapping.object == LINES_OBJECT:
            # A mirror pull deletes what it did not read: it must read every journal, every time.
            yield from self._read_lines(options, None if mapping.mode == "mirror" else state,
                                        incremental=options.incremental and mapping.mode != "mirror")
        else:
            raise ConfigError(f"workday: {mapping.object} cannot be pulled")

    def read_arrow(self, mapping: Mapping, state: dict[str, Any] | None,
                   types: KeyMap[str, pa.DataType]) -> Iterator[ArrowBatch | PullBatch] | None:
        """ArrowPull: journal lines read straight into columns (`columns.py`), each field the engine asks
        for as the type it stages it as (null: a field the line record does not have); a page the columns
        cannot vouch for comes as its records. None for ledger accounts, and for a mapping that types or
        transforms a line field otherwise (`column_kinds`): `read()` gives it."""
        kinds = column_kinds(mapping) if mapping.object == LINES_OBJECT else None
        if kinds is None:
            return None
        options = PullOptions.model_validate(mapping.options)
        mirror = mapping.mode == "mirror"
        pages = self._line_pages(options, None if mirror else state, incremental=options.incremental and not mirror,
                                 reader=lambda content: read_lines_page(content, kinds))
        return (_lines_batch(page, next_state, types) for page, next_state in pages)

    def _read_lines(self, options: PullOptions, state: dict[str, Any] | None, *,
                    incremental: bool) -> Iterator[PullBatch]:
        for page, next_state in self._line_pages(options, state, incremental=incremental, reader=None):
            yield PullBatch(records=list(line_records(page.entries)), state=next_state)

    @overload
    def _line_pages(self, options: PullOptions, state: dict[str, Any] | None, *, incremental: bool,
                    reader: None) -> Iterator[tuple[JournalPage, dict[str, Any]]]: ...
    @overload
    def _line_pages(self, options: PullOptions, state: dict[str, Any] | None, *, incremental: bool,
                    reader: Callable[[bytes], LinesPage]) -> Iterator[tuple[LinesPage, dict[str, Any]]]: ...

    def _line_pages(self, options: PullOptions, state: dict[str, Any] | None, *, incremental: bool,
                    reader: Callable[[bytes], LinesPage] | None) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Get_Journals in windows of Last_Updated_Date, each pinned by As_Of_Entry_DateTime.

        The state saved with a page names its window and the next page, so a run that dies
        resumes the same window at the same place (the pinned result set does not shift); after
        the last page it names the window's end, the next run's start minus the lookback.
        Overlapping windows repeat lines; the MERGE by key absorbs them.
        """
        state = state or {}
        if state.get("as_of"):  # the same window, page size included: page numbers mean the same
            as_of = datetime.fromisoformat(state["as_of"])
            since = datetime.fromisoformat(state["updated_from"]) if state.get("updated_from") else None
            start_page, count = int(state.get("page", 1)), int(state["count"])
        else:
            as_of = self.now().astimezone(UTC)
            through = state.get("updated_through") if incremental else None
            since = (datetime.fromisoformat(through) - timedelta(minutes=options.lookback_minutes)
                     if through else None)
            start_page, count = 1, options.page_size or self.settings.page_size
        window = {"as_of": as_of.isoformat(), "updated_from": since.isoformat() if since else None, "count": count}
        criteria: dict[str, Any] = dict(
            count=count, start_page=start_page, concurrency=self.settings.max_concurrency, as_of=as_of,
            updated_from=since, updated_to=as_of if since else None, company=options.company,
            accounting_from=options.accounting_from, accounting_to=options.accounting_to)
        pages: Iterator[Any] = (self.client.iter_journals(**criteria) if reader is None
                                else self.client.iter_pages(reader, **criteria))
        for page in pages:
            last = page.page >= page.total_pages
            yield page, {"updated_through": as_of.isoformat()} if last else {**window, "page": page.page + 1}


def _lines_batch(page: LinesPage, state: dict[str, Any], types: KeyMap[str, pa.DataType]) -> ArrowBatch | PullBatch:
    """One page for the engine: its columns as `types` names them, or (unvouched) its records."""

    def records() -> PullBatch:
        return PullBatch(records=list(line_records(parse_journals_page(page.content).entries)), state=state)

    if page.columns is None:
        return records()
    columns = page.columns
    return ArrowBatch(pa.table({remote: columns[remote] if remote in columns else pa.nulls(page.rows, kind)
                                for remote, kind in types.items()}), state, records)
