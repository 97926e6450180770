"""Integration tests: Tasks that reach real services (moto's server, local HTTP servers, other steplines).
`task(...)` runs a one-Task workflow in process with the AWS integrations as a server chains them, with the
process's AWS calls sent to moto (`aws`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.aws.optimized import OptimizedIntegrations
from stepline.runtime.integrations.aws.sdk import AwsSdk
from stepline.service.workflow import Result, Workflow


@pytest.fixture
def task(aws: pytest.MonkeyPatch) -> Callable[..., Result]:
    def run(resource: str, parameters: Any = None, *, clients: AwsClients | None = None, **fields: Any) -> Result:
        clients = clients or AwsClients()
        state = {"Type": "Task", "Resource": resource, "End": True, **fields}
        if parameters is not None:
            state["Parameters"] = parameters
        definition = {"StartAt": "T", "States": {"T": state}}
        return Workflow(definition).run({}, integrations=[OptimizedIntegrations(clients), AwsSdk(clients)],
                                        time_scale=0)
    return run
