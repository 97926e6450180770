"""Checks that a drawing can be read, made on the SVG (what people see) and on the layout data:

- no edge passes through a box that is not its source, its target, or a box holding one of them;
- an edge starts on its own source's border, and nothing leaves a Succeed or Fail state (an End state: only Catch);
- two states with different names never show the same text, and no name is wider than its box.

Each check returns a list of problems (empty: readable), so a failure says what is wrong where.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree

from stepline.graph import labels
from stepline.graph.layout import Layout

SVG = "{http://www.w3.org/2000/svg}"
MARGIN = 1.0  # a segment touching a box's border is not through it
Rect = tuple[float, float, float, float]  # left, top, right, bottom
Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    id: str
    rect: Rect
    type: str = ""  # a state's type; "" for a Parallel branch or an item processor
    end: bool = False


@dataclass(frozen=True)
class Line:
    source: str
    target: str
    kind: str
    points: tuple[Point, ...]  # a polyline (curves flattened)
    solid: bool = False  # each stretch between two points stands for its whole bounding box


CELL = 64.0


def _cells(rect: Rect) -> list[tuple[int, int]]:
    """The grid cells a rectangle (or the bounding box of two points) covers."""
    left, right = sorted((rect[0], rect[2]))
    top, bottom = sorted((rect[1], rect[3]))
    return [(i, j) for i in range(int(left // CELL), int(right // CELL) + 1)
            for j in range(int(top // CELL), int(bottom // CELL) + 1)]


def _owns(box: str, item: str) -> bool:
    """A box may carry an edge of its own state and of anything it holds."""
    return item == box or item.startswith(box + "/")


def _segment_hits(rect: Rect, a: Point, b: Point) -> bool:
    """Whether segment ab passes through rect shrunk by MARGIN (Liang-Barsky clipping)."""
    left, top, right, bottom = rect[0] + MARGIN, rect[1] + MARGIN, rect[2] - MARGIN, rect[3] - MARGIN
    if left >= right or top >= bottom:
        return False
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    low, high = 0.0, 1.0
    for p, q in ((-dx, x0 - left), (dx, right - x0), (-dy, y0 - top), (dy, bottom - y0)):
        if p == 0:
            if q <= 0:
                return False
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low >= high:
            return False
    return True


def _box_hits(rect: Rect, a: Point, b: Point) -> bool:
    """Whether the bounding box of a and b overlaps rect shrunk by MARGIN."""
    return (min(a[0], b[0]) < rect[2] - MARGIN and max(a[0], b[0]) > rect[0] + MARGIN
            and min(a[1], b[1]) < rect[3] - MARGIN and max(a[1], b[1]) > rect[1] + MARGIN)


def _on_border(rect: Rect, point: Point, slack: float = 0.6) -> bool:
    left, top, right, bottom = rect
    x, y = point
    across = left - slack <= x <= right + slack and (abs(y - top) <= slack or abs(y - bottom) <= slack)
    along = top - slack <= y <= bottom + slack and (abs(x - left) <= slack or abs(x - right) <= slack)
    return across or along


def problems(boxes: list[Box], lines: list[Line], texts: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """The three properties over boxes, edges and the text each state shows (id -> (name, lines))."""
    found: list[str] = []
    by_id = {box.id: box for box in boxes}
    grid: dict[tuple[int, int], list[Box]] = {}  # cells of CELL pixels -> the boxes over them
    for box in boxes:
        for cell in _cells(box.rect):
            grid.setdefault(cell, []).append(box)
    for line in lines:
        for a, b in zip(line.points, line.points[1:]):
            near = {id(box): box for cell in _cells((*a, *b)) for box in grid.get(cell, ())}
            for box in near.values():
                if (_box_hits if line.solid else _segment_hits)(box.rect, a, b) \
                        and not (_owns(box.id, line.source) or _owns(box.id, line.target)):
                    found.append(f"edge {line.source} -> {line.target} passes through {box.id} at {a}-{b}")
        source = by_id[line.source]
        if line.source != line.target and not _on_border(source.rect, line.points[0]):
            found.append(f"edge {line.source} -> {line.target} starts off its source, at {line.points[0]}")
        if source.type in ("Succeed", "Fail"):
            found.append(f"an edge leaves the {source.type} state {line.source}")
        elif source.end and line.kind != "catch":
            found.append(f"a {line.kind} edge leaves the End state {line.source}")
    shown: dict[tuple[str, ...], set[str]] = {}
    for name, text in texts.values():
        shown.setdefault(text, set()).add(name)
    found += [f"{sorted(names)} all show {text}" for text, names in shown.items() if len(names) > 1]
    return found


# ---------------------------------------------------------------------- the layout data


def layout_problems(layout: Layout) -> list[str]:
    """The properties on the layout: each stretch between two edge points (an S-curve stays in their bounding box)
    is checked as its whole bounding box, a stronger test than the curve itself."""
    boxes = [Box(n.id, (n.x, n.y, n.x + n.w, n.y + n.h), n.type, n.terminal) for n in layout.nodes]
    boxes += [Box(g.id, (g.x, g.y, g.x + g.w, g.y + g.h)) for g in layout.groups]
    lines = [Line(edge.source, edge.target, edge.kind, edge.points, solid=edge.source != edge.target)
             for edge in layout.edges]
    texts = {n.id: (n.name, n.title_lines) for n in layout.nodes}
    overflowing = [f"{n.id} shows {line!r}, wider than its box" for n in layout.nodes for line in n.title_lines
                   if labels.text_width(line) > n.w - 16]
    return problems(boxes, lines, texts) + overflowing


# ---------------------------------------------------------------------- the SVG


_NUMBER = r"-?\d+(?:\.\d+)?"


def _flatten(d: str) -> tuple[Point, ...]:
    """A path of M, L and C commands as a polyline (each cubic as 8 chords)."""
    points: list[Point] = []
    for command, args in re.findall(r"([MLC])([^MLC]*)", d):
        values = [float(v) for v in re.findall(_NUMBER, args)]
        pairs = list(zip(values[::2], values[1::2]))
        if command in "ML":
            points += pairs
            continue
        for i in range(0, len(pairs), 3):
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[-1], *pairs[i:i + 3]
            for step in range(1, 9):
                t = step / 8
                u = 1 - t
                points.append((u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
                               u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3))
    return tuple(points)


def _classes(element: ElementTree.Element) -> set[str]:
    return set((element.get("class") or "").split())


def svg_problems(svg: str) -> list[str]:
    """The properties on the drawing itself: boxes from the rectangles, edges from the paths, names from the text."""
    tree = ElementTree.fromstring(svg)
    boxes: list[Box] = []
    lines: list[Line] = []
    texts: dict[str, tuple[str, tuple[str, ...]]] = {}
    for g in tree.iter(f"{SVG}g"):
        classes = _classes(g)
        if "sl-node" in classes:
            x, y = (float(v) for v in re.findall(_NUMBER, g.get("transform", "")))
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            w, h = float(rect.get("width", 0)), float(rect.get("height", 0))
            boxes.append(Box(g.get("data-id", ""), (x, y, x + w, y + h), g.get("data-type", ""), "sl-end" in classes))
            name_lines = tuple("".join(t.itertext()) for t in g.iter(f"{SVG}text")
                               if "sl-name" in _classes(t) or "sl-marker" in classes)
            texts[g.get("data-id", "")] = (g.get("data-name", ""), name_lines)
        elif "sl-group" in classes:
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
            w, h = float(rect.get("width", 0)), float(rect.get("height", 0))
            boxes.append(Box(g.get("data-id", ""), (x, y, x + w, y + h)))
        elif "sl-edge" in classes:
            path = g.find(f"{SVG}path")
            assert path is not None
            kind = next((c.removeprefix("sl-edge--") for c in classes if c.startswith("sl-edge--")), "")
            lines.append(Line(g.get("data-source", ""), g.get("data-target", ""), kind, _flatten(path.get("d", ""))))
    return problems(boxes, lines, texts)


def definitions_in(value: object) -> Iterable[dict[str, object]]:
    """Every state machine definition (a dict with StartAt and States) at the top of value or in it."""
    if isinstance(value, dict):
        if isinstance(value.get("States"), dict) and "StartAt" in value:
            yield value
            return
        for child in value.values():
            yield from definitions_in(child)
    elif isinstance(value, list):
        for child in value:
            yield from definitions_in(child)
