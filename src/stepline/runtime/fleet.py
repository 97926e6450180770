"""What makes a runtime one worker among several on one store: its leases, the inbox of signals posted by any
process, and the coordinator (claims, renewals and parking, polls, notifications, liveness reports).

A worker claims an execution before applying anything to it and commits under the lease's fence, so a worker
that lost a lease cannot write. It renews the leases of executions with work in flight and parks the others
(a waiting execution costs a row, not a lease). Recovery is the same path: a dead worker's leases expire (or
end at once when it comes back under its name), and a claim dispatches its committed, unanswered tasks again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from stepline.engine.interpreter import RUNNING
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import ExecutionChange, InboxSignal, Lease, Store, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from stepline.runtime.worker import Runtime

log = logging.getLogger("stepline.runtime.worker")

BATCH = 512  # signals applied per group commit at most; executions claimed per poll at most
CONSUMED = 10_000  # inbox signal ids remembered after they were applied (a late read of one is ignored)


def default_worker_name() -> str:
    """host:pid-xxxx, unique among the workers of one store."""
    return f"{socket.gethostname()}:{os.getpid()}-{os.urandom(2).hex()}"


def wall() -> datetime:
    """Leases and reports run on real time, whatever the executions' clock (virtual time jumps years)."""
    return datetime.now(timezone.utc)


class Leases:
    """The executions this worker holds, each under a lease whose fence its commits carry."""

    def __init__(self, store: Store, worker: str, lease_seconds: float) -> None:
        self._store = store
        self.worker = worker
        self.lease_seconds = lease_seconds
        self._held: dict[str, Lease] = {}
        self._touched: set[str] = set()  # executions with signals since the last renewal: keep their leases

    def __contains__(self, arn: str) -> bool:
        return arn in self._held

    def __len__(self) -> int:
        return len(self._held)

    def get(self, arn: str) -> Lease | None:
        return self._held.get(arn)

    def touch(self, arn: str) -> None:
        self._touched.add(arn)

    def first(self, arn: str) -> Lease:
        """The lease a new execution is created under (fence 1): no other worker's poll takes it first."""
        return Lease(arn, self.worker, 1, wall() + timedelta(seconds=self.lease_seconds))

    def hold(self, lease: Lease) -> None:
        self._held[lease.execution_arn] = lease

    async def claim(self, arns: list[str] | None) -> list[Lease]:
        """Claim these executions (or, with None, any that need a worker); the leases granted."""
        leases = await self._store.claim_runnable(self.worker, self.lease_seconds, len(arns) if arns else BATCH,
                                                  now=wall(), execution_arns=arns)
        for lease in leases:
            self._held[lease.execution_arn] = lease
        return leases

    def drop(self, arns: Iterable[str]) -> None:
        """Let these go without telling the store (their leases expire)."""
        for arn in arns:
            self._held.pop(arn, None)

    async def renew(self, busy: set[str]) -> set[str]:
        """Keep the leases of executions with work in flight (`busy`, or touched since the last renewal); park the
        others. The executions whose leases were lost."""
        keep, park = self._split(busy)
        self._touched = set()
        lost: set[str] = set()
        if keep:
            renewed = await self._store.renew_leases(keep, self.lease_seconds, now=wall())
            for lease in renewed:
                self._held[lease.execution_arn] = lease
            lost = {lease.execution_arn for lease in keep} - {lease.execution_arn for lease in renewed}
        if park:
            # let go first: if the answer is lost, the parking may have happened, and a commit under a parked
            # lease would write an execution nobody holds (what the store did not park expires instead)
            self.drop(lease.execution_arn for lease in park)
            await self._store.release_leases(park, waiting=True)
        return lost

    async def hand_back(self, busy: set[str]) -> None:
        """A stopping worker: executions with work in flight go to any worker at once; the others are parked."""
        handed, parked = self._split(busy)
        self._held.clear()
        await self._store.release_leases(handed)
        await self._store.release_leases(parked, waiting=True)

    def _split(self, busy: set[str]) -> tuple[list[Lease], list[Lease]]:
        """The leases of executions with work in flight (`busy`, or touched since the last renewal), and the others'."""
        busy = busy | self._touched
        return ([lease for arn, lease in self._held.items() if arn in busy],
                [lease for arn, lease in self._held.items() if arn not in busy])


class Inbox:
    """The inbox signals this worker has queued or applied lately (so that one is applied once)."""

    def __init__(self) -> None:
        self._queued: set[int] = set()
        self._consumed: OrderedDict[int, None] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self._queued)

    def new(self, signals: Iterable[InboxSignal]) -> list[Signal]:
        """The runtime's signals for those inbox signals not queued yet (nor applied already), now queued."""
        fresh = []
        for signal in signals:
            if signal.id in self._queued or signal.id in self._consumed:
                continue
            self._queued.add(signal.id)
            body = signal.payload if isinstance(signal.payload, dict) else {}
            fresh.append(Signal(signal.kind, signal.execution_arn, body.get("thread", ""), body.get("token", 0),
                                body.get("payload"), signal.id))
        return fresh

    def release(self, signals: Iterable[Signal]) -> None:
        """These were not applied: read them again."""
        self._queued.difference_update(signal.signal_id for signal in signals)

    def consumed(self, ids: Iterable[int]) -> None:
        for signal_id in ids:
            self._queued.discard(signal_id)
            self._consumed[signal_id] = None
        while len(self._consumed) > CONSUMED:
            self._consumed.popitem(last=False)


