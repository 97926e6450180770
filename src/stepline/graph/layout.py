"""A layered (top to bottom) layout of a state machine definition: boxes, edges and nested groups.

    layout = layout_definition(definition)       # a dict or JSON text; never raises on a broken definition
    layout.nodes, layout.edges, layout.groups    # positions in pixels, (0, 0) at the top left
    layout.to_json()                             # what the console fetches; svg.render_svg draws the same

Each state machine (the definition, each Parallel branch, a Map's item processor) is laid out on its own, as
a Sugiyama-style layered graph: cycles are broken by reversing the back edges of a depth-first search,
states are ranked by longest path (every edge spans two ranks, so its middle rank can carry its label),
long edges get dummy points, rank orders come from barycenter sweeps (the order with the fewest crossings
wins), and x positions from repeated least-squares placement under the no-overlap constraints (pool
adjacent violators). A Parallel or Map state is a box holding its branches' layouts, so nesting costs
nothing special.

Edges never cross a box that is not theirs: an edge moves sideways only in the gaps between ranks, where
there are no boxes, and crosses a rank only straight down, through its own box or at its dummy point, which
the placement keeps clear of every box of that rank. Nothing leaves a Succeed or Fail state or an End state
(but its Catch): there is a Start marker and no End marker. A name too long for its box is wrapped on two
lines and shortened in the middle beyond that; names that would still look alike are wrapped in full.

Node ids are the state's location as ValidateStateMachineDefinition reports it (`/States/Charge`,
`/States/Fan/Branches[0]/States/Charge`), so a diagnostic finds its state by prefix; "start" is the Start
marker.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepline.asl.model import ChoiceState, MapState, ParallelState, State, StateMachine
from stepline.asl.parse import parse_definition
from stepline.graph import labels
from stepline.jsonvalue import JSON

NODE_H = 46.0  # a box with a one-line name
LINE_H = 16.0  # each further line of a name
TITLE_LINES = 2  # a name longer than that is shortened in the middle
MIN_W, MAX_W = 110.0, 230.0
MARKER_W, MARKER_H = 64.0, 28.0  # the Start marker
NODE_SEP = 36.0  # horizontal gap between boxes
DUMMY_SEP = 14.0  # horizontal gap next to an edge's bend point
RANK_SEP = 20.0  # vertical gap between ranks (an edge spans two)
LABEL_MAX_W = 180.0
LABEL_H = 18.0
LOOP_W = 24.0  # the room a self-loop takes beside its box
HEADER_H = 40.0  # a Parallel or Map box's title, on one line
GROUP_LABEL_H = 22.0
GROUP_PAD = 12.0
GROUP_GAP = 16.0
MARGIN = 16.0
SWEEPS = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A state (or the Start marker): its box, top left at (x, y)."""

    id: str
    name: str
    type: str  # an ASL state type, or "Start"
    x: float
    y: float
    w: float
    h: float
    title_lines: tuple[str, ...]  # the name, wrapped or shortened to fit the box
    detail: str  # the second line: the type, or a Task's resource in short
    parent: str | None = None  # the id of the group (branch, item processor) holding it
    depth: int = 0
    compound: bool = False  # Parallel and Map: a box around their groups
    retry: int = 0  # how many Retry rules
    catch: int = 0
    terminal: bool = False  # Succeed, Fail, or End: true (nothing leaves it but a Catch)

    def moved(self, dx: float, dy: float, depth: int, parent: str | None) -> Node:
        return Node(**{**_fields(self), "x": round(self.x + dx, 1), "y": round(self.y + dy, 1),
                       "depth": self.depth + depth, "parent": self.parent or parent})


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """A transition: Next, a Choice rule, Default, a Catch, or from the Start marker; points run from source to
    target."""

    id: str
    source: str
    target: str
    kind: str  # "next", "choice", "default", "catch", "start"
    points: tuple[tuple[float, float], ...]
    label: str = ""  # fitted to LABEL_MAX_W
    title: str = ""  # the label in full
    label_x: float = 0.0  # centre of the label
    label_y: float = 0.0
    parent: str | None = None

    def moved(self, dx: float, dy: float, parent: str | None) -> Edge:
        return Edge(**{**_fields(self), "points": tuple((round(x + dx, 1), round(y + dy, 1)) for x, y in self.points),
                       "label_x": round(self.label_x + dx, 1), "label_y": round(self.label_y + dy, 1),
                       "parent": self.parent or parent})


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A Parallel branch or a Map's item processor: a box inside its state's box."""

    id: str  # "/States/Fan/Branches[0]", "/States/Each/ItemProcessor"
    state: str  # the id of the Parallel or Map state
    kind: str  # "branch" or "processor"
    label: str
    x: float
    y: float
    w: float
    h: float
    parent: str | None = None
    depth: int = 1  # the nesting level of the states it holds (a top-level Parallel's branches: 1)

    def moved(self, dx: float, dy: float, depth: int, parent: str | None) -> Group:
        return Group(**{**_fields(self), "x": round(self.x + dx, 1), "y": round(self.y + dy, 1), "depth": self.depth + depth,
                        "parent": self.parent or parent})


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """The whole drawing: size, nodes (containers before what they contain), edges and groups."""

    width: float
    height: float
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    groups: tuple[Group, ...]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "nodes": [_fields(n) for n in self.nodes],
                "edges": [{**_fields(e), "points": [list(p) for p in e.points]} for e in self.edges],
                "groups": [_fields(g) for g in self.groups]}


def _fields(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


# ---------------------------------------------------------------------- the public entry point


def layout_definition(definition: str | bytes | JSON) -> Layout:
    """Lay out a definition (JSON text or a parsed value). A broken definition draws what can be drawn."""
    model, _ = parse_definition(definition)
    empty = StateMachine(location="", start_at=None, states={}, query_language="JSONPath", fields={})
    model = model or empty
    block = _machine(model, _titles(model), start=True)
    nodes = [n.moved(MARGIN, MARGIN, 0, None) for n in block.nodes]
    nodes.sort(key=lambda n: (not n.compound, n.depth))  # containers first: drawn beneath their content
    return Layout(width=round(block.w + 2 * MARGIN, 1), height=round(block.h + 2 * MARGIN, 1),
                  nodes=tuple(nodes), edges=tuple(e.moved(MARGIN, MARGIN, None) for e in block.edges),
                  groups=tuple(g.moved(MARGIN, MARGIN, 0, None) for g in block.groups))


# ---------------------------------------------------------------------- one state machine


@dataclass(slots=True)
class _Block:
    """One state machine laid out, at (0, 0)."""

    w: float
    h: float
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


@dataclass(slots=True)
class _Item:
    """A vertex of the layered graph: a state, a marker, or a bend point of a long edge."""

    key: str
    w: float  # the room it takes in its rank: its box, and a self-loop on both sides
    h: float
    dummy: bool = False
    label: str = ""
    rank: int = 0
    pos: float = 0.0  # place in its rank
    x: float = 0.0  # centre
    y: float = 0.0  # centre
    box_w: float = 0.0  # its box (a dummy: 0)
    up: list[str] = field(default_factory=list)  # neighbours one rank above
    down: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Link:
    """A transition before layout."""

    source: str
    target: str
    kind: str
    title: str = ""
    reversed: bool = False  # drawn from the target down to the source (a loop back)
    own: str = ""  # its first bend point, next to its source: it carries the label
    lane: list[str] = field(default_factory=list)  # the lane it goes on along, nearest the target first
    shared: int = 0  # how many of the lane's bend points it goes through

    def ends(self) -> tuple[str, str]:
        """The upper and the lower of its two states."""
        return (self.target, self.source) if self.reversed else (self.source, self.target)

    def inner(self) -> tuple[str, str]:
        """Its bend points next to its upper and its lower state (its states themselves when it has none)."""
        top, bottom = self.ends()
        if not self.own:
            return bottom, top
        near_target = self.lane[0] if self.shared else self.own
        return (near_target, self.own) if self.reversed else (self.own, near_target)


def _machine(machine: StateMachine, titles: Mapping[str, tuple[str, ...]], *, start: bool) -> _Block:
    states = machine.states
    items: dict[str, _Item] = {}
    inner: dict[str, _Block] = {}  # the content of Parallel and Map boxes
    boxes: dict[str, Node] = {}
    for state in states.values():
        node, block = _state_box(state, titles)
        boxes[node.id] = node
        items[node.id] = _Item(node.id, node.w, node.h, box_w=node.w)
        if block is not None:
            inner[node.id] = block
    links: list[_Link] = []
    first = states.get(machine.start_at) if machine.start_at is not None else None
    start_at = first.location if first is not None else None
    if start:
        items["start"] = _Item("start", MARKER_W, MARKER_H, box_w=MARKER_W)
        boxes["start"] = Node(id="start", name="Start", type="Start", x=0, y=0, w=MARKER_W, h=MARKER_H,
                              title_lines=("Start",), detail="")
        if start_at is not None:
            links.append(_Link("start", start_at, "start"))
    for state in states.values():
        links.extend(_transitions(state, states))
    loops = [link for link in links if link.source == link.target]
    links = [link for link in links if link.source != link.target]
    for link in loops:  # room for the loop on the right; the same on the left keeps the box centred
        label = labels.fit(link.title, LABEL_MAX_W, labels.SMALL) if link.title else ""
        items[link.source].w += 2 * (LOOP_W + (labels.text_width(label, labels.SMALL) if label else 0))
    roots = ["start"] if start else []
    roots += [start_at] if start_at else []
    roots += [state.location for state in states.values()]
    _rank(items, links, roots)
    lanes = _add_dummies(items, links)
    ranks = _order(items, roots, links)
    _place_x(items, ranks)
    _straighten(items, ranks, lanes)
    bands = _place_y(items, ranks)
    width = _normalise_x(items)
    block = _Block(width, bands[-1][1] if bands else 0.0)
    for key, item in items.items():
        if item.dummy:
            continue
        node = boxes[key]
        left, top = item.x - node.w / 2, item.y - node.h / 2
        block.nodes.append(Node(**{**_fields(node), "x": round(left, 1), "y": round(top, 1)}))
        if key in inner:
            _place_inner(block, node, inner[key], left, top)
    block.edges.extend(_route(items, links, bands))
    block.edges.extend(_loop(items[link.source], link) for link in loops)
    return block


def _all_states(machine: StateMachine) -> Iterable[State]:
    for state in machine.states.values():
        yield state
        if isinstance(state, ParallelState):
            for branch in state.branches:
                yield from _all_states(branch)
        elif isinstance(state, MapState) and state.processor is not None:
            yield from _all_states(state.processor)


def _detail(state: State) -> str:
    return labels.resource(state.fields) if state.type == "Task" else (state.type or "?")


def _box_width(state: State) -> float:
    """The width of a state's box for its words (a Parallel or Map box may widen for its content). A Parallel or
    Map box is wide anyway, so its name may take up to twice the room of another's."""
    badge = 24 if state.retry else 0
    wanted = max(labels.text_width(state.name), labels.text_width(_detail(state), labels.SMALL)) + 32
    holds = (isinstance(state, ParallelState) and state.branches) or (
        isinstance(state, MapState) and state.processor is not None)
    return min(2 * MAX_W if holds else MAX_W, max(MIN_W, wanted + badge))


