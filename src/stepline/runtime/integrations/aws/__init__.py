"""Integrations that call AWS services (or local emulators at the configured endpoints): clients.py decides where
calls go and with which credentials; sdk.py answers every `aws-sdk:*` resource from botocore's models;
optimized.py answers the optimized integrations (jobs.py their `.sync` forms, apigateway.py API Gateway's,
kubernetes.py EKS's Kubernetes API integrations);
errors.py names failures as Step Functions does."""

from collections.abc import Mapping

from stepline.runtime.integrations.aws.apigateway import ApiGatewayInvoke
from stepline.runtime.integrations.aws.clients import AwsClients
from stepline.runtime.integrations.aws.jobs import JobIntegrations
from stepline.runtime.integrations.aws.kubernetes import EksKubernetes
from stepline.runtime.integrations.aws.optimized import OptimizedIntegrations
from stepline.runtime.integrations.aws.sdk import AwsSdk, LocalService
from stepline.runtime.integrations.registry import Integration


def aws_integrations(clients: AwsClients, *, job_poll_seconds: float = 1.0,
                     local: Mapping[str, LocalService] | None = None) -> tuple[Integration, ...]:
    """The integrations that answer Tasks with AWS's services, in order: the optimized ones, `.sync` jobs, API
    Gateway, EKS's Kubernetes API, and every `aws-sdk:*` resource (`local`: services answered in this process,
    see AwsSdk)."""
    return (OptimizedIntegrations(clients), JobIntegrations(clients, poll_seconds=job_poll_seconds),
            ApiGatewayInvoke(clients), EksKubernetes(clients, poll_seconds=job_poll_seconds), AwsSdk(clients, local))
