"""Payload templates: ".$" keys, nesting, constants shared, and AWS's definition errors."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from stepline.errors import DefinitionError, StatesError
from stepline.expr.scope import Scope
from stepline.expr.templates import compile_template

SCOPE = Scope(context={"Execution": {"Name": "exec"}}, variables={"greeting": "hi"}, rng=Random(0))
INPUT = {"id": 7, "items": [1, 2], "name": "n"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param({"a": 1, "b": "$.id"}, {"a": 1, "b": "$.id"}, id="constants-stay-literal"),
        pytest.param({"id.$": "$.id"}, {"id": 7}, id="path"),
        pytest.param({"all.$": "$"}, {"all": INPUT}, id="root"),
        pytest.param({"exec.$": "$$.Execution.Name"}, {"exec": "exec"}, id="context"),
        pytest.param({"g.$": "$greeting"}, {"g": "hi"}, id="variable"),
        pytest.param({"f.$": "States.Format('{}-{}', $.name, $.id)"}, {"f": "n-7"}, id="intrinsic"),
        pytest.param({"outer": {"inner.$": "$.items[1]", "k": [1, {"x.$": "$.name"}]}},
                     {"outer": {"inner": 2, "k": [1, {"x": "n"}]}}, id="nested"),
        pytest.param([{"a.$": "$.id"}, 3], [{"a": 7}, 3], id="array-template"),
        pytest.param("plain", "plain", id="scalar"),
        pytest.param({"s.$": "$.items[*]"}, {"s": [1, 2]}, id="indefinite"),
    ],
)
def test_template(template: Any, expected: Any) -> None:
    assert compile_template(template, at="/States/S/Parameters", field="Parameters")(INPUT, SCOPE) == expected


def test_constant_subtrees_are_built_once() -> None:
    render = compile_template({"const": {"deep": [1, 2]}, "v.$": "$.id"}, at="/x", field="Parameters")
    assert render(INPUT, SCOPE)["const"] is render({"id": 8}, SCOPE)["const"]


def test_missing_path_uses_the_key_in_the_cause() -> None:
    with pytest.raises(StatesError) as raised:
        compile_template({"nested": {"value.$": "$.nope"}}, at="/x", field="Parameters")({"a": 1}, SCOPE)
    assert raised.value.cause == (
        "The JSONPath '$.nope' specified for the field 'value.$' could not be found in the input '{\"a\":1}'")


@pytest.mark.parametrize(
    ("template", "location"),
    [
        pytest.param({"parsed.$": "States.Format('He said, \\\"Hi\\\"')"}, "/States/S/Parameters", id="bad-escape"),
        pytest.param({"parsed.$": "not a path"}, "/States/S/Parameters", id="not-a-path"),
        pytest.param({"parsed.$": 5}, "/States/S/Parameters", id="not-a-string"),
        pytest.param({"a": {"parsed.$": "$.x["}}, "/States/S/Parameters/a", id="nested-location"),
    ],
)
def test_bad_value_is_a_definition_error(template: Any, location: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        compile_template(template, at="/States/S/Parameters", field="Parameters")
    diagnostic = raised.value.diagnostics[0]
    assert diagnostic.location == location
    assert diagnostic.message == (
        "The value for the field 'parsed.$' must be a valid JSONPath or a valid intrinsic function call")
