"""The HTTP Task: `arn:aws:states:::http:invoke` calls an HTTPS API as Step Functions does (Developer Guide,
"Call HTTPS APIs in Step Functions").

The request: `ApiEndpoint` with `QueryParameters` appended (URL-encoded), `Method`, `Headers`, `RequestBody`
(JSON, or form data with `Transform`'s URL_ENCODED and its ArrayFormat: INDICES `a%5B0%5D=x`, REPEAT `a=x&a=y`,
COMMAS `a=x,y`, BRACKETS `a%5B%5D=x`; nested objects as `o%5Bk%5D=v`), and the EventBridge connection named by
`Authentication` or `InvocationConfig` (runtime/integrations/connections.py): its authorization (API key header,
Basic, or an OAuth client-credentials token fetched from its AuthorizationEndpoint and kept until it expires)
and its InvocationHttpParameters, merged over the Task's headers, query and body (the connection's value wins
a duplicate key; a string body cannot be merged with connection body parameters: States.Runtime).
Step Functions adds `User-Agent: Amazon|StepFunctions|HttpInvoke|<region>` and `Range: bytes=0-262144`, and
`Content-Type: application/json; charset=UTF-8` to a body without one; the headers it forbids fail the task
with States.Runtime. AWS calls HTTPS endpoints only; stepline also calls http:// on loopback addresses.

The result: {"Headers": {name: [values]} (names in lower case), "ResponseBody": the body parsed when it is JSON,
else its text, "StatusCode", "StatusText"}. A status other than 2xx fails the task with
`States.Http.StatusCode.<code>` and the status text as the cause (what AWS reports: the body is not kept);
a connection that fails or a request that takes over 60 seconds is `States.Http.Socket`; a binary response
(application/octet-stream, image/*, video/*, audio/*, or not UTF-8) is States.Runtime. Redirects are not
followed (a 3xx is the task's failure). Only the request-response pattern exists (AWS offers no
.waitForTaskToken for it: asl/resources.py).

Each outcome carries `inspection`, what TestState's TRACE level shows: the request (with and without what the
connection added: TestState's revealSecrets) and the response.
"""

from __future__ import annotations

import asyncio
import base64
import http
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import urllib3
from urllib3.util import SKIP_HEADER

from stepline.asl import http_task as spec
from stepline.errors import StatesError
from stepline.jsonvalue import JSON, dumps, loads
from stepline.runtime.integrations.connections import Connection, Connections, OAuth
from stepline.runtime.integrations.registry import Failed, Integration, Outcome, Succeeded, TaskCall

