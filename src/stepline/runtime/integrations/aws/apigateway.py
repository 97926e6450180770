"""API Gateway's optimized integration: `arn:aws:states:::apigateway:invoke` (and `.waitForTaskToken`) calls an API
Gateway endpoint over HTTPS, as the Developer Guide ("Create API Gateway REST APIs with Step Functions") says.

The request: `https://<ApiEndpoint>/<Stage>/<Path>?<QueryParameters>` (ApiEndpoint is the host
`<api id>.execute-api.<region>.amazonaws.com`, or a URL of it), `Method`, `Headers` and `QueryParameters` (each
name with a list of values), `RequestBody` (JSON, sent as its JSON text with `Content-Type: application/json`, or a
string sent as it is); without `AllowNullValues: true` the null members of a JSON body are not sent. `AuthType`
NO_AUTH (the default) sends it as it is; IAM_ROLE signs it with Signature Version 4 (service execute-api, the
endpoint's region) with the credentials of the Task's calls (its Credentials' role, else with --assume-role the
state machine's, else botocore's chain: clients.py); RESOURCE_POLICY, where AWS authenticates as Step Functions
itself, is signed the same way here (the API's resource policy must then allow those credentials). The headers
Step Functions forbids fail the task with States.Runtime. AWS calls HTTPS API Gateway endpoints only; stepline
also calls any loopback address, over http:// too, for local servers in tests.

The result: {"Headers": {name: [values]} (names as the API sent them), "ResponseBody": the body as JSON when it is
JSON, else its text, "StatusCode", "StatusText"}. A status other than 2xx fails the task with
`ApiGateway.<status>`, the response's body as the cause; a request that got no response fails with
`ApiGateway.SdkClientException`. The HTTP exchange is the HTTP Task's (http.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError

from stepline.asl.http_task import is_loopback
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.aws.clients import AwsClients, RoleError
from stepline.runtime.integrations.aws.shapes import cannot_start
from stepline.runtime.integrations.http import Outgoing, Pairs, Unreachable, exchange, new_pool, status_text
from stepline.runtime.integrations.registry import AwaitCallback, Failed, Integration, Outcome, Succeeded, TaskCall

FIELDS = ("ApiEndpoint", "Method", "Headers", "Stage", "Path", "QueryParameters", "RequestBody", "AllowNullValues",
          "AuthType")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
AUTH_TYPES = ("NO_AUTH", "IAM_ROLE", "RESOURCE_POLICY")
FORBIDDEN_HEADERS = frozenset({"authorization", "connection", "content-md5", "expect", "host", "max-forwards",
                               "proxy-authenticate", "server", "te", "transfer-encoding", "trailer", "upgrade", "via",
                               "www-authenticate"})
FORBIDDEN_PREFIXES = ("x-forwarded", "x-amz", "x-amzn")
_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?")


class ApiGatewayInvoke(Integration):
    """`apigateway:invoke` and `apigateway:invoke.waitForTaskToken`."""

    name = "apigateway"

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._pool: urllib3.PoolManager = new_pool()

    def handles(self, call: TaskCall) -> bool:
        resource = call.resource
        return resource.kind == "service" and resource.resource_type == "apigateway" and resource.name in (
            "invoke", "invoke.waitForTaskToken")

    async def close(self) -> None:
        self._pool.clear()

    async def invoke(self, call: TaskCall) -> Outcome:
        outgoing, auth_type, region = request_of(call.parameters, call.resource.region)
        if auth_type != "NO_AUTH":
            try:
                credentials = await self.clients.credentials(call)
            except (RoleError, NoCredentialsError) as error:
                return Failed("States.TaskFailed", f"Unable to sign the API Gateway request: {error}")
            outgoing = signed(outgoing, credentials, region)
        try:
            status, reason, headers, body = await self.clients.run(exchange, self._pool, outgoing)
        except Unreachable as error:
            return Failed("ApiGateway.SdkClientException", str(error))
        text = body.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            return Failed(f"ApiGateway.{status}", text)
        grouped: dict[str, list[JSON]] = {}
        for name, value in headers:
            grouped.setdefault(name, []).append(value)
        output = {"Headers": grouped, "ResponseBody": _json_or_text(text), "StatusCode": status,
                  "StatusText": status_text(status, reason)}
        return AwaitCallback(output) if call.resource.pattern == "callback" else Succeeded(output)


def request_of(parameters: JSON, default_region: str) -> tuple[Outgoing, str, str]:
    """The request a Task's parameters describe, its AuthType, and the region it is signed for; States.Runtime
    for parameters Step Functions would refuse."""
    if not isinstance(parameters, dict):
        raise cannot_start(parameters, "The value of the Parameters has an invalid format")
    for name in parameters:
        if name not in FIELDS:
            raise cannot_start(parameters, f"The field \"{name}\" is not supported by Step Functions")
    for name in ("ApiEndpoint", "Method"):
        if name not in parameters:
            raise cannot_start(parameters, f"The field '{name}' is required but was missing")

    def invalid(name: str) -> StatesError:
        return cannot_start(parameters, f"The value of the field '{name}' has an invalid format")

    endpoint, method = parameters["ApiEndpoint"], parameters["Method"]
    auth_type = parameters.get("AuthType", "NO_AUTH")
    allow_nulls = parameters.get("AllowNullValues", False)
    if not isinstance(endpoint, str) or not endpoint:
        raise invalid("ApiEndpoint")
    if method not in METHODS:
        raise invalid("Method")
    if auth_type not in AUTH_TYPES:
        raise invalid("AuthType")
    if not isinstance(allow_nulls, bool):
        raise invalid("AllowNullValues")
    for name in ("Stage", "Path"):
        if not isinstance(parameters.get(name, ""), str):
            raise invalid(name)
    headers, query = _lists(parameters, "Headers", invalid), _lists(parameters, "QueryParameters", invalid)
    for name, _ in headers:
        if name.lower() in FORBIDDEN_HEADERS or name.lower().startswith(FORBIDDEN_PREFIXES):
            raise cannot_start(parameters, f"The header '{name}' is not allowed in the field 'Headers'")

    url = endpoint if "://" in endpoint else "https://" + endpoint
    parts = urlsplit(url)
    host = parts.hostname or ""
    api_host = _API_HOST.fullmatch(host)
    if not (parts.scheme == "https" and api_host) and not (parts.scheme in ("http", "https") and is_loopback(host)):
        raise StatesError("States.Runtime", f"The ApiEndpoint '{endpoint}' is not an API Gateway endpoint "
                                            "(https://<api id>.execute-api.<region>.amazonaws.com; stepline also "
                                            "calls loopback addresses)")
    path = "/".join(part.strip("/") for part in (parameters.get("Stage", ""), parameters.get("Path", "")) if part)
    url = url.rstrip("/") + ("/" + quote(path, safe="/") if path else "")
    if query:
        url += ("&" if parts.query else "?") + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)

    body: bytes | None = None
    if "RequestBody" in parameters and (parameters["RequestBody"] is not None or allow_nulls):
        value = parameters["RequestBody"]
        if isinstance(value, str):
            body = value.encode()
        else:
            body = dumps(value if allow_nulls else _without_nulls(value)).encode()
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))
    region = api_host.group("region") if api_host else default_region
    return Outgoing(method=method, url=url, headers=headers, body=body), auth_type, region


def signed(outgoing: Outgoing, credentials: ReadOnlyCredentials, region: str) -> Outgoing:
    """The request with Signature Version 4's headers (Authorization, X-Amz-Date, X-Amz-Security-Token)."""
    request = AWSRequest(method=outgoing.method, url=outgoing.url, data=outgoing.body or b"",
                         headers=dict(outgoing.sent))
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    added = [(name, value) for name, value in request.headers.items()
             if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token")]
    return Outgoing(method=outgoing.method, url=outgoing.url, headers=[*outgoing.headers, *added], body=outgoing.body)


def _lists(parameters: dict, name: str, invalid: Callable[[str], StatesError]) -> Pairs:
    """Headers or QueryParameters: an object whose values are lists of strings, as (name, value) pairs."""
    value = parameters.get(name)
    if value is None:
        return []
    if not isinstance(value, dict):
        raise invalid(name)
    pairs = []
    for key, items in value.items():
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise invalid(name)
        pairs += [(key, item) for item in items]
    return pairs


def _without_nulls(value: JSON) -> JSON:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def _json_or_text(text: str) -> JSON:
    try:
        return loads(text)
    except ValueError:
        return text
