"""The Sage Intacct adapter: GLBATCH journals pushed safely, GL detail/lists/balances pulled.

It is a ledger (`migo_sync.ledger.LedgerPort`): journal checks, the per-unit write results and
reconciliation come from the core; this module only says how Intacct names things and sends them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as KeyMap
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from migo_sync.adapter import AdapterContext, BaseAdapter, PullBatch, PushUnit, UnitResult, chunked
from migo_sync.ahead import started
from migo_sync.errors import ConfigError
from migo_sync.ledger import (
    Account,
    AccountBalance,
    BuiltJournals,
    Chart,
    HeldAhead,
    Journal,
    JournalLayout,
    LedgerLine,
    Period,
    PostedJournal,
    check_units,
    load_chart,
    write_units,
)
from migo_sync.mapping.model import Mapping
from migo_sync.options import option_problems
from migo_sync.settings import parse_settings

from . import SYSTEM
from .client import IntacctClient, classify
from .config import IntacctSettings, PullOptions, PushOptions
from .xml import Function, Login, describe, format_date, format_timestamp, parse_timestamp, quote, sub
from .xml import function as xml_function

JOURNAL_OBJECT = "GLBATCH"
HEADER_ORDER = ("JOURNAL", "BATCH_DATE", "REVERSEDATE", "BATCH_TITLE", "HISTORY_COMMENT", "REFERENCENO", "STATE")
LINE_ORDER = ("DOCUMENT", "ACCOUNTNO", "CURRENCY", "TRX_AMOUNT", "TR_TYPE", "DESCRIPTION", "DEPARTMENT",
              "LOCATION", "PROJECTID", "CUSTOMERID", "VENDORID", "EMPLOYEEID", "ITEMID", "CLASSID")
BALANCE_OBJECTS = ("TRIALBALANCE", "GLACCOUNTBALANCE")
TRUE = frozenset({"true", "t", "1", "yes"})


def gateway_date(text: str) -> date:
    """mm/dd/yyyy (generic functions) or ISO, as a date; sliced rather than strptime: it is hot."""
    if "/" in text:
        return date(int(text[6:10]), int(text[0:2]), int(text[3:5]))
    return date.fromisoformat(text)


# Text from the gateway → the exact Python value of a catalog type; strings stay as they are.
CONVERTERS: dict[str, Callable[[str], Any]] = {"decimal": Decimal, "integer": int, "date": gateway_date,
                                                "timestamp": parse_timestamp}


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return format_date(value.date())
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


class IntacctAdapter(BaseAdapter):
    name = "intacct"
    spec = SYSTEM
    journal_object = JOURNAL_OBJECT

    def __init__(self, context: AdapterContext) -> None:
        super().__init__(context)
        self.settings = parse_settings(IntacctSettings, "intacct", context.settings)
        self._client: IntacctClient | None = None
        self._lists: dict[str, list[dict[str, Any]]] | None = None
        self._chart: Chart | None = None
        self._held = HeldAhead()
        self._built = BuiltJournals()  # a batch's units read as journals once (checks, look-up, write)
        self._bodies: dict[str, tuple[Journal, Function]] = {}  # create/GLBATCH built while the chart was read
        # the chart and the look-up of the references the engine handed over (KeysAhead), in flight
        self._ahead: tuple[frozenset[str], dict[str, tuple[str, str, str]], Future[dict[str, Any]]] | None = None
        self._functions_per_request = self.settings.functions_per_request
        # pulls may read at once (SharedPulls): one client, the chart's lists read once
        self._client_lock, self._lists_lock, self._chart_lock = threading.Lock(), threading.Lock(), threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def client(self) -> IntacctClient:
        with self._client_lock:
            return self._client or self._new_client()

    def pulls_at_once(self) -> int:
        """SharedPulls: as many pulls read together as requests may be in flight."""
        return self.settings.max_concurrency

    def _new_client(self) -> IntacctClient:
        """Every request through it, from whichever pull or post, within `max_concurrency` in flight."""
        if self._client is None:
            creds = self.context.credentials
            setting = self.settings

            def ident(name: str) -> str:
                value = getattr(setting, name) or creds.get(name)
                if not value:
                    raise ConfigError(f"intacct: missing {name}: set [systems.intacct] {name} or "
                                      f"{creds.env_name(name)}")
                return str(value)

            login = Login(user_id=ident("user_id"), company_id=ident("company_id"),
                          password=creds.require("user_password"), location_id=setting.entity_id)
            http = self.context.http(self.context.base_url, classify=classify, in_flight=self.settings.max_concurrency)
            self._client = IntacctClient(http, url=self.context.base_url, sender_id=ident("sender_id"),
                                         sender_password=creds.require("sender_password"), login=login,
                                         session_margin=setting.session_margin_seconds,
                                         duplicate_errornos=setting.duplicate_errornos)
        return self._client

    def close(self) -> None:
        if self._ahead is not None:  # a look-up sent ahead and never taken (the push failed first)
            wait([self._ahead[2]])
            self._ahead = None
        if self._client is not None:
            self._client.http.close()
            self._client = None

    def check_connection(self) -> str:
        """getAPISession (the sign-in), then one GLACCOUNT readByQuery of one record."""
        session = self.client.session()
        page = next(self.client.read_by_query("GLACCOUNT", "", "ACCOUNTNO", 1))
        return f"signed in to company {self.client.login.company_id} ({httpx.URL(session.endpoint).host}); " \
               f"{page.totalcount} GL account(s)"

    def check_object(self, mapping: Mapping) -> str:
        """One readByQuery of one record (the mapping's fields for a pull, so a field the tenant
        lacks is refused here); balances: the periods, then one period's trial balance or one
        GLACCOUNTBALANCE record. The result set of a pagesize-1 read is left to expire."""
        options = PullOptions.model_validate(mapping.options) if mapping.direction == "pull" else None
        if mapping.object in BALANCE_OBJECTS and options is not None:
            periods = self._periods(options)
            if not periods:
                return "readable; no open reporting period to read"
            first = periods[0]
            if mapping.object == "TRIALBALANCE":
                rows = self.client.trial_balance(first.start, first.end, reportingbook=self.settings.reportingbook)
                return f"readable: trial balance of {first.key}, {len(rows)} account(s)"
            page = next(iter(self.client.read_by_query("GLACCOUNTBALANCE", f"PERIOD = {quote(first.name)}", "*", 1)))
            return f"readable: {page.totalcount} balance(s) in {first.key}"
        names = "*" if options is None else ",".join(dict.fromkeys(f.remote.split(".", 1)[0] for f in mapping.fields))
        page = next(iter(self.client.read_by_query(mapping.object, "", names, 1)))
        return f"readable: {page.totalcount} record(s)"

    # -- validation ---------------------------------------------------------------------------

    def validate(self, mapping: Mapping) -> list[tuple[str, str]]:
        """The options; object, direction, mode, group_by and field names are checked by the core
        against catalog.yaml (required GLBATCH fields are marked there)."""
        if self.catalog_object(mapping.object) is None:
            return []
        return option_problems(PushOptions if mapping.direction == "push" else PullOptions, mapping.options)

    # -- the ledger port ----------------------------------------------------------------------

    def journal_layout(self, mapping: Mapping) -> JournalLayout:
        return journal_layout(mapping)

    def _fetch_lists(self, also: dict[str, tuple[str, str, str]] | None = None,
                     sending: Callable[[], None] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Accounts, dimensions and periods in one request (cached for the adapter's life: one run),
        with the lists `also` asks for in the same request (returned, not cached)."""
        with self._lists_lock:  # read once, however many pulls ask together
            return self._fetch_lists_once(also, sending)

    def _fetch_lists_once(self, also: dict[str, tuple[str, str, str]] | None,
                          sending: Callable[[], None] | None) -> dict[str, list[dict[str, Any]]]:
        extra: dict[str, list[dict[str, Any]]] = {}
        if self._lists is None:
            period_fields = "NAME,START_DATE,END_DATE" + (f",{self.settings.period_closed_field}"
                                                         if self.settings.period_closed_field else "")
            found = self.client.read_lists({
                "accounts": ("GLACCOUNT", "ACCOUNTNO,TITLE,STATUS,ACCOUNTTYPE,NORMALBALANCE", ""),
                "department": ("DEPARTMENT", "DEPARTMENTID,STATUS", ""),
                "location": ("LOCATION", "LOCATIONID,STATUS", ""),
                "periods": ("REPORTINGPERIOD", period_fields, ""),
                **(also or {}),
            }, pagesize=self.settings.page_size, sending=sending)
            extra = {name: found.pop(name) for name in also or {}}
            self._lists = found
        elif also:
            extra = self.client.read_lists(also, self.settings.page_size)
        return {**self._lists, **extra}

    def list_accounts(self) -> list[Account]:
        return [Account(number=str(r["ACCOUNTNO"]), title=r.get("TITLE") or "",
                        active=(r.get("STATUS") or "active").lower() == "active",
                        account_type=r.get("ACCOUNTTYPE") or "", normal_balance=r.get("NORMALBALANCE") or "")
                for r in self._fetch_lists()["accounts"]]

    def list_dimensions(self) -> dict[str, list[str]]:
        lists = self._fetch_lists()
        return {kind: [str(r[f"{kind.upper()}ID"]) for r in lists[kind]
                       if (r.get("STATUS") or "active").lower() == "active"]
                for kind in ("department", "location")}

    def list_periods(self) -> list[Period]:
        """Monthly reporting periods (quarters and years overlap them and are left out)."""
        closed_field = self.settings.period_closed_field
        closed_through = self.settings.closed_through
        periods = []
        for r in self._fetch_lists()["periods"]:
            start, end = gateway_date(r["START_DATE"]), gateway_date(r["END_DATE"])
            if start.day != 1 or (end + timedelta(days=1)).day != 1 or (start.year, start.month) != (end.year, end.month):
                continue
            closed = ((str(r.get(closed_field) or "").lower() in TRUE if closed_field else False)
                      or (closed_through is not None and end <= closed_through))
            periods.append(Period(key=f"{start.year:04d}-{start.month:02d}", start=start, end=end,
                                  open=not closed, name=str(r.get("NAME") or "")))
        return periods

    def chart(self) -> Chart:
        with self._chart_lock:
            if self._chart is None:
                self._chart = load_chart(self)
            return self._chart

    def post_journals(self, journals: Sequence[Journal]) -> list[UnitResult]:
        """Many journals per request (transaction="false": one bad journal sinks nothing else);
        the requests go `max_concurrency` at a time (each journal's controlid keeps a resend single)."""
        def post(batch: list[Journal]) -> list[UnitResult]:
            functions = [self._glbatch(journal) for journal in batch]
            answers = self.client.execute(functions, unique=True, transaction=False)
            return [self._unit_result(journal.key, answers.get(fn.controlid))
                    for journal, fn in zip(batch, functions, strict=True)]

        batches = list(chunked(journals, self._functions_per_request))
        if len(batches) <= 1 or self.settings.max_concurrency <= 1:
            return [result for batch in batches for result in post(batch)]
        self.client.session()  # one sign-in, before the requests go out together
        with ThreadPoolExecutor(max_workers=min(self.settings.max_concurrency, len(batches)),
                                thread_name_prefix="intacct-post") as pool:
            return [result for results in pool.map(post, batches) for result in results]

    def _glbatch(self, journal: Journal) -> Function:
        """The journal's create/GLBATCH: the one built while the chart was read, for this very journal."""
        ready = self._bodies.pop(journal.key, None)
        return ready[1] if ready is not None and ready[0] is journal else glbatch_function(journal)

    def _unit_result(self, key: str, answer: Any) -> UnitResult:
        if answer is None:
            return UnitResult(key=key, ok=False, reason="no result came back for this journal")
        if answer.ok:  # data/<glbatch|GLBATCH>/RECORDNO: the tag case is not pinned down, so match any
            found = [n.text for n in answer.data.iter() if str(n.tag).upper() == "RECORDNO"] if answer.data is not None else []
            return UnitResult(key=key, ok=True, remote_id=found[0] if found else None)
        if self.client.is_duplicate(answer):
            return UnitResult(key=key, ok=True, duplicate=True)
        return UnitResult(key=key, ok=False, reason=describe(answer.errors))

    def read_journal_lines(self, start: date, end: date) -> Iterator[list[LedgerLine]]:
        query = f"ENTRY_DATE >= {quote(format_date(start))} AND ENTRY_DATE <= {quote(format_date(end))}"
        for page in self.client.read_by_query("GLENTRY", query, LINE_FIELDS, self.settings.page_size):
            yield [ledger_line(r) for r in page.records]

    def find_journals(self, journals: Sequence[Journal]) -> dict[str, PostedJournal]:
        """GLENTRY lines by REFERENCENO, REFERENCES_PER_QUERY references per readByQuery, every
        query of the batch in one request (or the answer the batch's checks read with the chart:
        `HeldAhead`). A journal without a reference cannot be looked up (its controlid still
        refuses a resend)."""
        ahead = self._held.take(journals)
        if ahead is not None:
            return ahead
        queries = reference_queries(journals)
        if not queries:
            return {}
        return held_journals(journals, self.client.read_lists(queries, self.settings.page_size))

    def read_balances(self, period: Period) -> list[AccountBalance]:
        rows = self.client.trial_balance(period.start, period.end, reportingbook=self.settings.reportingbook)
        return [AccountBalance(account=str(r["glaccountno"]), debits=Decimal(r.get("debits") or 0),
                               credits=Decimal(r.get("credits") or 0),
                               start_balance=Decimal(r.get("startbalance") or 0),
                               end_balance=Decimal(r.get("endbalance") or 0)) for r in rows]

    # -- the adapter hooks --------------------------------------------------------------------

    def warm_up(self, mapping: Mapping) -> None:
        """WarmUp: a journal push's sign-in (getAPISession) and the client it needs, begun on a thread
        while the engine reads the units, so the checks' chart and look-up request (which waits for the
        sign-in it goes beside) and the posts find it answered. A client that cannot be built (a missing
        credential) or a refused sign-in is raised by check(), as without the warm-up."""
        if mapping.object == JOURNAL_OBJECT and mapping.direction == "push":
            started(lambda: self.client.sign_in_ahead(), name="intacct-warm-up")

    def keys_ahead(self, mapping: Mapping) -> Sequence[str]:
        """KeysAhead: a journal push's look-up needs only the journals' references."""
        reference = journal_layout(mapping).reference
        return [reference] if mapping.object == JOURNAL_OBJECT and mapping.direction == "push" and reference else []

    def warm_up_keys(self, mapping: Mapping, values: KeyMap[str, Sequence[Any]]) -> None:
        """The chart and the look-up of the references handed over, one request, sent now on a thread
        (beside the warm-up's sign-in) while the engine reads the units; `check()` takes its answer when
        its journals' references are all among them, else has their look-up asked again."""
        reference = journal_layout(mapping).reference
        if mapping.object != JOURNAL_OBJECT or self._lists is not None or self._ahead is not None or not reference:
            return
        references = sorted({text for value in values.get(reference, ()) if value is not None
                             and (text := str(value).strip())})
        queries = queries_of(references)
        self._ahead = (frozenset(references), queries,
                       started(lambda: self._fetch_lists(queries), name="intacct-chart"))

    def check(self, mapping: Mapping, units: Sequence[PushUnit]) -> dict[str, str]:
        return self.check_meanwhile(mapping, units, lambda: None)

    def check_meanwhile(self, mapping: Mapping, units: Sequence[PushUnit],
                        meanwhile: Callable[[], None]) -> dict[str, str]:
        """The journal checks against the chart. The first batch's chart read also asks which of
        its journals the ledger holds (the look-up the write needs first): one request for both,
        during which `meanwhile` runs (`ChecksInFlight`: the engine writes the intents)."""
        if mapping.object != JOURNAL_OBJECT:
            meanwhile()
            return {}
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            journals, _ = self._built.build(units, journal_layout(mapping))
            if {str(journal.reference) for journal in journals if journal.reference} <= ahead[0]:
                # the engine's keys covered them: the chart and their look-up are already on their way
                meanwhile()
                self._bodies = {journal.key: (journal, glbatch_function(journal)) for journal in journals}
                lists = ahead[2].result()
                self._held.keep(journals, held_journals(journals, {name: lists[name] for name in ahead[1]}))
                return check_units(self, mapping, units, self.chart(), built=self._built)
            wait([ahead[2]])  # its chart is kept (an error is raised by the read below); the write looks them up
        if self._lists is not None:  # the chart is in: no request to wait on
            meanwhile()
        else:
            journals, _ = self._built.build(units, journal_layout(mapping))
            queries = reference_queries(journals)
            # the chart and look-up on a thread; the journals' bodies are built meanwhile (their error,
            # if any, is raised here as it would have been in place)
            self.client  # built here: the thread's request then goes out at once  # noqa: B018
            on_its_way = threading.Event()

            def read() -> dict[str, list[dict[str, Any]]]:
                try:
                    return self._fetch_lists(queries, sending=on_its_way.set)
                finally:
                    on_its_way.set()

            reading = started(read, name="intacct-chart")
            # the bodies once the read is sent: built before, they would hold the interpreter its thread
            # needs to build and send it (a read that fails before sending sets it too)
            on_its_way.wait()
            meanwhile()
            self._bodies = {journal.key: (journal, glbatch_function(journal)) for journal in journals}
            lists = reading.result()
            self._held.keep(journals, held_journals(journals, {name: lists[name] for name in queries}))
        return check_units(self, mapping, units, self.chart(), built=self._built)

    def write(self, mapping: Mapping, units: Sequence[PushUnit]) -> list[UnitResult]:
        if mapping.object != JOURNAL_OBJECT:
            raise ConfigError(f"intacct: {mapping.object} cannot be pushed (only GLBATCH journals)")
        options = PushOptions.model_validate(mapping.options)
        self._functions_per_request = options.functions_per_request or self.settings.functions_per_request
        try:
            return write_units(self, mapping, units, built=self._built)
        finally:
            self._bodies = {}  # built for this batch only

    def read(self, mapping: Mapping, state: dict[str, Any] | None) -> Iterator[PullBatch]:
        options = PullOptions.model_validate(mapping.options)
        if mapping.object in BALANCE_OBJECTS:
            yield from self._read_balances(mapping, options)
            return
        yield from self._read_list(mapping, options, state)

    def _converters(self, mapping: Mapping) -> list[tuple[str, Callable[[str], Any]]]:
        return [(field.name, CONVERTERS[field.type]) for field in self.describe(mapping).fields
                if field.type in CONVERTERS]

    @staticmethod
    def _typed(records: list[dict[str, Any]], converters: list[tuple[str, Callable[[str], Any]]]) -> None:
        for record in records:
            for name, convert in converters:
                value = record.get(name)
                if value is not None:
                    record[name] = convert(value)

    def _read_list(self, mapping: Mapping, options: PullOptions,
                   state: dict[str, Any] | None) -> Iterator[PullBatch]:
        """readByQuery + readMore. The cursor is saved only with the last page: pages come in
        no guaranteed order, so the highest WHENMODIFIED is safe only once every page is in."""
        obj = self.describe(mapping)
        cursor = options.cursor_field if options.incremental and obj.field(options.cursor_field) else None
        names = list(dict.fromkeys([f.remote.split(".", 1)[0] for f in mapping.fields] + ([cursor] if cursor else [])))
        clauses = [f"({options.query})"] if options.query.strip() else []
        state_key = cursor.lower() if cursor else None
        previous = (state or {}).get(state_key) if state_key else None
        if cursor and previous:
            since = datetime.fromisoformat(previous) - timedelta(minutes=options.lookback_minutes)
            clauses.append(f"{cursor} >= {quote(format_timestamp(since))}")
        converters = self._converters(mapping)
        highest: datetime | None = datetime.fromisoformat(previous) if previous else None
        pages = self.client.read_by_query(obj.name, " AND ".join(clauses), ",".join(names),
                                          options.page_size or self.settings.page_size, ahead=True)
        for page in pages:
            self._typed(page.records, converters)
            if cursor:
                seen = [r[cursor] for r in page.records if isinstance(r.get(cursor), datetime)]
                if seen:
                    highest = max([*seen, highest] if highest else seen)
            last = page.numremaining == 0
            batch_state = {state_key: highest.isoformat()} if last and state_key and highest else None
            yield PullBatch(records=page.records, state=batch_state, total=page.totalcount)

    def _periods(self, options: PullOptions) -> list[Period]:
        chart = self.chart()
        if not options.periods:
            return [p for p in chart.periods if p.open]
        found = [(key, chart.period(key)) for key in options.periods]
        unknown = [key for key, period in found if period is None]
        if unknown:
            raise ConfigError(f"intacct: no reporting period for {', '.join(unknown)}")
        return [period for _, period in found if period is not None]

    def _read_balances(self, mapping: Mapping, options: PullOptions) -> Iterator[PullBatch]:
        """One batch per period: the trial balance (get_trialbalance) or GLACCOUNTBALANCE rows."""
        converters = self._converters(mapping)
        periods = self._periods(options)
        if mapping.object == "TRIALBALANCE":
            # every period's get_trialbalance in one request (they do not depend on one another)
            balances = self.client.trial_balances([(p.start, p.end) for p in periods],
                                                  reportingbook=self.settings.reportingbook, show_zero=True)
            for period, rows in zip(periods, balances, strict=True):
                for row in rows:
                    row["period"] = period.key
                self._typed(rows, converters)
                yield PullBatch(records=rows, state=None)
            return
        for period in periods:
            query = " AND ".join([f"PERIOD = {quote(period.name)}"]
                                 + ([f"({options.query})"] if options.query.strip() else []))
            rows = [r for page in self.client.read_by_query("GLACCOUNTBALANCE", query, "*",
                                                            options.page_size or self.settings.page_size)
                    for r in page.records]
            self._typed(rows, converters)
            yield PullBatch(records=rows, state=None)


