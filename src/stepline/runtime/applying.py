"""Applying signals off the event loop, so that a slow execution never holds the others (nor the API).

An execution's step runs its state's expressions, which may take up to their evaluation limit (expr/limits.py).
The worker hands the executions of a batch to `Applier.run`, which applies them one after another in a worker
thread and waits for them a short while (`patience`). An execution still being applied then goes on alone (it is
"late"): the batch is committed without it, the executions after it are applied in another thread, and its result
is handed to `on_late` when it is ready, to be committed then. Signals for a late execution wait for it; a stop
abandons it (its result is dropped, and the stop applies to its last commit).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from stepline.runtime.signals import Signal

PATIENCE_SECONDS = 0.2  # how long a batch waits for its slowest execution before committing without it
THREADS = 32  # late executions each hold a thread until their step ends; the others need one too

Result = TypeVar("Result")


@dataclass(slots=True)
class Group:
    """One execution's signals of a batch, with what applying them needs."""

    execution_arn: str
    signals: list[Signal]
    context: Any = None  # the worker's: the execution in memory, its lease, ...


@dataclass(slots=True, eq=False)
class _Job(Generic[Result]):
    """Groups applied one after another in one thread, until they are done or the batch stops waiting (cut)."""

    groups: deque[Group]
    step: Callable[[Group], Result]
    done: list[Result] = field(default_factory=list)
    current: Group | None = None
    late_result: Result | None = None
    cut_off: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while True:
            with self.lock:
                if self.cut_off or not self.groups:
                    return
                group = self.current = self.groups.popleft()
            result = self.step(group)
            with self.lock:
                self.current = None
                if self.cut_off:  # the batch went on without this one
                    self.late_result = result
                    return
                self.done.append(result)

    def cut(self) -> tuple[list[Result], Group | None, list[Group]]:
        """Stop here: the results so far, the group still being applied (late), and those not started."""
        with self.lock:
            self.cut_off = True
            rest = list(self.groups)
            self.groups.clear()
            return self.done, self.current, rest


class Applier(Generic[Result]):
    """Applies groups in worker threads; a group slower than `patience` is finished late (see the module)."""

    def __init__(self, step: Callable[[Group], Result], on_late: Callable[[Group, Result], None], *,
                 patience: float = PATIENCE_SECONDS, threads: int = THREADS) -> None:
        self._step = step
        self._on_late = on_late
        self._patience = patience
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stepline-apply")
        self.late: dict[str, tuple[Group, _Job[Result]]] = {}  # execution -> its group still being applied

    async def run(self, groups: list[Group]) -> list[Result]:
        """The results of the groups applied within the batch's patience; the late ones come through on_late."""
        loop = asyncio.get_running_loop()
        results: list[Result] = []
        while groups:
            job: _Job[Result] = _Job(deque(groups), self._step)
            future = loop.run_in_executor(self._pool, job.run)
            done, _ = await asyncio.wait({future}, timeout=self._patience)
            if done:
                future.result()
                results += job.done
                break
            finished, late, groups = job.cut()
            results += finished
            if late is not None:
                self.late[late.execution_arn] = (late, job)
                future.add_done_callback(lambda _, group=late, job=job: self._finished_late(group, job))
        return results

    def _finished_late(self, group: Group, job: _Job[Result]) -> None:
        if self.late.get(group.execution_arn, (None, None))[1] is job:  # not abandoned meanwhile
            del self.late[group.execution_arn]
            self._on_late(group, job.late_result)  # type: ignore[arg-type]

    def abandon(self, execution_arn: str) -> Group | None:
        """Drop the late group of this execution (its result will be ignored); the group, if there was one."""
        entry = self.late.pop(execution_arn, None)
        return None if entry is None else entry[0]

    def close(self) -> None:
        """Abandon everything under way; threads still applying finish by their evaluation limit, unheard."""
        self.late.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
