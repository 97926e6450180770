"""Lambda functions served by a Lambda-compatible endpoint (`--lambda-endpoint`, LAMBDA_ENDPOINT).

`sam local start-lambda`, a Lambda emulator or Lambda itself answer the Invoke API
(`POST /2015-03-31/functions/{name}/invocations`); this integration calls it through botocore's Lambda
client for `arn:aws:lambda:...:function:NAME` and `arn:aws:states:::lambda:invoke[.waitForTaskToken]`.
Results have the shapes the local functions give: a function ARN's result is the function's payload; the
lambda:invoke result is the Invoke response. A function error fails the task with an error named after the
payload's errorType (its cause is the payload); an endpoint that cannot be reached is `Lambda.ServiceException`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.lambda_local import FUNCTION_THREADS, LambdaIntegration, function_threads
from stepline.runtime.integrations.registry import TaskCall

CONNECT_TIMEOUT = 5  # seconds; an endpoint that is down fails the task quickly
READ_TIMEOUT = 900  # Lambda's longest run; a Task's TimeoutSeconds ends the wait sooner


class RemoteFunctions(LambdaIntegration):
    """Lambda functions invoked through an endpoint's Invoke API."""

    name = "lambda-endpoint"

    def __init__(self, endpoint: str, *, account: str = "123456789012", region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.account = account
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()
        self._threads = function_threads()

    async def run(self, name: str, event: JSON, call: TaskCall) -> JSON:
        """Invoke one function (the blocking HTTP call runs in a thread) and return its decoded payload."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._invoke_blocking, name,
                                                                dumps(event).encode())

    def _invoke_blocking(self, name: str, payload: bytes) -> JSON:
        try:
            response = self._lambda().invoke(FunctionName=name, InvocationType="RequestResponse", Payload=payload)
            body = response["Payload"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            code = details.get("Code") or "ServiceException"
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            raise StatesError(f"Lambda.{code}", f"{details.get('Message') or code} (Service: Lambda, Status Code: "
                                                f"{status}, Error Code: {code}, Function: {name})") from None
        except BotoCoreError as error:  # the endpoint is unreachable or answered something else than Lambda
            raise StatesError("Lambda.ServiceException", f"Cannot invoke the Lambda function {name} through "
                                                         f"{self.endpoint}: {error}") from None
        text = body.decode("utf-8", errors="replace")
        try:
            value = loads(body) if body.strip() else None
        except ValueError:
            value = text
        if response.get("FunctionError"):
            error_type = value.get("errorType") if isinstance(value, dict) else None
            raise StatesError(error_type if isinstance(error_type, str) and error_type else "Lambda.Unknown", text)
        return value

    def _lambda(self) -> Any:
        with self._lock:  # botocore clients are thread-safe once made; making one is not
            if self._client is None:
                session = botocore.session.get_session()
                self._client = session.create_client(
                    "lambda", region_name=self.region, endpoint_url=self.endpoint, aws_access_key_id="stepline",
                    aws_secret_access_key="stepline",
                    config=Config(retries={"total_max_attempts": 1}, connect_timeout=CONNECT_TIMEOUT,
                                  read_timeout=READ_TIMEOUT, max_pool_connections=FUNCTION_THREADS))
            return self._client
