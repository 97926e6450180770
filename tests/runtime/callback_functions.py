"""Lambda functions for the callback tests (`stepline serve --functions callback_functions`).

`record_token` is the Lambda half of a `.waitForTaskToken` task: it writes the task token it was given to the
file the event names, where another process picks it up and answers with SendTaskSuccess or SendTaskFailure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def record_token(event: dict, context: Any) -> dict:
    """Write event["token"] to event["path"] (atomically: a reader never sees half a token)."""
    path = Path(event["path"])
    partial = path.with_suffix(".partial")
    partial.write_text(event["token"])
    partial.replace(path)
    return {"recorded": True}


def double(event: dict, context: Any) -> dict:
    """A plain function: {"value": n} -> {"value": 2n}."""
    return {"value": event["value"] * 2}


class OrderRejected(Exception):
    """An error with a name of its own, as Lambda reports it (errorType)."""


def reject(event: dict, context: Any) -> dict:
    raise OrderRejected(f"order {event.get('order')} rejected")


def fail_unless_redriven(event: dict, context: Any) -> dict:
    """Fails on the first run of an execution, succeeds once it was redriven (event["redriveCount"] > 0)."""
    if not event.get("redriveCount"):
        raise OrderRejected("first run")
    return {"redriven": event["redriveCount"]}
