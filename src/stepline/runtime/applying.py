"""Applying signals so that a slow execution never holds the others, nor the API.

An execution's step runs its states' expressions, which may take up to their evaluation limit (expr/limits.py).
The worker applies a batch's executions on the event loop (no thread hop: most steps take microseconds), each
within a short budget, `INLINE_SECONDS`, and lets the loop serve the API between executions every `TURN_SECONDS`:
the API never waits much longer than the budget. An execution whose step runs past it raises `Overtime`: what it
did is dropped, and the `Applier` applies its signals again, from its last commit, in a worker thread with the
whole limits; the batch is committed without it, and its result is handed to `on_late` when it is ready, to be
committed then. Signals for an execution being applied in a thread wait for it; a stop abandons it (its result is
dropped, and the stop applies to its last commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from stepline.runtime.signals import Signal

INLINE_SECONDS = 0.2  # of event-loop time one execution's step may take before it is applied in a thread instead
TURN_SECONDS = 0.05  # of a batch's work on the event loop between two turns of the loop
THREADS = 32  # executions being applied in threads at once (each until its step ends); more wait for a thread

Result = TypeVar("Result")


@dataclass(slots=True)
class Group:
    """One execution's signals of a batch, with what applying them needs."""

    execution_arn: str
    signals: list[Signal]
    context: Any = None  # the worker's: the execution in memory, its lease, ...


class Applier(Generic[Result]):
    """Applies groups in worker threads, each alone; `late` holds those under way."""

    def __init__(self, step: Callable[[Group], Result], on_late: Callable[[Group, Result], None], *,
                 threads: int = THREADS) -> None:
        self._step = step
        self._on_late = on_late
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stepline-apply")
        self.late: dict[str, tuple[Group, asyncio.Future[Result]]] = {}  # execution -> its group under way

    def start(self, group: Group) -> None:
        """Apply the group in a thread; its result goes to on_late (unless abandoned meanwhile)."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._step, group)
        self.late[group.execution_arn] = (group, future)
        future.add_done_callback(lambda _: self._finished(group, future))

    def _finished(self, group: Group, future: asyncio.Future[Result]) -> None:
        if self.late.get(group.execution_arn, (None, None))[1] is future and not future.cancelled():
            del self.late[group.execution_arn]
            self._on_late(group, future.result())

    def abandon(self, execution_arn: str) -> Group | None:
        """Drop the group of this execution under way (its result will be ignored); the group, if there was one."""
        entry = self.late.pop(execution_arn, None)
        return None if entry is None else entry[0]

    def close(self) -> None:
        """Abandon everything under way; threads still applying finish by their evaluation limit, unheard."""
        self.late.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