LINE_FIELDS = "ENTRY_DATE,ACCOUNTNO,TR_TYPE,TRX_AMOUNT,BATCHNO,REFERENCENO,DEPARTMENT,LOCATION,DESCRIPTION"
REFERENCES_PER_QUERY = 100


def reference_queries(journals: Sequence[Journal]) -> dict[str, tuple[str, str, str]]:
    """GLENTRY readByQuery lists (for `read_lists`) of the journals' references."""
    return queries_of(sorted({str(journal.reference) for journal in journals if journal.reference}))


def queries_of(references: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """GLENTRY readByQuery lists of these references, REFERENCES_PER_QUERY a query."""
    return {f"ref{i}": ("GLENTRY", LINE_FIELDS, "REFERENCENO IN (" + ", ".join(quote(r) for r in chunk) + ")")
            for i, chunk in enumerate(chunked(references, REFERENCES_PER_QUERY))}


def held_journals(journals: Sequence[Journal], lists: dict[str, list[dict[str, Any]]]) -> dict[str, PostedJournal]:
    """The journals found among the GLENTRY lines of `reference_queries`' lists, by journal key."""
    by_reference: dict[str, list[str]] = {}
    for journal in journals:
        if journal.reference:
            by_reference.setdefault(str(journal.reference), []).append(journal.key)
    lines: dict[str, list[LedgerLine]] = {}
    for records in lists.values():
        for record in records:
            line = ledger_line(record)
            lines.setdefault(str(line.reference), []).append(line)
    found: dict[str, PostedJournal] = {}
    for reference, held in lines.items():
        batches = sorted({line.journal for line in held})
        for key in by_reference.get(reference, []):
            # The same reference in several batches: the first is the one compared; the
            # others show in reconciliation as the double posts they are.
            found[key] = PostedJournal(batches[0], tuple(line for line in held if line.journal == batches[0]))
    return found


def ledger_line(r: dict[str, Any]) -> LedgerLine:
    """One GLENTRY record (LINE_FIELDS) as a ledger line: signed amount, dimensions by kind."""
    return LedgerLine(journal=str(r.get("BATCHNO") or ""), posting_date=gateway_date(r["ENTRY_DATE"]),
                      account=str(r["ACCOUNTNO"]),
                      amount=Decimal(r["TRX_AMOUNT"]) * (-1 if r.get("TR_TYPE") == "-1" else 1),
                      dimensions={k: v for k, v in (("department", r.get("DEPARTMENT")),
                                                    ("location", r.get("LOCATION"))) if v},
                      reference=r.get("REFERENCENO"), memo=r.get("DESCRIPTION"))


def journal_layout(mapping: Mapping) -> JournalLayout:
    """Intacct's names for journal parts; TRX_AMOUNT is signed unless the mapping also maps TR_TYPE."""
    side = "TR_TYPE" if any(f.remote == "TR_TYPE" for f in mapping.fields) else None
    return JournalLayout(posting_date="BATCH_DATE", account="ACCOUNTNO", amount="TRX_AMOUNT", side=side,
                         symbol="JOURNAL", title="BATCH_TITLE", reference="REFERENCENO", memo="DESCRIPTION",
                         dimensions={"department": "DEPARTMENT", "location": "LOCATION"},
                         header_fields=frozenset({"REVERSEDATE", "HISTORY_COMMENT", "STATE"}))


def controlid_for(journal: Journal) -> str:
    """Deterministic function controlid: the same journal always carries the same one."""
    return f"migo-{journal.idempotency_key}"


def glbatch_function(journal: Journal) -> Function:
    """`create/GLBATCH` for one journal: absolute TRX_AMOUNT with TR_TYPE 1/-1 on every line."""
    fn = xml_function(controlid_for(journal), "create")
    batch = sub(fn.body, "GLBATCH")
    header: dict[str, Any] = {"JOURNAL": journal.symbol, "BATCH_DATE": journal.posting_date,
                              "BATCH_TITLE": journal.title, "REFERENCENO": journal.reference, **journal.header}
    for name in HEADER_ORDER:
        if header.get(name) is not None:
            sub(batch, name, _value(header[name]))
    entries = sub(batch, "ENTRIES")
    for line in journal.lines:
        entry = sub(entries, "GLENTRY")
        values: dict[str, Any] = {**line.extra, "ACCOUNTNO": line.account, "TRX_AMOUNT": abs(line.amount),
                                  "TR_TYPE": 1 if line.amount >= 0 else -1, "DESCRIPTION": line.memo,
                                  "DEPARTMENT": line.dimensions.get("department"),
                                  "LOCATION": line.dimensions.get("location")}
        for name in (*LINE_ORDER, *sorted(set(values) - set(LINE_ORDER))):
            if values.get(name) is not None:
                sub(entry, name, _value(values[name]))
    return fn