def _title_width(state: State) -> float:
    return _box_width(state) - 24 - (24 if state.retry else 0)


def _titles(machine: StateMachine) -> dict[str, tuple[str, ...]]:
    """The lines of each state's name, by location: wrapped on TITLE_LINES, shortened in the middle beyond.
    Names that would show the same lines are wrapped in full instead (lines that join up to the name itself,
    so two different names can no longer look alike)."""
    states = list(_all_states(machine))
    titles = {s.location: labels.wrap(s.name, _title_width(s), TITLE_LINES) for s in states}
    full: set[str] = set()
    while True:
        shown: dict[tuple[str, ...], set[str]] = {}
        for state in states:
            shown.setdefault(titles[state.location], set()).add(state.name)
        alike = [s for s in states if len(shown[titles[s.location]]) > 1 and s.location not in full]
        if not alike:
            return titles
        for state in alike:
            titles[state.location] = labels.wrap(state.name, _title_width(state))
            full.add(state.location)


def _state_box(state: State, titles: Mapping[str, tuple[str, ...]]) -> tuple[Node, _Block | None]:
    """A state's box; for Parallel and Map also the block of their content."""
    title = titles[state.location]
    width = _box_width(state)
    height = NODE_H + LINE_H * (len(title) - 1)
    block = _container(state, titles)
    if block is not None:
        width = max(width, block.w + 2 * GROUP_PAD)
        height = HEADER_H + LINE_H * (len(title) - 1) + block.h + GROUP_PAD
    detail = labels.fit(_detail(state), width - 20, labels.SMALL)
    return Node(id=state.location, name=state.name, type=state.type or "?", x=0, y=0, w=round(width, 1),
                h=round(height, 1), title_lines=title, detail=detail, compound=block is not None,
                retry=len(state.retry), catch=len(state.catch),
                terminal=state.type in ("Succeed", "Fail") or state.end), block


