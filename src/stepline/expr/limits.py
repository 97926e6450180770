"""Limits on evaluating a workflow's expressions, so that no expression runs unbounded.

A JSONata evaluation gets the time limit and the size limits from the library (jlens stops it). JSONPath, payload
templates and intrinsic functions run in Python: the engine evaluates each state's step within `bounded(limits)`,
and the evaluators' loops over data call `tick()`, which fails the step once its time is up. Regular expressions
(`=~` in JSONPath filters) run with the time that is left.

    with bounded(Limits(seconds=2)):
        value = getter(document, scope)      # raises StatesError("States.Runtime", ...) after 2 s

Without `bounded`, `tick()` never fails and JSONata evaluations get the default limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from stepline.errors import StatesError

DEFAULT_SECONDS = 5.0  # no sane expression comes near: a JSONata field over a 256 KiB input takes milliseconds
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How long one evaluation may run, and how large the values it builds may be."""

    seconds: float = DEFAULT_SECONDS
    memory_bytes: int = DEFAULT_MEMORY_BYTES

    def __post_init__(self) -> None:
        if not self.seconds > 0 or not self.memory_bytes > 0:
            raise ValueError("evaluation limits must be positive")

    def time_cause(self) -> str:
        return f"The evaluation exceeded its time limit of {self.seconds:g} seconds."


DEFAULT_LIMITS = Limits()

_active: ContextVar[tuple[float, Limits] | None] = ContextVar("stepline_evaluation", default=None)


@contextmanager
def bounded(limits: Limits) -> Iterator[None]:
    """Evaluate within `limits`, counted from now (an enclosing bound, if any, is kept)."""
    if _active.get() is not None:
        yield
        return
    token = _active.set((time.monotonic() + limits.seconds, limits))
    try:
        yield
    finally:
        _active.reset(token)


def current() -> Limits:
    """The limits of the evaluation under way (the defaults outside any)."""
    active = _active.get()
    return DEFAULT_LIMITS if active is None else active[1]


def remaining() -> float | None:
    """Seconds left to the evaluation under way (None outside any); raises once none are left."""
    active = _active.get()
    if active is None:
        return None
    left = active[0] - time.monotonic()
    if left <= 0:
        raise StatesError("States.Runtime", active[1].time_cause())
    return left


def tick() -> None:
    """Called by the evaluators for each item they visit: fails the evaluation once its time is up."""
    active = _active.get()
    if active is not None and time.monotonic() > active[0]:
        raise StatesError("States.Runtime", active[1].time_cause())
