"""Definition checks shared by every surface: ValidateStateMachineDefinition and CreateStateMachine's errors."""

from __future__ import annotations

from stepline.asl.parse import create_error_message as _create_error_message
from stepline.asl.model import TaskState, all_states
from stepline.asl.parse import parse_definition
from stepline.engine.program import compile_model
from stepline.errors import DefinitionError, Diagnostic
from stepline.jsonvalue import JSON

MAX_DEFINITION_BYTES = 1_048_576  # AWS's limit on a definition (the API model's Definition max length)
_SEVERITY_RANK = {"ERROR": 0, "WARNING": 1}


def diagnose(definition: str | JSON, machine_type: str = "STANDARD") -> list[Diagnostic]:
    """Every finding: the schema rules first, then (when those pass) what compiling paths and expressions finds."""
    parsed, diagnostics = parse_definition(definition, machine_type=machine_type)
    if parsed is not None and not any(d.severity == "ERROR" for d in diagnostics):
        try:
            compile_model(parsed, machine_type)
        except DefinitionError as error:
            diagnostics = [*diagnostics, *error.diagnostics]
    return diagnostics


def validate_definition(definition: str | JSON, *, machine_type: str = "STANDARD", severity: str = "ERROR",
                        max_results: int = 100) -> dict:
    """The ValidateStateMachineDefinition response: result, diagnostics (at least `severity`), truncated."""
    threshold = _SEVERITY_RANK.get(severity, 0)
    found = [d for d in diagnose(definition, machine_type) if _SEVERITY_RANK[d.severity] <= threshold]
    result = "FAIL" if any(d.severity == "ERROR" for d in found) else "OK"
    return {"result": result, "diagnostics": [d.to_json() for d in found[:max_results]],
            "truncated": len(found) > max_results}


def create_error_message(diagnostics: list[Diagnostic]) -> str:
    """The message of CreateStateMachine's InvalidDefinition error."""
    return _create_error_message(diagnostics)


def task_resources(definition: str | JSON) -> list[tuple[str, str, JSON]]:
    """Each Task state's (location of its Resource, Resource ARN, constant Parameters or Arguments) of a definition
    that parses; nested states included."""
    parsed, _ = parse_definition(definition)
    if parsed is None:
        return []
    found = []
    for state in all_states(parsed):
        if isinstance(state, TaskState) and state.resource is not None:
            parameters = state.fields.get("Arguments", state.fields.get("Parameters"))
            found.append((f"{state.location}/Resource", state.resource, parameters))
    return found
