"""Journals are written as text (`payload.journal_xml`) between the halves of zeep's own envelope,
not through zeep's object mapping (~13 ms a journal). The bodies must be exactly what zeep sent:
compared byte for byte with zeep's, over a seeded corpus of awkward journals and every Unicode
code point; valid against the project's XSD and the schema of a real tenant's WSDL (recordings,
read in place); and a journal no XML can carry is refused before anything is sent. And pages of
Get_Journals are read in one pass over each element, to the same values as a find per field (and
the emulator writes them as text, to the bytes lxml built)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from helpers.recordings import recording
from lxml import etree
from workday.workday_support import (
    findtext_journal_entries,
    findtext_submitted,
    lxml_render_journal,
    zeep_journal_data,
)
from zeep.wsdl.utils import etree_to_string

from migo_sync.adapters.workday.client import WorkdayClient
from migo_sync.adapters.workday.emulator import Spliced, journal_entry_xml, success_envelope, wd
from migo_sync.adapters.workday.pages import KEYS, parse_journals_page
from migo_sync.adapters.workday.payload import NOT_XML, Defaults, journal_xml, unsendable
from migo_sync.adapters.workday.soap import XSD_PATH
from migo_sync.ledger import Journal, JournalLine

URL = "https://wd2-impl-services1.workday.com/ccx/service/acme/Financial_Management/v45.0"
WD = "urn:com.workday/bsvc"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
AWKWARD = ["", " ", "a & b", "<x>", "1 > 0", '"quoted"', "it's", "tab\there", "cr\rlf\n", "\r\n", "é", "€ 5",
           "𝄞", "\x7f", "\x85", "\u2028", "\ufeff", "\ufffd", "&amp;", "]]>", "日本語", "  padded  "]
AMOUNTS = ["0", "-0", "0.00", "1E+2", "-1E-7", "123456789012.345678", "-5.5", "1e-30", "99999999999999.99",
           "-0.01", "7"]


def client(password: str = "p&ss<\"word>") -> WorkdayClient:
    """Never sends: the bodies are built, not posted. The password is awkward on purpose."""
    return WorkdayClient(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(599))), url=URL,
                         username="ISU_x@acme", password=password)


def awkward(rng: random.Random) -> str:
    return "".join(rng.choice([*AWKWARD, "plain", "OPS", "42"]) for _ in range(rng.randint(1, 4)))


def corpus(size: int, seed: int = 16) -> list[tuple[Journal, Defaults]]:
    """Journals covering every branch of the writer: header values mapped or defaulted (a company
    absent too), titles/references/memos None, empty or awkward, amounts of every sign and exponent,
    0-2 worktags (and a dimension Workday has no worktag for), Line_Order given, 0 or absent."""
    rng = random.Random(seed)
    found = []
    for n in range(size):
        defaults = Defaults(company=rng.choice([None, "MIGO_KE"]), currency=rng.choice([None, "KES"]),
                            ledger_type=rng.choice(["Actuals", "Budget & <Plan>"]),
                            journal_source=rng.choice([None, "Integration"]),
                            account_set=rng.choice(["Standard", 'Set "A"\t&\n<B>']))
        header: dict[str, Any] = {}
        for name, values in (("Company_Reference_ID", ["MIGO_KE", 42, awkward(rng)]),
                             ("Currency_ID", ["KES", "USD"]), ("Ledger_Type_ID", ["Actuals"]),
                             ("Journal_Source_ID", ["Integration", awkward(rng)])):
            if rng.random() < 0.6:
                header[name] = rng.choice(values)
        # a currency and a journal source are required (the adapter refuses a journal without them first)
        defaults = Defaults(company=defaults.company, ledger_type=defaults.ledger_type, account_set=defaults.account_set,
                            currency=defaults.currency or (None if "Currency_ID" in header else "KES"),
                            journal_source=defaults.journal_source or (None if "Journal_Source_ID" in header
                                                                       else "Integration"))
        lines = []
        for number in range(1, rng.randint(1, 5) + 1):
            dimensions = {kind: awkward(rng) for kind in ("cost_center", "region", "project") if rng.random() < 0.5}
            extra = {"Line_Order": rng.choice([str(number * 10), 0, awkward(rng)])} if rng.random() < 0.5 else {}
            lines.append(JournalLine(number=number, account=rng.choice(["1100", "4100", awkward(rng)]),
                                     amount=Decimal(rng.choice(AMOUNTS)), dimensions=dimensions,
                                     memo=rng.choice([None, awkward(rng)]), extra=extra))
        found.append((Journal(key=f"u{n}", idempotency_key=f"key-{n:04d}-{awkward(rng)}",
                              posting_date=date(1990, 1, 1) + timedelta(days=rng.randint(0, 20000)),
                              lines=tuple(lines), title=rng.choice([None, awkward(rng)]),
                              reference=rng.choice([None, awkward(rng)]), header=header), defaults))
    return found


def zeep_body(workday: WorkdayClient, operation: str, data: list[dict[str, Any]], add_only: bool) -> bytes:
    """What zeep itself sends for these journals (its create_message, serialised as its transport does)."""
    value: Any = data if operation == "Import_Accounting_Journal" else data[0]
    return bytes(etree_to_string(workday.message(operation, Accounting_Journal_Data=value, Add_Only=add_only)))


@pytest.mark.timeout(60)
def test_an_import_body_is_byte_for_byte_what_zeep_writes() -> None:
    workday = client()
    journals = corpus(120)
    for add_only, submit in ((True, True), (False, False)):
        prefix = workday.journal_prefix("Import_Accounting_Journal")
        ours = workday.journals_body("Import_Accounting_Journal", [
            journal_xml(journal, defaults, submit=submit, prefix=prefix) for journal, defaults in journals],
            add_only=add_only)
        theirs = zeep_body(workday, "Import_Accounting_Journal",
                           [zeep_journal_data(journal, defaults, submit=submit) for journal, defaults in journals],
                           add_only)
        assert ours == theirs


@pytest.mark.timeout(60)
def test_a_submit_body_is_byte_for_byte_what_zeep_writes() -> None:
    workday = client()
    prefix = workday.journal_prefix("Submit_Accounting_Journal")
    for journal, defaults in corpus(40, seed=7):
        ours = workday.journals_body("Submit_Accounting_Journal", [journal_xml(journal, defaults, submit=True,
                                                                                 prefix=prefix)], add_only=True)
        assert ours == zeep_body(workday, "Submit_Accounting_Journal",
                                 [zeep_journal_data(journal, defaults, submit=True)], True)


@pytest.mark.timeout(60)
def test_every_code_point_is_escaped_as_zeep_escapes_it() -> None:
    """Text and attribute escaping, every code point XML can carry (in 40 journals of long memos)."""
    carried = [chr(c) for c in range(0x110000) if not NOT_XML.match(chr(c))]
    workday = client()
    step = len(carried) // 40 + 1
    journals = []
    for n, start in enumerate(range(0, len(carried), step)):
        text = "".join(carried[start:start + step])
        line = JournalLine(number=1, account=text[:50], amount=Decimal("1.5"), dimensions={"region": text[-50:]},
                           memo=text)
        journals.append((Journal(key=f"c{n}", idempotency_key=f"c{n}", posting_date=date(2026, 10, 1), lines=(line,),
                                 title=text[:200], header={"Company_Reference_ID": "MIGO_KE"}),
                         Defaults(company=None, currency="KES", ledger_type="Actuals", journal_source="Integration",
                                  account_set=text[:100])))
    prefix = workday.journal_prefix("Import_Accounting_Journal")
    ours = workday.journals_body("Import_Accounting_Journal", [journal_xml(j, d, submit=True, prefix=prefix)
                                                               for j, d in journals], add_only=True)
    assert ours == zeep_body(workday, "Import_Accounting_Journal",
                             [zeep_journal_data(j, d, submit=True) for j, d in journals], True)


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\uffff", "\ud800"])
def test_a_character_xml_cannot_carry_is_refused_as_zeep_refuses_it_and_named(bad: str) -> None:
    [(journal, defaults)] = corpus(1, seed=3)
    line = journal.lines[0]
    spoilt = Journal(key=journal.key, idempotency_key=journal.idempotency_key, posting_date=journal.posting_date,
                     title=journal.title, reference=journal.reference, header=journal.header,
                     lines=(JournalLine(number=1, account="1100", amount=line.amount, dimensions={},
                                        memo=f"ok {bad} ok"), *journal.lines[1:]))
    with pytest.raises((ValueError, UnicodeError)):  # zeep (lxml) refuses it
        zeep_body(client(), "Import_Accounting_Journal", [zeep_journal_data(spoilt, defaults, submit=True)], True)
    with pytest.raises(ValueError):
        journal_xml(spoilt, defaults, submit=True)
    assert unsendable(spoilt, defaults) == (f"line 1: Memo holds U+{ord(bad):04X}, a character XML cannot carry: "
                                            "not sent")


def test_the_bodies_validate_against_the_project_xsd_and_the_real_tenant_schema() -> None:
    """The project XSD (what the emulator enforces) for the whole import; the schema embedded in a
    real tenant's WSDL for each journal, as the Submit_Accounting_Journal it also is."""
    ours = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    wsdl = etree.parse(str(recording("workday", "Financial_Management_v30.0.subset.wsdl")))
    [embedded] = wsdl.findall(".//{http://schemas.xmlsoap.org/wsdl/}types/{http://www.w3.org/2001/XMLSchema}schema")
    real = etree.XMLSchema(etree.ElementTree(embedded))
    workday = client()
    sendable = [(Journal(key=j.key, idempotency_key=j.idempotency_key, posting_date=j.posting_date, title=j.title,
                         reference=j.reference, header=j.header,  # amounts to the cent, as the checks allow
                         lines=tuple(JournalLine(number=line.number, account=line.account, memo=line.memo,
                                                 amount=line.amount.quantize(Decimal("0.01")),
                                                 dimensions=line.dimensions, extra=line.extra) for line in j.lines)),
                 Defaults(company="MIGO_KE", currency="KES", ledger_type=d.ledger_type,
                          journal_source="Integration", account_set=d.account_set)) for j, d in corpus(60, seed=5)]
    prefix = workday.journal_prefix("Import_Accounting_Journal")
    body = workday.journals_body("Import_Accounting_Journal", [journal_xml(j, d, submit=True, prefix=prefix)
                                                               for j, d in sendable], add_only=True)
    [request] = etree.fromstring(body).find(f"{{{SOAP}}}Body")
    assert ours.validate(request), ours.error_log.last_error
    for data in request.iterfind(f"{{{WD}}}Accounting_Journal_Data"):
        submit = etree.Element(f"{{{WD}}}Submit_Accounting_Journal_Request", {f"{{{WD}}}Add_Only": "true"})
        submit.append(data)
        assert real.validate(submit), real.error_log.last_error


