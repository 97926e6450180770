"""Execution logs as Step Functions writes them to CloudWatch Logs, from a state machine's loggingConfiguration.

    logs = ExecutionLogs(store, clients=aws_clients)         # or log_dir=Path("logs"): a JSON Lines file per group
    await logs.start()
    logs.submit(execution, events)                            # after the events were committed; never blocks
    await logs.close()                                        # delivers what is still pending

Each history event that the level selects (ALL: every one; ERROR and FATAL: AWS's table in "Log levels for Step
Functions execution events") becomes the record AWS writes: `id`, `type`, `details` (the event's details,
without its input and output unless `includeExecutionData`), `previous_event_id`, `event_timestamp` (epoch
milliseconds), `execution_arn` and `redrive_count`, numbers as strings as AWS writes them. Records go to the
destination's log group, in the stream `states/<state machine>/<start date>/<execution name>`, through
CloudWatch Logs' CreateLogStream and PutLogEvents (batches of up to 10,000 events and 1 MB), or appended to
`<log dir>/<log group name, percent-encoded>.jsonl`.

Records follow the configuration their state machine has when their events are committed: the one set in this
process (`configure`, by CreateStateMachine and UpdateStateMachine), else the one read from the store at most
CACHE_SECONDS before (an UpdateStateMachine in another process applies within that time). Delivery never holds
up the engine: `submit` only queues; a background task collects what was queued for a moment, reads the
configurations it does not have, and writes off the event loop. A destination that fails is retried, then the
records are dropped with a warning; an execution never fails for its logs. Like AWS's delivery, it is best effort: records not yet written when the process dies are lost (the
history in the store is complete).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stepline.engine.interpreter import Execution
from stepline.jsonvalue import JSON, dumps
from stepline.runtime.store.base import Store
from stepline.runtime.store.records import STATE_MACHINES

log = logging.getLogger(__name__)

# AWS's "Log levels for Step Functions execution events": what ERROR and FATAL log (ALL logs everything)
FATAL_EVENTS = frozenset({"ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut"})
ERROR_EVENTS = FATAL_EVENTS | frozenset({
    "FailStateEntered", "LambdaFunctionFailed", "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed",
    "LambdaFunctionTimedOut", "MapIterationAborted", "MapIterationFailed", "MapRunAborted", "MapRunFailed",
    "MapStateAborted", "MapStateFailed", "ParallelStateAborted", "ParallelStateFailed", "TaskFailed",
    "TaskStartFailed", "TaskStateAborted", "TaskSubmitFailed", "TaskTimedOut", "WaitStateAborted"})
LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
DATA_FIELDS = {"input": "inputDetails", "output": "outputDetails"}  # execution data, and its details
MAX_DATA_BYTES = 248 * 1024  # AWS truncates escaped input or output beyond this (CloudWatch Logs' event quota)
MAX_BATCH_EVENTS = 10_000  # PutLogEvents' quotas
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes PutLogEvents counts per event besides its message
CACHE_SECONDS = 2.0  # how long a state machine's configuration is used before it is read again
COLLECT_SECONDS = 0.2  # records queued within this time are delivered together
ATTEMPTS = 3  # deliveries of a batch before its records are dropped
RETRY_SECONDS = 0.5  # before the second attempt; doubled for each next one
MAX_PENDING = 100_000  # records waiting for delivery; beyond, the oldest are dropped
DEFAULT_LOG_DIR = "stepline-logs"
STREAMS_AT_ONCE = 8  # log streams written to at once (an execution's records are one stream's, in order)


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What a state machine's loggingConfiguration asks for, when it logs at all."""

    level: str
    include_execution_data: bool
    log_group: str  # the log group's name
    region: str

    @classmethod
    def of(cls, configuration: JSON) -> LogSettings | None:
        """The settings of a loggingConfiguration (as the API takes it); None when it logs nothing."""
        if not isinstance(configuration, dict) or configuration.get("level", "OFF") == "OFF" \
                or configuration_problem(configuration) is not None:
            return None
        arn = configuration["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
        parts = arn.split(":")
        return cls(level=configuration["level"], include_execution_data=configuration.get("includeExecutionData") is True,
                   log_group=parts[6], region=parts[3])

    def selects(self, event_type: str) -> bool:
        return self.level == "ALL" or event_type in (ERROR_EVENTS if self.level == "ERROR" else FATAL_EVENTS)


def configuration_problem(configuration: dict) -> str | None:
    """Why Step Functions refuses a loggingConfiguration (InvalidLoggingConfiguration), or None."""
    level = configuration.get("level", "OFF")
    if level not in LEVELS:
        return f"Invalid Logging Configuration: Invalid log level '{level}'."
    destinations = configuration.get("destinations") or []
    if level == "OFF" and not destinations:
        return None
    if not isinstance(destinations, list) or len(destinations) != 1:
        return "Invalid Logging Configuration: Must specify exactly one Log Destination."
    destination = destinations[0]
    group = destination.get("cloudWatchLogsLogGroup") if isinstance(destination, dict) else None
    arn = group.get("logGroupArn") if isinstance(group, dict) else None
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 8 or parts[:3] != ["arn", parts[1], "logs"] or parts[5] != "log-group" or not parts[6] \
            or parts[7] != "*":
        return ("Invalid Logging Configuration: The CloudWatch Logs Log Group ARN must be of the form "
                f"'arn:aws:logs:<region>:<account>:log-group:<name>:*', not {arn!r}.")
    return None


def log_record(event: dict, *, execution_arn: str, redrive_count: int, include_execution_data: bool) -> dict:
    """The record AWS writes to CloudWatch Logs for one history event (as stored: `timestamp` a datetime)."""
    details: dict[str, Any] = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            details = dict(value)
    for field, field_details in DATA_FIELDS.items():
        if not include_execution_data:
            details.pop(field, None)
            details.pop(field_details, None)
        elif isinstance(details.get(field), str) and len(dumps(details[field]).encode()) > MAX_DATA_BYTES:
            details[field] = _truncated(details[field])
            details[field_details] = {**(details.get(field_details) or {}), "truncated": True}
    timestamp: datetime = event["timestamp"]
    return {"id": str(event["id"]), "type": event["type"], "details": details,
            "previous_event_id": str(event.get("previousEventId", 0)),
            "event_timestamp": str(round(timestamp.timestamp() * 1000)), "execution_arn": execution_arn,
            "redrive_count": str(redrive_count)}


def _truncated(text: str) -> str:
    """The longest beginning of `text` whose escaped form fits in MAX_DATA_BYTES."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(dumps(text[:middle]).encode()) <= MAX_DATA_BYTES:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def log_stream_name(state_machine_name: str, start_time: datetime, execution_name: str) -> str:
    """The log stream of an execution's records: `states/<state machine>/<start date>/<execution name>`."""
    return f"states/{state_machine_name}/{start_time.strftime('%Y-%m-%d-%H-%M')}/{execution_name}"


def log_file_name(log_group: str) -> str:
    """A log group's file under the log directory: its name percent-encoded (no separators, no `..`)."""
    return quote(log_group, safe="-_") + ".jsonl"


@dataclass(frozen=True, slots=True)
class _Submitted:
    state_machine_arn: str  # unqualified: the configuration is the state machine's
    settings: LogSettings | None | bool  # False: to be read from the store
    stream: str
    execution_arn: str
    redrive_count: int
    events: list[dict]


class ExecutionLogs:
    """Writes the execution records that the state machines' logging configurations ask for (see the module)."""

    @classmethod
    def configured(cls, store: Store, *, log_dir: str | None, clients: Any) -> ExecutionLogs:
        """Where a server's execution logs go: files under `log_dir` when given; else CloudWatch Logs when the AWS
        configuration names an endpoint for it (AwsClients.configures_endpoint: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS,
        AWS_ENDPOINT_URL, a profile's); else files under DEFAULT_LOG_DIR."""
        if log_dir is None and clients.configures_endpoint("logs"):
            return cls(store, clients=clients)
        return cls(store, log_dir=Path(log_dir or DEFAULT_LOG_DIR))

    def __init__(self, store: Store, *, log_dir: Path | None = None, clients: Any = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if (log_dir is None) == (clients is None):
            raise ValueError("execution logs go to a log directory or to CloudWatch Logs, one of them")
        self.store = store
        self.log_dir = log_dir
        self.clients = clients  # AwsClients: CloudWatch Logs as its configuration reaches it
        self._monotonic = monotonic
        self._settings: dict[str, tuple[float, LogSettings | None]] = {}  # state machine ARN -> (read at, settings)
        self._pending: deque[_Submitted] = deque()
        self._pending_events = 0
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._streams: set[tuple[str, str, str]] = set()  # (region, group, stream) created
        self._dropped = 0
        self._closing = False

    async def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._deliver_loop(), name="stepline-execution-logs")

    async def close(self) -> None:
        """Stop, once what was submitted is delivered (the delivery under way ends; what is pending has one
        attempt)."""
        self._closing = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        elif self._pending:
            await self._deliver_pending(attempts=1)

    def submit(self, execution: Execution, events: list[dict]) -> None:
        """Queue the records of these committed events of the execution (nothing when its state machine does not
        log, as last read); returns at once."""
        if not events:
            return
        machine = ":".join(str(execution.machine_context["Id"]).split(":")[:7])
        cached = self._settings.get(machine)
        settings: LogSettings | None | bool = False
        if cached is not None and self._monotonic() - cached[0] < CACHE_SECONDS:
            settings = cached[1]
            if settings is None:
                return
        context = execution.execution_context
        self._pending.append(_Submitted(machine, settings, log_stream_name(str(execution.machine_context["Name"]),
                                                                 execution.start_time, str(context["Name"])),
                                        execution.execution_arn, int(context.get("RedriveCount") or 0), events))
        self._pending_events += len(events)
        while self._pending_events > MAX_PENDING:
            dropped = self._pending.popleft()
            self._pending_events -= len(dropped.events)
            self._dropped += len(dropped.events)
        self._wake.set()

    async def destination_problem(self, configuration: JSON) -> str | None:
        """Why Step Functions refuses this loggingConfiguration's destination (InvalidLoggingConfiguration), as
        AWS does when its log group does not exist; None when it logs nothing, when records go to files (nothing
        to check), and when CloudWatch Logs cannot be asked (said in a warning: delivery tries again later)."""
        settings = LogSettings.of(configuration)
        if settings is None or self.clients is None:
            return None
        try:  # groups come in the order of their names: the one named so is the first of its prefix
            found = await self.clients.request("logs", "DescribeLogGroups", {"logGroupNamePrefix": settings.log_group,
                                                                             "limit": 1}, region=settings.region)
        except Exception as error:
            log.warning("could not check that log group %s exists: %s", settings.log_group, error,
                        extra={"log_group": settings.log_group, "error": str(error)})
            return None
        if [group.get("logGroupName") for group in found.get("logGroups", [])] == [settings.log_group]:
            return None
        return "Invalid Logging Configuration: Log Destination not found."

    def configure(self, state_machine_arn: str, configuration: JSON) -> None:
        """The state machine's loggingConfiguration is now this (None: it was deleted)."""
        self._settings[state_machine_arn] = (self._monotonic(), LogSettings.of(configuration))

    async def _deliver_loop(self) -> None:
        while not (self._closing and not self._pending):
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(COLLECT_SECONDS)
            self._wake.clear()
            try:
                await self._deliver_pending(attempts=1 if self._closing else ATTEMPTS)
            except Exception:  # a bug: logged, and the loop goes on with the next records
                log.exception("execution logs could not be delivered")

    async def _deliver_pending(self, *, attempts: int) -> None:
        submitted = list(self._pending)
        self._pending.clear()
        self._pending_events = 0
        if self._dropped:
            log.warning("%d execution log records dropped: more were waiting than %d", self._dropped, MAX_PENDING,
                        extra={"dropped": self._dropped})
            self._dropped = 0
        batches: dict[tuple[str, str, str], list[dict]] = {}  # (region, group, stream) -> records
        for item in submitted:
            settings = item.settings if item.settings is not False else await self._settings_of(item.state_machine_arn)
            if not isinstance(settings, LogSettings):
                continue
            # a file per log group takes its records in one write
            stream = item.stream if self.clients is not None else ""
            records = batches.setdefault((settings.region, settings.log_group, stream), [])
            records += [log_record(event, execution_arn=item.execution_arn, redrive_count=item.redrive_count,
                                   include_execution_data=settings.include_execution_data)
                        for event in item.events if settings.selects(str(event["type"]))]
        streams = asyncio.Semaphore(STREAMS_AT_ONCE)

        async def deliver(region: str, group: str, stream: str, records: list[dict]) -> None:
            async with streams:
                await self._deliver(region, group, stream, records, attempts)

        await asyncio.gather(*(deliver(*key, records) for key, records in batches.items() if records))

    async def _settings_of(self, state_machine_arn: str) -> LogSettings | None:
        now = self._monotonic()
        cached = self._settings.get(state_machine_arn)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            machine = await self.store.get_resource(STATE_MACHINES, state_machine_arn)
        except Exception as error:  # the store is down: the last configuration read, if any
            log.debug("reading %s's logging configuration failed: %s", state_machine_arn, error)
            return cached[1] if cached is not None else None
        settings = LogSettings.of(getattr(machine, "logging_configuration", None))
        self._settings[state_machine_arn] = (now, settings)
        return settings

    async def _deliver(self, region: str, group: str, stream: str, records: list[dict], attempts: int) -> None:
        delay = RETRY_SECONDS
        for attempt in range(1, attempts + 1):
            try:
                if self.clients is None:
                    await asyncio.to_thread(_append, self.log_dir / log_file_name(group), records)  # type: ignore[operator]
                else:
                    await self._put(region, group, stream, records)
                return
            except Exception as error:
                if attempt == attempts:
                    log.warning("%d execution log records for log group %s dropped: %s", len(records), group, error,
                                extra={"log_group": group, "log_stream": stream, "records": len(records),
                                       "error": str(error)})
                    return
                await asyncio.sleep(delay)
                delay *= 2

    async def _put(self, region: str, group: str, stream: str, records: list[dict]) -> None:
        """PutLogEvents in batches within its quotas, into the stream (created on first use)."""
        key = (region, group, stream)
        if key not in self._streams:
            try:
                await self.clients.request("logs", "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                                           region=region)
            except Exception as error:
                if _error_code(error) != "ResourceAlreadyExistsException":
                    raise
            self._streams.add(key)
        for batch in _batches(records):
            try:
                await self.clients.request("logs", "PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                                                    "logEvents": batch}, region=region)
            except Exception as error:
                if _error_code(error) == "ResourceNotFoundException":
                    self._streams.discard(key)  # deleted meanwhile: made again by the next attempt
                raise


def _batches(records: list[dict]) -> Iterable[list[dict]]:
    """PutLogEvents' logEvents for the records, oldest first, within its quotas."""
    events = sorted(((int(record["event_timestamp"]), dumps(record)) for record in records), key=lambda e: e[0])
    batch: list[dict] = []
    size = 0
    for timestamp, message in events:
        event_size = len(message.encode()) + EVENT_OVERHEAD
        if batch and (len(batch) == MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append({"timestamp": timestamp, "message": message})
        size += event_size
    if batch:
        yield batch


def _append(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(dumps(record) + "\n" for record in records))


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
