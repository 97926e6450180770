"""JSON values: the type alias, fast (de)serialization with orjson, and payload sizes."""

from __future__ import annotations

from typing import Any, TypeAlias

import orjson

JSON: TypeAlias = Any  # dict | list | str | int | float | bool | None; payloads stay plain JSON

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: JSON) -> str:
    """Compact JSON text, as AWS writes payloads into history events."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def dumps_bytes(value: JSON) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def loads(text: str | bytes) -> JSON:
    """Parse JSON text; raises ValueError (orjson.JSONDecodeError) on bad input."""
    return orjson.loads(text)


MAX_DEPTH = 254  # levels of arrays and objects a value may have: what the JSON writer writes


def too_deep(value: JSON) -> bool:
    """Whether a parsed value is nested deeper than MAX_DEPTH (the reader accepts 1,024 levels; such a value
    could never be written into a history, so the API refuses it)."""
    try:
        dumps_bytes(value)
        return False
    except TypeError:
        return True


def json_type(value: JSON) -> str:
    """The JSON type of a value as AWS names it in causes: object, array, string, number, boolean, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