def _container(state: State, titles: Mapping[str, tuple[str, ...]]) -> _Block | None:
    """The branches of a Parallel side by side, or a Map's item processor, each in a group box."""
    if isinstance(state, ParallelState):
        parts = [(f"Branch {i + 1}", "branch", branch) for i, branch in enumerate(state.branches)]
    elif isinstance(state, MapState) and state.processor is not None:
        label = "Item processor (distributed)" if state.distributed else (
            "Iterator" if state.processor_field == "Iterator" else "Item processor")
        parts = [(label, "processor", state.processor)]
    else:
        return None
    if not parts:
        return None
    block = _Block(0, 0)
    x = 0.0
    for label, group_kind, machine in parts:
        group_id = machine.location
        content = _machine(machine, titles, start=False)
        w = max(content.w, labels.text_width(label, labels.SMALL)) + 2 * GROUP_PAD
        h = GROUP_LABEL_H + content.h + GROUP_PAD
        inset = x + (w - content.w) / 2
        block.nodes += [n.moved(inset, GROUP_LABEL_H, 0, group_id) for n in content.nodes]
        block.edges += [e.moved(inset, GROUP_LABEL_H, group_id) for e in content.edges]
        block.groups += [g.moved(inset, GROUP_LABEL_H, 0, group_id) for g in content.groups]
        block.groups.append(Group(id=group_id, state=state.location, kind=group_kind, label=label, x=x, y=0, w=w,
                                  h=h, depth=0))
        x += w + GROUP_GAP
        block.h = max(block.h, h)
    block.w = x - GROUP_GAP
    return block


