"""Which workflow variables each state reads: DescribeStateMachine's `variableReferences`. Pure."""

from __future__ import annotations

import re

from stepline.asl.model import all_states
from stepline.asl.parse import parse_definition
from stepline.expr.jsonata import is_expression
from stepline.jsonvalue import JSON

# "$name" at the start of a path or intrinsic argument; not "$$" (context), "$." or "$[" (input)
_JSONPATH_VARIABLE = re.compile(r"(?<![\w$])\$([A-Za-z_][A-Za-z0-9_]*)")
# "$name" in JSONata that is not a function call ("$name(") ...
_JSONATA_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")
# ... nor bound by the expression itself ("$name := ...")
_JSONATA_BOUND = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*:=")
_NESTED_MACHINES = ("Branches", "ItemProcessor", "Iterator")


def variable_references(definition: str | JSON) -> dict[str, list[str]]:
    """State name -> the sorted names of the variables it reads (states that read none are left out)."""
    model, _ = parse_definition(definition)
    found: dict[str, set[str]] = {}
    for state in all_states(model) if model is not None else ():
        names = found.setdefault(state.name, set())
        for key, value in state.fields.items():
            if key not in _NESTED_MACHINES:  # their states are states of their own
                _collect(key, value, names)
    return {name: sorted(names) for name, names in found.items() if names}


def _collect(key: str, value: JSON, names: set[str]) -> None:
    """Variables in a field: JSONata expressions anywhere, JSONPath in *Path fields, Variable and "key.$" values."""
    if isinstance(value, str):
        if is_expression(value):
            text = value[2:-2]
            bound = set(_JSONATA_BOUND.findall(text))
            names.update(name for name, call in _JSONATA_VARIABLE.findall(text)
                         if not call and name != "states" and name not in bound)
        elif key.endswith(("Path", ".$")) or key == "Variable":
            names.update(_JSONPATH_VARIABLE.findall(value))
    elif isinstance(value, dict):
        for inner_key, inner in value.items():
            _collect(inner_key, inner, names)
    elif isinstance(value, list):
        for item in value:
            _collect(key, item, names)
