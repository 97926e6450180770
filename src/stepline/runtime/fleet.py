"""What makes a runtime one worker among several on one store: claims (leases with fences), the inbox of
signals posted by any process, renewals and parking, polls, notifications and liveness reports.

A worker claims an execution before applying anything to it and commits under the lease's fence, so a worker
that lost a lease cannot write. It renews the leases of executions with tasks in flight and parks the others
(a waiting execution costs a row, not a lease). Recovery is the same path: a dead worker's leases expire (or
end at once when it comes back under its name), and a claim dispatches its committed, unanswered tasks again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timezone

from stepline.engine.interpreter import RUNNING
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import ExecutionChange, InboxSignal, Lease, StoreError, StoreUnavailable

log = logging.getLogger("stepline.runtime.worker")

BATCH = 512  # signals applied per group commit at most; executions claimed per poll at most


def default_worker_name() -> str:
    """host:pid-xxxx, unique among the workers of one store."""
    return f"{socket.gethostname()}:{os.getpid()}-{os.urandom(2).hex()}"


def wall() -> datetime:
    """Leases and reports run on real time, whatever the executions' clock (virtual time jumps years)."""
    return datetime.now(timezone.utc)


class Fleet:
    """Mixed into Runtime (runtime/worker.py), whose state it uses."""

    def _wake(self, arn: str) -> None:
        """A signal was posted for the execution: have the coordinator deliver it (or claim the execution)."""
        self._wanted.add(arn)
        self._settled.clear()
        self._work.set()

    async def _claim(self, arns: list[str] | None) -> list[Lease]:
        """Claim these executions (or, with None, any that need a worker); the leases granted."""
        leases = await self.store.claim_runnable(self.worker, self.lease_seconds, len(arns) if arns else BATCH,
                                                 now=wall(), execution_arns=arns)
        for lease in leases:
            arn = lease.execution_arn
            if self._fences.get(arn, -1) + 1 != lease.fence:  # another worker held it since: memory is stale
                self._live.pop(arn, None)
                self._records.pop(arn, None)
            self._fences[arn] = lease.fence
            self._leases[arn] = lease
        return leases

    async def _pick_up(self, leases: list[Lease], *, resume: bool = True) -> list[Lease]:
        """Take over executions just claimed: dispatch again the tasks that were committed and not answered
        (at-least-once, as AWS delivers), have each continue from its checkpoint (start it, or apply an accepted
        redrive), and read its inbox."""
        arns = [lease.execution_arn for lease in leases]
        if not arns:
            return leases
        try:
            pending = await self.store.pending_tasks(among=arns)
        except StoreError:  # held but not picked up: they must not be parked; their leases expire instead
            self._forget(arns, cancel=False)
            raise
        for task in pending:
            # not an activity's or a callback's (their answer comes through the API), nor one running here
            if task.activity_arn is None and task.worker is None and not task.effect.get("submitted") \
                    and (task.execution_arn, task.thread) not in self._tasks:
                self._dispatch(task.execution_arn, task.effect)
        if resume:
            for arn in arns:
                self.submit(Signal("resume", arn))
        self._take(await self.store.signals(arns))  # if this fails, the poll reads them
        return leases

    def _take(self, signals: Iterable[InboxSignal]) -> None:
        """Queue inbox signals not queued yet (nor applied already)."""
        for signal in signals:
            if signal.id in self._inbox or signal.id in self._consumed:
                continue
            self._inbox.add(signal.id)
            body = signal.payload if isinstance(signal.payload, dict) else {}
            self.submit(Signal(signal.kind, signal.execution_arn, body.get("thread", ""), body.get("token", 0),
                               body.get("payload"), signal.id))

    def _forget(self, arns: Iterable[str], *, cancel: bool) -> None:
        """Let executions go without telling the store (a lease lost, or a commit whose outcome is unknown):
        what memory holds of them may be ahead of the store; with `cancel`, their tasks in flight are dropped
        too (the worker that took them over dispatches them again)."""
        arns = set(arns)
        for arn in arns:
            self._leases.pop(arn, None)
            self._live.pop(arn, None)
            self._records.pop(arn, None)
            self._fences.pop(arn, None)
        if cancel:
            for key in [key for key in self._tasks if key[0] in arns]:
                self._tasks.pop(key).cancel()
        if arns:
            log.log(logging.WARNING if cancel else logging.DEBUG, "%d executions let go%s", len(arns),
                    " (their leases were taken over)" if cancel else "",
                    extra={"worker": self.worker, "executions": len(arns), "lease_lost": cancel})

    async def _coordinate(self) -> None:
        """Claims, inbox reads, lease renewals, reports and polls: what makes this runtime one worker among
        several. Waits for a notification or the next poll, whichever comes first."""
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
            self._coordinating = True
            wanted, self._wanted = self._wanted, set()
            try:
                if wanted:
                    await self._pick_up_among(wanted)
                if loop.time() >= next_renewal:
                    await self._renew()
                    next_renewal = loop.time() + self.lease_seconds / 3
                if loop.time() >= next_report:
                    await self.store.report_worker(self.worker, self._report_record(), now=wall())
                    next_report = loop.time() + self._report_seconds
                if loop.time() >= next_poll:
                    await self._poll()
                    next_poll = loop.time() + self.poll_seconds
            except Exception as error:  # the store is away (a restart): try again after a polling interval
                self._wanted |= wanted
                if isinstance(error, StoreError):  # a store that cannot be written says so itself, once
                    log.log(logging.DEBUG if isinstance(error, StoreUnavailable) else logging.WARNING,
                            "the store failed: %s", error, extra={"worker": self.worker, "error": str(error)})
                else:
                    log.exception("coordinating failed", extra={"worker": self.worker})
                next_poll = loop.time() + self.poll_seconds
                await asyncio.sleep(self.poll_seconds)
            finally:
                self._coordinating = False
                if self.idle:
                    self._settled.set()

    async def _pick_up_among(self, arns: set[str]) -> None:
        """Signals were posted for these executions: read them if this worker holds the execution, else claim it."""
        held = [arn for arn in arns if arn in self._leases]
        if held:
            self._take(await self.store.signals(held))
        others = [arn for arn in arns if arn not in self._leases]
        if others:
            await self._pick_up(await self._claim(others))

    async def _poll(self) -> None:
        """What notifications may have missed: executions that need a worker (claimed until none is left), and
        inbox signals of executions held here. Signals no worker took twice in a row are removed if their
        execution has ended."""
        while len(await self._pick_up(await self._claim(None))) >= BATCH:
            pass
        signals = await self.store.signals(None, limit=BATCH)
        self._take(signal for signal in signals if signal.execution_arn in self._leases)
        strays = [signal for signal in signals if signal.execution_arn not in self._leases]
        again = [signal for signal in strays if signal.id in self._strays]
        self._strays = {signal.id for signal in strays}
        for arn in {signal.execution_arn for signal in again}:
            record = await self.store.get_execution(arn)
            if record is None or record["status"] != RUNNING:
                await self.store.commit([ExecutionChange(arn, None, None, consumed_signals=[
                    signal.id for signal in again if signal.execution_arn == arn])])

    async def _renew(self) -> None:
        """Keep the leases of executions with work in flight; park the ones that only wait."""
        async with self._lock:
            busy = {arn for arn, _ in self._tasks} | self._touched | self._applier.late.keys()
            self._touched = set()
            keep = [lease for arn, lease in self._leases.items() if arn in busy]
            park = [lease for arn, lease in self._leases.items() if arn not in busy]
            if keep:
                renewed = await self.store.renew_leases(keep, self.lease_seconds, now=wall())
                for lease in renewed:
                    self._leases[lease.execution_arn] = lease
                self._forget({lease.execution_arn for lease in keep} - {lease.execution_arn for lease in renewed},
                             cancel=True)
            if park:
                # let go first: if the answer is lost, the parking may have happened, and a commit under a parked
                # lease would write an execution nobody holds (what the store did not park expires instead)
                for lease in park:
                    del self._leases[lease.execution_arn]
                    if lease.execution_arn not in self._live:
                        self._fences.pop(lease.execution_arn, None)
                await self.store.release_leases(park, waiting=True)

    async def _listen(self) -> None:
        """Notifications from every process on the store: signals posted (the holder reads them, or a worker
        claims the execution) and activity tasks scheduled (GetActivityTask long polls wake)."""
        while True:
            try:
                async with self.store.listen(["signals", "activities"]) as notifications:
                    async for notification in notifications:
                        if notification.channel == "signals":
                            self._wake(notification.payload)
                        else:
                            self._wake_activity_workers(notification.payload)
            except StoreError as error:  # reconnect; the polls cover what was missed meanwhile
                log.warning("lost the notifications: %s", error, extra={"worker": self.worker, "error": str(error)})
                await asyncio.sleep(self.poll_seconds)

    def _report_record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "leases": len(self._leases),
                "tasks": len(self._tasks), "leaseSeconds": self.lease_seconds, "reportSeconds": self._report_seconds}

    @property
    def _report_seconds(self) -> float:
        return min(self.lease_seconds / 3, 5.0)