TIMEOUT_SECONDS = 60.0  # "HTTP task requests will timeout after 60 seconds"
RANGE = "bytes=0-262144"
MAX_RESPONSE_BYTES = 262_144  # a larger body cannot fit in a state's 256 KiB payload
THREADS = 64
TOKEN_MARGIN_SECONDS = 60  # an OAuth token about to expire is fetched again (EventBridge: within 60 seconds)
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
FORBIDDEN_HEADERS = frozenset(name.lower() for name in (
    "A-IM", "Accept-Charset", "Accept-Datetime", "Accept-Encoding", "Authorization", "Cache-Control", "Connection",
    "Content-Encoding", "Content-MD5", "Date", "Expect", "Forwarded", "From", "Host", "HTTP2-Settings", "If-Match",
    "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Max-Forwards", "Origin", "Pragma",
    "Proxy-Authorization", "Referer", "Server", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Via", "Warning"))
FORBIDDEN_PREFIXES = ("x-forwarded-", "x-amz-", "x-amzn-")
BINARY_TYPES = ("application/octet-stream", "image/", "video/", "audio/")
_MISSING: Any = object()

Pairs = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP Task's parameters, checked."""

    endpoint: str
    method: str
    connection_arn: str
    headers: Pairs
    query: Pairs
    body: JSON  # _MISSING when there is none
    url_encoded: bool
    array_format: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The request as sent: `headers` as TestState lists them; `sent` adds what the client library adds."""

    method: str
    url: str
    headers: Pairs
    body: bytes | None

    @property
    def sent(self) -> Pairs:
        if self.body is not None and not any(name.lower() == "content-type" for name, _ in self.headers):
            return [*self.headers, ("Content-Type", JSON_CONTENT_TYPE)]
        return self.headers

    def inspection(self) -> dict[str, JSON]:
        shown: dict[str, JSON] = {"protocol": urlsplit(self.url).scheme.lower(), "method": self.method,
                                  "url": self.url, "headers": _listed(self.headers)}
        if self.body is not None:
            shown["body"] = self.body.decode("utf-8", errors="replace")
        return shown


def _runtime(message: str) -> StatesError:
    return StatesError("States.Runtime", message)


# ------------------------------------------------------------------------------------------- the parameters

def read_request(parameters: JSON) -> Request:
    """The Task's evaluated parameters as a Request; States.Runtime for what Step Functions would refuse."""
    if not isinstance(parameters, dict):
        raise _runtime("The HTTP Task's parameters must be an object")
    unknown = [name for name in parameters if name not in spec.FIELDS]
    if unknown:
        raise _runtime(f"The field \"{unknown[0]}\" is not supported by Step Functions")
    for name in spec.REQUIRED:
        if name not in parameters:
            raise _runtime(f"The field '{name}' is required but was missing")
    given = [name for name in spec.CONNECTION_FIELDS if name in parameters]
    if len(given) != 1:
        raise _runtime(f"Exactly one of these fields is required: [{', '.join(spec.CONNECTION_FIELDS)}]")
    for name, value in parameters.items():
        problem = spec.value_problem(name, value)
        if problem is not None:
            raise _runtime(problem if name == "ApiEndpoint" else f"The value for the field '{name}' {problem}")
    transform = parameters.get("Transform") or {}
    return Request(
        endpoint=parameters["ApiEndpoint"], method=parameters["Method"],
        connection_arn=parameters[given[0]]["ConnectionArn"], headers=_headers(parameters.get("Headers") or {}),
        query=_query(parameters.get("QueryParameters")), body=parameters.get("RequestBody", _MISSING),
        url_encoded=transform.get("RequestBodyEncoding") == "URL_ENCODED",
        array_format=(transform.get("RequestEncodingOptions") or {}).get("ArrayFormat", "INDICES"))


def _headers(headers: dict[str, JSON]) -> Pairs:
    pairs = []
    for name, value in headers.items():
        lower = name.lower()
        if lower in FORBIDDEN_HEADERS or lower.startswith(FORBIDDEN_PREFIXES):
            raise _runtime(f"The header '{name}' is not allowed in an HTTP Task's Headers")
        pairs.append((name, _text(value, f"The value of the header '{name}'")))
    return pairs


def _query(query: JSON) -> Pairs:
    if query is None:
        return []
    if isinstance(query, str):  # a query string, as written
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not isinstance(query, dict):
        raise _runtime("QueryParameters must be an object (or a query string)")
    pairs = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, _text(item, f"The query parameter '{key}'")))
    return pairs


def _text(value: JSON, what: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (dict, list)):
        raise _runtime(f"{what} must be a string, a number or a boolean")
    return dumps(value)


# ------------------------------------------------------------------------------------------ the request

def compose(request: Request, connection: Connection | None, authorization: tuple[str, str] | None,
            region: str) -> Outgoing:
    """The request Step Functions sends: the Task's parts with the connection's merged over them (None: the
    request without what the connection adds, as TestState shows it when secrets are not revealed)."""
    headers = list(request.headers)
    query = list(request.query)
    body = request.body
    if connection is not None:
        added = ([authorization] if authorization else []) + list(connection.headers)
        headers = _merged(headers, added, str.lower)
        query = _merged(query, connection.query, str)
        if connection.body:
            if isinstance(body, str):
                raise _runtime("The RequestBody is a string and the connection has body parameters: Step Functions "
                               "cannot merge them")
            if body is not _MISSING and body is not None and not isinstance(body, dict):
                raise _runtime("The RequestBody must be an object to merge the connection's body parameters into it")
            body = {**(body if isinstance(body, dict) else {}), **dict(connection.body)}
    headers += [("User-Agent", f"Amazon|StepFunctions|HttpInvoke|{region}"), ("Range", RANGE)]
    url = request.endpoint
    if query:
        url += ("&" if urlsplit(url).query else "?") + "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in query)
    return Outgoing(method=request.method, url=url, headers=headers, body=_body(body, request))


def _merged(pairs: Pairs, winners: Iterable[tuple[str, str]], key: Any) -> Pairs:
    winners = list(winners)
    taken = {key(name) for name, _ in winners}
    return [(name, value) for name, value in pairs if key(name) not in taken] + winners


def _body(body: JSON, request: Request) -> bytes | None:
    if body is _MISSING:
        return None
    if isinstance(body, str):  # a string is the body as written
        return body.encode()
    if not request.url_encoded:
        return dumps(body).encode()
    if not isinstance(body, dict):
        raise _runtime("A URL_ENCODED RequestBody must be an object (or a string)")
    return form_encode(body, request.array_format).encode()


