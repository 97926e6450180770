"""Limits on evaluating a workflow's expressions, so that no expression runs unbounded.

A JSONata evaluation gets the time limit and the size limits from the library (jlens stops it). JSONPath, payload
templates and intrinsic functions run in Python: the engine evaluates each state's step between `begin(limits)` and
`end(...)`, and the evaluators' loops over data call `tick()`, which fails the step once its time is up. Regular
expressions (`=~` in JSONPath filters) run with the time that is left.

    bound = begin(Limits(seconds=2))
    try:
        value = getter(document, scope)      # raises StatesError("States.Runtime", ...) after 2 s
    finally:
        end(bound)

Outside, `tick()` never fails and JSONata evaluations get the default limits.

The durable runtime first applies signals on the event loop (cheap: no thread hop) within a short budget
(`inline`); past it, `Overtime` is raised from wherever the work is, and the runtime applies those signals again,
from the execution's last commit, in a worker thread with the whole limits (runtime/applying.py).
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
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
_inline_until: ContextVar[float | None] = ContextVar("stepline_inline", default=None)

Bound = Token[tuple[float, Limits] | None] | None


class Overtime(BaseException):
    """Work done on the event loop ran past its budget (`inline`): the caller drops what it did and does it again
    in a worker thread, with the whole limits. A BaseException, so that no Retry, Catch or guard of the engine
    takes it for a failure of the workflow."""


def begin(limits: Limits) -> Bound:
    """Evaluate within `limits` from now on, until `end` (an evaluation under way keeps its own limits)."""
    if _active.get() is not None:
        return None
    return _active.set((time.monotonic() + limits.seconds, limits))


def end(bound: Bound) -> None:
    if bound is not None:
        _active.reset(bound)


def inline(seconds: float) -> Token[float | None]:
    """From now on, raise Overtime once `seconds` have passed (until `reset_inline`)."""
    return _inline_until.set(time.monotonic() + seconds)


def reset_inline(token: Token[float | None]) -> None:
    _inline_until.reset(token)


def current() -> Limits:
    """The limits of the evaluation under way (the defaults outside any)."""
    active = _active.get()
    return DEFAULT_LIMITS if active is None else active[1]


def remaining() -> float:
    """Seconds left to the evaluation under way, within the inline budget if any; raises once none are left."""
    now = tick()
    active, until = _active.get(), _inline_until.get()
    left = DEFAULT_LIMITS.seconds if active is None else active[0] - now
    return left if until is None else min(left, until - now)


def inlined() -> bool:
    """Whether an inline budget is running."""
    return _inline_until.get() is not None


def overtime() -> bool:
    """Whether the inline budget has run out (an evaluation that stopped for time stopped for that)."""
    until = _inline_until.get()
    return until is not None and time.monotonic() >= until


def tick() -> float:
    """Called by the evaluators for each item they visit (and the engine for each state): fails the evaluation
    once its time is up, or raises Overtime once the inline budget has; the time now (time.monotonic)."""
    now = time.monotonic()
    until = _inline_until.get()
    if until is not None and now >= until:
        raise Overtime
    active = _active.get()
    if active is not None and now >= active[0]:
        raise StatesError("States.Runtime", active[1].time_cause())
    return now
