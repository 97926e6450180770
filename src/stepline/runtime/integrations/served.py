"""What answers the Tasks that nothing local does (no mock, route or local function): the HTTP Task and AWS's
services, on AWS or at the configured endpoints. A server and `stepline run` serve the same."""

from __future__ import annotations

from collections.abc import Mapping

from stepline.runtime.integrations.aws import AwsClients, aws_integrations
from stepline.runtime.integrations.aws.sdk import LocalService
from stepline.runtime.integrations.connections import ConnectionsFile, EventBridgeConnections
from stepline.runtime.integrations.http import HttpTask
from stepline.runtime.integrations.registry import Integrations


def remote_integrations(clients: AwsClients, *, connections: str | None = None, job_poll_seconds: float = 1.0,
                        local: Mapping[str, LocalService] | None = None) -> Integrations:
    """`connections`: a connections file (serve --connections), else connections are read from EventBridge;
    `local`: AWS services answered in this process (a server's own Step Functions, for aws-sdk:sfn:*)."""
    http = HttpTask(ConnectionsFile.load(connections) if connections else EventBridgeConnections(clients))
    return Integrations([http, *aws_integrations(clients, job_poll_seconds=job_poll_seconds, local=local)])
