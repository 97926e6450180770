"""The Map Run actions: ListMapRuns, DescribeMapRun, UpdateMapRun.

A Distributed Map state's run is read from its execution: the history holds MapRunStarted (with the run's ARN)
and MapRunSucceeded/MapRunFailed; while the run is open, or after it failed, the execution's checkpoint holds
its item counts. The run's ARN is `mapRun:MACHINE/STATE:EXECUTION-ID`, ID being the id of the Map state's
entered event. UpdateMapRun's values are kept as a `map_run` resource (its parent the execution) and reported by
DescribeMapRun.
"""

from __future__ import annotations

from typing import Any

from stepline.asl.model import map_states
from stepline.asl.parse import parse_definition
from stepline.jsonvalue import loads
from stepline.runtime.store.records import MAP_RUNS, ExecutionRecord, MapRunLimits
from stepline.service import errors
from stepline.service.arns import execution_arn, parse_arn, parse_execution_arn
from stepline.service.paging import paginate

_ENDS = {"MapRunSucceeded": "SUCCEEDED", "MapRunFailed": "FAILED", "MapRunAborted": "ABORTED"}
_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total", "resultsWritten",
           "failuresNotRedrivable", "pendingRedrive")


class MapRunActions:
    """The three Map Run actions of StepFunctionsService (a mixin: it uses the service's store and settings)."""

    store: Any
    settings: Any

    async def list_map_runs(self, *, executionArn: str, maxResults: int = 0, nextToken: str | None = None) -> dict:
        """ListMapRuns: the Map Runs an execution started, in the order they started."""
        record = await self._map_run_execution(executionArn)
        runs = []
        for started in await self._events(executionArn):
            if started["type"] != "MapRunStarted":
                continue
            run_arn = started["mapRunStartedEventDetails"]["mapRunArn"]
            item = {"executionArn": record.arn, "mapRunArn": run_arn,
                    "stateMachineArn": _run_state_machine_arn(run_arn), "startDate": started["timestamp"]}
            run = await self._map_run(run_arn)
            if run.get("stopDate") is not None:
                item["stopDate"] = run["stopDate"]
            runs.append((started["id"], item))
        page, token = paginate(runs, key=lambda run: f"{run[0]:012d}", max_results=maxResults, next_token=nextToken,
                               scope=f"ListMapRuns/{executionArn}")
        return {"mapRuns": [item for _, item in page], **({"nextToken": token} if token else {})}

    async def describe_map_run(self, *, mapRunArn: str) -> dict:
        """DescribeMapRun: the run's configuration, status and item counts."""
        return await self._map_run(mapRunArn)

    async def update_map_run(self, *, mapRunArn: str, maxConcurrency: int | None = None,
                             toleratedFailurePercentage: float | None = None,
                             toleratedFailureCount: int | None = None) -> dict:
        """UpdateMapRun: record new limits for a run (reported by DescribeMapRun)."""
        if maxConcurrency is None and toleratedFailurePercentage is None and toleratedFailureCount is None:
            raise errors.ValidationException("At least one of the parameters maxConcurrency, "
                                             "toleratedFailurePercentage or toleratedFailureCount must be provided.")
        if toleratedFailurePercentage is not None and not 0 <= toleratedFailurePercentage <= 100:
            raise errors.ValidationException("toleratedFailurePercentage must be between 0 and 100")
        run = await self._map_run(mapRunArn)
        limits = await self.store.get_resource(MAP_RUNS, mapRunArn) or MapRunLimits(arn=mapRunArn)
        changes = {key: value for key, value in (("max_concurrency", maxConcurrency),
                                                 ("tolerated_failure_percentage", toleratedFailurePercentage),
                                                 ("tolerated_failure_count", toleratedFailureCount))
                   if value is not None}
        # kept under its execution: retention deletes it with the execution
        await self.store.put_resource(MAP_RUNS, limits.but(**changes), parent=run["executionArn"])
        return {}

    # ------------------------------------------------------------------ reading a run from its execution

    async def _map_run_execution(self, arn: str) -> ExecutionRecord:
        parse_execution_arn(arn)
        record = await self.store.get_execution(arn)
        if record is None:
            raise errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return record

    async def _events(self, arn: str) -> list[dict]:
        return await self.store.get_events(arn, after=0, limit=1_000_000)

    async def _map_run(self, run_arn: str) -> dict:
        arn = parse_arn(run_arn, "mapRun")
        machine = arn.resource[0].split("/", 1)[0]
        execution_name, _, entered = arn.resource[-1].rpartition("-")
        if len(arn.resource) < 2 or "/" not in ":".join(arn.resource[:-1]):
            raise errors.InvalidArn(f"Invalid Arn: 'Invalid ARN: {run_arn}'")
        missing = errors.ResourceNotFound(f"Resource not found: '{run_arn}'")
        if not execution_name or not entered.isdecimal():
            raise missing
        execution = execution_arn(arn.region, arn.account, machine, execution_name)
        record = await self.store.get_execution(execution)
        if record is None:
            raise missing
        events = await self._events(execution)
        started = next((e for e in events if e["type"] == "MapRunStarted"
                        and e["mapRunStartedEventDetails"]["mapRunArn"] == run_arn), None)
        if started is None:
            raise missing
        length = next((e["mapStateStartedEventDetails"]["length"] for e in reversed(events[:started["id"] - 1])
                       if e["type"] == "MapStateStarted"), 0)
        end = _end_of_run(events, started["id"])
        group = await self._open_group(execution, int(entered))
        if end is not None:
            status, stop = _ENDS[end["type"]], end["timestamp"]
        elif record.status == "RUNNING":
            status, stop = "RUNNING", None
        else:  # the execution ended (stopped, timed out, failed elsewhere) while the run was open
            status, stop = ("FAILED" if record.status == "FAILED" else "ABORTED"), record.stop_date
        counts = _counts(status, length, group)
        limits = _limits(await self.store.get_definition(record.definition_digest) or "{}",
                         run_arn.split("/", 1)[1].rsplit(":", 1)[0], group)
        updated = await self.store.get_resource(MAP_RUNS, run_arn)
        if updated is not None:
            limits.update({k: v for k, v in updated.to_json().items() if k != "mapRunArn"})
        response = {"mapRunArn": run_arn, "executionArn": execution, "status": status,
                    "startDate": started["timestamp"], **limits, "itemCounts": counts,
                    "executionCounts": dict(counts), "redriveCount": record.redrive_count}
        if stop is not None:
            response["stopDate"] = stop
        if record.redrive_date is not None and record.redrive_count:
            response["redriveDate"] = record.redrive_date
        return response

    async def _open_group(self, execution: str, entered: int) -> dict | None:
        """The Map state's group in the execution's checkpoint (while it runs, or after it failed)."""
        document = await self.store.get_checkpoint(execution)
        if document is None:
            return None
        for thread in loads(document).get("threads", []):
            group = thread.get("group")
            if group is not None and group.get("distributed") and thread.get("entered_id") == entered:
                return group
        return None


