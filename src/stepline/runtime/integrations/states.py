"""Nested workflows on this stepline: `arn:aws:states:::states:startExecution` (request-response, `.sync`, `.sync:2`,
`.waitForTaskToken`) and `arn:aws:states:::aws-sdk:sfn:startExecution` start the child here, as an execution of
its own (its own ARN and history), through the application layer's StartExecution.

- The child's name, when the Task gives none, is the invocation's idempotency key: a task dispatched again after a
  crash finds the child it started instead of starting a second one.
- `.sync` submits a job whose handle is the child's ARN, committed with the parent's pending task: the parent
  waits for the child's end, also after a restart and on another worker. `.sync` gives the child's description
  with its input and output as JSON text, `.sync:2` as JSON; a child that did not succeed fails the task with
  States.TaskFailed, its description as the cause.
- A `.sync` task that is abandoned (its execution stopped, the task timed out, its branch failed) stops the child.
- The child is linked to its parent by the input field AWS reads for that, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.

When AWS_ENDPOINT_URL_SFN or STEP_FUNCTIONS_ENDPOINT names another endpoint, the child starts there instead
(RemoteExecutions: through the AWS clients, with the call's credentials), and a `.sync` parent polls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from stepline.errors import ApiError, StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import Naming, client_error, sdk_naming, states_error
from stepline.runtime.integrations.aws.sdk import service_model
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.registry import (AwaitCallback, Ended, Failed, Integration, Outcome, Submitted,
                                                    Succeeded, TaskCall)

PARAMETERS = ("StateMachineArn", "Input", "Name", "TraceHeader")
OPTIMIZED_NAMING = Naming(prefix="StepFunctions", base_exception="AWSStepFunctionsException",
                          service="AWSStepFunctions", sdk_v1=True)
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class Executions(Protocol):
    """StartExecution, DescribeExecution and StopExecution, and a wait for an execution's end: the application
    layer's (raising ApiError as its API does; describing an Express child too, which DescribeExecution refuses)
    or another endpoint's (raising botocore's errors)."""

    async def start_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                              traceHeader: str | None = None) -> dict[str, Any]: ...

    async def describe_execution(self, *, executionArn: str) -> dict[str, Any]: ...

    async def stop_execution(self, *, executionArn: str, error: str | None = None,
                             cause: str | None = None) -> dict[str, Any]: ...

    async def wait_for_execution(self, arn: str) -> None: ...


class NestedExecutions(Integration):
    name = "nested-executions"

    def __init__(self, executions: Callable[[TaskCall], Executions]) -> None:
        self._executions_for = executions  # where a call's child runs: this stepline, or another endpoint

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        return resource.resource_type in ("states", "aws-sdk:sfn") and resource.name.split(".")[0] == "startExecution"

    async def invoke(self, call: TaskCall) -> Outcome:
        parameters = call.parameters
        if not isinstance(parameters, dict):
            raise StatesError("States.Runtime", "The parameters of startExecution must be an object")
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise StatesError("States.Runtime", f"startExecution does not take the parameters {', '.join(unknown)} "
                                                f"(it takes {', '.join(PARAMETERS)})")
        machine = parameters.get("StateMachineArn")
        if not isinstance(machine, str):
            raise StatesError("States.Runtime", "startExecution needs a StateMachineArn string")
        given = parameters.get("Name")
        name = given if isinstance(given, str) else call.idempotency_key
        text = _input(parameters.get("Input"))
        try:
            try:
                started = await self._executions_for(call).start_execution(
                    stateMachineArn=machine, name=name, input=text, traceHeader=parameters.get("TraceHeader"))
            except (ApiError, ClientError) as error:
                if _code(error) != "ExecutionAlreadyExists" or given is not None:
                    raise
                started = await self._started_before(call, machine, name)  # dispatched again after a crash
        except (ApiError, ClientError, BotoCoreError, RoleError) as error:
            raise _failure(call, error, "StartExecution") from None
        response = _shaped("StartExecution", {"executionArn": started["executionArn"],
                                              "startDate": started["startDate"]}, call)
        if call.resource.pattern == "sync":
            return Submitted(response, {"ExecutionArn": started["executionArn"]})
        if call.resource.pattern == "callback":
            return AwaitCallback(response)
        return Succeeded(response)

    async def wait(self, call: TaskCall, handle: JSON) -> Ended:
        arn = handle["ExecutionArn"] if isinstance(handle, dict) else None
        if not isinstance(arn, str):
            return Failed("States.Runtime", f"The job handle of a nested execution is not one: {dumps(handle)}")
        try:
            executions = self._executions_for(call)
            await executions.wait_for_execution(arn)
            described = await executions.describe_execution(executionArn=arn)
        except (ApiError, ClientError, BotoCoreError, RoleError) as error:
            failure = _failure(call, error, "DescribeExecution")
            return Failed(failure.error, failure.cause)
        result = _description(described, call)
        if described["status"] == "SUCCEEDED":
            return Succeeded(result)
        return Failed("States.TaskFailed", dumps(result))

    async def cancel(self, call: TaskCall, handle: JSON) -> None:
        if isinstance(handle, dict) and isinstance(handle.get("ExecutionArn"), str):
            await self._executions_for(call).stop_execution(executionArn=handle["ExecutionArn"])

    async def _started_before(self, call: TaskCall, machine: str, name: str) -> dict[str, Any]:
        """The child this invocation started before a crash (its name is the invocation's idempotency key)."""
        arn = machine.replace(":stateMachine:", ":execution:", 1).split("#")[0]
        return await self._executions_for(call).describe_execution(
            executionArn=":".join(arn.split(":")[:7]) + f":{name}")


def _code(error: ApiError | ClientError) -> str:
    return error.code if isinstance(error, ApiError) else str(error.response.get("Error", {}).get("Code"))


def _failure(call: TaskCall, error: Exception, operation: str) -> StatesError:
    """A failed call named as Step Functions names it: `Sfn.<Exception>` for aws-sdk:sfn, else the optimized
    integration's `StepFunctions.<Exception>`."""
    _, model = service_model("sfn")
    naming = sdk_naming(model) if call.resource.resource_type == "aws-sdk:sfn" else OPTIMIZED_NAMING
    return states_error(client_error(error, operation) if isinstance(error, ApiError) else error, naming, model)


def _input(value: JSON) -> str:
    """The child's input: a string is JSON text already (AWS passes it as given); anything else is written."""
    if value is None:
        return "{}"
    return value if isinstance(value, str) else dumps(value)


def _shaped(operation: str, response: dict[str, Any], call: TaskCall) -> Any:
    """An action's answer as Step Functions gives it: PascalCase members, and timestamps as the optimized
    integration (epoch milliseconds) or the SDK one (ISO text) shows them."""
    _, model = service_model("sfn")
    return shapes.response(model.operation_model(operation).output_shape, response,
                           epoch_millis=call.resource.resource_type != "aws-sdk:sfn")


def _description(described: dict[str, Any], call: TaskCall) -> dict[str, JSON]:
    """DescribeExecution as the .sync task's result: `.sync:2` has the input and output as JSON, `.sync` as
    JSON text."""
    result: dict[str, JSON] = _shaped("DescribeExecution", described, call)
    if call.resource.name.endswith(":2"):
        for key in ("Input", "Output"):
            if isinstance(result.get(key), str):
                result[key] = loads(result[key])
    return result


class RemoteExecutions:
    """The Executions of another Step Functions endpoint (STEP_FUNCTIONS_ENDPOINT or AWS_ENDPOINT_URL_SFN, as the
    AWS clients resolve it) for one call, with its credentials (its Credentials.RoleArn, or the state machine's role
    with --assume-role), raising botocore's errors; a wait polls DescribeExecution."""

    def __init__(self, clients: AwsClients, call: TaskCall, *, poll_seconds: float = 1.0) -> None:
        self._clients = clients
        self._task = call
        self._poll_seconds = poll_seconds

    async def start_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                              traceHeader: str | None = None) -> dict[str, Any]:
        request = {"stateMachineArn": stateMachineArn, "name": name, "input": input, "traceHeader": traceHeader}
        return await self._call("StartExecution", {k: v for k, v in request.items() if v is not None})

    async def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        return await self._call("DescribeExecution", {"executionArn": executionArn})

    async def stop_execution(self, *, executionArn: str, error: str | None = None,
                             cause: str | None = None) -> dict[str, Any]:
        request = {"executionArn": executionArn, "error": error, "cause": cause}
        return await self._call("StopExecution", {k: v for k, v in request.items() if v is not None})

    async def wait_for_execution(self, arn: str) -> None:
        while (await self.describe_execution(executionArn=arn))["status"] not in ENDED:
            await asyncio.sleep(self._poll_seconds)

    async def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        response = await self._clients.call(self._task, "stepfunctions", operation, request)
        response.pop("ResponseMetadata", None)
        return response
