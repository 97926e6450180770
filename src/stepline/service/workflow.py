"""The in-process Python API: load a definition once, run it many times, read what AWS would report.

    workflow = Workflow.from_file("order.asl.json", functions={"charge": charge})
    result = workflow.run({"order": 1}, time_scale=0)      # 0: virtual time, Waits take no real time
    assert result.status == "SUCCEEDED", result.cause
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stepline.engine.interpreter import Execution
from stepline.engine.program import Program, compile_definition
from stepline.errors import DefinitionError, Diagnostic
from stepline.expr.limits import DEFAULT_LIMITS, Limits
from stepline.jsonvalue import JSON
from stepline.runtime.clock import clock_for
from stepline.runtime.integrations.aws import AwsClients
from stepline.runtime.integrations.lambda_local import Handler, LocalFunctions
from stepline.runtime.integrations.mock_config import MockConfig
from stepline.runtime.integrations.registry import Integration, Integrations
from stepline.runtime.integrations.served import remote_integrations
from stepline.runtime.map_runs import MapRuns, MemoryChildren
from stepline.runtime.runner import ExecutionRunner

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/stepline"


@dataclass(slots=True)
class Result:
    """What DescribeExecution and GetExecutionHistory would report for a finished execution."""

    execution_arn: str
    status: str
    output: JSON
    output_text: str | None
    error: str | None
    cause: str | None
    start_date: datetime
    stop_date: datetime | None
    history: list[dict] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def event_types(self) -> list[str]:
        return [event["type"] for event in self.history]


class Workflow:
    """A validated, compiled state machine with the local functions and mocks that answer its Tasks."""

    def __init__(self, definition: str | JSON, *, name: str = "workflow",
                 functions: dict[str, Handler] | None = None, mock_config: MockConfig | str | Path | None = None,
                 region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT, role_arn: str = DEFAULT_ROLE,
                 type: str = "STANDARD", limits: Limits = DEFAULT_LIMITS, connections: str | None = None) -> None:
        self.program: Program = compile_definition(definition, type)
        self.limits = limits  # of each evaluation of an expression (expr/limits.py)
        self.name = name
        self.region = region
        self.account = account
        self.role_arn = role_arn
        self.functions = LocalFunctions(functions, account=account, region=region)
        if mock_config is not None and not isinstance(mock_config, MockConfig):
            mock_config = MockConfig.load(mock_config)
        self.mock_config = mock_config
        self.connections = connections  # the HTTP Task's connections file, else EventBridge's connections
        self._remote: Integrations | None = None
        self._clients = AwsClients(region=region)  # the remote integrations' and the Map Runs' item readers'

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> Workflow:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise DefinitionError(Diagnostic("INVALID_JSON_DESCRIPTION", f"Cannot read {path}: {error.strerror}",
                                             "/")) from None
        options.setdefault("name", path.name.split(".")[0])
        return cls(text, **options)

    @property
    def state_machine_arn(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{self.name}"

    def function(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator: serve the Lambda function `name` with this Python function."""
        def register(handler: Handler) -> Handler:
            self.functions.register(name, handler)
            return handler
        return register

    def run(self, input: JSON = None, **options: Any) -> Result:
        """Run one execution to its end and return its result (see run_async for the options)."""
        return asyncio.run(self.run_async(input, **options))

    async def run_async(self, input: JSON = None, *, name: str | None = None, test_case: str | None = None,
                        time_scale: float | None = None, seed: int | None = None,
                        integrations: list[Integration] | None = None,
                        observe: Callable[[Execution], None] | None = None) -> Result:
        """input: a JSON value (None means {}); test_case: a test case of the mock config;
        time_scale: None real time, 0 virtual time, 0.01 waits a hundred times shorter; seed: makes
        MathRandom, UUID, $random and retry jitter repeatable (by default they differ per execution);
        observe: called with the live Execution once it exists (progress displays)."""
        if input is None:
            input = {}
        clock = clock_for(time_scale)
        name = name or str(uuid.uuid4())
        express = self.program.machine_type == "EXPRESS"
        if express:
            arn = f"arn:aws:states:{self.region}:{self.account}:express:{self.name}:{name}:{uuid.uuid4()}"
        else:
            arn = f"arn:aws:states:{self.region}:{self.account}:execution:{self.name}:{name}"
        execution = Execution(
            self.program, input=input, name=name, state_machine_arn=self.state_machine_arn, execution_arn=arn,
            state_machine_name=self.name, role_arn=self.role_arn, start_time=clock.now(),
            seed=seed if seed is not None else arn, region=self.region, redrive_count=None if express else 0,
            limits=self.limits)
        if observe is not None:
            observe(execution)
        chain: list[Integration] = list(integrations or [])
        if test_case is not None:
            if self.mock_config is None:
                raise ValueError("a test case needs a mock config")
            chain.insert(0, self.mock_config.test_case(self.name, test_case))
        chain.append(self.functions)
        if self._remote is None:  # for the workflow's life: what answers Tasks that nothing local does
            self._remote = remote_integrations(self._clients, connections=self.connections)
            await self._remote.open()
        # a distributed Map's children run in this process too, answered by the same integrations
        children = MemoryChildren(lambda: answering, clock, role_arn=self.role_arn, limits=self.limits)
        answering = Integrations([MapRuns(lambda call, execution_type: children, self._clients), *chain,
                                  *self._remote])
        runner = ExecutionRunner(execution, answering, clock, timeout_seconds=self.program.timeout_seconds)
        await runner.run()
        return Result(execution_arn=execution.execution_arn, status=execution.status, output=execution.output,
                      output_text=execution.output_text, error=execution.error, cause=execution.cause,
                      start_date=execution.start_time, stop_date=execution.stop_time, history=execution.events)
