"""Parse a state machine definition and validate it as AWS does.

parse_definition      JSON text (or a parsed value) -> (the model, diagnostics); never raises
create_error_message  the message of CreateStateMachine's InvalidDefinition error for those diagnostics
query_language_of     the query language a state evaluates in

The diagnostics have the shape ValidateStateMachineDefinition returns (code, message, location,
severity); CreateStateMachine refuses a definition when any of them is an ERROR.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Final

from stepline.asl.model import StateMachine
from stepline.asl.rules import Checker, query_language_of
from stepline.errors import Diagnostic
from stepline.jsonvalue import JSON

__all__ = ["create_error_message", "parse_definition", "query_language_of"]

_EXPECTING: Final = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


def parse_definition(
    definition: str | bytes | JSON, *, machine_type: str = "STANDARD"
) -> tuple[StateMachine | None, list[Diagnostic]]:
    """Parse and validate a definition: JSON text, or an already-parsed value. Never raises.

    Returns the model (None when the input is not a JSON object) and every diagnostic, errors and warnings,
    as ValidateStateMachineDefinition reports them. `machine_type` is STANDARD or EXPRESS: EXPRESS machines
    may not use `.sync`, `.waitForTaskToken` or activities. A text is parsed once: the last few are kept.
    """
    if isinstance(definition, str):
        model, diagnostics = _parse_text(definition, machine_type)
    else:
        model, diagnostics = _parse(definition, machine_type)
    return model, list(diagnostics)


@functools.lru_cache(maxsize=16)
def _parse_text(text: str, machine_type: str) -> tuple[StateMachine | None, tuple[Diagnostic, ...]]:
    return _parse(text, machine_type)


def _parse(definition: str | bytes | JSON, machine_type: str) -> tuple[StateMachine | None, tuple[Diagnostic, ...]]:
    try:
        return _parse_value(definition, machine_type)
    except RecursionError:
        return None, (Diagnostic("TOO_DEEPLY_NESTED", "The states are too deeply nested.", ""),)


# AWS, recorded (ValidateStateMachineDefinition of " "): a definition that is blank, or JSON but not an object
_NOT_AN_OBJECT = Diagnostic("SCHEMA_VALIDATION_FAILED", "Definition must be a valid JSON object", "")


def _parse_value(definition: str | bytes | JSON,
                 machine_type: str) -> tuple[StateMachine | None, tuple[Diagnostic, ...]]:
    duplicates: dict[int, list[str]] = {}
    if isinstance(definition, (str, bytes)):
        text = definition.decode("utf-8", "replace") if isinstance(definition, bytes) else definition
        if not text.strip():
            return None, (_NOT_AN_OBJECT,)
        loaded = _load(text, duplicates)
        if isinstance(loaded, Diagnostic):
            return None, (loaded,)
        value: JSON = loaded
    else:
        value = definition
    if not isinstance(value, dict):
        return None, (_NOT_AN_OBJECT,)
    checker = Checker(machine_type=machine_type, duplicates=duplicates,
                      definition_language=query_language_of(value, "JSONPath"))
    return checker.machine(value, "", "top", "JSONPath"), tuple(checker.found)


def create_error_message(diagnostics: list[Diagnostic]) -> str:
    """CreateStateMachine's InvalidDefinition message, as AWS words it.

    "Invalid State Machine Definition: 'CODE: message at /location, CODE: message at /location'"; a
    diagnostic without a location (MISSING_END_STATE) reads "at null", as on AWS.
    """
    errors = [d for d in diagnostics if d.severity == "ERROR"]
    listed = ", ".join(f"{d.code}: {d.message} at {d.location or 'null'}" for d in errors)
    return f"Invalid State Machine Definition: '{listed}'"


# -- JSON text ---------------------------------------------------------------------------------------------
def _load(text: str, duplicates: dict[int, list[str]]) -> JSON | Diagnostic:
    """JSON text -> value, remembering repeated keys per object; or Jackson's wording of the syntax error."""
    keep: list[dict[str, JSON]] = []  # keeps every object alive so that ids in `duplicates` stay unique

    def collect(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
        obj: dict[str, JSON] = {}
        for key, item in pairs:
            if key in obj:
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = item
        keep.append(obj)
        return obj

    def reject_constant(name: str) -> JSON:
        raise ValueError(name)

    try:
        return json.loads(text, object_pairs_hook=collect, parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        return _syntax_error(text, error.pos)
    except ValueError:  # NaN, Infinity: not JSON
        match = re.search(r"-?(NaN|Infinity)", text)
        return _syntax_error(text, match.start() if match else 0)


def _syntax_error(text: str, position: int) -> Diagnostic:
    """INVALID_JSON_DESCRIPTION worded as the Jackson parser AWS uses words it."""
    source = text if len(text) <= 500 else text[:500] + f"\"[truncated {len(text) - 500} chars]"
    line = text.count("\n", 0, position) + 1
    column_start = text.rfind("\n", 0, position) + 1
    word = re.match(r"[A-Za-z0-9_+.-]+", text[position:])
    if position >= len(text.rstrip()):
        detail, end = "Unexpected end-of-input", len(text)
    elif word and text[position].isalpha():
        detail = f"Unrecognized token '{word.group()}': was expecting {_EXPECTING}"
        end = position + len(word.group())
    else:
        char = text[position]
        detail = f"Unexpected character ('{char}' (code {ord(char)})): expected a valid value {_EXPECTING}"
        end = position + 1
    where = f"[Source: (String)\"{source}\"; line: {line}, column: {end - column_start + 1}]"
    return Diagnostic("INVALID_JSON_DESCRIPTION", f"{detail}\n at {where}", where)
