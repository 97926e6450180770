"""The layout on the example workflows and on generated definitions of 100 and 500 states: no overlapping
boxes, every edge attached to its own states, nested groups holding their children; and the SVG drawing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from graph.generated import large_definition

from stepline.graph import labels
from stepline.graph.layout import Node, layout_definition
from stepline.graph.svg import render_svg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SVG = "{http://www.w3.org/2000/svg}"

DEFINITIONS = [
    *(pytest.param(json.loads(path.read_text()), id=path.name.split(".")[0])
      for path in sorted(EXAMPLES.glob("*.asl.json"))),
    pytest.param(large_definition(100), id="generated-100"),
    pytest.param(large_definition(500), id="generated-500"),
    pytest.param({"StartAt": "Loop", "States": {"Loop": {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericLessThan": 3, "Next": "Loop"}], "Default": "Out"},
        "Out": {"Type": "Succeed"}}}, id="self-loop"),
    pytest.param({"StartAt": "Outer", "States": {"Outer": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Inner", "States": {"Inner": {"Type": "Map", "End": True, "ItemProcessor": {
            "StartAt": "Deep", "States": {"Deep": {"Type": "Pass", "End": True}}}}}},
        {"StartAt": "Side", "States": {"Side": {"Type": "Pass", "End": True}}}]}}}, id="nested-twice"),
]


def _overlap(a: Node, b: Node) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _contains(outer: tuple[float, float, float, float], inner: tuple[float, float, float, float]) -> bool:
    x, y, w, h = outer
    a, b, c, d = inner
    return x - 0.5 <= a and y - 0.5 <= b and a + c <= x + w + 0.5 and b + d <= y + h + 0.5


def _state_ids(machine: dict, base: str = "") -> set[str]:
    ids = set()
    for name, state in machine["States"].items():
        ids.add(f"{base}/States/{name}")
        for index, branch in enumerate(state.get("Branches", [])):
            ids |= _state_ids(branch, f"{base}/States/{name}/Branches[{index}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                ids |= _state_ids(state[key], f"{base}/States/{name}/{key}")
    return ids


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_layout_invariants(definition: dict) -> None:
    layout = layout_definition(definition)
    nodes = {node.id: node for node in layout.nodes}
    assert set(nodes) == _state_ids(definition) | {"start"}
    for node in layout.nodes:  # inside the drawing
        assert 0 <= node.x and 0 <= node.y and node.x + node.w <= layout.width and node.y + node.h <= layout.height
    siblings: dict[str | None, list[Node]] = {}
    for node in layout.nodes:
        siblings.setdefault(node.parent, []).append(node)
    for group in siblings.values():  # no two boxes of one level overlap (sorted sweep: 500 states stay fast)
        group.sort(key=lambda n: n.y)
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if b.y >= a.y + a.h:
                    break
                assert not _overlap(a, b), (a.id, b.id)
    groups = {group.id: group for group in layout.groups}
    for node in layout.nodes:  # nested groups contain their children, and their state's box contains them
        if node.parent is not None:
            group = groups[node.parent]
            assert _contains((group.x, group.y, group.w, group.h), (node.x, node.y, node.w, node.h)), node.id
            owner = nodes[group.state]
            assert _contains((owner.x, owner.y, owner.w, owner.h), (group.x, group.y, group.w, group.h)), group.id
            assert node.depth == owner.depth + 1
    for edge in layout.edges:  # each edge starts on its source's box and ends on its target's
        source, target = nodes[edge.source], nodes[edge.target]
        first, last = edge.points[0], edge.points[-1]
        assert _on_border(source, first), (edge.id, first)
        assert _on_border(target, last), (edge.id, last)
        assert edge.parent == source.parent == target.parent


def _on_border(node: Node, point: tuple[float, float]) -> bool:
    x, y = point
    horizontal = node.x - 0.5 <= x <= node.x + node.w + 0.5 and (abs(y - node.y) < 0.6 or abs(y - node.y - node.h) < 0.6)
    vertical = node.y - 0.5 <= y <= node.y + node.h + 0.5 and (abs(x - node.x) < 0.6 or abs(x - node.x - node.w) < 0.6)
    return horizontal or vertical


def test_edges_carry_choice_rules_defaults_and_catch_errors() -> None:
    layout = layout_definition((EXAMPLES / "order.asl.json").read_text())
    kinds = {(e.source.rsplit("/", 1)[-1], e.target.rsplit("/", 1)[-1], e.kind): e for e in layout.edges}
    assert kinds[("Valid?", "Charge and Reserve", "choice")].title == "$.total > 0 and $.items[0] is present"
    assert kinds[("Valid?", "Rejected", "default")].label == "Default"
    assert kinds[("Charge and Reserve", "Rejected", "catch")].label == "OutOfStock"
    assert layout.node("/States/Charge and Reserve/Branches[0]/States/Charge").retry == 1
    assert layout.node("start").y < layout.node("/States/Validate").y < layout.node("/States/Ship").y  # top to bottom


@pytest.mark.parametrize("rule, words", [
    pytest.param({"Variable": "$.a", "StringEquals": "x"}, '$.a == "x"', id="string-equals"),
    pytest.param({"Variable": "$.a", "NumericLessThanEqualsPath": "$.b"}, "$.a <= $.b", id="numeric-path"),
    pytest.param({"Not": {"Variable": "$.a", "IsNull": True}}, "not ($.a is null)", id="not"),
    pytest.param({"Or": [{"Variable": "$.a", "BooleanEquals": True}, {"Variable": "$.b", "IsPresent": False}]},
                 "$.a == true or $.b is not present", id="or"),
    pytest.param({"Condition": "{% $states.input.n > 1 %}"}, "$states.input.n > 1", id="jsonata"),
    pytest.param({"Variable": "$.s", "StringMatches": "log-*"}, '$.s matches "log-*"', id="matches"),
])
def test_choice_rule_words(rule: dict, words: str) -> None:
    assert labels.choice_rule(rule) == words


@pytest.mark.parametrize("broken", [
    pytest.param("not json", id="not-json"),
    pytest.param([], id="array"),
    pytest.param({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "Next": "Missing"}, "B": "odd"}},
                 id="dangling"),
    pytest.param({"States": {"P": {"Type": "Parallel", "Branches": "x"}}}, id="bad-branches"),
])
def test_broken_definitions_draw_what_they_can(broken: object) -> None:
    layout = layout_definition(broken)
    assert "start" in {node.id for node in layout.nodes}
    ElementTree.fromstring(render_svg(layout))


def test_svg_names_every_state_and_edge() -> None:
    layout = layout_definition(large_definition(100))
    tree = ElementTree.fromstring(render_svg(layout, title="big"))
    drawn = {g.get("data-id") for g in tree.iter(f"{SVG}g") if "sl-node" in (g.get("class") or "").split()}
    assert drawn == {node.id for node in layout.nodes}
    edges = [g for g in tree.iter(f"{SVG}g") if "sl-edge" in (g.get("class") or "").split()]
    assert len(edges) == len(layout.edges)
    assert any("sl-edge--catch" in g.get("class", "") for g in edges)


def test_layout_to_json_round_trips() -> None:
    layout = layout_definition((EXAMPLES / "fan_out.asl.json").read_text())
    document = json.loads(json.dumps(layout.to_json()))
    assert {n["id"] for n in document["nodes"]} >= {"/States/Score All", "/States/Score All/ItemProcessor/States/Score"}


@pytest.mark.parametrize("suffix, magic", [pytest.param(".svg", b"<svg", id="svg"),
                                           pytest.param(".png", b"\x89PNG", id="png")])
def test_stepline_graph_writes_svg_and_png(tmp_path: Path, suffix: str, magic: bytes) -> None:
    output = tmp_path / f"order{suffix}"
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "graph", str(EXAMPLES / "order.asl.json"),
                           "-o", str(output)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes().startswith(magic)


def test_stepline_graph_refuses_an_unknown_format(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "stepline.cli.main", "graph", str(EXAMPLES / "order.asl.json"),
                           "-o", str(tmp_path / "order.gif")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "name it .svg or .png" in done.stderr
