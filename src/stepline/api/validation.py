"""Requests checked against botocore's service model, with the errors AWS's JSON framework reports.

AWS reads a request in two steps, and so does this module:

1. Deserialization. A member whose JSON type does not fit its shape (a number where a string belongs) stops the
   request with a SerializationException whose "Message" names the conversion ("NUMBER_VALUE cannot be converted
   to String"). Unknown members are ignored, as AWS ignores them; a null member counts as absent.
2. Validation. Every constraint of the model (required, length, range, enum, pattern) is checked and every
   violation collected into one ValidationException:
   "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; ..."
   Nested members are named as AWS names them: 'routingConfiguration.1.member.weight'. The values of sensitive
   members (definition, input, output) are left out of the message: "Value at 'input' failed to ...".

Each operation's input shape is compiled once, at import, into a closure that does both steps in one walk.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import botocore.loaders

from stepline.service.errors import ApiError, SerializationException, ValidationException

# (value, path, violations) -> the value, typed; raises SerializationException, appends validation messages
Check = Callable[[Any, str, list[str]], Any]

SERVICE_MODEL: Mapping[str, Any] = botocore.loaders.Loader().load_service_model("stepfunctions", "service-2")
_SHAPES: Mapping[str, Any] = SERVICE_MODEL["shapes"]

# AWS lists some enums in its own order, not the model's; these are recorded from AWS (api_behaviour corpus).
ENUM_ORDER: Mapping[str, tuple[str, ...]] = {
    "ExecutionStatus": ("SUCCEEDED", "TIMED_OUT", "PENDING_REDRIVE", "ABORTED", "FAILED", "RUNNING"),
}

# Shapes whose maximum AWS counts in UTF-8 bytes, not characters (recorded: "Member must have size less than or
# equal to 262144 bytes in UTF-8 encoding" for StartExecution's input).
_BYTE_SIZED = frozenset({"SensitiveData"})

# Java regular expressions of the model, in Python's dialect.
_JAVA_CLASSES = {r"\p{ASCII}": r"\x00-\x7f"}

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def validate(operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's members, typed and checked; unknown members dropped.

    Raises SerializationException when a member has the wrong JSON type, ValidationException listing every
    violated constraint otherwise.
    """
    violations: list[str] = []
    params = _INPUTS[operation](body, "", violations)
    if violations:
        raise ValidationException(validation_message(violations))
    return params


def validation_message(violations: list[str]) -> str:
    """AWS's summary: "1 validation error detected: ..." or "2 validation errors detected: a; b"."""
    count = len(violations)
    return f"{count} validation error{'s' if count != 1 else ''} detected: {'; '.join(violations)}"


def violation(value: Any, path: str, constraint: str, *, sensitive: bool = False) -> str:
    """One violation as AWS words it; a sensitive value is not repeated."""
    if value is None:
        return f"Value null at '{path}' failed to satisfy constraint: {constraint}"
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    return f"Value '{java_text(value)}' at '{path}' failed to satisfy constraint: {constraint}"


def java_text(value: Any) -> str:
    """A value as AWS's Java service prints it (toString): true, 1.5, [a, b], {key=value}."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={java_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


# -- deserialization: AWS's messages when the JSON type does not fit the shape ------------------------------

def _token(value: Any) -> str:
    """The JSON token kind as AWS's parser names it."""
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "DECIMAL_VALUE"
    return "STRING_VALUE"


def _mismatch(value: Any, java_class: str) -> ApiError:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type class {java_class}")
    return SerializationException(f"{_token(value)} cannot be converted to {java_class.rsplit('.', 1)[-1]}")


def _not_a_container(value: Any, java_class: str) -> ApiError:
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type {java_class}")
    return SerializationException("Unexpected field type")


# -- compiling shapes into checks ---------------------------------------------------------------------------