def _place_inner(block: _Block, box: Node, inner: _Block, left: float, top: float) -> None:
    dx = left + (box.w - inner.w) / 2
    dy = top + HEADER_H + LINE_H * (len(box.title_lines) - 1)
    block.nodes += [n.moved(dx, dy, 1, None) for n in inner.nodes]
    block.edges += [e.moved(dx, dy, None) for e in inner.edges]
    block.groups += [g.moved(dx, dy, 1, None) for g in inner.groups]


def _transitions(state: State, states: Mapping[str, State]) -> Iterable[_Link]:
    def target(name: str | None) -> str | None:
        return states[name].location if name is not None and name in states else None

    source = state.location
    if state.type in ("Succeed", "Fail"):  # nothing leaves them, even when a broken definition says so
        return
    if isinstance(state, ChoiceState):
        for rule in state.choices:
            if (rule_target := target(rule.next)) is not None:
                yield _Link(source, rule_target, "choice", labels.choice_rule(rule.fields))
        if (default := target(state.default)) is not None:
            yield _Link(source, default, "default", "Default")
        return
    if (next_target := target(state.next)) is not None and not state.end:
        yield _Link(source, next_target, "next")
    for catcher in state.catch:
        if (catch_target := target(catcher.next)) is not None:
            errors = catcher.fields.get("ErrorEquals")
            title = ", ".join(str(e) for e in errors) if isinstance(errors, list) else "?"
            yield _Link(source, catch_target, "catch", title)


