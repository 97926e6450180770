"""Lambda functions for the console's browser tests (loaded by `stepline serve --functions console_functions`)."""

from __future__ import annotations

_calls: dict[str, int] = {}


class Flaky(Exception):
    pass


def flaky(event, context):
    """Fails the first time it is called for an id, then succeeds: a failed execution that a redrive completes."""
    key = str(event.get("id"))
    _calls[key] = _calls.get(key, 0) + 1
    if _calls[key] == 1:
        raise Flaky(f"first call for {key}")
    return {"id": key, "calls": _calls[key]}
