"""AWS clients for integrations: where a call goes and with which credentials, as the AWS SDKs decide it.

    clients = AwsClients(assume_role=False)            # one per server; opened and closed with it
    response = await clients.call(task, "dynamodb", "GetItem", {"TableName": "t", "Key": {...}})
    client = await clients.client(task, "batch")       # a botocore client, for calls of your own through run()
    job = await clients.run(client.describe_jobs, jobs=[job_id])

Endpoints. botocore's own configuration decides, unchanged: `AWS_ENDPOINT_URL_<SERVICE>` (the service's id in
upper case, spaces as underscores: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SFN), then `AWS_ENDPOINT_URL`, then
profiles' `endpoint_url` and `services` sections, and with none of them AWS itself in the call's region (the
Task resource's region, else the server's). Step Functions Local's variables (DYNAMODB_ENDPOINT, SQS_ENDPOINT, ...:
`SFN_LOCAL_ENDPOINTS`) name a service's endpoint too: they win over the global AWS_ENDPOINT_URL and lose to the
service's own AWS_ENDPOINT_URL_<SERVICE>.

Credentials. botocore's chain (environment, profiles, container and instance credentials), unless the call names a
role: a Task's `Credentials.RoleArn`, else the state machine's role when the server runs with `--assume-role`. A
role is assumed through STS (AssumeRole, itself with the chain's credentials and STS's configured endpoint) and
its credentials are kept and refreshed by botocore before they expire.

Clients are made once per (service, region, endpoint, role) and shared; every blocking botocore call (making a
client, resolving credentials, the request) runs in this object's bounded thread pool, never on the event loop.
`call` returns botocore's parsed response with streaming bodies read (bytes) and `ResponseMetadata["Headers"]`:
the HTTP response's headers as the service sent them (names in their own case). It raises botocore's ClientError
and BotoCoreError, and `RoleError` when a role cannot be assumed; `errors.py` names them as Step Functions does.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, TypeVar

import botocore.session
from botocore import xform_name
from botocore.client import BaseClient
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
)
from botocore.exceptions import NoCredentialsError, ProfileNotFound
from botocore.response import StreamingBody

from stepline.errors import StatesError
from stepline.runtime.integrations.registry import AWS, TaskCall

T = TypeVar("T")

# Step Functions Local's endpoint variables, by botocore service name. STEP_FUNCTIONS_ENDPOINT (or
# AWS_ENDPOINT_URL_SFN) also decides whether a nested execution runs on this stepline (service/settings.py).
SFN_LOCAL_ENDPOINTS = {
    "stepfunctions": "STEP_FUNCTIONS_ENDPOINT",
    "dynamodb": "DYNAMODB_ENDPOINT", "sqs": "SQS_ENDPOINT", "sns": "SNS_ENDPOINT", "events": "EVENTBRIDGE_ENDPOINT",
    "ecs": "ECS_ENDPOINT", "batch": "BATCH_ENDPOINT", "glue": "GLUE_ENDPOINT", "athena": "ATHENA_ENDPOINT",
    "sagemaker": "SAGEMAKER_ENDPOINT", "eks": "EKS_ENDPOINT", "lambda": "LAMBDA_ENDPOINT",
}
THREADS = 64  # blocking SDK calls at once; each holds a thread for its request's duration
CONNECT_TIMEOUT = 5  # seconds: an endpoint that is down fails the task quickly
READ_TIMEOUT = 900  # Lambda's and Bedrock's longest answers; a Task's TimeoutSeconds ends the wait sooner
ROLE_SESSION_NAME = "stepline"


class RoleError(Exception):
    """A role could not be assumed: `role_arn`, and STS's error (or the credentials chain's) as `reason`."""

    def __init__(self, role_arn: str, reason: Exception) -> None:
        super().__init__(f"{role_arn}: {reason}")
        self.role_arn, self.reason = role_arn, reason


class AwsClients:
    """botocore clients for the integrations of one server."""

    def __init__(self, *, assume_role: bool = False, region: str = "us-east-1",
                 environment: Mapping[str, str] | None = None, threads: int = THREADS) -> None:
        self.assume_role = assume_role
        self.region = region
        self.environment = os.environ if environment is None else environment
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stepline-aws")
        self._config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                              max_pool_connections=threads, retries={"mode": "standard"},
                              parameter_validation=False)  # the service validates, as it does for Step Functions
        # a route to AWS itself: endpoints that the environment or profiles configure are ignored
        self._aws_itself = self._config.merge(Config(ignore_configured_endpoint_urls=True))  # type: ignore[call-arg]
        self._clients: dict[tuple[str, str, str | None, str | None, bool], BaseClient] = {}
        self._roles: dict[str, tuple[botocore.session.Session, DeferredRefreshableCredentials]] = {}
        self._lock = threading.RLock()  # making clients and sessions is not thread-safe; using them is

    @cached_property
    def session(self) -> botocore.session.Session:
        """The session every client and role session derives from (made on first use: making one takes
        milliseconds, which a run that calls no AWS service should not pay)."""
        return botocore.session.Session()

    # ---------------------------------------------------------------- what the integrations call

    async def call(self, task: TaskCall, service: str, operation: str, parameters: Mapping[str, Any]) -> dict:
        """One operation (by its API name, "GetItem") of a service (botocore's name, "dynamodb") for a task."""
        return await self.run(self._call_blocking, self.role_for(task), task.resource.region or self.region,
                              service, operation, dict(parameters), task.endpoint)

    async def request(self, service: str, operation: str, parameters: Mapping[str, Any], *, region: str) -> dict:
        """One operation on the server's own behalf (the credentials chain, no task's role): execution logs."""
        return await self.run(self._call_blocking, None, region, service, operation, dict(parameters))

    async def client(self, task: TaskCall, service: str) -> BaseClient:
        """The client a task's calls to `service` use (made on first use, in the thread pool)."""
        return await self.run(self._client, service, task.resource.region or self.region, self.role_for(task),
                              task.endpoint)

    async def credentials(self, task: TaskCall) -> ReadOnlyCredentials:
        """The credentials a task's calls sign with (its role's, or the chain's), for requests of its own
        (API Gateway's SigV4); NoCredentialsError when the chain has none, RoleError when a role cannot be assumed."""
        return await self.run(self._credentials_blocking, self.role_for(task))

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Blocking work (a botocore call) in the thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    def role_for(self, task: TaskCall) -> str | None:
        """The role a task's calls assume: its Credentials' RoleArn, else (--assume-role) its state machine's."""
        credentials = task.credentials
        if credentials is not None:
            if not isinstance(credentials, dict) or set(credentials) != {"RoleArn"} or not isinstance(
                    credentials["RoleArn"], str) or not credentials["RoleArn"]:
                raise StatesError("States.Runtime", "The Task's Credentials must be an object with one field, "
                                                    f"RoleArn, a role's ARN; got {credentials!r}")
            return credentials["RoleArn"]
        return task.role_arn if self.assume_role else None

    def endpoint(self, service: str) -> str | None:
        """The endpoint that stepline names for a service (Step Functions Local's variable), or None when
        botocore's configuration decides (its AWS_ENDPOINT_URL_<SERVICE> wins over Step Functions Local's)."""
        variable = SFN_LOCAL_ENDPOINTS.get(service)
        if variable is None or not self.environment.get(variable):
            return None
        service_id = self.session.get_service_model(service).service_id
        if self.environment.get("AWS_ENDPOINT_URL_" + str(service_id).replace(" ", "_").upper()):
            return None
        return self.environment[variable]

    def configures_endpoint(self, service: str) -> bool:
        """Whether the configuration names an endpoint for a service (Step Functions Local's variable, or
        botocore's: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, a profile's endpoint_url or services section);
        False when its calls go to AWS itself, or when the profile named does not exist (its calls fail then)."""
        if self.endpoint(service) is not None:
            return True
        try:
            if self.session.get_config_variable("ignore_configured_endpoint_urls"):
                return False
            # botocore's own lookup, the one its create_client makes (a class it keeps private: botocore is pinned)
            configured = ConfiguredEndpointProvider(full_config=self.session.full_config,
                                                    scoped_config=self.session.get_scoped_config(), client_name=service)
        except ProfileNotFound:
            return False
        return configured.provide() is not None

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # ---------------------------------------------------------------- in the threads

    def _call_blocking(self, role_arn: str | None, region: str, service: str, operation: str,
                       parameters: dict, route: str | None = None) -> dict:
        client = self._client(service, region, role_arn, route)
        if operation not in client.meta.service_model.operation_names:
            raise ValueError(f"{service} has no operation {operation}")
        response: dict = getattr(client, xform_name(operation))(**parameters)
        for key, value in response.items():
            if isinstance(value, StreamingBody):
                response[key] = value.read()
        return response

    def _credentials_blocking(self, role_arn: str | None) -> ReadOnlyCredentials:
        if role_arn is not None:
            try:
                return self._role(role_arn)[1].get_frozen_credentials()
            except Exception as error:
                raise RoleError(role_arn, error) from None
        credentials = self.session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        return credentials.get_frozen_credentials()

    def _client(self, service: str, region: str, role_arn: str | None, route: str | None = None) -> BaseClient:
        """`route`: a route's endpoint (runtime/integrations/routes.py): a URL, or AWS for AWS itself whatever
        endpoints the environment configures."""
        endpoint = self.endpoint(service) if route is None else None if route == AWS else route
        key = (service, region, endpoint, role_arn, route == AWS)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    session = self.session if role_arn is None else self._role(role_arn)[0]
                    config = self._aws_itself if route == AWS else self._config
                    client = session.create_client(service, region_name=region, endpoint_url=endpoint,
                                                   config=config)
                    client.meta.events.register("after-call", _keep_headers)
                    self._clients[key] = client
        if role_arn is not None:  # assumed (or refreshed) now, to tell a role's failure from the service's
            try:
                self._role(role_arn)[1].get_frozen_credentials()
            except Exception as error:
                raise RoleError(role_arn, error) from None
        return client

    def _role(self, role_arn: str) -> tuple[botocore.session.Session, DeferredRefreshableCredentials]:
        """A session whose credentials are the role's, assumed through STS on first use and refreshed by botocore
        before they expire; and those credentials."""
        role = self._roles.get(role_arn)
        if role is None:
            with self._lock:
                source = self.session.get_credentials()
                if source is None:
                    raise RoleError(role_arn, NoCredentialsError())
                fetcher = AssumeRoleCredentialFetcher(client_creator=self.session.create_client,
                                                      source_credentials=source, role_arn=role_arn,
                                                      extra_args={"RoleSessionName": ROLE_SESSION_NAME})
                credentials = DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials,
                                                             method="assume-role")
                session = botocore.session.Session()
                session.register_component("credential_provider", CredentialResolver([_Fixed(credentials)]))
                role = self._roles.setdefault(role_arn, (session, credentials))
        return role


class _Fixed(CredentialProvider):
    """A credential provider that gives the credentials it holds (a role session's)."""

    METHOD = "assume-role"
    CANONICAL_NAME = "AssumeRole"

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self.credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self.credentials


def _keep_headers(http_response: Any, parsed: dict, **_: Any) -> None:
    parsed.setdefault("ResponseMetadata", {})["Headers"] = dict(http_response.headers.items())
