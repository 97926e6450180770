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
from collections.abc import Mapping
from typing import Final, TypedDict

from stepline.asl.model import (
    Catcher,
    ChoiceRule,
    ChoiceState,
    MapState,
    ParallelState,
    Retrier,
    State,
    StateMachine,
    TaskState,
)
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


def _parse_value(definition: str | bytes | JSON,
                 machine_type: str) -> tuple[StateMachine | None, tuple[Diagnostic, ...]]:
    duplicates: dict[int, list[str]] = {}
    if isinstance(definition, (str, bytes)):
        text = definition.decode("utf-8", "replace") if isinstance(definition, bytes) else definition
        if not text.strip():
            return None, (Diagnostic("MISSING_DESCRIPTION", "Received a null or empty workflow input.", ""),)
        loaded = _load(text, duplicates)
        if isinstance(loaded, Diagnostic):
            return None, (loaded,)
        value: JSON = loaded
    else:
        value = definition
    if value is None:
        return None, (Diagnostic("MISSING_DESCRIPTION", "Received a null or empty workflow input.", ""),)
    if not isinstance(value, dict):
        return None, (Diagnostic("SCHEMA_VALIDATION_FAILED", "Expected value of type [OBJECT]", "/"),)
    checker = Checker(machine_type=machine_type, duplicates=duplicates)
    checker.machine_language = query_language_of(value, "JSONPath")
    checker.machine(value, "", "top")
    return read_machine(value, "", "JSONPath"), tuple(checker.found)


# -- the model -------------------------------------------------------------------------------------------
def read_machine(value: Mapping[str, JSON], location: str, language: str) -> StateMachine:
    """The model of a state machine object, whatever it holds; `language` is the one it inherits."""
    language = query_language_of(value, language)
    states = value.get("States")
    return StateMachine(
        location=location, start_at=_string(value.get("StartAt")), query_language=language, fields=value,
        states={name: _read_state(name, body, f"{location}/States/{name}", language)
                for name, body in (states.items() if isinstance(states, dict) else ())},
        timeout_seconds=_integer(value.get("TimeoutSeconds")))


def _read_state(name: str, body: JSON, location: str, machine_language: str) -> State:
    if not isinstance(body, dict):
        return State(name=name, type="", location=location, query_language=machine_language, fields={})
    kind = _string(body.get("Type")) or ""
    language = query_language_of(body, machine_language)
    retry, catch = body.get("Retry"), body.get("Catch")
    common = _Common(name=name, type=kind, location=location, query_language=language, fields=body,
                     next=_string(body.get("Next")), end=body.get("End") is True,
                     retry=tuple(_read_retrier(rule) for rule in _objects(retry)) if retry else (),
                     catch=tuple(Catcher(error_equals=_error_names(rule), next=_string(rule.get("Next")), fields=rule)
                                 for rule in _objects(catch)) if catch else ())
    if kind == "Task":
        return TaskState(**common, resource=_string(body.get("Resource")))
    if kind == "Choice":
        return ChoiceState(**common, default=_string(body.get("Default")),
                           choices=tuple(ChoiceRule(next=_string(rule.get("Next")), fields=rule)
                                         for rule in _objects(body.get("Choices"))))
    if kind == "Parallel":
        branches = body.get("Branches")
        return ParallelState(**common, branches=tuple(
            read_machine(branch, f"{location}/Branches[{index}]", language)
            for index, branch in enumerate(branches if isinstance(branches, list) else ())
            if isinstance(branch, dict)))
    if kind == "Map":
        return _read_map(body, common, location, language)
    return State(**common)


class _Common(TypedDict):
    """The fields every type of state has."""

    name: str
    type: str
    location: str
    query_language: str
    fields: Mapping[str, JSON]
    next: str | None
    end: bool
    retry: tuple[Retrier, ...]
    catch: tuple[Catcher, ...]


def _read_map(body: Mapping[str, JSON], common: _Common, location: str, language: str) -> MapState:
    field = "ItemProcessor" if isinstance(body.get("ItemProcessor"), dict) else "Iterator"
    processor = body.get(field)
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    percentage = _number(body.get("ToleratedFailurePercentage"))
    return MapState(
        **common, processor_field=field,
        processor=read_machine(processor, f"{location}/{field}", language) if isinstance(processor, dict) else None,
        distributed=isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED",
        label=_string(body.get("Label")), max_concurrency=_integer(body.get("MaxConcurrency")),
        tolerated_failure_count=_integer(body.get("ToleratedFailureCount")),
        tolerated_failure_percentage=None if percentage is None else float(percentage))


def _read_retrier(rule: Mapping[str, JSON]) -> Retrier:
    """A Retry rule; a field of the wrong type (reported by validation) reads as its default."""
    attempts = _integer(rule.get("MaxAttempts"))
    return Retrier(error_equals=_error_names(rule),
                   interval_seconds=_number(rule.get("IntervalSeconds")) or 1,
                   max_attempts=3 if attempts is None else attempts,
                   backoff_rate=_number(rule.get("BackoffRate")) or 2.0,
                   max_delay_seconds=_number(rule.get("MaxDelaySeconds")),
                   jitter_strategy="FULL" if rule.get("JitterStrategy") == "FULL" else "NONE")


def _error_names(rule: Mapping[str, JSON]) -> tuple[str, ...]:
    names = rule.get("ErrorEquals")
    return tuple(name for name in names if isinstance(name, str)) if isinstance(names, list) else ()


def _objects(value: JSON) -> list[dict[str, JSON]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _string(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _integer(value: JSON) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: JSON) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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