# ---------------------------------------------------------------------- ranks


def _rank(items: dict[str, _Item], links: list[_Link], roots: list[str]) -> None:
    """Break cycles (reverse the back edges of a DFS), then rank by longest path; every edge spans 2."""
    out: dict[str, list[_Link]] = {key: [] for key in items}
    for link in links:
        out[link.source].append(link)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in [*roots, *items]:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            key, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[key] = 2
                stack.pop()
            elif state.get(step.target) == 1:
                step.reversed = True
            elif step.target not in state:
                state[step.target] = 1
                stack.append((step.target, iter(out[step.target])))
    above: dict[str, list[str]] = {key: [] for key in items}
    below: dict[str, list[str]] = {key: [] for key in items}
    for link in links:
        top, bottom = (link.target, link.source) if link.reversed else (link.source, link.target)
        below[top].append(bottom)
        above[bottom].append(top)
    waiting = {key: len(above[key]) for key in items}
    ready = [key for key in items if not waiting[key]]
    ordered = []
    while ready:
        key = ready.pop()
        ordered.append(key)
        for other in below[key]:
            waiting[other] -= 1
            if not waiting[other]:
                ready.append(other)
    for key in ordered:
        items[key].rank = max((items[k].rank + 2 for k in above[key]), default=0)
    for key in reversed(ordered):  # a state nothing leads to sits just above its first successor
        if not above[key] and below[key] and key != "start":
            items[key].rank = min(items[k].rank for k in below[key]) - 2
    lowest = min((item.rank for item in items.values()), default=0)
    for item in items.values():
        item.rank -= lowest


def _add_dummies(items: dict[str, _Item], links: list[_Link]) -> list[list[str]]:
    """A bend point on every rank an edge crosses; a labelled edge's label rides on its first one. Returns the
    lanes.

    Past that first one, edges of one kind into one state share their bend points (a lane), so that a hundred
    Catch edges into one Fail state cost a lane, not a hundred: bend points, and the work on them, grow with
    ranks, not ranks squared."""
    lanes: dict[tuple[str, str, bool], list[str]] = {}

    def link_items(upper: str, lower: str) -> None:
        items[upper].down.append(lower)
        items[lower].up.append(upper)

    for number, link in enumerate(links):
        top, bottom = link.ends()
        top_rank, bottom_rank = items[top].rank, items[bottom].rank
        if bottom_rank - top_rank < 2:  # not drawn by _rank; kept straight should it ever be
            link_items(top, bottom)
            continue
        own_rank = bottom_rank - 1 if link.reversed else top_rank + 1
        link.own = f"~{number}~{own_rank}"
        label = labels.fit(link.title, LABEL_MAX_W, labels.SMALL) if link.title else ""
        width = labels.text_width(label, labels.SMALL) + 10 if label else 0.0
        items[link.own] = _Item(link.own, width, LABEL_H if label else 0.0, dummy=True, label=label, rank=own_rank)
        link.lane = lanes.setdefault((link.target, link.kind, link.reversed), [])
        link.shared = bottom_rank - top_rank - 2
        target_rank = items[link.target].rank
        while len(link.lane) < link.shared:  # the lane grows away from the target
            rank = target_rank + 1 + len(link.lane) if link.reversed else target_rank - 1 - len(link.lane)
            key = f"~{link.target}~{link.kind}~{link.reversed}~{rank}"
            items[key] = _Item(key, 0.0, 0.0, dummy=True, rank=rank)
            nearer = link.lane[-1] if link.lane else link.target
            link_items(*((nearer, key) if link.reversed else (key, nearer)))
            link.lane.append(key)
        far = link.lane[link.shared - 1] if link.shared else link.target
        if link.reversed:
            link_items(far, link.own)
            link_items(link.own, bottom)
        else:
            link_items(top, link.own)
            link_items(link.own, far)
    return list(lanes.values())


