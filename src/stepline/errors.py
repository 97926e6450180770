"""The shared vocabulary of failures.

Diagnostic          one finding about a definition, as ValidateStateMachineDefinition reports it
DefinitionError     a definition that cannot be used; carries its diagnostics
StatesError         a runtime failure that Retry and Catch match by name ("States.Timeout", "OrderRejected")
ApiError            an error of the Step Functions API, as AWS names it (service/errors.py has them all)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, shaped as ValidateStateMachineDefinition reports it."""

    code: str  # "SCHEMA_VALIDATION_FAILED", "MISSING_END_STATE", ...
    message: str
    location: str  # JSON pointer into the definition: "/States/Check/Next"
    severity: Literal["ERROR", "WARNING"] = "ERROR"

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "code": self.code, "message": self.message, "location": self.location}


class DefinitionError(Exception):
    """A definition (or part of one) that cannot be compiled."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        self.diagnostics = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        super().__init__("; ".join(f"{d.message} at {d.location}" for d in self.diagnostics))


class StatesError(Exception):
    """A runtime failure that Retry and Catch match by name."""

    def __init__(self, error: str, cause: str | None = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class ApiError(Exception):
    """An error AWS's service model names; `code` is the `__type` the API returns."""

    code = "InternalFailure"
    status = 400
    message_key = "message"      # AWS's framework errors (SerializationException) spell it "Message"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message
