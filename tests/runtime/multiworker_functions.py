"""Lambda functions for the multi-worker tests (`stepline serve --functions multiworker_functions`)."""

from __future__ import annotations

import time
from typing import Any


def add_one(event: dict, context: Any) -> dict:
    return {**event, "value": event["value"] + 1}


def nap_add_one(event: dict, context: Any) -> dict:
    """As add_one, after event["nap"] seconds (default 0.2): a worker stopped or killed often finds it running."""
    time.sleep(event.get("nap", 0.2))
    return {**event, "value": event["value"] + 1}