# ---------------------------------------------------------------------- order within ranks


def _order(items: dict[str, _Item], roots: list[str], links: list[_Link]) -> list[list[str]]:
    """Rank orders: first met in a breadth-first walk, then barycenter sweeps; the fewest crossings win."""
    count = max((item.rank for item in items.values()), default=-1) + 1
    ranks: list[list[str]] = [[] for _ in range(count)]
    seen: set[str] = set()
    queue = [key for key in dict.fromkeys(roots) if key in items]
    queue += [key for key in items if not items[key].dummy]
    head = 0
    while head < len(queue):
        key = queue[head]
        head += 1
        if key in seen:
            continue
        seen.add(key)
        ranks[items[key].rank].append(key)
        queue.extend(items[key].down)
        queue.extend(items[key].up)
    for key in items:
        if key not in seen:
            ranks[items[key].rank].append(key)
    _number(items, ranks)
    best, best_crossings = [list(r) for r in ranks], _crossings(items, ranks)
    for sweep in range(SWEEPS):
        if best_crossings == 0:
            break
        downward = sweep % 2 == 0
        sequence = range(1, count) if downward else range(count - 2, -1, -1)
        for index in sequence:
            rank = ranks[index]

            def barycenter(key: str, downward: bool = downward) -> float:
                near = items[key].up if downward else items[key].down
                if not near:
                    return items[key].pos
                return sum(items[k].pos for k in near) / len(near)

            rank.sort(key=barycenter)
            for pos, key in enumerate(rank):
                items[key].pos = pos
        crossings = _crossings(items, ranks)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in ranks], crossings
    _number(items, best)
    return best


def _number(items: dict[str, _Item], ranks: list[list[str]]) -> None:
    for rank in ranks:
        for pos, key in enumerate(rank):
            items[key].pos = pos


def _crossings(items: dict[str, _Item], ranks: list[list[str]]) -> int:
    total = 0
    for rank in ranks[:-1]:
        ends = sorted((items[u].pos, items[v].pos) for u in rank for v in items[u].down)
        lower = [v for _, v in ends]
        total += _inversions(lower)
    return total


