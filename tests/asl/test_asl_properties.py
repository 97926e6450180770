"""Property: parse_definition never raises, whatever it is given."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stepline.asl import create_error_message, parse_definition
from stepline.asl.model import StateMachine
from stepline.asl.fields import STATE_FIELDS, STATE_TYPES

_KEYS = sorted({key for fields in STATE_FIELDS.values() for key in fields}
               | {"StartAt", "States", "Branches", "Choices", "Variable", "Not", "And", "ErrorEquals", "RoleArn"})
_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
_KEY = st.sampled_from(_KEYS) | st.text(max_size=6)
_VALUE = st.one_of(_SCALARS, st.sampled_from(STATE_TYPES), st.sampled_from(["S", "$.x", "JSONata", "JSONPath"]))
JSON_VALUES = st.recursive(_VALUE, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=6),
                           max_leaves=40)


def _machine(states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states), "S"), "States": states}


def _checked(value: Any) -> None:
    definition, diagnostics = parse_definition(value)
    assert definition is None or isinstance(definition, StateMachine)
    for diagnostic in diagnostics:
        assert diagnostic.code and diagnostic.severity in ("ERROR", "WARNING")
        assert isinstance(diagnostic.location, str)
    create_error_message(diagnostics)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_any_json_value(value: Any) -> None:
    _checked(value)
    _checked(json.dumps(value))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.dictionaries(_KEY, JSON_VALUES, max_size=6), max_size=4))
def test_any_states(states: dict[str, Any]) -> None:
    _checked(_machine(states))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_text(text: str) -> None:
    _checked(text)


def test_deep_nesting_does_not_raise() -> None:
    rule: dict[str, Any] = {"Variable": "$.x", "IsNull": True}
    for _ in range(5000):
        rule = {"Not": rule}
    machine = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule | {"Next": "E"}], "Default": "E"},
                                          "E": {"Type": "Succeed"}}}
    _checked(machine)
    _checked("[" * 100000 + "]" * 100000)
