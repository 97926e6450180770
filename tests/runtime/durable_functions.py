"""Lambda functions for the crash test (`stepline serve --functions durable_functions`): pure, some slow."""

from __future__ import annotations

import os
import time
from typing import Any


def add_one(event: dict, context: Any) -> dict:
    return {**event, "value": event["value"] + 1}


def slow_add_one(event: dict, context: Any) -> dict:
    """As add_one, after 0.1 to 0.4 s: a crash often finds it running."""
    time.sleep(0.1 + (event["value"] % 4) * 0.1)
    return {**event, "value": event["value"] + 1}


class Flaky(Exception):
    """Raised by flaky_add_one on its first attempt."""


def flaky_add_one(event: dict, context: Any) -> dict:
    """Fails the first attempt (event["attempt"] is $$.State.RetryCount), then adds one."""
    if event["attempt"] == 0:
        raise Flaky("first attempt")
    return {"value": event["value"] + 1}


def counted_double(event: dict, context: Any) -> dict:
    """{"n": 2n} after 0.1 s, each call noted as a line `n` in the file $COUNTED_CALLS (how often each item ran)."""
    time.sleep(0.1)
    with open(os.environ["COUNTED_CALLS"], "a") as calls:
        calls.write(f"{event['n']}\n")
    return {"n": 2 * event["n"]}


class FirstCall(Exception):
    """Raised by fail_first_double on an item's first call."""


def fail_first_double(event: dict, context: Any) -> dict:
    """As counted_double, but an item's first call fails (the calls noted in $COUNTED_CALLS say which is)."""
    time.sleep(0.1)
    path = os.environ["COUNTED_CALLS"]
    with open(path) as calls:
        seen = str(event["n"]) in calls.read().split()
    with open(path, "a") as calls:
        calls.write(f"{event['n']}\n")
    if not seen:
        raise FirstCall(f"the first call for {event['n']}")
    return {"n": 2 * event["n"]}