def _inversions(values: list[float]) -> int:
    """Pairs i < j with values[i] > values[j] (merge sort)."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    left.sort()
    right.sort()
    j = 0
    for value in left:
        while j < len(right) and right[j] < value:
            j += 1
        count += j
    return count


# ---------------------------------------------------------------------- coordinates


def _gap(a: _Item, b: _Item) -> float:
    sep = NODE_SEP if not (a.dummy or b.dummy) else DUMMY_SEP
    return (a.w + b.w) / 2 + sep


def _place_x(items: dict[str, _Item], ranks: list[list[str]]) -> None:
    """Each item as near as it can be to the mean of its neighbours, ranks kept in order and apart."""
    for rank in ranks:
        x = 0.0
        for i, key in enumerate(rank):
            if i:
                x += _gap(items[rank[i - 1]], items[key])
            items[key].x = x
        shift = x / 2
        for key in rank:
            items[key].x -= shift
    for sweep in range(8):
        sequence = ranks if sweep % 2 == 0 else ranks[::-1]
        for rank in sequence:
            desired = []
            for key in rank:
                item = items[key]
                near = item.up if sweep % 2 == 0 else item.down
                if sweep >= 6:
                    near = item.up + item.down
                desired.append(sum(items[k].x for k in near) / len(near) if near else item.x)
            _fit(items, rank, desired)


def _straighten(items: dict[str, _Item], ranks: list[list[str]], lanes: list[list[str]]) -> None:
    """Lanes as straight as their neighbours allow: each stretch of a lane that can share one x (between the items
    beside them in their ranks) gets it."""
    for lane in lanes:
        run: list[str] = []
        low, high = float("-inf"), float("inf")
        for key in lane:
            lo, hi = _room(items, ranks, key)
            if max(low, lo) > min(high, hi):
                _align(items, run, low, high)
                run, low, high = [], float("-inf"), float("inf")
            run.append(key)
            low, high = max(low, lo), min(high, hi)
        _align(items, run, low, high)


def _align(items: dict[str, _Item], run: list[str], low: float, high: float) -> None:
    """The items of run on one x: the mean of theirs, clamped between low and high."""
    if run:
        x = min(high, max(low, sum(items[key].x for key in run) / len(run)))
        for key in run:
            items[key].x = x


def _room(items: dict[str, _Item], ranks: list[list[str]], key: str) -> tuple[float, float]:
    """The x's an item can take without coming closer to the items beside it than _gap."""
    item = items[key]
    rank, index = ranks[item.rank], int(item.pos)
    left = items[rank[index - 1]] if index > 0 else None
    right = items[rank[index + 1]] if index + 1 < len(rank) else None
    return (left.x + _gap(left, item) if left else float("-inf"),
            right.x - _gap(item, right) if right else float("inf"))


