"""Applying signals so that a slow execution never holds the others, nor the API.

An execution's step runs its states' expressions, which may take up to their evaluation limit (expr/limits.py).
The worker applies a batch's executions on the event loop (no thread hop: most steps take microseconds), each
within a short budget, `INLINE_SECONDS`, and lets the loop serve the API between executions every `TURN_SECONDS`.
An execution whose step runs past its budget raises `Overtime`: what it did is dropped, and the `Applier` applies
its signals again, from its last commit, in a worker thread with the whole limits; the batch is committed without
it, and its result is handed to `on_late` when it is ready, to be committed then. Once one execution of a batch has
run over, or the batch has had `BATCH_SECONDS` on the loop, the rest of the batch goes to threads at once. Signals
for an execution being applied in a thread wait for it until its result is committed; a stop abandons it (its
result is dropped, and the stop applies to its last commit).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from stepline.runtime.signals import Signal

INLINE_SECONDS = 0.2  # of event-loop time one execution's step may take before it is applied in a thread instead
TURN_SECONDS = 0.05  # of a batch's work on the event loop between two turns of the loop
BATCH_SECONDS = 0.5  # of event-loop time a batch may take before the rest of it goes to threads
THREADS = 32  # steps applied in threads at once; more wait for a thread

Result = TypeVar("Result")


class Threads:
    """A pool of daemon threads: work still running at exit (a step evaluating up to its limit) never holds the
    process, as the threads of concurrent.futures would."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future]] = \
            queue.SimpleQueue()
        self._started = 0

    def run(self, work: Callable[..., Any], *args: Any) -> asyncio.Future:
        """`work(*args)` in a thread; its result (or exception) in the returned future of the running loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._work.put((lambda: work(*args), loop, future))
        if self._started < self._size:
            self._started += 1
            threading.Thread(target=self._serve, name=f"{self._name}-{self._started}", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            work, loop, future = self._work.get()
            try:
                outcome, failed = work(), False
            except BaseException as error:
                outcome, failed = error, True
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _settle(future: asyncio.Future, outcome: Any, failed: bool) -> None:
    if not future.done():
        future.set_exception(outcome) if failed else future.set_result(outcome)


STEPS = Threads(THREADS, "stepline-step")  # Express executions' and TestState's steps (runtime/runner.py)


@dataclass(slots=True)
class Group:
    """One execution's signals of a batch, with what applying them needs."""

    execution_arn: str
    signals: list[Signal]
    context: Any = None  # the worker's: the execution in memory, its lease, ...


class Applier(Generic[Result]):
    """Applies groups in worker threads, each alone; `late` holds those under way until their result is settled."""

    def __init__(self, step: Callable[[Group], Result], on_late: Callable[[Group, Result], None], *,
                 threads: int = THREADS) -> None:
        self._step = step
        self._on_late = on_late
        self._threads = Threads(threads, "stepline-apply")
        self.late: dict[str, Group] = {}  # execution -> its group under way, or applied and not committed yet

    def start(self, group: Group) -> None:
        """Apply the group in a thread; its result goes to on_late (unless abandoned meanwhile)."""
        self.late[group.execution_arn] = group
        future = self._threads.run(self._step, group)
        future.add_done_callback(lambda _: self.late.get(group.execution_arn) is group and not future.cancelled()
                                 and self._on_late(group, future.result()))

    def settle(self, group: Group) -> bool:
        """Whether the group is still wanted (not abandoned); it is no longer under way."""
        if self.late.get(group.execution_arn) is not group:
            return False
        del self.late[group.execution_arn]
        return True

    def abandon(self, execution_arn: str) -> Group | None:
        """Drop the group of this execution (its result will be ignored); the group, if there was one."""
        return self.late.pop(execution_arn, None)

    def close(self) -> None:
        """Abandon everything under way; threads still applying finish by their evaluation limit, unheard."""
        self.late.clear()
