"""Map Runs: a distributed Map's items processed by child executions, driven from here.

The interpreter asks for a Map Run with an InvokeTask of a `mapRun` resource (engine/fanout.py) and waits for its
end as for a `.sync` job: `MapRuns.invoke` submits it (the handle is the run's ARN, committed with the parent's
pending task), and `MapRuns.wait` drives it to its end, again after a restart or on another worker, since
everything it does can be done twice:

- Items are read through the ItemReader's cursor (runtime/items/), ItemSelector applied, batched (ItemBatcher),
  a child started per item or batch, at most MaxConcurrency at once. They never enter the parent's checkpoint.
- A child's name is a function of the run and its index: starting it again finds the one started before a crash.
  The run's record (`MapRunRecord`: children started, the reader's cursor) is saved after each start, so a resumed
  run reads on after the last child it knows of.
- How each child ended is its own execution's row, written by the commit that ends it: the run counts its
  children's rows, it keeps no counts of its own that a crash could lose or double.
- UpdateMapRun's limits are read as children end and apply at once.
- At the end, the results are gathered in item order from the children's rows: written through the ResultWriter,
  or the Map's output (States.DataLimitExceeded past the payload limit).

Where children run is the `Children` given: the store's STANDARD executions (service/map_runs.py), or executions
in memory (EXPRESS children, and in-process runs).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from stepline.engine.interpreter import Execution
from stepline.engine.item_selector import ItemSelector
from stepline.engine.program import Program, compile_definition
from stepline.engine.resources import describe_resource
from stepline.errors import StatesError
from stepline.expr.limits import DEFAULT_LIMITS, Limits
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.clock import Clock
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.registry import (Ended, Failed, Integration, Integrations, Outcome, Submitted,
                                                    Succeeded, TaskCall)
from stepline.runtime.items import writer as results
from stepline.runtime.items.batcher import BatcherSpec, batches
from stepline.runtime.items.reader import PAGE_ITEMS, Item, ReaderSpec, open_reader, reader_call
from stepline.runtime.items.s3 import READER_FAILED, WRITER_FAILED
from stepline.runtime.runner import ExecutionRunner
from stepline.runtime.store.records import MapRunLimits, MapRunRecord

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_CHILDREN = 10_000  # MaxConcurrency 0: as many at once as AWS runs
POLL_SECONDS = 1.0  # how often a run looks for children that ended on another worker
SAVE_SECONDS = 0.2  # how often a run saves how far it got while it starts children
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
FAILURES = ("FAILED", "TIMED_OUT", "ABORTED")
_CHILD_NAMES = uuid.UUID("4b0e33a5-8d0e-4f43-9d5b-51c1a4a3c0de")


@dataclass(frozen=True, slots=True)
class MapRunPlan:
    """What a Map Run was asked to do (its InvokeTask's parameters), with the parent it belongs to."""

    arn: str
    execution_arn: str
    execution_type: str
    processor: dict[str, JSON]  # the ItemProcessor as a state machine definition
    parameters: Mapping[str, Any]

    def child_name(self, index: int) -> str:
        return str(uuid.uuid5(_CHILD_NAMES, f"{self.arn}#{index}"))

    @property
    def machine_and_label(self) -> str:
        """`MACHINE/LABEL`: the children's state machine, under the parent's."""
        return self.arn.partition(":mapRun:")[2].rsplit(":", 1)[0]


class Children(Protocol):
    """Where a Map Run's children run, and where the run keeps its record."""

    async def start(self, plan: MapRunPlan, index: int, input: JSON) -> str:
        """Start the child at `index` (the same child again if it was started before); its ARN."""

    async def follow(self, plan: MapRunPlan, arns: Collection[str]) -> None:
        """A resumed run's children still running (started before a restart): their ends are to be told too."""

    async def wait_any(self, plan: MapRunPlan, arns: Collection[str], timeout: float) -> list[str]:
        """Until one of the running children `arns` may have ended, or the timeout: those that ended (each told
        once; the cost is that of the ends, never of the children still running)."""

    async def describe(self, arn: str) -> dict[str, Any] | None:
        """A child as DescribeExecution gives it (camelCase, datetimes), or None if it was never started."""

    async def running(self, plan: MapRunPlan) -> list[str]:
        """The run's children still running."""

    async def stop(self, arns: list[str], error: str | None, cause: str | None) -> None: ...

    async def redrive(self, plan: MapRunPlan, index: int) -> bool:
        """Run the child at `index` again (it failed, timed out or was aborted): a STANDARD child is redriven, an
        EXPRESS one started again with its input. False if it cannot be (a STANDARD child past its redrivable
        period, or redriven 1,000 times): it stays as it ended."""

    async def load(self, arn: str) -> MapRunRecord | None: ...

    async def save(self, record: MapRunRecord) -> None: ...

    async def limits(self, arn: str) -> MapRunLimits | None:
        """What UpdateMapRun set for the run, if anything."""

    def now(self) -> datetime: ...


class MapRuns(Integration):
    """Answers a distributed Map's `mapRun` InvokeTask: starts the run, drives it, stops it."""

    name = "map-runs"

    def __init__(self, children: Callable[[TaskCall, str], Children], clients: AwsClients, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self._children = children  # (call, ExecutionType) -> where its children run
        self._clients = clients
        self._poll_seconds = poll_seconds

    def handles(self, call: TaskCall) -> bool:
        return call.resource.kind == "mapRun"

    async def invoke(self, call: TaskCall) -> Outcome:
        return Submitted(None, {"MapRunArn": call.resource.arn})

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        plan = _plan(call)
        return await _Run(plan, self._children(call, plan.execution_type), self._clients, call,
                          self._poll_seconds).drive()

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        """The parent stopped, timed out, or left the Map state: the run is aborted, and its children stopped."""
        plan = _plan(call)
        children = self._children(call, plan.execution_type)
        record = await children.load(plan.arn)
        if record is not None and record.status == "RUNNING":
            await children.save(record.but(status="ABORTED", stop_date=children.now()))
        await children.stop(await children.running(plan), None, None)


def _plan(call: TaskCall) -> MapRunPlan:
    parameters = call.parameters
    assert isinstance(parameters, dict)
    return MapRunPlan(arn=call.resource.arn, execution_arn=call.execution_arn,
                      execution_type=str(parameters.get("ExecutionType", "STANDARD")),
                      processor=parameters["Processor"], parameters=parameters)


class _Run:
    """One Map Run driven to its end."""

    def __init__(self, plan: MapRunPlan, children: Children, clients: AwsClients, call: TaskCall,
                 poll_seconds: float) -> None:
        self.plan, self.children, self.clients, self.call = plan, children, clients, call
        self.poll_seconds = poll_seconds
        self.running: dict[str, int] = {}  # child ARN -> its items
        self.pending_redrive: deque[tuple[int, int]] = deque()  # (index, items) of the children to run again
        self.failed_items = 0
        self.failure: tuple[str, str | None] | None = None
        self._saved = time.monotonic()  # when the record was last saved
        self._pending: tuple[ReaderSpec | None, BatcherSpec | None, ItemSelector] | None = None  # how items are read

    async def drive(self) -> Ended:
        plan, children = self.plan, self.children
        parameters = plan.parameters
        record = await children.load(plan.arn)
        if record is None:
            record = MapRunRecord(arn=plan.arn, execution_arn=plan.execution_arn, start_date=children.now(),
                                  execution_type=plan.execution_type,
                                  max_concurrency=int(parameters.get("MaxConcurrency") or 0),
                                  tolerated_failure_count=parameters.get("ToleratedFailureCount"),
                                  tolerated_failure_percentage=parameters.get("ToleratedFailurePercentage"),
                                  total=len(items) if isinstance(items := parameters.get("Items"), list) else None)
            await children.save(record)
        redrive = int(parameters.get("RedriveCount") or 0)
        if record.status != "RUNNING" and redrive > record.redrive_count:
            record = record.but(status="RUNNING", redrive_count=redrive, redrive_date=children.now(), stop_date=None,
                                error=None, cause=None)
            await children.save(record)
        self.record = record
        try:
            reader = ReaderSpec.parse(parameters["ItemReader"], resolve=self._resolve) \
                if parameters.get("ItemReader") is not None else None
            batcher = BatcherSpec.parse(parameters["ItemBatcher"], resolve=self._resolve) \
                if parameters.get("ItemBatcher") is not None else None
            writer = results.WriterSpec.parse(parameters["ResultWriter"]) \
                if parameters.get("ResultWriter") is not None else results.WriterSpec()
            selector = ItemSelector.compile(parameters)
        except StatesError as error:  # the run fails as it starts
            self.record = record.but(status="FAILED", stop_date=children.now(), error=error.error, cause=error.cause)
            await children.save(self.record)
            return Failed(error.error, error.cause)
        if record.status == "RUNNING":
            try:
                await self._resume()
                await self._run(reader, batcher, selector)
            except StatesError as error:
                self.failure = (error.error, error.cause)
                await self._abort()
            status = "FAILED" if self.failure else "SUCCEEDED"
            self.record = self.record.but(status=status, stop_date=children.now(),
                                          error=self.failure[0] if self.failure else None,
                                          cause=self.failure[1] if self.failure else None)
            await children.save(self.record)
        elif record.status == "FAILED":
            self.failure = (record.error or THRESHOLD_ERROR, record.cause)
        else:  # aborted: the parent stopped meanwhile, and is told nothing more
            return Failed("States.Runtime", "The Map Run was aborted")
        self._pending = (reader, batcher, selector)
        ended = await self._results(writer)
        if isinstance(ended, Failed) and self.record.status == "SUCCEEDED":  # its results could not be given
            self.record = self.record.but(status="FAILED", error=ended.error, cause=ended.cause)
            await children.save(self.record)
        return ended

    def _resolve(self, path: str) -> JSON:
        return self.plan.parameters.get("Resolved", {}).get(path)

    # ------------------------------------------------------------------ starting and counting children

    async def _resume(self) -> None:
        """At the start, after a restart or a redrive: the children started before, by how they ended. Those
        that failed, timed out or were aborted before the run's latest redrive are pending redrive: they are run
        again before new items are read, within MaxConcurrency as new children are (the ones that succeeded are
        kept)."""
        redrive_date = self.record.redrive_date
        for index in range(self.record.started):
            arn_items = await self._child(index)
            if arn_items is None:
                continue
            described, items = arn_items
            if described["status"] == "RUNNING":
                self.running[described["executionArn"]] = items
            elif described["status"] in FAILURES:
                stop_date = described.get("stopDate")
                # at or before: a virtual clock does not move between the end and the redrive
                if redrive_date is not None and stop_date is not None and stop_date <= redrive_date:
                    self.pending_redrive.append((index, items))
                else:
                    self.failed_items += items
        await self.children.follow(self.plan, self.running)

    async def _child(self, index: int) -> tuple[dict[str, Any], int] | None:
        described = await self.children.describe(self._child_arn(index))
        if described is None:
            return None
        return described, _items_in(described, self.plan.parameters.get("ItemBatcher") is not None)

    def _child_arn(self, index: int) -> str:
        return child_arn(self.plan, index)

    async def _run(self, reader: ReaderSpec | None, batcher: BatcherSpec | None, selector: ItemSelector) -> None:
        record = self.record
        inputs = None if record.read_all else self._inputs(reader, batcher, selector)
        try:
            while True:
                limits = await self._limits()
                if self._exceeded(limits):
                    raise StatesError(THRESHOLD_ERROR, THRESHOLD_CAUSE)
                while (self.pending_redrive or inputs is not None) \
                        and len(self.running) < (limits.max_concurrency or MAX_CHILDREN):
                    if self.pending_redrive:
                        index, length = self.pending_redrive.popleft()
                        if await self.children.redrive(self.plan, index):
                            self.running[self._child_arn(index)] = length
                        else:
                            self.failed_items += length
                        continue
                    assert inputs is not None
                    following = await anext(inputs, None)
                    if following is None:
                        inputs = None
                        self.record = self.record.but(read_all=True, total=self.record.items)
                        await self.children.save(self.record)
                        break
                    value, cursor, length = following
                    if len(orjson.dumps(value)) > MAX_PAYLOAD_BYTES:
                        raise StatesError("States.DataLimitExceeded", f"The input of the child execution of item "
                                          f"{self.record.items} exceeds the maximum size of {MAX_PAYLOAD_BYTES} bytes")
                    index = self.record.started
                    arn = await self.children.start(self.plan, index, value)
                    self.running[arn] = length
                    self.record = self.record.but(started=index + 1, items=self.record.items + length, cursor=cursor)
                    await self._save_progress()
                if not self.running:
                    if inputs is None and not self.pending_redrive:
                        if self._exceeded(await self._limits()):
                            raise StatesError(THRESHOLD_ERROR, THRESHOLD_CAUSE)
                        return
                    continue
                for arn in await self.children.wait_any(self.plan, self.running, self.poll_seconds):
                    described = await self.children.describe(arn)
                    if described is not None and described["status"] == "RUNNING":  # told of an end before a redrive
                        await self.children.follow(self.plan, [arn])
                        continue
                    items = self.running.pop(arn, 0)
                    if described is not None and described["status"] in FAILURES:
                        self.failed_items += items
        finally:
            if inputs is not None:
                await inputs.aclose()

    async def _save_progress(self) -> None:
        """Save how far the run got, at most every SAVE_SECONDS: a run resumed from an older record reads again the
        items after it, and finds the children it had started for them (their names are the same)."""
        now = time.monotonic()
        if now - self._saved >= SAVE_SECONDS:
            self._saved = now
            await self.children.save(self.record)

    async def _inputs(self, reader: ReaderSpec | None, batcher: BatcherSpec | None,
                      selector: ItemSelector) -> AsyncGenerator[tuple[JSON, JSON, int], None]:
        """(child input, cursor after it, items in it), from the record's cursor on."""
        pages = self._pages(reader, self.record.cursor, selector)
        if batcher is None:
            async for page in pages:
                for item in page:
                    yield item.value, item.cursor, 1
            return
        async for batch in batches(pages, batcher):
            yield batch.value, batch.cursor, batch.length

    async def _pages(self, spec: ReaderSpec | None, cursor: JSON,
                     selector: ItemSelector) -> AsyncIterator[list[Item]]:
        """The items from the cursor, a page at a time, each through the ItemSelector."""
        start = cursor.get("index", 0) if isinstance(cursor, dict) else 0
        if spec is None:
            values = self.plan.parameters.get("Items")
            if not isinstance(values, list):
                raise StatesError("States.Runtime", "The Map state's items are not an array")
            now = self.children.now()
            for first in range(start, len(values), PAGE_ITEMS):
                yield [Item(selector(index, values[index], now=now), {"index": index + 1})
                       for index in range(first, min(first + PAGE_ITEMS, len(values)))]
            return
        call = reader_call(spec, self.plan.execution_arn, self.call.state_name, role_arn=self.call.role_arn)
        try:
            reader = await open_reader(spec, self.clients, call, cursor)
        except StatesError:
            raise
        except Exception as error:  # S3 unreachable, credentials refused
            raise StatesError(READER_FAILED, f"The ItemReader could not be opened: {error}") from None
        following = asyncio.ensure_future(reader.read())  # the next page is read while this one's children start
        try:
            while page := await following:
                following = asyncio.ensure_future(reader.read())
                if selector.selects:
                    now = self.children.now()
                    page = [Item(selector(item.cursor["index"] - 1, item.value, now=now), item.cursor)
                            for item in page]
                yield page
        finally:
            await asyncio.gather(following, return_exceptions=True)  # a page being read is read to its end first
            await reader.close()

    async def _limits(self) -> MapRunLimits:
        """The limits the run goes by now: as it started, with what UpdateMapRun changed since."""
        record = self.record
        limits = MapRunLimits(arn=record.arn, max_concurrency=record.max_concurrency,
                              tolerated_failure_count=record.tolerated_failure_count,
                              tolerated_failure_percentage=record.tolerated_failure_percentage)
        updated = await self.children.limits(record.arn)
        if updated is None:
            return limits
        return limits.but(**{key: value for key, value in (
            ("max_concurrency", updated.max_concurrency),
            ("tolerated_failure_count", updated.tolerated_failure_count),
            ("tolerated_failure_percentage", updated.tolerated_failure_percentage)) if value is not None})

    def _exceeded(self, limits: MapRunLimits) -> bool:
        """Whether the failed items are more than the run tolerates (a percentage once every item is known)."""
        failed = self.failed_items
        if not failed:
            return False
        count, percentage = limits.tolerated_failure_count, limits.tolerated_failure_percentage
        if count is not None and failed <= count:
            return False
        if percentage is not None:
            if self.record.total is None:
                return False  # not known yet
            if failed * 100 <= percentage * self.record.total:
                return False
        return True

    async def _abort(self) -> None:
        """The run failed: its children still running are stopped."""
        await self.children.stop(list(self.running), None, None)
        self.running.clear()

    # ------------------------------------------------------------------ results

    async def _results(self, spec: results.WriterSpec) -> Ended:
        """The results in item order: exported through the ResultWriter, or the Map's output."""
        if spec.bucket is not None:
            try:
                output = await self._export(spec)
            except StatesError as error:
                return Failed(error.error, error.cause)
            except Exception as error:  # S3 unreachable, the bucket missing
                return Failed(WRITER_FAILED, f"The results could not be written: {error}")
            if self.failure is not None:
                return Failed(*self.failure)
            return Succeeded(output)
        if self.failure is not None:
            return Failed(*self.failure)
        entries: list[bytes] = []
        size = 2
        for index in range(self.record.started):
            described = await self.children.describe(self._child_arn(index))
            if described is None:
                continue
            for entry in results.entries(described, spec.transformation):
                text = orjson.dumps(entry)
                size += len(text) + 1
                if size > MAX_PAYLOAD_BYTES:
                    return Failed("States.DataLimitExceeded", "The Map Run's results exceed the maximum size of "
                                                              f"{MAX_PAYLOAD_BYTES} bytes: export them with a "
                                                              "ResultWriter")
                entries.append(text)
        return Succeeded(orjson.loads(b"[" + b",".join(entries) + b"]"))

    async def _export(self, spec: results.WriterSpec) -> JSON:
        call = TaskCall(resource=describe_resource("arn:aws:states:::s3:putObject"), parameters={},
                        state_name=self.call.state_name, invocation=0, execution_arn=self.plan.execution_arn,
                        idempotency_key=self.plan.arn, role_arn=self.call.role_arn)
        writer = await results.open_writer(spec, self.clients, call, self.plan.arn)
        for index in range(self.record.started):
            described = await self.children.describe(self._child_arn(index))
            if described is not None:
                await writer.add(described)
        if self.failure is not None and not self.record.read_all and self._pending is not None:
            inputs = self._inputs(*self._pending)  # the items no child was started for
            try:
                async for value, _, _ in inputs:
                    await writer.add({"status": "PENDING", "input": dumps(value)})
            except StatesError:
                pass  # the items that cannot be read are not written (the run failed reading them)
            finally:
                await inputs.aclose()
        return await writer.finish()


def child_arn(plan: MapRunPlan, index: int) -> str:
    """The ARN of the run's child at `index`: `execution:MACHINE/LABEL:NAME`, or for an EXPRESS child
    `express:MACHINE/LABEL:NAME:ID`; the same for the same index."""
    prefix, _, rest = plan.arn.partition(":mapRun:")
    machine_and_label = rest.rsplit(":", 1)[0]
    name = plan.child_name(index)
    if plan.execution_type == "EXPRESS":
        return f"{prefix}:express:{machine_and_label}:{name}:{uuid.uuid5(_CHILD_NAMES, name)}"
    return f"{prefix}:execution:{machine_and_label}:{name}"


def _items_in(described: Mapping[str, Any], batched: bool) -> int:
    """How many items a child processes: its batch's, or one."""
    if not batched:
        return 1
    try:
        value = orjson.loads(described.get("input") or "{}")
    except orjson.JSONDecodeError:
        return 1
    items = value.get("Items") if isinstance(value, dict) else None
    return len(items) if isinstance(items, list) else 1


class Ends:
    """The children that ended, per run, as they are told (`tell`), until their run takes them (`wait`)."""

    def __init__(self) -> None:
        self._ended: dict[str, list[str]] = {}
        self._wakes: dict[str, asyncio.Event] = {}

    def tell(self, run: str, arn: str) -> None:
        self._ended.setdefault(run, []).append(arn)
        wake = self._wakes.get(run)
        if wake is not None:
            wake.set()

    async def wait(self, run: str, running: Collection[str], timeout: float) -> list[str]:
        """The run's children among `running` that ended, waiting up to `timeout` for one."""
        if not self._ended.get(run):
            wake = self._wakes.setdefault(run, asyncio.Event())
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        ended = self._ended.pop(run, [])
        if not ended:
            self._wakes.pop(run, None)
        return [arn for arn in ended if arn in running]


class MemoryChildren:
    """Children that run in this process: a server's EXPRESS children, and every child of an in-process run. The
    runs' records are kept here too: a run whose process ends starts again (as Express executions do, at least
    once). An ended child is kept as its description only (not its execution and history), and only the
    `remembered` latest are kept (whole runs are forgotten, oldest first); of the runs that ended, the
    `runs_remembered` latest are kept, with their children (a subclass that keeps them elsewhere too reads them
    from there again)."""

    def __init__(self, integrations: Callable[[], Integrations], clock: Clock, *, role_arn: str,
                 limits: Limits = DEFAULT_LIMITS, timeout_seconds: float | None = None,
                 remembered: int = 100_000, runs_remembered: int = 10_000) -> None:
        self._integrations = integrations
        self._clock = clock
        self._role_arn = role_arn
        self._limits = limits
        self._timeout_seconds = timeout_seconds  # at most (an Express child's five minutes)
        self._remembered = remembered
        self._runs_remembered = runs_remembered
        self._programs: dict[str, Program] = {}
        self._running: dict[str, tuple[Execution, asyncio.Task[Execution]]] = {}
        self._ended: dict[str, dict[str, Any]] = {}  # child ARN -> its description
        self._children: dict[str, list[str]] = {}  # run ARN -> its children's ARNs, in the order they started
        self._records: dict[str, MapRunRecord] = {}
        self._ended_runs: dict[str, None] = {}  # the runs whose records say they ended, oldest first
        self.ends = Ends()

    def now(self) -> datetime:
        return self._clock.now()

    async def start(self, plan: MapRunPlan, index: int, input: JSON) -> str:
        arn = child_arn(plan, index)
        if arn in self._ended:  # ended before a restart: a resumed run reads its items again
            self.ends.tell(plan.arn, arn)
            return arn
        if arn in self._running:
            return arn
        text = dumps(plan.processor)
        program = self._programs.get(text)
        if program is None:
            program = self._programs[text] = compile_definition(text, plan.execution_type)
        prefix = plan.arn.partition(":mapRun:")[0]
        express = plan.execution_type == "EXPRESS"
        execution = Execution(program, input=input, execution_arn=arn, name=plan.child_name(index),
                              state_machine_arn=f"{prefix}:stateMachine:{plan.machine_and_label}",
                              state_machine_name=plan.machine_and_label, role_arn=self._role_arn,
                              start_time=self._clock.now(), seed=arn, region=arn.split(":")[3],
                              redrive_count=None if express else 0, limits=self._limits)
        timeout: float | None = program.timeout_seconds
        if self._timeout_seconds is not None:
            timeout = min(timeout or self._timeout_seconds, self._timeout_seconds)
        runner = ExecutionRunner(execution, self._integrations(), self._clock, timeout_seconds=timeout)
        run = asyncio.get_running_loop().create_task(runner.run())
        self._running[arn] = (execution, run)
        run.add_done_callback(lambda _: self._settle(plan.arn, arn))
        self._children.setdefault(plan.arn, []).append(arn)
        return arn

    def _settle(self, run: str, arn: str) -> None:
        """A child's run ended (or was cancelled: the child was stopped): its description is what is kept."""
        execution, _ = self._running.pop(arn)
        if execution.status == "RUNNING":
            execution.stop(None, None, self._clock.now())
        self._ended[arn] = _description(execution)
        self._child_ended(run, arn)
        self.ends.tell(run, arn)
        while len(self._ended) > self._remembered and len(self._children) > 1:
            oldest = next(iter(self._children))
            for forgotten in self._children.pop(oldest):
                self._ended.pop(forgotten, None)

    def _child_ended(self, run: str, arn: str) -> None:
        """A child ended (its description is kept): a subclass keeps it elsewhere too."""

    def recall(self, run: str, ended: list[dict[str, Any]]) -> None:
        """The descriptions of a run's children that ended before a restart, kept again."""
        for described in ended:
            arn = described["executionArn"]
            if arn not in self._ended and arn not in self._running:
                self._ended[arn] = described
                self._children.setdefault(run, []).append(arn)

    async def follow(self, plan: MapRunPlan, arns: Collection[str]) -> None:
        pass  # its children are all started by this process: their ends are told

    async def wait_any(self, plan: MapRunPlan, arns: Collection[str], timeout: float) -> list[str]:
        return await self.ends.wait(plan.arn, arns, timeout)

    async def describe(self, arn: str) -> dict[str, Any] | None:
        running = self._running.get(arn)
        return _description(running[0]) if running is not None else self._ended.get(arn)

    async def running(self, plan: MapRunPlan) -> list[str]:
        return [arn for arn in self._children.get(plan.arn, []) if arn in self._running]

    def statuses(self, run_arn: str) -> list[tuple[str, str, datetime | None]]:
        """The run's children as they are now, (status, input, stop date) each (DescribeMapRun counts them)."""
        described = [self._ended.get(arn) or _description(self._running[arn][0])
                     for arn in self._children.get(run_arn, []) if arn in self._ended or arn in self._running]
        return [(d["status"], d["input"], d.get("stopDate")) for d in described]

    async def stop(self, arns: list[str], error: str | None, cause: str | None) -> None:
        for arn in arns:
            running = self._running.get(arn)
            if running is not None:
                running[1].cancel()
                await asyncio.gather(running[1], return_exceptions=True)

    async def redrive(self, plan: MapRunPlan, index: int) -> bool:
        arn = child_arn(plan, index)
        described = self._ended.pop(arn, None)
        if described is None:
            return False
        self._children[plan.arn].remove(arn)
        await self.start(plan, index, loads(described["input"]))
        return True

    async def load(self, arn: str) -> MapRunRecord | None:
        return self._records.get(arn)

    async def save(self, record: MapRunRecord) -> None:
        self._records[record.arn] = record
        self._ended_runs.pop(record.arn, None)
        if record.status != "RUNNING":
            self._ended_runs[record.arn] = None
        while len(self._ended_runs) > self._runs_remembered:
            oldest = next(iter(self._ended_runs))
            if any(child in self._running for child in self._children.get(oldest, ())):
                break  # children that were stopped still settling: forgotten at a later save
            del self._ended_runs[oldest], self._records[oldest]
            for forgotten in self._children.pop(oldest, []):
                self._ended.pop(forgotten, None)

    async def limits(self, arn: str) -> MapRunLimits | None:
        return None


def _description(execution: Execution) -> dict[str, Any]:
    """A child in memory as DescribeExecution gives one."""
    described: dict[str, Any] = {
        "executionArn": execution.execution_arn, "name": execution.execution_context["Name"],
        "stateMachineArn": execution.machine_context["Id"], "status": execution.status,
        "startDate": execution.start_time, "stopDate": execution.stop_time, "input": dumps(execution.input),
        "inputDetails": {"included": True}, "output": execution.output_text, "error": execution.error,
        "cause": execution.cause}
    if execution.output_text is not None:
        described["outputDetails"] = {"included": True}
    return {key: value for key, value in described.items() if value is not None}
