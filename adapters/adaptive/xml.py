"""The Adaptive XML envelopes, shared by the client and the emulator, and safe parsing.

Requests:  <call method="…" callerName="…"><credentials login password [locale] [instanceCode]/>…</call>
Responses: <response success="true|false"><messages><message key="…">text</message></messages>
           <output>…</output></response>

Parsing is `migo_sync.xmlsafe`'s: never resolves entities, never loads a DTD and never touches
the network; a document that carries a DOCTYPE at all is refused (neither side has a reason to
send one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from migo_sync import xmlsafe
from migo_sync.xmlsafe import UnsafeXMLError as UnsafeXMLError  # re-exported: client and emulator catch it


def parse_xml(data: bytes | str) -> Any:
    """Parse untrusted XML: no entities, no DTD, no network. Returns the root element.

    Large trees are allowed: an exportData answer is one CSV text node, which may pass libxml2's
    10 MB limit.
    """
    return xmlsafe.parse_xml(data, huge_tree=True, remove_comments=True)


def to_bytes(root: Any) -> bytes:
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result


def element(tag: str, attrs: Mapping[str, object] | None = None, *children: Any, text: str | None = None) -> Any:
    """Build an element; attribute values are stringified (booleans as true/false), None skipped."""
    node = etree.Element(tag)
    for key, value in (attrs or {}).items():
        if value is not None:
            node.set(key, xml_bool(value) if isinstance(value, bool) else str(value))
    node.extend(children)
    if text is not None:
        node.text = text
    return node


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def is_true(value: str | None) -> bool:
    """Adaptive answers flags as true/false in some places and 1/0 in others (isImportable="1")."""
    return (value or "").strip().lower() in ("true", "1")


def build_call(method: str, caller_name: str, credentials: Mapping[str, str | None],
               children: Iterable[Any] = ()) -> bytes:
    """A request envelope: `credentials` holds login, password and optional locale/instanceCode."""
    call = element("call", {"method": method, "callerName": caller_name})
    call.append(element("credentials", credentials))
    call.extend(children)
    return to_bytes(call)


@dataclass(frozen=True)
class Message:
    key: str
    text: str
    type: str | None = None


@dataclass
class Envelope:
    """A parsed `<response>`: success flag, messages and the raw `<output>` element (if any)."""

    success: bool
    messages: list[Message] = field(default_factory=list)
    output: Any = None

    def first(self) -> Message | None:
        return self.messages[0] if self.messages else None


def parse_response(data: bytes) -> Envelope:
    root = parse_xml(data)
    if root.tag != "response":
        raise UnsafeXMLError(f"expected <response>, got <{root.tag}>")
    messages = [Message(key=m.get("key", ""), text=(m.text or "").strip(), type=m.get("type"))
                for m in root.iterfind("messages/message")]
    return Envelope(success=is_true(root.get("success")), messages=messages, output=root.find("output"))


def build_response(success: bool, messages: Iterable[Message] = (), output: Any = None) -> bytes:
    """A response envelope (the emulator's side). `output` is an element or CDATA text."""
    root = element("response", {"success": success})
    items = list(messages)
    if items:
        box = element("messages")
        for message in items:
            box.append(element("message", {"key": message.key, "type": message.type}, text=message.text))
        root.append(box)
    if output is not None:
        out = element("output")
        if isinstance(output, str):
            # CDATA cannot hold "]]>"; such a text goes out escaped, which parses the same.
            out.text = output if "]]>" in output else etree.CDATA(output)
        else:
            out.append(output)
        root.append(out)
    return to_bytes(root)