def form_encode(body: dict[str, JSON], array_format: str) -> str:
    """A JSON object as form data; arrays as ArrayFormat says, nested objects as key[field]."""
    pairs: list[str] = []

    def add(key: str, value: JSON) -> None:
        if isinstance(value, dict):
            for field, item in value.items():
                add(f"{key}[{field}]", item)
        elif isinstance(value, list):
            if array_format == "COMMAS" and not any(isinstance(item, (dict, list)) for item in value):
                if value:
                    pairs.append(f"{_quoted(key)}={','.join(_quoted(_scalar(item)) for item in value)}")
                return
            for index, item in enumerate(value):
                add({"INDICES": f"{key}[{index}]", "BRACKETS": f"{key}[]"}.get(array_format, key), item)
        else:
            pairs.append(f"{_quoted(key)}={_quoted(_scalar(value))}")

    for key, value in body.items():
        add(key, value)
    return "&".join(pairs)


def _scalar(value: JSON) -> str:
    return "" if value is None else value if isinstance(value, str) else dumps(value)


def _quoted(text: str) -> str:
    return quote(text, safe="")


def _listed(headers: Iterable[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{name}: {value}" for name, value in headers) + "]"


# ------------------------------------------------------------------------------------------ the response

def result_of(status: int, reason: str, headers: Pairs, body: bytes) -> JSON:
    """The Task's result (or its failure's cause) from a response; States.Runtime for one it cannot carry."""
    content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
    media = content_type.split(";")[0].strip().lower()
    if media.startswith(BINARY_TYPES):
        raise _runtime(f"The HTTP response has the content type '{media}', which the HTTP Task does not support")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _runtime("The HTTP response body cannot be read as a valid string") from None
    response_body: JSON = text
    if media == "application/json" or media.endswith("+json"):
        try:
            response_body = loads(text)
        except ValueError:
            pass
    grouped: dict[str, list[JSON]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value)
    return {"Headers": grouped, "ResponseBody": response_body, "StatusCode": status, "StatusText": reason}


def status_text(status: int, reason: str) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return reason


class Unreachable(Exception):
    """A request that got no response: the connection failed, or it timed out."""


def new_pool(**tls: Any) -> urllib3.PoolManager:
    """A pool of connections as the HTTP Task's: no retries, no redirects followed, TIMEOUT_SECONDS per request
    (`tls`: urllib3's TLS options, such as the `ca_cert_data` a server's certificate is verified against)."""
    return urllib3.PoolManager(num_pools=64, maxsize=THREADS, retries=False,
                               timeout=urllib3.Timeout(total=TIMEOUT_SECONDS), **tls)


def exchange(pool: urllib3.PoolManager, outgoing: Outgoing) -> tuple[int, str, Pairs, bytes]:
    """Send a request and read its response (status, reason, headers, at most MAX_RESPONSE_BYTES of body),
    blocking; Unreachable when there is none, StatesError for a request HTTP cannot carry or a larger body."""
    headers = urllib3.HTTPHeaderDict({"Accept-Encoding": SKIP_HEADER})  # only what the caller sends
    for name, value in outgoing.sent:
        headers.add(name, value)
    try:
        response = pool.urlopen(outgoing.method, outgoing.url, body=outgoing.body, headers=headers,
                                redirect=False, preload_content=False)
        try:
            body = response.read(MAX_RESPONSE_BYTES + 1)
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        raise Unreachable(f"The HTTP request to {outgoing.url} timed out after {TIMEOUT_SECONDS:g} seconds") from None
    except urllib3.exceptions.HTTPError as error:
        raise Unreachable(f"The HTTP request to {outgoing.url} failed: {_reason(error)}") from None
    except ValueError as error:  # a header name or value that HTTP cannot carry
        raise _runtime(f"The HTTP request cannot be sent: {error}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise StatesError("States.DataLimitExceeded", f"The HTTP response from {outgoing.url} exceeds the maximum "
                                                      f"size of {MAX_RESPONSE_BYTES} bytes")
    return response.status, response.reason or "", list(response.headers.items()), body


# ------------------------------------------------------------------------------------------ the integration

class HttpTask(Integration):
    """`arn:aws:states:::http:invoke`, over a pool of connections (made at open(), or at the first call)."""

    name = "http"

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self._pool: urllib3.PoolManager | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._tokens: dict[tuple[str, OAuth], tuple[str, float]] = {}  # (ARN, OAuth) -> (token, good until)
        self._lock = threading.Lock()

    def handles(self, call: TaskCall) -> bool:
        return call.resource.kind == "service" and call.resource.resource_type == "http" and (
            call.resource.name == "invoke")

    async def open(self) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = new_pool()
                self._threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="stepline-http")

    async def close(self) -> None:
        with self._lock:
            pool, threads, self._pool, self._threads = self._pool, self._threads, None, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        if pool is not None:
            pool.clear()

    async def invoke(self, call: TaskCall) -> Outcome:
        await self.open()
        assert self._threads is not None
        request = read_request(call.parameters)
        connection = await self.connections.get(request.connection_arn, call)
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._exchange, call, request,
                                                                connection)

    def _exchange(self, call: TaskCall, request: Request, connection: Connection) -> Outcome:
        """The exchange with the API, blocking (in one of the threads)."""
        region = call.resource.region
        public = compose(request, None, None, region)
        outgoing = compose(request, connection, self._authorization(connection), region)
        inspection: dict[str, JSON] = {"request": outgoing.inspection(), "requestWithoutSecrets": public.inspection()}
        try:
            status, reason, headers, body = self._send(outgoing)
        except StatesError as error:
            return Failed(error.error, error.cause, inspection=inspection)
        inspection["response"] = {"protocol": urlsplit(outgoing.url).scheme.lower(), "statusCode": str(status),
                                  "statusMessage": reason, "headers": _listed(headers),
                                  "body": body.decode("utf-8", errors="replace")}
        try:
            result = result_of(status, status_text(status, reason), headers, body)
        except StatesError as error:
            return Failed(error.error, error.cause, inspection=inspection)
        if 200 <= status < 300:
            return Succeeded(result, inspection=inspection)
        if status in (401, 407) and connection.oauth is not None:  # EventBridge fetches a new token then
            with self._lock:
                self._tokens.pop((connection.arn, connection.oauth), None)
        return Failed(f"States.Http.StatusCode.{status}", status_text(status, reason), inspection=inspection)

    def _send(self, outgoing: Outgoing) -> tuple[int, str, Pairs, bytes]:
        assert self._pool is not None
        try:
            return exchange(self._pool, outgoing)
        except Unreachable as error:
            raise StatesError("States.Http.Socket", str(error)) from None

    def _authorization(self, connection: Connection) -> tuple[str, str]:
        if connection.api_key is not None:
            return connection.api_key
        if connection.basic is not None:
            return "Authorization", "Basic " + base64.b64encode(":".join(connection.basic).encode()).decode()
        assert connection.oauth is not None
        return "Authorization", "Bearer " + self._token(connection.arn, connection.oauth)

    def _token(self, arn: str, oauth: OAuth) -> str:
        """The connection's OAuth access token: the cached one until it is about to expire, else a new one."""
        with self._lock:
            cached = self._tokens.get((arn, oauth))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        problem = spec.endpoint_problem(oauth.endpoint)
        if problem is not None:
            raise _invalid_connection(arn, problem)
        credentials = base64.b64encode(f"{oauth.client_id}:{oauth.client_secret}".encode()).decode()
        url = oauth.endpoint
        if oauth.query:
            url += ("&" if urlsplit(url).query else "?") + "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in oauth.query)
        headers = urllib3.HTTPHeaderDict({"Accept-Encoding": SKIP_HEADER})
        headers.add("Authorization", f"Basic {credentials}")
        body = None
        if oauth.body:
            body = "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in oauth.body).encode()
            headers.add("Content-Type", "application/x-www-form-urlencoded")
        for name, value in oauth.headers:
            headers[name] = value
        started = time.monotonic()
        assert self._pool is not None
        try:
            response = self._pool.urlopen(oauth.method, url, body=body, headers=headers, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise _invalid_connection(arn, f"its authorization endpoint {oauth.endpoint} failed: "
                                           f"{_reason(error)}") from None
        try:
            answer = loads(response.data)
        except ValueError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not 200 <= response.status < 300 or not isinstance(token, str):
            raise _invalid_connection(arn, f"its authorization endpoint {oauth.endpoint} answered {response.status} "
                                           "without an access_token")
        expires_in = answer.get("expires_in") if isinstance(answer, dict) else None
        good_until = float("inf")
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            good_until = started + expires_in - TOKEN_MARGIN_SECONDS
        with self._lock:
            self._tokens[(arn, oauth)] = (token, good_until)
        return token


def _invalid_connection(arn: str, problem: str) -> StatesError:
    return StatesError("Events.ConnectionResource.InvalidConnectionState",
                       f"The OAuth authorization of connection '{arn}' failed: {problem}")


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error)