class Coordinator:
    """Claims, inbox reads, lease renewals, reports and polls for one runtime. Waits for a notification or the
    next poll, whichever comes first."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._store = runtime.store
        self._wanted: set[str] = set()  # executions announced by a notification
        self._work = asyncio.Event()
        self._strays: set[int] = set()  # inbox signals no worker could take at the last poll
        self.busy = False  # coordinating now

    def __bool__(self) -> bool:
        """Whether it has or does work."""
        return self.busy or bool(self._wanted)

    def wake(self, arn: str) -> None:
        """A signal was posted for the execution: deliver it (or claim the execution)."""
        self._wanted.add(arn)
        self._runtime.quiet.busy()
        self._work.set()

    async def run(self) -> None:
        runtime = self._runtime
        loop = asyncio.get_running_loop()
        next_poll = next_renewal = next_report = loop.time()
        while True:
            if not self._wanted:
                try:
                    await asyncio.wait_for(self._work.wait(),
                                           max(0.0, min(next_poll, next_renewal, next_report) - loop.time()))
                except asyncio.TimeoutError:
                    pass
            self._work.clear()
            self.busy = True
            wanted, self._wanted = self._wanted, set()
            try:
                if wanted:
                    await self._pick_up_among(wanted)
                if loop.time() >= next_renewal:
                    await runtime.renew()
                    next_renewal = loop.time() + runtime.leases.lease_seconds / 3
                if loop.time() >= next_report:
                    await self._store.report_worker(runtime.worker, self.report(), now=wall())
                    next_report = loop.time() + self.report_seconds
                if loop.time() >= next_poll:
                    await self._poll()
                    next_poll = loop.time() + runtime.poll_seconds
            except Exception as error:  # the store is away (a restart): try again after a polling interval
                self._wanted |= wanted
                if isinstance(error, StoreError):  # a store that cannot be written says so itself, once
                    log.log(logging.DEBUG if isinstance(error, StoreUnavailable) else logging.WARNING,
                            "the store failed: %s", error, extra={"worker": runtime.worker, "error": str(error)})
                else:
                    log.exception("coordinating failed", extra={"worker": runtime.worker})
                next_poll = loop.time() + runtime.poll_seconds
                await asyncio.sleep(runtime.poll_seconds)
            finally:
                self.busy = False
                runtime.quiet.check()

    async def _pick_up_among(self, arns: set[str]) -> None:
        """Signals were posted for these executions: read them if this worker holds the execution, else claim it."""
        runtime = self._runtime
        held = [arn for arn in arns if arn in runtime.leases]
        if held:
            runtime.take(await self._store.signals(held))
        others = [arn for arn in arns if arn not in runtime.leases]
        if others:
            await runtime.pick_up(await runtime.claim(others))

    async def _poll(self) -> None:
        """What notifications may have missed: executions that need a worker (claimed until none is left), and
        inbox signals of executions held here. Signals no worker took twice in a row are removed if their
        execution has ended."""
        runtime = self._runtime
        while len(await runtime.pick_up(await runtime.claim(None))) >= BATCH:
            pass
        signals = await self._store.signals(None, limit=BATCH)
        runtime.take(signal for signal in signals if signal.execution_arn in runtime.leases)
        strays = [signal for signal in signals if signal.execution_arn not in runtime.leases]
        again = [signal for signal in strays if signal.id in self._strays]
        self._strays = {signal.id for signal in strays}
        for arn in {signal.execution_arn for signal in again}:
            record = await self._store.get_execution(arn)
            if record is None or record.status != RUNNING:
                await self._store.commit([ExecutionChange(arn, None, None, consumed_signals=[
                    signal.id for signal in again if signal.execution_arn == arn])])

    async def listen(self) -> None:
        """Notifications from every process on the store: signals posted (the holder reads them, or a worker
        claims the execution), activity tasks scheduled (GetActivityTask long polls wake), and Map Runs' children
        ended (their run's driver counts them)."""
        runtime = self._runtime
        while True:
            try:
                async with self._store.listen(["signals", "activities", "ended"]) as notifications:
                    async for notification in notifications:
                        if notification.channel == "signals":
                            self.wake(notification.payload)
                        elif notification.channel == "ended":  # ARNs, a line each
                            for arn in notification.payload.splitlines():
                                runtime.heard_end(arn)
                        else:
                            runtime.tasks.wake_activity_workers(notification.payload)
            except StoreError as error:  # reconnect; the polls cover what was missed meanwhile
                log.warning("lost the notifications: %s", error, extra={"worker": runtime.worker, "error": str(error)})
                await asyncio.sleep(runtime.poll_seconds)

    def report(self) -> dict[str, Any]:
        runtime = self._runtime
        return {"host": socket.gethostname(), "pid": os.getpid(), "leases": len(runtime.leases),
                "tasks": len(runtime.tasks), "leaseSeconds": runtime.leases.lease_seconds,
                "reportSeconds": self.report_seconds}

    @property
    def report_seconds(self) -> float:
        return min(self._runtime.leases.lease_seconds / 3, 5.0)