def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _length_checks(shape: Mapping[str, Any], measure: Callable[[Any], int], unit: str = "length",
                   suffix: str = "") -> list[Callable[[Any], str | None]]:
    checks: list[Callable[[Any], str | None]] = []
    if "min" in shape:
        low = shape["min"]
        checks.append(lambda v: None if measure(v) >= low else
                      f"Member must have {unit} greater than or equal to {low}{suffix}")
    if "max" in shape:
        high = shape["max"]
        checks.append(lambda v: None if measure(v) <= high else
                      f"Member must have {unit} less than or equal to {high}{suffix}")
    return checks


def _string(name: str, shape: Mapping[str, Any], sensitive: bool) -> Check:
    constraints: list[Callable[[Any], str | None]] = []
    if "enum" in shape:
        allowed = frozenset(shape["enum"])
        listed = ", ".join(ENUM_ORDER.get(name, tuple(shape["enum"])))
        constraints.append(lambda v: None if v in allowed else f"Member must satisfy enum value set: [{listed}]")
    if "pattern" in shape:
        java_pattern = shape["pattern"]
        python_pattern = java_pattern
        for java, python in _JAVA_CLASSES.items():
            python_pattern = python_pattern.replace(java, f"[{python}]")
        regex = re.compile(python_pattern, re.DOTALL)
        constraints.append(lambda v: None if regex.fullmatch(v) else
                           f"Member must satisfy regular expression pattern: {java_pattern}")
    if name in _BYTE_SIZED:
        constraints += _length_checks(shape, lambda v: len(v.encode("utf-8", "surrogatepass")), "size",
                                      " bytes in UTF-8 encoding")
    else:
        constraints += _length_checks(shape, len)

    def check(value: Any, path: str, violations: list[str]) -> Any:
        if not isinstance(value, str):
            raise _mismatch(value, "java.lang.String")
        for constraint in constraints:
            if (message := constraint(value)) is not None:
                violations.append(violation(value, path, message, sensitive=sensitive))
        return value
    return check


def _number(shape: Mapping[str, Any], sensitive: bool, java_class: str, integral: bool) -> Check:
    constraints: list[Callable[[Any], str | None]] = []
    low, high = shape.get("min"), shape.get("max")
    if low is not None:
        constraints.append(lambda v: None if v >= low else f"Member must have value greater than or equal to {low}")
    if high is not None:
        constraints.append(lambda v: None if v <= high else f"Member must have value less than or equal to {high}")
    bounds = _INT32 if java_class == "java.lang.Integer" else _INT64

    def check(value: Any, path: str, violations: list[str]) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(value, java_class)
        if integral:
            value = int(value)                      # AWS's parser truncates a decimal given for an integer
            if not bounds[0] <= value <= bounds[1]:
                raise SerializationException(f"{_token(value)} cannot be converted to {java_class.rsplit('.', 1)[-1]}")
        else:
            value = float(value)
        for constraint in constraints:
            if (message := constraint(value)) is not None:
                violations.append(violation(value, path, message, sensitive=sensitive))
        return value
    return check


