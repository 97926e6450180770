"""Every `arn:aws:states:::aws-sdk:<service>:<action>[.waitForTaskToken]` resource, from botocore's models.

`<service>` is the AWS SDK for Java's client name in lower case (`dynamodb`, `s3`, `sfn`, `eventbridge`,
`cloudwatchlogs`), found among botocore's services by their serviceId; `<action>` is the operation's name in
camelCase (`getItem` -> GetItem). Parameters and results are converted by shapes.py, failures named by errors.py.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ServiceModel

from stepline.errors import StatesError
from stepline.runtime.integrations.aws import shapes
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.errors import java_service_name, sdk_naming, states_error
from stepline.runtime.integrations.registry import AwaitCallback, Integration, Outcome, Succeeded, TaskCall

_SERVICE_ID = re.compile(rb'"serviceId"\s*:\s*"([^"]+)"')


LocalService = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]  # (operation, request) -> response


class AwsSdk(Integration):
    """The AWS SDK integrations: request-response and `.waitForTaskToken`. `local` answers some services in this
    process instead (botocore's name -> a call that takes and gives what botocore would, raising ClientError):
    a server's own Step Functions."""

    name = "aws-sdk"

    def __init__(self, clients: AwsClients, local: Mapping[str, LocalService] | None = None) -> None:
        self.clients = clients
        self.local = dict(local or {})

    def handles(self, call: TaskCall) -> bool:
        return call.resource.resource_type.startswith("aws-sdk:") and call.resource.pattern in ("request", "callback")

    async def invoke(self, call: TaskCall) -> Outcome:
        sdk_name = call.resource.resource_type.split(":", 1)[1]
        action = call.resource.name.removesuffix(".waitForTaskToken")
        service, model = await self.clients.run(service_model, sdk_name)
        operation = action[:1].upper() + action[1:]
        if operation not in model.operation_names or action[:1] != action[:1].lower():
            raise StatesError("States.Runtime", f"The AWS SDK integration {sdk_name} has no action '{action}' "
                                                f"(resource '{call.resource.arn}')")
        operation_model = model.operation_model(operation)
        parameters = shapes.with_idempotency_token(operation_model.input_shape,
                                                   shapes.request(operation_model.input_shape, call.parameters),
                                                   call.idempotency_key)
        local = self.local.get(service)
        try:
            result = await (local(operation, parameters) if local is not None
                            else self.clients.call(call, service, operation, parameters))
        except (ClientError, BotoCoreError, RoleError) as error:
            raise states_error(error, sdk_naming(model), model) from None
        output = shapes.response(operation_model.output_shape, result)
        return AwaitCallback(output) if call.resource.pattern == "callback" else Succeeded(output)


@cache
def service_model(sdk_name: str) -> tuple[str, ServiceModel]:
    """botocore's name and model of the service an aws-sdk resource names; StatesError when there is none."""
    service = sdk_services().get(sdk_name)
    if service is None:
        raise StatesError("States.Runtime", f"The AWS SDK integration has no service '{sdk_name}': a service is "
                                            "named as the AWS SDK for Java names its client, in lower case "
                                            "(dynamodb, s3, sfn, eventbridge, cloudwatchlogs)")
    return service, botocore.session.get_session().get_service_model(service)


@cache
def sdk_services() -> dict[str, str]:
    """aws-sdk service names -> botocore service names. Reads only the head of each model file (where its
    serviceId is): loading every model would take seconds."""
    loader = botocore.session.get_session().get_component("data_loader")
    services: dict[str, str] = {}
    for service in loader.list_available_services("service-2"):
        version = loader.determine_latest_version(service, "service-2")
        for root in loader.search_paths:
            head = _head(os.path.join(root, service, version, "service-2.json"))
            match = _SERVICE_ID.search(head) if head else None
            if match:
                services.setdefault(java_service_name(match.group(1).decode()).lower(), service)
                break
    return services


def _head(path: str) -> bytes | None:
    for name, opener in ((path, open), (path + ".gz", gzip.open)):
        if os.path.exists(name):
            with opener(name, "rb") as file:
                return file.read(4096)
    return None