# -- Get_Journals pages: the one-pass reader reads what a find per field read ------------------------

def page_of(journals: list[dict[str, Any]], extra: str = "") -> bytes:
    response = wd("Get_Journals_Response", version="v45.0")
    data = etree.SubElement(response, f"{{{WD}}}Response_Data")
    for journal in journals:
        lxml_render_journal(data, journal)
    body = success_envelope(response)
    return body.replace(b"</wd:Journal_Entry_Data>", extra.encode() + b"</wd:Journal_Entry_Data>", 1)


def stored_journals(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Journals as the emulator's books hold them: drafts and canceled ones, a source or none,
    awkward memos, a line currency or none, 0-2 worktags, debits or credits."""
    found = []
    for n in range(count):
        lines = [{"order": rng.choice([str(k), "", awkward(rng)]), "account": rng.choice(["1100", "4100"]),
                  "debit": rng.choice([None, "0.10", "12345678.90"]), "credit": rng.choice([None, "0.01", "7"]),
                  "currency": rng.choice([None, "USD"]), "memo": rng.choice([None, awkward(rng)]),
                  "worktags": {k: v for k, v in (("Cost_Center_Reference_ID", "OPS"), ("Region_Reference_ID", "NBO"))
                               if rng.random() < 0.5}} for k in range(1, rng.randint(1, 5) + 1)]
        found.append({"wid": f"w{n}", "id": rng.choice([None, f"k{n}"]), "number": f"JE-{n:07d}",
                      "status": rng.choice(["Posted", "Draft", "Canceled"]), "company": "MIGO_KE",
                      "currency": "KES", "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                      "source": rng.choice([None, "Integration"]), "memo": rng.choice([None, awkward(rng)]),
                      "external_reference": rng.choice([None, awkward(rng)]),
                      "created": "2026-11-30T01:02:03.456789+00:00", "updated": "2026-12-01T00:00:00Z",
                      "lines": lines})
    return found


@pytest.mark.parametrize("extra", [
    "",  # as the emulator renders them
    # what a tenant may add or repeat: the first of a name counts, every ID of a reference is read
    '<wd:Memo>second memo</wd:Memo><wd:Total_Ledger_Debits> 1.50 </wd:Total_Ledger_Debits><wd:Unknown>x</wd:Unknown>'
    '<?pi ignored?><wd:Journal_Entry_Line_Data><wd:Line_Order>9</wd:Line_Order><wd:Ledger_Account_Reference>'
    '<wd:ID wd:type="Ledger_Account_ID">1</wd:ID><wd:ID wd:type="Ledger_Account_ID">2</wd:ID><wd:Other/>'
    '</wd:Ledger_Account_Reference><wd:Debit_Amount/><wd:Credit_Amount>  </wd:Credit_Amount>'
    '<wd:Worktags_Reference><wd:ID wd:type="Region_Reference_ID">MSA</wd:ID></wd:Worktags_Reference>'
    '<wd:Memo></wd:Memo><wd:Worktags_Reference><wd:ID wd:type="Region_Reference_ID">KSM</wd:ID>'
    '</wd:Worktags_Reference></wd:Journal_Entry_Line_Data>',
])
def test_a_journal_page_is_read_as_a_find_per_field_read_it(extra: str) -> None:
    journals = stored_journals(random.Random(4), 80)
    content = page_of(journals, extra)
    page = parse_journals_page(content)
    assert page.entries == findtext_journal_entries(content)
    assert [{**entry, "lines": []} for entry in page.entries] == parse_journals_page(content, lines=False).entries
    # the ids an import booked: what names each journal, read as the whole page reads it
    named = ("WID", "Accounting_Journal_ID", "External_Reference_ID", "Journal_Status")
    assert parse_journals_page(content, lines=KEYS).entries == [
        {**{k: entry[k] for k in named}, "lines": []} for entry in page.entries]
    # a look-up reads the lines of the journals it finds only (the predicate sees each without lines)
    asked: list[dict[str, Any]] = []

    def found(entry: dict[str, Any]) -> bool:
        asked.append(dict(entry))
        return entry["Accounting_Journal_ID"] is not None
    some = parse_journals_page(content, lines=found).entries
    assert some == [entry if entry["Accounting_Journal_ID"] is not None else {**entry, "lines": []}
                    for entry in page.entries]
    assert asked == [{**entry, "lines": []} for entry in page.entries]


def test_the_emulators_journal_pages_are_byte_for_byte_what_lxml_built() -> None:
    """The emulator writes a page's journals as text (lxml built ~70,000 elements a page one at a
    time): the same bytes as its element-by-element rendering, awkward text included; an empty
    page too."""
    for journals in (stored_journals(random.Random(9), 60), []):
        built = wd("Get_Journals_Response", version="v45.0")
        data = etree.SubElement(built, f"{{{WD}}}Response_Data")
        for journal in journals:
            lxml_render_journal(data, journal)
        written = wd("Get_Journals_Response", version="v45.0")
        holder = etree.SubElement(written, f"{{{WD}}}Response_Data")
        assert Spliced(written, holder, "".join(journal_entry_xml(j) for j in journals)).envelope() == (
            success_envelope(built))


@pytest.mark.parametrize("extra", [
    "",
    # what a request may repeat or add when the schema is not enforced (validate_schema = false)
    '<wd:Journal_Entry_Memo>second</wd:Journal_Entry_Memo><wd:Company_Reference><wd:ID wd:type="Company_Reference_ID">'
    'X</wd:ID></wd:Company_Reference><?pi x?><wd:Journal_Entry_Line_Replacement_Data><wd:Ledger_Account_Reference>'
    '<wd:ID wd:type="WID">w</wd:ID></wd:Ledger_Account_Reference><wd:Ledger_Account_Reference><wd:ID '
    'wd:type="Ledger_Account_ID" wd:parent_id="P"> 9 </wd:ID></wd:Ledger_Account_Reference><wd:Memo>  </wd:Memo>'
    '<wd:Worktags_Reference><wd:ID wd:type="Region_Reference_ID">A</wd:ID><wd:ID wd:type="Region_Reference_ID">B'
    '</wd:ID></wd:Worktags_Reference></wd:Journal_Entry_Line_Replacement_Data>',
])
def test_the_emulator_reads_an_imports_journals_as_a_find_per_field_read_them(extra: str) -> None:
    from migo_sync.adapters.workday.emulator import read_journal_data

    workday = client()
    prefix = workday.journal_prefix("Import_Accounting_Journal")
    body = workday.journals_body("Import_Accounting_Journal", [
        journal_xml(j, d, submit=n % 2 == 0, prefix=prefix) for n, (j, d) in enumerate(corpus(50, seed=8))],
        add_only=True)
    body = body.replace(b"</ns0:Accounting_Journal_Data>", extra.replace("wd:", "ns0:").encode()
                        + b"</ns0:Accounting_Journal_Data>", 1)
    for data in etree.fromstring(body).iter(f"{{{WD}}}Accounting_Journal_Data"):
        assert read_journal_data(data, add_only=True) == findtext_submitted(data, add_only=True)
