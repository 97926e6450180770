"""Map Runs: the actions (ListMapRuns, DescribeMapRun, UpdateMapRun), and where a Map Run's children run.

A distributed Map's run is driven by runtime/map_runs.py, which keeps its record (`MapRunRecord`, a resource whose
parent is the execution) and starts its children: here, STANDARD children are executions of the store
(`StoredChildren`: durable, each with its own ARN and history under the run, `ListExecutions(mapRunArn=...)`),
and EXPRESS children run in memory as Express executions do (`ExpressChildren`). DescribeMapRun counts the
children's rows as they are now; UpdateMapRun's values are kept as a `map_run` resource, which the run reads as
its children end.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from stepline.engine.interpreter import RUNNING
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.map_runs import FAILURES, Ends, MapRunPlan, MemoryChildren, child_arn
from stepline.runtime.signals import Signal
from stepline.runtime.store.records import (MAP_RUN_EXPRESS_CHILDREN, MAP_RUN_PROGRESS, MAP_RUNS, ExecutionRecord,
                                            MapRunLimits, MapRunRecord)
from stepline.service import errors, shapes
from stepline.service.arns import parse_arn, parse_execution_arn
from stepline.service.paging import paginate

if TYPE_CHECKING:
    from stepline.service.app import StepFunctionsService

REMEMBERED_RUNS = 10_000  # runs whose last poll for children ended elsewhere is remembered
_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total", "resultsWritten",
           "failuresNotRedrivable", "pendingRedrive")
_COUNTED = {"RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timedOut",
            "ABORTED": "aborted"}


class MapRunActions:
    """The three Map Run actions of StepFunctionsService (a mixin: it uses the service's store)."""

    store: Any
    _express_children: ExpressChildren | None
    redrivable_since: Callable[[], datetime]

    async def list_map_runs(self, *, executionArn: str, maxResults: int = 0, nextToken: str | None = None) -> dict:
        """ListMapRuns: the Map Runs an execution started, in the order they started."""
        parse_execution_arn(executionArn)
        if await self.store.get_execution(executionArn) is None:
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{executionArn}'")
        runs = []
        for number, run in enumerate(await self.store.list_resources(MAP_RUN_PROGRESS, parent=executionArn)):
            item = {"executionArn": executionArn, "mapRunArn": run.arn,
                    "stateMachineArn": _run_state_machine_arn(run.arn), "startDate": run.start_date}
            if run.stop_date is not None:
                item["stopDate"] = run.stop_date
            runs.append((number, item))
        page, token = paginate(runs, key=lambda run: f"{run[0]:012d}", max_results=maxResults, next_token=nextToken,
                               scope=f"ListMapRuns/{executionArn}")
        return {"mapRuns": [item for _, item in page], **({"nextToken": token} if token else {})}

    async def describe_map_run(self, *, mapRunArn: str) -> dict:
        """DescribeMapRun: the run's settings, status, and its items and children counted as they are now."""
        run = await self._map_run_record(mapRunArn)
        limits = _limits(run, await self.store.get_resource(MAP_RUNS, mapRunArn))
        status = run.status
        parent = await self.store.get_execution(run.execution_arn)
        if status == RUNNING and (parent is None or parent.status != RUNNING):
            status = "ABORTED"  # the parent ended while its run was open
        if run.execution_type == "EXPRESS":  # in memory, as Express executions are; a Map Run redrives them all
            express = self._express_children
            children = [Child(status, input, stop_date, True)
                        for status, input, stop_date in (express.statuses(mapRunArn) if express else [])]
        else:
            since = self.redrivable_since()
            children = [Child(c.status, c.input, c.stop_date, shapes.redrive_refusal(c, since) is None)
                        for c in await self.store.list_executions(map_run_arn=mapRunArn)]
        executions, items = _counts(run, children)
        response = {"mapRunArn": mapRunArn, "executionArn": run.execution_arn, "status": status,
                    "startDate": run.start_date, "maxConcurrency": limits.max_concurrency or 0,
                    "toleratedFailurePercentage": float(limits.tolerated_failure_percentage or 0),
                    "toleratedFailureCount": int(limits.tolerated_failure_count or 0),
                    "itemCounts": items, "executionCounts": executions, "redriveCount": run.redrive_count}
        if run.stop_date is not None:
            response["stopDate"] = run.stop_date
        if run.redrive_date is not None:
            response["redriveDate"] = run.redrive_date
        return response

    async def update_map_run(self, *, mapRunArn: str, maxConcurrency: int | None = None,
                             toleratedFailurePercentage: float | None = None,
                             toleratedFailureCount: int | None = None) -> dict:
        """UpdateMapRun: new limits for a run; a running one applies them as soon as one of its children ends."""
        if maxConcurrency is None and toleratedFailurePercentage is None and toleratedFailureCount is None:
            raise errors.ValidationException("At least one of the parameters maxConcurrency, "
                                             "toleratedFailurePercentage or toleratedFailureCount must be provided.")
        if toleratedFailurePercentage is not None and not 0 <= toleratedFailurePercentage <= 100:
            raise errors.ValidationException("toleratedFailurePercentage must be between 0 and 100")
        run = await self._map_run_record(mapRunArn)
        limits = await self.store.get_resource(MAP_RUNS, mapRunArn) or MapRunLimits(arn=mapRunArn)
        changes = {key: value for key, value in (("max_concurrency", maxConcurrency),
                                                 ("tolerated_failure_percentage", toleratedFailurePercentage),
                                                 ("tolerated_failure_count", toleratedFailureCount))
                   if value is not None}
        # kept under its execution: retention deletes it with the execution
        await self.store.put_resource(MAP_RUNS, limits.but(**changes), parent=run.execution_arn)
        return {}

    async def _map_run_record(self, run_arn: str) -> MapRunRecord:
        arn = parse_arn(run_arn, "mapRun")
        if len(arn.resource) < 2 or "/" not in ":".join(arn.resource[:-1]):
            raise errors.InvalidArn(f"Invalid Arn: 'Invalid ARN: {run_arn}'")
        record: MapRunRecord | None = await self.store.get_resource(MAP_RUN_PROGRESS, run_arn)
        if record is None:
            raise errors.ResourceNotFound(f"Resource not found: '{run_arn}'")
        return record


def _run_state_machine_arn(run_arn: str) -> str:
    """The state machine a Map Run reports: `stateMachine:MACHINE/LABEL`."""
    prefix, _, rest = run_arn.partition(":mapRun:")
    return f"{prefix}:stateMachine:{rest.rsplit(':', 1)[0]}"


def _limits(run: MapRunRecord, updated: MapRunLimits | None) -> MapRunLimits:
    limits = MapRunLimits(arn=run.arn, max_concurrency=run.max_concurrency,
                          tolerated_failure_percentage=run.tolerated_failure_percentage,
                          tolerated_failure_count=run.tolerated_failure_count)
    if updated is None:
        return limits
    return limits.but(**{k: v for k, v in (("max_concurrency", updated.max_concurrency),
                                           ("tolerated_failure_percentage", updated.tolerated_failure_percentage),
                                           ("tolerated_failure_count", updated.tolerated_failure_count))
                         if v is not None})


class Child(NamedTuple):
    """A child as DescribeMapRun counts it."""

    status: str
    input: str
    stop_date: datetime | None
    redrivable: bool  # if it failed, timed out or was aborted: whether a redrive of the run would rerun it


def _counts(run: MapRunRecord, children: list[Child]) -> tuple[dict[str, int], dict[str, int]]:
    """executionCounts and itemCounts of the children: by status; items by their children's (a batch counts its
    items), those not started yet pending. Of the children that failed, timed out or were aborted (each still
    counted by its status), `failuresNotRedrivable` are those a redrive cannot rerun, and `pendingRedrive` those
    that ended before the redrive that runs now and that it has not rerun yet (the Map Run's redrive page)."""
    executions: Counter[str] = Counter()
    items: Counter[str] = Counter()
    redriving = run.redrive_date if run.status == RUNNING else None  # the redrive that runs now
    for child in children:
        key = _COUNTED.get(child.status, "running")
        length = _items_of(child.input)
        executions[key] += 1
        items[key] += length
        if child.status in FAILURES:
            if not child.redrivable:
                key = "failuresNotRedrivable"
            elif redriving is not None and child.stop_date is not None and child.stop_date <= redriving:
                key = "pendingRedrive"
            else:
                continue
            executions[key] += 1
            items[key] += length
    ended = run.status != RUNNING
    execution_counts = {name: executions[name] for name in _COUNTS}
    execution_counts["total"] = len(children)
    item_counts = {name: items[name] for name in _COUNTS}
    by_status = sum(items[name] for name in _COUNTED.values())
    item_counts["total"] = run.total if run.total is not None else max(run.items, by_status)
    item_counts["pending"] = max(0, item_counts["total"] - by_status) if not ended else 0
    if ended:
        finished = ("succeeded", "failed", "timedOut", "aborted")
        execution_counts["resultsWritten"] = sum(executions[name] for name in finished)
        item_counts["resultsWritten"] = sum(items[name] for name in finished)
    return execution_counts, item_counts


def _items_of(input: str) -> int:
    """A child's items: its batch's (`{"Items": [...]}`), or one."""
    if '"Items"' not in input:
        return 1
    value = loads(input)
    batch = value.get("Items") if isinstance(value, dict) else None
    return len(batch) if isinstance(batch, list) else 1


KEPT = 1_000  # parents and processor definitions remembered by a server's Map Runs (reads saved, memory bounded)


def _keep(kept: dict[str, Any], key: str, value: Any) -> None:
    if len(kept) >= KEPT and key not in kept:
        kept.clear()
    kept[key] = value


class StoredChildren:
    """STANDARD children: executions of the store, started through the durable runtime (a crash resumes them as
    every execution is resumed; on PostgreSQL any worker runs them, and announces their ends); the run's record is
    a resource of the store."""

    def __init__(self, service: StepFunctionsService) -> None:
        self._service = service
        self._digests: dict[str, str] = {}  # a processor's definition -> its digest (stored and compiled)
        self._parents: dict[str, ExecutionRecord] = {}
        self._watched: dict[str, asyncio.Future[None]] = {}  # child ARN -> resolved when it ends on this worker
        self._polled: dict[str, float] = {}  # run ARN -> when its children were last looked up (loop time)
        self.ends = Ends()

    def now(self) -> datetime:
        now: datetime = self._service.clock.now()
        return now

    async def start(self, plan: MapRunPlan, index: int, input: JSON) -> str:
        service = self._service
        arn = child_arn(plan, index)
        parent = self._parents.get(plan.execution_arn) or await service.store.get_execution(plan.execution_arn)
        if parent is None:
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{plan.execution_arn}'")
        _keep(self._parents, plan.execution_arn, parent)
        definition = dumps(plan.processor)
        digest = self._digests.get(definition)
        if digest is None:
            digest, _ = await service._compile(definition, "STANDARD")
            await service.store.put_definition(digest, definition)
            _keep(self._digests, definition, digest)
        prefix = plan.arn.partition(":mapRun:")[0]
        record = ExecutionRecord(arn=arn, state_machine_arn=f"{prefix}:stateMachine:{plan.machine_and_label}",
                                 name=plan.child_name(index), status=RUNNING, start_date=self.now(),
                                 input=dumps(input), role_arn=parent.role_arn, definition_digest=digest,
                                 type="STANDARD", map_run_arn=plan.arn)
        # the child started before a crash, if there is one, is left as it is; on PostgreSQL any worker runs it
        await service.runtime.create(record, anywhere=True)
        self._watch(plan.arn, arn)  # had it ended already (on another worker), the next poll finds it
        return arn

    def _watch(self, run: str, arn: str) -> None:
        """Have the child's end told when it ends on this worker (one on another worker is found by a poll)."""
        if arn in self._watched:
            return
        watched = self._watched[arn] = self._service.runtime.watch(arn)
        watched.add_done_callback(lambda _: self._ended(run, arn))

    def _ended(self, run: str, arn: str) -> None:
        if self._watched.pop(arn, None) is not None:
            self.ends.tell(run, arn)

    async def follow(self, plan: MapRunPlan, arns: Collection[str]) -> None:
        for arn in arns:
            self._watch(plan.arn, arn)
        await self._poll(plan, arns)  # those that ended before they were watched

    async def wait_any(self, plan: MapRunPlan, arns: Collection[str], timeout: float) -> list[str]:
        """The children that ended here as they end; on PostgreSQL, those that ended on other workers as they
        announce it, and by a poll every `timeout` at least (a lost announcement; ends here do not put it off)."""
        ended = await self.ends.wait(plan.arn, arns, timeout)
        now = asyncio.get_running_loop().time()
        shared = self._service.store.shared  # else every child ends in this process, and is told
        if not ended or (shared and now - self._polled.get(plan.arn, -timeout) >= timeout):
            self._polled.pop(plan.arn, None)  # the latest last: the runs polled longest ago are forgotten first
            self._polled[plan.arn] = now
            if len(self._polled) > REMEMBERED_RUNS:
                del self._polled[next(iter(self._polled))]
            told = set(ended)
            await self._poll(plan, [arn for arn in arns if arn not in told])
            ended += await self.ends.wait(plan.arn, arns, 0)
        return ended

    async def _poll(self, plan: MapRunPlan, arns: Collection[str]) -> None:
        """The children that ended elsewhere (another worker): told, as if they had ended here."""
        still = {record.arn for record in await self._service.store.list_executions(map_run_arn=plan.arn,
                                                                                    status=RUNNING)}
        for arn in [arn for arn in arns if arn not in still]:
            watched = self._watched.pop(arn, None)
            if watched is not None:
                self._service.runtime.unwatch(arn, watched)
            self.ends.tell(plan.arn, arn)

    async def describe(self, arn: str) -> dict[str, Any] | None:
        record = await self._service.store.get_execution(arn)
        return shapes.execution(record, self._service.redrivable_since()) if record is not None else None

    async def running(self, plan: MapRunPlan) -> list[str]:
        return [record.arn for record in await self._service.store.list_executions(map_run_arn=plan.arn,
                                                                                   status=RUNNING)]

    async def stop(self, arns: list[str], error: str | None, cause: str | None) -> None:
        for arn in arns:
            await self._service.runtime.post(Signal("stop", arn, payload=(error, cause)))
            watched = self._watched.pop(arn, None)
            if watched is not None:
                self._service.runtime.unwatch(arn, watched)

    async def redrive(self, plan: MapRunPlan, index: int) -> bool:
        arn = child_arn(plan, index)
        try:
            await self._service.redrive_execution(executionArn=arn)
        except errors.ExecutionNotRedrivable:
            return False
        self._watch(plan.arn, arn)
        return True

    async def load(self, arn: str) -> MapRunRecord | None:
        record: MapRunRecord | None = await self._service.store.get_resource(MAP_RUN_PROGRESS, arn)
        return record

    async def save(self, record: MapRunRecord) -> None:
        await self._service.store.put_resource(MAP_RUN_PROGRESS, record, parent=record.execution_arn)

    async def limits(self, arn: str) -> MapRunLimits | None:
        limits: MapRunLimits | None = await self._service.store.get_resource(MAP_RUNS, arn)
        return limits


class ExpressChildren(MemoryChildren):
    """EXPRESS children: in memory, as Express executions run. How each ended is written to the store as well (a
    row per child, under the parent, written before the run counts it), and so is the run's record. A run resumed
    after a restart keeps the children that had ended (they are neither run nor counted again, their results are
    given once) and starts again those that were running, as a redrive of a Map Run starts EXPRESS children
    again: it reads its items again from the first, and a child that had ended is found, not started."""

    def __init__(self, service: StepFunctionsService) -> None:
        super().__init__(lambda: service._integrations_for(None), service.clock,
                         role_arn=f"arn:aws:iam::{service.settings.account}:role/stepline",
                         limits=service.settings.limits, timeout_seconds=300)
        self._store = service.store
        self._redrivable_since = service.redrivable_since
        self._writes: dict[str, asyncio.Task[None]] = {}  # child ARN -> the writing of its end

    def _child_ended(self, run: str, arn: str) -> None:
        parent = self._records[run].execution_arn
        if ":express:" in parent:  # an Express parent is not resumed after a restart: its children neither
            return
        described = self._ended[arn]
        record = ExecutionRecord(arn=arn, state_machine_arn=described["stateMachineArn"], name=described["name"],
                                 status=described["status"], start_date=described["startDate"],
                                 input=described["input"], type="EXPRESS", map_run_arn=run,
                                 stop_date=described.get("stopDate"), output=described.get("output"),
                                 error=described.get("error"), cause=described.get("cause"))
        self._writes[arn] = asyncio.get_running_loop().create_task(
            self._store.put_resource(MAP_RUN_EXPRESS_CHILDREN, record, parent=parent))

    async def _written(self, arns: Collection[str]) -> None:
        """The ends of these children are in the store."""
        writes = [write for arn in arns if (write := self._writes.pop(arn, None)) is not None]
        for write in writes:
            await write

    async def wait_any(self, plan: MapRunPlan, arns: Collection[str], timeout: float) -> list[str]:
        ended = await super().wait_any(plan, arns, timeout)
        await self._written(ended)
        return ended

    async def stop(self, arns: list[str], error: str | None, cause: str | None) -> None:
        await super().stop(arns, error, cause)
        await self._written(arns)

    async def load(self, arn: str) -> MapRunRecord | None:
        """The run's record; after a restart, from the store, with the children that had ended (a running run
        is read again from its first item, its children that were running started again)."""
        record = await super().load(arn)
        if record is not None:
            return record
        record = await self._store.get_resource(MAP_RUN_PROGRESS, arn)
        if record is None:
            return None
        children = [child for child in await self._store.list_resources(MAP_RUN_EXPRESS_CHILDREN,
                                                                          parent=record.execution_arn)
                    if child.map_run_arn == arn]
        if record.status == RUNNING:
            record = record.but(started=0, items=0, read_all=False, cursor=None)
            if record.redrive_date is not None:  # a redrive was running: the failures it was to rerun run again
                children = [child for child in children if not (child.status in FAILURES and child.stop_date
                                                                and child.stop_date <= record.redrive_date)]
        since = self._redrivable_since()
        self.recall(arn, [{k: v for k, v in shapes.execution(child, since).items() if k != "mapRunArn"}
                          for child in children])
        await super().save(record)
        return record

    async def save(self, record: MapRunRecord) -> None:
        await super().save(record)
        await self._store.put_resource(MAP_RUN_PROGRESS, record, parent=record.execution_arn)

    async def limits(self, arn: str) -> MapRunLimits | None:
        limits: MapRunLimits | None = await self._store.get_resource(MAP_RUNS, arn)
        return limits


__all__ = ["MapRunActions", "StoredChildren", "ExpressChildren"]
