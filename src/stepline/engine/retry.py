"""Retry and Catch: which rule handles an error, and how long a retry waits."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import Final, Protocol

from stepline.asl.model import Retrier

MAX_WAIT_SECONDS: Final = 2**31 - 1  # the longest wait (Wait state or retry) an execution can have
# Retry and Catch never match these through a wildcard (States.Runtime not even by name): they end the execution
UNCATCHABLE: Final = frozenset({"States.Runtime", "States.DataLimitExceeded"})


class ErrorRule(Protocol):
    """A Retry or Catch rule, as far as matching goes."""

    @property
    def error_equals(self) -> tuple[str, ...]: ...


def first_match(rules: Sequence[ErrorRule], error: str | None) -> int | None:
    """The index of the first rule whose ErrorEquals takes the error, or None.

    States.ALL takes every error but the uncatchable ones; States.TaskFailed every one of those but
    States.Timeout; States.Runtime is taken by no rule, even one that names it. A Fail state may fail a branch
    without an error name (None): only the wildcards take that.
    """
    if error == "States.Runtime":
        return None
    wildcard = error not in UNCATCHABLE
    for index, rule in enumerate(rules):
        names = rule.error_equals
        if error in names or (wildcard and ("States.ALL" in names or (
                "States.TaskFailed" in names and error != "States.Timeout"))):
            return index
    return None


def retry_delay(retrier: Retrier, attempt: int, rng: Random) -> float:
    """IntervalSeconds * BackoffRate^attempt, capped by MaxDelaySeconds and by the longest wait, jittered."""
    try:
        delay = min(retrier.interval_seconds * retrier.backoff_rate ** attempt, MAX_WAIT_SECONDS)
    except OverflowError:
        delay = MAX_WAIT_SECONDS
    if retrier.max_delay_seconds is not None:
        delay = min(delay, retrier.max_delay_seconds)
    return rng.uniform(0, delay) if retrier.jitter_strategy == "FULL" else delay
