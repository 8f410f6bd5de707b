"""The lineage graph as text, JSON, Mermaid or Graphviz DOT; and the part of it one target touches."""

from __future__ import annotations

from collections.abc import Callable

from migo_sync.errors import ConfigError
from migo_sync.lineage.graph import Graph, Node
from migo_sync.mapping.loader import did_you_mean

Zone = Callable[[str], str]


def focus(graph: Graph, target: str | None, synonyms: dict[str, str]) -> Graph:
    """The nodes upstream and downstream of a term, a mapping or a warehouse relation."""
    if not target:
        return graph
    key = target.strip()
    term = key if key in graph.terms else synonyms.get(key.lower().replace(" ", "_"))
    if term is not None and term in graph.terms:
        start = graph.terms[term]
    elif any(e.mapping == key for e in graph.edges):  # what feeds it and what it feeds, not its neighbours
        mine = [e for e in graph.edges if e.mapping == key]
        return graph.subgraph(graph.upstream(e.src for e in mine) | graph.downstream(e.dst for e in mine))
    else:
        start = {n.id for n in graph.nodes.values() if n.kind != "remote" and n.dataset == key.lower()}
    if not start:
        choices = [*graph.terms, *{e.mapping for e in graph.edges},
                   *{n.dataset for n in graph.nodes.values() if n.kind != "remote"}]
        hint = did_you_mean(key, choices)
        raise ConfigError(f"no term, mapping or warehouse relation '{key}' in the lineage"
                          + (f" ({hint})" if hint else ""))
    return graph.subgraph(graph.upstream(start) | graph.downstream(start))


def label(node: Node, zone: Zone) -> str:
    if node.kind == "remote":
        return f"{node.system}: {node.dataset}" + (f".{node.name}" if node.name else "")
    mark = " (dmz)" if zone(node.dataset) == "dmz" else ""
    return f"{node.dataset}" + (f".{node.name}" if node.name else "") + mark


def as_text(graph: Graph, zone: Zone) -> str:
    lines = []
    for e in sorted(graph.edges, key=lambda e: (e.direction != "pull", e.mapping, e.src, e.dst)):
        lines.append(f"{label(graph.nodes[e.src], zone)}  ─[{e.mapping}]→  {label(graph.nodes[e.dst], zone)}")
    return "\n".join(lines)


def _ids(graph: Graph) -> dict[str, str]:
    return {node_id: f"n{i}" for i, node_id in enumerate(sorted(graph.nodes))}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "#quot;")


def as_mermaid(graph: Graph, zone: Zone) -> str:
    ids = _ids(graph)
    out = ["flowchart LR"]
    for node_id, short in ids.items():
        node = graph.nodes[node_id]
        text = _quote(label(node, zone))
        out.append(f'  {short}(["{text}"])' if node.kind == "remote" else f'  {short}["{text}"]')
    for e in graph.edges:
        out.append(f'  {ids[e.src]} -->|"{_quote(e.mapping)}"| {ids[e.dst]}')
    dmz = [ids[n.id] for n in graph.nodes.values() if n.kind != "remote" and zone(n.dataset) == "dmz"]
    if dmz:
        out.append("  classDef dmz fill:#fde2e2,stroke:#c0392b")
        out.append(f"  class {','.join(dmz)} dmz")
    return "\n".join(out)


def as_dot(graph: Graph, zone: Zone) -> str:
    ids = _ids(graph)

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = ["digraph lineage {", "  rankdir=LR;"]
    for node_id, short in ids.items():
        node = graph.nodes[node_id]
        shape = "ellipse" if node.kind == "remote" else "box"
        color = ', style=filled, fillcolor="#fde2e2"' if node.kind != "remote" and zone(node.dataset) == "dmz" else ""
        out.append(f"  {short} [label={q(label(node, zone))}, shape={shape}{color}];")
    for e in graph.edges:
        out.append(f"  {ids[e.src]} -> {ids[e.dst]} [label={q(e.mapping)}];")
    out.append("}")
    return "\n".join(out)