def _boolean(value: Any, path: str, violations: list[str]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        raise SerializationException("Unexpected token received from parser")
    raise _mismatch(value, "java.lang.Boolean")


def _timestamp(value: Any, path: str, violations: list[str]) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SerializationException(f"Unparseable date: \"{value}\"") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _mismatch(value, "java.util.Date")


def _blob(value: Any, path: str, violations: list[str]) -> Any:
    if isinstance(value, (dict, list)):
        raise _mismatch(value, "java.nio.ByteBuffer")
    if not isinstance(value, str):
        raise SerializationException("only base-64-encoded strings are convertible to bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException("only base-64-encoded strings are convertible to bytes") from None


def _java_class(name: str) -> str:
    return f"com.amazonaws.swf.service.v2.model.{name}"


class _Compiler:
    """Turns shapes into checks, once per shape, even when shapes refer to themselves."""

    def __init__(self, shapes: Mapping[str, Any]) -> None:
        self.shapes = shapes
        self.checks: dict[str, Check] = {}

    def check(self, name: str) -> Check:
        if name not in self.checks:
            self.checks[name] = lambda value, path, violations: self.checks[name](value, path, violations)
            self.checks[name] = self._compile(name)
        return self.checks[name]

    def _compile(self, name: str) -> Check:
        shape = self.shapes[name]
        sensitive = bool(shape.get("sensitive"))
        match shape["type"]:
            case "structure":
                return self._structure(name, shape)
            case "list":
                return self._list(name, shape, sensitive)
            case "map":
                return self._map(name, shape, sensitive)
            case "string":
                return _string(name, shape, sensitive)
            case "integer":
                return _number(shape, sensitive, "java.lang.Integer", integral=True)
            case "long":
                return _number(shape, sensitive, "java.lang.Long", integral=True)
            case "float":
                return _number(shape, sensitive, "java.lang.Float", integral=False)
            case "double":
                return _number(shape, sensitive, "java.lang.Double", integral=False)
            case "boolean":
                return _boolean
            case "timestamp":
                return _timestamp
            case "blob":
                return _blob
        raise ValueError(f"shape {name} has a type this validator does not know: {shape['type']}")

    def _structure(self, name: str, shape: Mapping[str, Any]) -> Check:
        required = frozenset(shape.get("required", ()))
        members = tuple((member, self.check(spec["shape"]), member in required)
                        for member, spec in shape.get("members", {}).items())
        java_class = _java_class(name)

        def check(value: Any, path: str, violations: list[str]) -> Any:
            if not isinstance(value, dict):
                raise _not_a_container(value, f"class {java_class}")
            typed: dict[str, Any] = {}
            for member, member_check, is_required in members:
                item = value.get(member)
                member_path = _join(path, member)
                if item is None:
                    if is_required:
                        violations.append(violation(None, member_path, "Member must not be null"))
                    continue
                typed[member] = member_check(item, member_path, violations)
            return typed
        return check

    def _list(self, name: str, shape: Mapping[str, Any], sensitive: bool) -> Check:
        member_check = self.check(shape["member"]["shape"])
        constraints = _length_checks(shape, len)

        def check(value: Any, path: str, violations: list[str]) -> Any:
            if not isinstance(value, list):
                if isinstance(value, dict):
                    raise SerializationException("Start of structure or map found where not expected")
                raise SerializationException("Unexpected field type")
            for constraint in constraints:
                if (message := constraint(value)) is not None:
                    violations.append(violation(value, path, message, sensitive=sensitive))
            typed = []
            for index, item in enumerate(value, start=1):
                item_path = f"{path}.{index}.member"
                if item is None:
                    violations.append(violation(None, item_path, "Member must not be null"))
                    continue
                typed.append(member_check(item, item_path, violations))
            return typed
        return check

    def _map(self, name: str, shape: Mapping[str, Any], sensitive: bool) -> Check:
        key_check = self.check(shape["key"]["shape"])
        value_check = self.check(shape["value"]["shape"])
        constraints = _length_checks(shape, len)

        def check(value: Any, path: str, violations: list[str]) -> Any:
            if not isinstance(value, dict):
                raise _not_a_container(value, "java.util.Map")
            for constraint in constraints:
                if (message := constraint(value)) is not None:
                    violations.append(violation(value, path, message, sensitive=sensitive))
            key_violations: list[str] = []
            value_violations: list[str] = []
            typed = {}
            for key, item in value.items():
                if item is None:
                    continue
                typed[key_check(key, path, key_violations)] = value_check(item, path, value_violations)
            # AWS reports the members of a map at the map: "Map value must satisfy constraint: [...]"
            for kind, found in (("keys", key_violations), ("value", value_violations)):
                if found:
                    reasons = sorted({text.rsplit("failed to satisfy constraint: ", 1)[-1] for text in found})
                    violations.append(violation(value, path, f"Map {kind} must satisfy constraint: "
                                                f"[{', '.join(reasons)}]", sensitive=sensitive))
            return typed
        return check


def _compile_inputs() -> dict[str, Check]:
    compiler = _Compiler(_SHAPES)
    inputs: dict[str, Check] = {}
    for operation, spec in SERVICE_MODEL["operations"].items():
        if "input" in spec:
            inputs[operation] = compiler.check(spec["input"]["shape"])
        else:
            inputs[operation] = lambda value, path, violations: {}
    return inputs


_INPUTS: Mapping[str, Check] = _compile_inputs()