def _fit(items: dict[str, _Item], rank: list[str], desired: list[float]) -> None:
    """Least squares x under x[i+1] - x[i] >= gap(i, i+1): isotonic regression by pool adjacent violators."""
    offsets = [0.0]
    for a, b in zip(rank, rank[1:]):
        offsets.append(offsets[-1] + _gap(items[a], items[b]))
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for key, want, offset in zip(rank, desired, offsets):
        weight = 2.0 if items[key].dummy else 1.0
        blocks.append([(want - offset) * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight
            blocks[-1][2] += count
    i = 0
    for total, weight, count in blocks:
        for _ in range(int(count)):
            items[rank[i]].x = total / weight + offsets[i]
            i += 1


def _place_y(items: dict[str, _Item], ranks: list[list[str]]) -> list[tuple[float, float]]:
    """Each item centred in its rank's band; the bands (top, bottom), RANK_SEP apart."""
    bands = []
    y = 0.0
    for number, rank in enumerate(ranks):
        height = max((items[key].h for key in rank), default=0.0)
        if number:
            y += RANK_SEP
        for key in rank:
            items[key].y = y + height / 2
        bands.append((y, y + height))
        y += height
    return bands


def _normalise_x(items: dict[str, _Item]) -> float:
    left = min((item.x - item.w / 2 for item in items.values()), default=0.0)
    right = max((item.x + item.w / 2 for item in items.values()), default=0.0)
    for item in items.values():
        item.x -= left
    return right - left


# ---------------------------------------------------------------------- edges


def _route(items: dict[str, _Item], links: list[_Link], bands: list[tuple[float, float]]) -> list[Edge]:
    """Points for every edge: out of the bottom of the upper box, through its bend points, into the top of the
    lower one; several edges on one side of a box are spread along it, edges along one lane share their port.

    Between two points the SVG draws a curve inside their bounding box. The points come in pairs, one at the
    bottom of a rank's band and one at the top of the next band, so every sideways move stays in a gap
    between bands, where there are no boxes; within a band an edge runs straight down at its own box's port
    or at its bend point, which the placement keeps clear of the other boxes of that rank."""
    neighbours: dict[tuple[str, str], set[str]] = {}
    for link in links:
        (upper, lower), (below_upper, above_lower) = link.ends(), link.inner()
        neighbours.setdefault((upper, "bottom"), set()).add(below_upper)
        neighbours.setdefault((lower, "top"), set()).add(above_lower)
    port: dict[tuple[str, str], float] = {}  # (box, neighbour) -> x
    for (key, _), near in neighbours.items():
        item = items[key]
        spacing = min(18.0, item.box_w * 0.7 / (len(near) - 1)) if len(near) > 1 else 0.0
        for i, other in enumerate(sorted(near, key=lambda k: (items[k].x, k))):
            port[(key, other)] = item.x + (i - (len(near) - 1) / 2) * spacing

    def through(key: str) -> list[tuple[float, float]]:
        item = items[key]
        return [(item.x, bands[item.rank][0]), (item.x, bands[item.rank][1])]

    lane_paths: dict[int, tuple[list[tuple[float, float]], list[int], list[tuple[float, float]]]] = {}

    def along(link: _Link) -> list[tuple[float, float]]:
        """The points of the lane stretch link goes through, top to bottom, from the lane's points worked out
        once: without the middles of its straight runs, so a long straight lane costs each edge two points."""
        if not link.shared:
            return []
        if id(link.lane) not in lane_paths:
            keys = link.lane if link.reversed else link.lane[::-1]
            points = [point for key in keys for point in through(key)]
            kept = [i for i in range(len(points)) if i in (0, len(points) - 1)
                    or not points[i - 1][0] == points[i][0] == points[i + 1][0]]
            lane_paths[id(link.lane)] = (points, kept, [points[i] for i in kept])
        points, kept, corners = lane_paths[id(link.lane)]
        if link.reversed:  # from the lane's top (the target's side) to its link.shared-th point
            last = 2 * link.shared - 1
            return corners[:bisect.bisect_left(kept, last)] + [points[last]]
        first = len(points) - 2 * link.shared  # from the link.shared-th point from the bottom to the target
        return [points[first]] + corners[bisect.bisect_right(kept, first):]

    edges = []
    for number, link in enumerate(links):
        (top_key, bottom_key), (below_top, above_bottom) = link.ends(), link.inner()
        top, bottom = items[top_key], items[bottom_key]
        exit_x, entry_x = port[(top_key, below_top)], port[(bottom_key, above_bottom)]
        points = [(exit_x, top.y + top.h / 2), (exit_x, bands[top.rank][1])]
        if link.own:
            own = through(link.own)
            points += (along(link) + own) if link.reversed else (own + along(link))
        points += [(entry_x, bands[bottom.rank][0]), (entry_x, bottom.y - bottom.h / 2)]
        rounded = _simplify([(round(x, 1), round(y, 1)) for x, y in _simplify(points)])
        label_item = items[link.own] if link.own and items[link.own].label else None
        if link.reversed:
            rounded.reverse()
        edges.append(Edge(
            id=f"{link.source}->{link.target}#{number}", source=link.source, target=link.target, kind=link.kind,
            points=tuple(rounded), label=label_item.label if label_item else "", title=link.title,
            label_x=round(label_item.x, 1) if label_item else 0.0,
            label_y=round(label_item.y, 1) if label_item else 0.0))
    return edges


def _simplify(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """points without repeats, nor the middle points of a straight vertical run (a lane says nothing there)."""
    points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    return [p for i, p in enumerate(points)
            if i in (0, len(points) - 1) or not points[i - 1][0] == p[0] == points[i + 1][0]]


def _loop(item: _Item, link: _Link) -> Edge:
    """A state that goes back to itself: a small loop on its right side."""
    right, y = item.x + item.box_w / 2, item.y
    points = ((right, y - 8), (right + 18, y - 8), (right + 18, y + 8), (right, y + 8))
    label = labels.fit(link.title, LABEL_MAX_W, labels.SMALL) if link.title else ""
    return Edge(id=f"{link.source}->{link.target}#loop", source=link.source, target=link.target, kind=link.kind,
                points=tuple((round(x, 1), round(y, 1)) for x, y in points), label=label, title=link.title,
                label_x=round(right + 22 + labels.text_width(label, labels.SMALL) / 2, 1),
                label_y=round(y, 1))
