"""Local Python functions that answer Lambda resources in process, with AWS Lambda's handler(event, context)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.registry import AwaitCallback, Integration, Outcome, Succeeded, TaskCall

Handler = Callable[[JSON, Any], Any]

# Functions that block run side by side, as Lambda runs invocations concurrently; asyncio's default pool has
# only (cores + 4) threads, which made a few hundred slow functions wait in line.
FUNCTION_THREADS = 64


def function_threads() -> ThreadPoolExecutor:
    """The threads that blocking Lambda handlers (and Invoke calls) run on."""
    return ThreadPoolExecutor(max_workers=FUNCTION_THREADS, thread_name_prefix="stepline-function")


@dataclass
class LambdaContext:
    """The subset of AWS Lambda's context object that handlers commonly read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float = field(default=0.0)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000)) if self.deadline else 900_000


class FunctionNotFound(LookupError):
    pass


class LambdaIntegration(Integration):
    """What every way of running Lambda functions shares: the resources it answers and the result shapes.

    A function ARN's result is the function's payload; `arn:aws:states:::lambda:invoke` gives Lambda's Invoke
    response, and with `.waitForTaskToken` the function only receives the token: SendTask* answers later.
    """

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        return resource.kind == "lambda" or (resource.resource_type == "lambda" and resource.name.startswith("invoke"))

    async def invoke(self, call: TaskCall) -> Outcome:
        resource = call.resource
        if resource.kind == "lambda":
            return Succeeded(await self.run(resource.name, call.parameters, call))
        parameters = call.parameters if isinstance(call.parameters, dict) else {}
        function = parameters.get("FunctionName")
        if not isinstance(function, str):
            raise StatesError("States.Runtime", "The lambda:invoke Parameters need a FunctionName string")
        payload = parameters.get("Payload")
        if isinstance(payload, str):  # Payload may be JSON text
            try:
                payload = loads(payload)
            except ValueError:
                pass
        response = invoke_response(await self.run(function_name(function), payload, call))
        if resource.pattern == "callback":  # the function got $$.Task.Token; SendTask* answers later
            return AwaitCallback(response)
        return Succeeded(response)

    async def run(self, name: str, event: JSON, call: TaskCall) -> JSON:
        """Run the function `name` with `event`; its payload, or StatesError as Lambda names the failure."""
        raise NotImplementedError


class LocalFunctions(LambdaIntegration):
    """Functions by name; answers `arn:aws:lambda:...:function:NAME` and `arn:aws:states:::lambda:invoke`."""

    name = "local-functions"

    def __init__(self, functions: dict[str, Handler] | None = None, *, account: str = "123456789012",
                 region: str = "us-east-1", only_registered: bool = False) -> None:
        self.functions: dict[str, Handler] = dict(functions or {})
        # only_registered: a function it does not have is left to the next integration (AWS Lambda) instead of
        # failing with Lambda.ResourceNotFoundException
        self.only_registered = only_registered
        self.account = account
        self.region = region
        self._threads: ThreadPoolExecutor | None = None

    def handles(self, call: TaskCall) -> bool:
        if not super().handles(call):
            return False
        if not self.only_registered:
            return True
        if call.resource.kind == "lambda":
            return call.resource.name in self.functions
        function = call.parameters.get("FunctionName") if isinstance(call.parameters, dict) else None
        return isinstance(function, str) and function_name(function) in self.functions

    def register(self, name: str, handler: Handler) -> None:
        self.functions[name] = handler

    def load_module(self, module_name: str) -> None:
        """Register every public function of a module (--functions MODULE) under its own name."""
        module = importlib.import_module(module_name)
        exported = getattr(module, "FUNCTIONS", None)
        if isinstance(exported, dict):
            self.functions.update(exported)
            return
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_"):
                self.functions[name] = value

    async def run(self, name: str, event: JSON, call: TaskCall) -> JSON:
        handler = self.functions.get(name)
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        if handler is None:
            raise StatesError("Lambda.ResourceNotFoundException",
                              f"Function not found: {arn}:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: "
                              f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)")
        request_id = str(uuid.uuid4())
        deadline = time.monotonic() + call.timeout_seconds if call.timeout_seconds else 0.0
        context = LambdaContext(function_name=name, invoked_function_arn=arn, aws_request_id=request_id,
                                deadline=deadline)
        try:
            if inspect.iscoroutinefunction(handler):
                result = await handler(event, context)
            else:
                if self._threads is None:
                    self._threads = function_threads()
                result = await asyncio.get_running_loop().run_in_executor(self._threads, handler, event, context)
        except Exception as error:  # the function's failure is the task's failure, named as Lambda names it
            raise StatesError(type(error).__name__, _lambda_cause(error, request_id)) from None
        try:
            return loads(dumps(result))  # what crosses Lambda's boundary is JSON
        except TypeError:
            raise StatesError("Lambda.Unknown", f"The function {name} returned a value that is not JSON: "
                                                f"{type(result).__name__}") from None


def invoke_response(payload: JSON) -> JSON:
    """The result of `arn:aws:states:::lambda:invoke`: Lambda's Invoke response as Step Functions reports it."""
    request_id = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST",
               "x-amzn-RequestId": request_id}
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {"AllHttpHeaders": {k: [v] for k, v in headers.items()}, "HttpHeaders": headers,
                            "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


def function_name(function: str) -> str:
    """The name in any form Lambda's FunctionName takes: name, name:qualifier, ACCOUNT:function:name[:qualifier],
    or a full function ARN."""
    parts = function.split(":")
    if parts[0] == "arn" and len(parts) > 6:
        return parts[6]
    if len(parts) > 2 and parts[1] == "function":
        return parts[2]
    return parts[0]


def _lambda_cause(error: Exception, request_id: str) -> str:
    frames = traceback.format_tb(error.__traceback__)[1:]  # drop this module's own frame
    return dumps({"errorMessage": str(error), "errorType": type(error).__name__, "requestId": request_id,
                  "stackTrace": frames})
