"""Payload templates (Parameters, ResultSelector, ItemSelector, Assign, ...) compiled once.

A key ending in ".$" takes a path (`$...`), a context path (`$$...`), a variable path (`$name...`) or an
intrinsic call; the ".$" is dropped from the output key. Nested objects and arrays are templates too. Constant
sub-trees are built once and shared between evaluations, so the result must be treated as immutable.
"""

from __future__ import annotations

from collections.abc import Callable

from stepline.errors import DefinitionError, Diagnostic
from stepline.expr.intrinsics import compile_intrinsic, is_intrinsic
from stepline.expr.paths import PathSyntaxError, compile_parsed, missing_cause_for, parse_path
from stepline.expr.scope import Scope
from stepline.jsonvalue import JSON

Template = Callable[[JSON, Scope], JSON]


def compile_template(template: JSON, *, at: str, field: str) -> Template:
    """Compile a payload template; `at` is its JSON pointer, `field` its ASL field (Parameters, ...)."""
    compiled = _compile(template, at)
    if isinstance(compiled, _Constant):
        value = compiled.value
        return lambda doc, scope: value
    return compiled


class _Constant:
    """A sub-tree without any ".$" key: evaluated once, at compile time."""

    __slots__ = ("value",)

    def __init__(self, value: JSON) -> None:
        self.value = value


def _pointer(at: str, key: str | int) -> str:
    return f"{at}/{str(key).replace('~', '~0').replace('/', '~1')}"


def compile_value_expression(text: JSON, *, at: str, key: str) -> Template:
    """The getter for one "key.$" value: an intrinsic call or a path."""
    message = f"The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call"
    if not isinstance(text, str):
        raise DefinitionError(Diagnostic(code="SCHEMA_VALIDATION_FAILED", message=message, location=at))
    if is_intrinsic(text):
        return compile_intrinsic(text, at=at, field=key)
    try:
        parsed = parse_path(text)
    except PathSyntaxError:
        raise DefinitionError(Diagnostic(code="SCHEMA_VALIDATION_FAILED", message=message, location=at)) from None
    return compile_parsed(parsed, missing_cause_for(text, key))


def _compile(template: JSON, at: str) -> Template | _Constant:
    if isinstance(template, dict):
        return _compile_object(template, at)
    if isinstance(template, list):
        return _compile_array(template, at)
    return _Constant(template)


def _compile_object(template: dict[str, JSON], at: str) -> Template | _Constant:
    entries: list[tuple[str, bool, object]] = []  # (output key, dynamic?, constant value or getter)
    dynamic = False
    for key, value in template.items():
        if isinstance(key, str) and key.endswith(".$"):
            # AWS reports a bad ".$" value at the object holding it
            entries.append((key[:-2], True, compile_value_expression(value, at=at, key=key)))
            dynamic = True
            continue
        compiled = _compile(value, _pointer(at, key))
        if isinstance(compiled, _Constant):
            entries.append((key, False, compiled.value))
        else:
            entries.append((key, True, compiled))
            dynamic = True
    if not dynamic:
        return _Constant({key: value for key, _, value in entries})
    frozen = tuple(entries)

    def build_object(doc: JSON, scope: Scope) -> JSON:
        return {key: value(doc, scope) if is_dynamic else value for key, is_dynamic, value in frozen}  # type: ignore[operator]

    return build_object


def _compile_array(template: list[JSON], at: str) -> Template | _Constant:
    items = [_compile(item, _pointer(at, i)) for i, item in enumerate(template)]
    if all(isinstance(item, _Constant) for item in items):
        return _Constant([item.value for item in items])  # type: ignore[union-attr]
    parts = tuple((False, item.value) if isinstance(item, _Constant) else (True, item) for item in items)

    def build_array(doc: JSON, scope: Scope) -> JSON:
        return [value(doc, scope) if is_dynamic else value for is_dynamic, value in parts]

    return build_array
