"""A graph people can read, checked geometrically on the SVG and on the layout data (tests/graph/geometry.py):
no edge through a box not its own, nothing leaving a Succeed, Fail or End state (but a Catch), and different names
never showing the same text. Over generated definitions (hypothesis), large and looping ones, and every definition
in the conformance corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graph.generated import large_definition, long_loops, machines
from graph.geometry import definitions_in, layout_problems, svg_problems
from hypothesis import HealthCheck, given, settings

from shared import CASES_DIR
from stepline.graph.layout import layout_definition
from stepline.graph.svg import render_svg


def _problems(definition: Any) -> list[str]:
    layout = layout_definition(definition)
    return layout_problems(layout) + svg_problems(render_svg(layout))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(definition=machines())
def test_generated_definitions_draw_readably(definition: dict[str, Any]) -> None:
    assert _problems(definition) == []


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("definition", [
    *(pytest.param(path.read_text(), id=path.name.split(".")[0]) for path in sorted(EXAMPLES.glob("*.asl.json"))),
    pytest.param(long_loops(40), id="long-back-edges"),
    pytest.param(large_definition(300, seed=3), id="generated-300"),
    pytest.param({"StartAt": "Loop", "States": {
        "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Loop"}],
                 "Default": "Loop Again"},
        "Loop Again": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Loop Again",
                       "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Loop"}]}}}, id="self-loops"),
])
def test_hard_definitions_draw_readably(definition: dict[str, Any]) -> None:
    assert _problems(definition) == []


def test_the_conformance_corpus_draws_readably() -> None:
    found = {}
    for path in sorted(CASES_DIR.rglob("*.json")):
        for definition in definitions_in(json.loads(path.read_text())):
            found.setdefault(json.dumps(definition, sort_keys=True), path.name)
    assert len(found) > 300
    problems = {name: p for text, name in found.items() if (p := _problems(text))}
    assert problems == {}


def test_names_that_differ_at_the_end_or_in_the_middle_stay_apart() -> None:
    names = ["ProcessOrderStepForCustomerA", "ProcessOrderStepForCustomerB",
             "ValidateAIncomingPaymentRequestAndNotifyDownstreamSystems",
             "ValidateBIncomingPaymentRequestAndNotifyDownstreamSystems", "Short"]
    states = {name: {"Type": "Pass", "Next": after} for name, after in zip(names, names[1:])}
    states["Short"] = {"Type": "Succeed"}
    layout = layout_definition({"StartAt": names[0], "States": states})
    shown = {node.name: node.title_lines for node in layout.nodes}
    assert shown["Short"] == ("Short",)
    assert len(set(shown.values())) == len(shown)
    for name in names[:2]:  # too long for one line: wrapped, its end kept
        assert "".join(shown[name]) == name and len(shown[name]) == 2
    svg = render_svg(layout)
    assert "<title>ValidateAIncomingPaymentRequestAndNotifyDownstreamSystems (Pass)</title>" in svg

