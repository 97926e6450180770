"""Python functions of a template served as Lambda serves them: each function in processes of its own
(lambda_worker.py), started on its first invocation, from its code folder with its environment variables,
so that functions cannot break each other or the server.

A process runs one invocation at a time, as a Lambda execution environment does; concurrent invocations of a
function get more processes (up to MAX_PROCESSES, then they wait). A function that runs past its Timeout is
killed (`Sandbox.Timedout`); one whose process dies (`Runtime.ExitError`) gets a new process on the next
invocation; a handler's exception is the task's error, named by its type, as Lambda reports it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.lambda_local import LambdaIntegration, function_name
from stepline.runtime.integrations.registry import TaskCall

WORKER = Path(__file__).with_name("lambda_worker.py")
MAX_PROCESSES = 8  # per function
MAX_ANSWER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServedFunction:
    name: str
    arn: str
    code: Path
    handler: str
    environment: dict[str, str]
    timeout: float
    memory: int
    region: str


class _Process:
    def __init__(self, process: asyncio.subprocess.Process, answers: asyncio.StreamReader, stream: str) -> None:
        self.process, self.answers, self.log_stream = process, answers, stream

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class ProcessFunctions(LambdaIntegration):
    """Answers the Lambda resources of the functions it serves (by name or ARN); others go to the next
    integration (a Lambda endpoint, AWS)."""

    name = "template-functions"

    def __init__(self) -> None:
        self.functions: dict[str, ServedFunction] = {}
        self._idle: dict[str, list[_Process]] = {}
        self._count: dict[str, int] = {}
        self._freed: dict[str, asyncio.Condition] = {}

    def serve(self, function: ServedFunction) -> None:
        self.functions[function.name] = function

    def handles(self, call: TaskCall) -> bool:
        if not super().handles(call):
            return False
        if call.resource.kind == "lambda":
            return call.resource.name in self.functions
        function = call.parameters.get("FunctionName") if isinstance(call.parameters, dict) else None
        return isinstance(function, str) and function_name(function) in self.functions

    async def run(self, name: str, event: JSON, call: TaskCall) -> JSON:
        function = self.functions[name]
        process = await self._take(function)
        request_id = str(uuid.uuid4())
        request = {"event": event, "request_id": request_id, "function_name": name, "arn": function.arn,
                   "memory": function.memory, "timeout": function.timeout, "log_stream": process.log_stream}
        try:
            assert process.process.stdin is not None
            process.process.stdin.write(dumps(request).encode() + b"\n")
            await process.process.stdin.drain()
            line = await asyncio.wait_for(process.answers.readline(), timeout=function.timeout)
        except asyncio.TimeoutError:
            process.kill()
            self._lost(function)
            raise StatesError("Sandbox.Timedout", dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {function.timeout:.2f} seconds"}))
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        except BaseException:
            process.kill()
            self._lost(function)
            raise
        if not line:
            code = await process.process.wait()
            self._lost(function)
            reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
            raise StatesError("Runtime.ExitError", dumps({
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}"}))
        await self._give_back(function, process)
        answer = loads(line)
        assert isinstance(answer, dict)
        if "error" in answer:
            error = answer["error"]
            assert isinstance(error, dict)
            raise StatesError(str(error["errorType"]), dumps({
                "errorMessage": error["errorMessage"], "errorType": error["errorType"], "requestId": request_id,
                "stackTrace": error["stackTrace"]}))
        return answer["result"]

    async def _take(self, function: ServedFunction) -> _Process:
        freed = self._freed.setdefault(function.name, asyncio.Condition())
        async with freed:
            while True:
                idle = self._idle.setdefault(function.name, [])
                while idle:
                    process = idle.pop()
                    if process.process.returncode is None:
                        return process
                    self._count[function.name] -= 1
                if self._count.get(function.name, 0) < MAX_PROCESSES:
                    self._count[function.name] = self._count.get(function.name, 0) + 1
                    break
                await freed.wait()
        try:
            return await self._start(function)
        except BaseException:
            self._lost(function)
            raise

    async def _give_back(self, function: ServedFunction, process: _Process) -> None:
        freed = self._freed[function.name]
        async with freed:
            self._idle[function.name].append(process)
            freed.notify()

    def _lost(self, function: ServedFunction) -> None:
        self._count[function.name] -= 1
        freed = self._freed[function.name]

        async def notify() -> None:
            async with freed:
                freed.notify()
        asyncio.get_running_loop().create_task(notify())

    async def _start(self, function: ServedFunction) -> _Process:
        read, write = os.pipe()
        stream = f"{datetime.now(timezone.utc):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        environment = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": function.name,
                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
                       "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME":
                       f"/aws/lambda/{function.name}", "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                       "AWS_REGION": function.region, "AWS_DEFAULT_REGION": function.region,
                       "LAMBDA_TASK_ROOT": str(function.code), "PYTHONUNBUFFERED": "1", **function.environment}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(WORKER), function.handler, str(write), cwd=str(function.code), env=environment,
                stdin=asyncio.subprocess.PIPE, stdout=sys.stderr, stderr=None, pass_fds=(write,))
        finally:
            os.close(write)
        loop = asyncio.get_running_loop()
        answers = asyncio.StreamReader(limit=MAX_ANSWER_BYTES)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(answers), os.fdopen(read, "rb"))
        return _Process(process, answers, stream)

    async def close(self) -> None:
        for processes in self._idle.values():
            for process in processes:
                process.kill()
                await process.process.wait()
        self._idle.clear()
        self._count.clear()


def _signal_name(number: int) -> str:
    import signal

    try:
        return {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault",
                signal.SIGTERM: "terminated"}.get(signal.Signals(number), signal.Signals(number).name)
    except ValueError:
        return str(number)
