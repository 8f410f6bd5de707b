"""Parse XML from the network (remote answers, requests reaching an emulator) without trusting it.

Every parser built here refuses the classic XML attacks at the libxml2 level, and `parse_xml()`
then refuses any document that declares a DOCTYPE at all: no system migo-sync talks to has a
reason to send one, so its presence is a sign of an attack or a broken peer, never data.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

_local = threading.local()
# What XML 1.0 cannot carry (its Char production), lone surrogates included; tab, LF and CR it can.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PROLOG_DOCTYPE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?(?:\s*<!--.*?-->)*\s*<!DOCTYPE", re.S)


def unsendable(value: str, *, xml: bool) -> str | None:
    """Why `value` cannot be sent as text (None when it can): a lone surrogate is not text in any
    encoding; in XML, neither are most control characters (U+0000 above all)."""
    found = (_NOT_XML if xml else _SURROGATE).search(value)
    if found is None:
        return None
    char = found.group()
    where = "in XML" if xml and not _SURROGATE.match(char) else "as UTF-8 text"
    return f"character U+{ord(char):04X} at position {found.start() + 1} cannot be sent {where}"


class UnsafeXMLError(ValueError):
    """The document is not well-formed, is empty, or declares a DOCTYPE."""


def safe_parser(*, huge_tree: bool = False, remove_blank_text: bool = False,
                remove_comments: bool = False) -> etree.XMLParser:
    """A new hardened lxml parser (lxml parsers must not be shared between threads).

    Always:
        resolve_entities=False: `&name;` is never expanded, so no "billion laughs" blow-up and no
            external entity (`SYSTEM "file:///etc/passwd"`) is read into the document.
        no_network=True: libxml2 never fetches a DTD, entity or XInclude over the network (SSRF).
        load_dtd=False, dtd_validation=False: an external DTD is neither loaded nor validated
            against, so it can neither be fetched nor supply default attributes or entities.

    Args:
        huge_tree: lift libxml2's limits (depth 256, 10 MB text nodes); only for answers that are
            legitimately that large, e.g. a bulk export. Entity expansion stays off regardless.
        remove_blank_text: drop whitespace-only text between elements (pretty-printed documents).
        remove_comments: drop comments, so a comment cannot split an element's text in two.
    """
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=huge_tree, remove_blank_text=remove_blank_text,
                           remove_comments=remove_comments)


def _parser_for_this_thread(huge_tree: bool, remove_blank_text: bool, remove_comments: bool) -> etree.XMLParser:
    """One parser per thread and setting: reused, it spares building one per document."""
    parsers: dict[tuple[bool, bool, bool], Any] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    key = (huge_tree, remove_blank_text, remove_comments)
    if key not in parsers:
        parsers[key] = safe_parser(huge_tree=huge_tree, remove_blank_text=remove_blank_text,
                                   remove_comments=remove_comments)
    return parsers[key]


def declares_doctype(raw: bytes) -> bool:
    """Whether a document's prolog declares a DOCTYPE: for parsers we do not drive ourselves (zeep)."""
    return _PROLOG_DOCTYPE.match(raw) is not None


def parse_xml(data: bytes | str, *, huge_tree: bool = False, remove_blank_text: bool = False,
              remove_comments: bool = False) -> etree._Element:
    """Parse untrusted XML with a `safe_parser()` of these settings and return the root element.

    Raises:
        UnsafeXMLError: the document is not well-formed, is empty, or declares a DOCTYPE (even
            one whose entities went unexpanded: nothing legitimate carries one).
    """
    # A str is encoded first: lxml refuses a str that carries an encoding declaration.
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if declares_doctype(raw):  # before parsing: libxml2 may choke on what the DTD declares
        raise UnsafeXMLError("XML with a DOCTYPE is refused")
    try:
        root = etree.fromstring(raw, parser=_parser_for_this_thread(huge_tree, remove_blank_text, remove_comments))
    except etree.XMLSyntaxError as exc:
        raise UnsafeXMLError(f"malformed XML: {exc}") from None
    if root is None:
        raise UnsafeXMLError("empty XML document")
    if root.getroottree().docinfo.doctype:
        raise UnsafeXMLError("XML with a DOCTYPE is refused")
    return root
