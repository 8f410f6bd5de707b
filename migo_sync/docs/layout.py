"""Lay the lineage graph out as an inline SVG: columns by depth (sources left), rows in order.
Pure: graph in, positioned boxes and edges out; no network, no JavaScript needed to see it."""

from __future__ import annotations

from dataclasses import dataclass

from migo_sync.lineage.graph import Graph

WIDTH, HEIGHT, GAP_X, GAP_Y = 300, 26, 90, 10


@dataclass(frozen=True)
class Box:
    id: str
    label: str
    kind: str
    zone: str
    x: int
    y: int


@dataclass(frozen=True)
class Line:
    x1: int
    y1: int
    x2: int
    y2: int
    mapping: str


def depths(graph: Graph) -> dict[str, int]:
    """Longest distance from a source; bounded by the node count, so a cycle cannot loop forever."""
    depth = dict.fromkeys(graph.nodes, 0)
    for _ in range(len(graph.nodes)):
        changed = False
        for e in graph.edges:
            if depth[e.dst] < depth[e.src] + 1 <= len(graph.nodes):
                depth[e.dst] = depth[e.src] + 1
                changed = True
        if not changed:
            break
    return depth


def layout(graph: Graph, labels: dict[str, str], zones: dict[str, str]) -> tuple[list[Box], list[Line], int, int]:
    depth = depths(graph)
    columns: dict[int, list[str]] = {}
    for node_id in sorted(graph.nodes, key=lambda n: (graph.nodes[n].dataset, graph.nodes[n].name)):
        columns.setdefault(depth[node_id], []).append(node_id)
    boxes: dict[str, Box] = {}
    for col, ids in sorted(columns.items()):
        for row, node_id in enumerate(ids):
            node = graph.nodes[node_id]
            boxes[node_id] = Box(node_id, labels[node_id], node.kind, zones.get(node_id, ""),
                                 10 + col * (WIDTH + GAP_X), 10 + row * (HEIGHT + GAP_Y))
    lines = [Line(boxes[e.src].x + WIDTH, boxes[e.src].y + HEIGHT // 2, boxes[e.dst].x, boxes[e.dst].y + HEIGHT // 2,
                  e.mapping) for e in graph.edges]
    width = 20 + (max(columns, default=0) + 1) * (WIDTH + GAP_X)
    height = 20 + max((len(ids) for ids in columns.values()), default=1) * (HEIGHT + GAP_Y)
    return list(boxes.values()), lines, width, height