def _run_state_machine_arn(run_arn: str) -> str:
    """The state machine a Map Run reports: `stateMachine:MACHINE/STATE`."""
    prefix, _, rest = run_arn.partition(":mapRun:")
    return f"{prefix}:stateMachine:{rest.rsplit(':', 1)[0]}"


def _end_of_run(events: list[dict], started_id: int) -> dict | None:
    depth = 0
    for event in events[started_id:]:
        if event["type"] == "MapRunStarted":
            depth += 1
        elif event["type"] in _ENDS:
            if depth == 0:
                return event
            depth -= 1
    return None


def _counts(status: str, length: int, group: dict | None) -> dict:
    counts = dict.fromkeys(_COUNTS, 0)
    counts["total"] = length
    if group is not None:
        failed = group["failures"]
        counts.update(running=len(group["running"]) if status == "RUNNING" else 0,
                      succeeded=group["done"] - failed, failed=failed,
                      pending=max(0, length - group["next_index"]) if status == "RUNNING" else 0)
        if status != "RUNNING":
            counts["aborted"] = max(0, length - counts["succeeded"] - failed)
    elif status == "SUCCEEDED":
        counts["succeeded"] = length
    elif status == "RUNNING":
        counts["pending"] = length
    else:
        counts["aborted"] = length
    counts["resultsWritten"] = counts["succeeded"] if status != "RUNNING" else 0
    return counts


def _limits(definition: str, state_name: str, group: dict | None) -> dict[str, Any]:
    """maxConcurrency and the tolerated failures: from the open run, else from the definition's Map state."""
    model, _ = parse_definition(definition)
    state = next((s for s in map_states(model) if s.name == state_name), None) if model is not None else None
    limits: dict[str, Any] = {"maxConcurrency": 0, "toleratedFailurePercentage": 0.0, "toleratedFailureCount": 0}
    if state is not None:  # a value set through a JSONata expression or a *Path reads as 0
        limits = {"maxConcurrency": state.max_concurrency or 0,
                  "toleratedFailurePercentage": state.tolerated_failure_percentage or 0.0,
                  "toleratedFailureCount": state.tolerated_failure_count or 0}
    if group is not None:
        limits["maxConcurrency"] = group["max_concurrency"]
        if group["tolerated_count"] >= 0:
            limits["toleratedFailureCount"] = int(group["tolerated_count"])
        if group["tolerated_percentage"] >= 0:
            limits["toleratedFailurePercentage"] = float(group["tolerated_percentage"])
    return limits


__all__ = ["MapRunActions"]
