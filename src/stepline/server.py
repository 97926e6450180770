"""The one place the web app is assembled: the API route, the console's routes, `GET /metrics` (Prometheus's
text format, with every request counted and timed by action), and the service's lifetime.

    app = create_app(service, console_routes=console.routes)   # an ASGI app for any server or test client
    serve(service, port=8083)                                   # uvicorn on 127.0.0.1:8083 until SIGTERM/Ctrl-C

The server defends itself against what a browser page of another site, or a slow or greedy client, could do:
a request whose Host is not a name of this server (DNS rebinding) or that comes from another origin (but the
`cors_origins`) is refused with AccessDeniedException (403); a client has `request_timeout` seconds to send a
whole request; past `max_connections` open connections the one that has waited longest for a request is
closed. Every error, refusals and unknown routes included, is answered in AWS's JSON error shape. Every
response carries the security headers (security/headers.py). With an `authenticator` (credentials
configured), every request but the console's sign-in page and static files must be authenticated
(security/gate.py); with `tls_cert` and `tls_key` it is served over HTTPS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, ClassVar, TextIO
from urllib.parse import urlsplit

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stepline.api.actions import find_action
from stepline.api.protocol import (
    INTERNAL_FAILURE_MESSAGE,
    MAX_REQUEST_BYTES,
    dispatch,
    dumps,
)
from stepline.security.cors import CrossOriginAccess, origin_of
from stepline.security.gate import LOGIN_PATH, Authenticator, RequireAuthentication
from stepline.security.headers import SecurityHeaders
from stepline.service.errors import (
    SERVICE_UNAVAILABLE_MESSAGE,
    AccessDeniedException,
    ApiError,
    InternalFailure,
    ServiceUnavailable,
    StoreError,
    StoreUnavailable,
    RequestEntityTooLarge,
    SerializationException,
    UnknownOperationException,
    error_body,
)

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
SHUTDOWN_GRACE_SECONDS = 5
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Far above what a local tool's clients open (a browser holds about 6 per host, each SDK client 10), and below
# the open-files limit: past it the longest-waiting idle connection is closed, so a new client always gets in.
DEFAULT_MAX_CONNECTIONS = 10_000
# The time a client has to send a whole request (at most 1 MiB), from connecting or from the previous response.
# Requests being answered are not limited: a GetActivityTask long poll holds one 60 s, an event stream 20 s.
DEFAULT_REQUEST_TIMEOUT = 30.0
MAX_HEADER_BYTES = 65_536  # the request line and headers; SDKs and browsers send a few KiB
_RESERVED_FILES = 256  # open files kept for the store, Lambda endpoints, logs


def create_app(service: Any, *, console_routes: Sequence[BaseRoute] = (),
               max_request_bytes: int = MAX_REQUEST_BYTES,
               allowed_hosts: Collection[str] = LOOPBACK_HOSTS, lifespan_of_service: bool = True,
               authenticator: Authenticator | None = None, cors_origins: Collection[str] = ()) -> Starlette:
    """The Step Functions API at `POST /` plus the given routes; starts and closes the service with the app.

    The service's optional `async start()` runs at startup and `async close()` at shutdown (unless
    `lifespan_of_service` is false: `serve` starts and closes it itself). Requests are
    answered only for the Host names in `allowed_hosts` (and the address the request came in on; `*`: any).
    Routes may raise ApiError: it is answered in AWS's shape. With an `authenticator`, only authenticated
    requests reach the routes (security/gate.py). The pages of `cors_origins` may call it (security/cors.py).
    """
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not lifespan_of_service:
            yield
            return
        await _start(service)
        try:
            yield
        finally:
            await _close(service)

    metrics = getattr(service, "metrics", None)  # a service with metrics has them served and requests counted
    routes: list[BaseRoute] = [Route("/", dispatch, methods=["POST"]), *console_routes]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(_HostAndOriginCheck, allowed_hosts=allowed_hosts, allowed_origins=cors_origins),
                  Middleware(CrossOriginAccess, origins=cors_origins)]
    if authenticator is not None:
        middleware.append(Middleware(RequireAuthentication, authenticator=authenticator,
                                     max_body_bytes=max_request_bytes))
    if metrics is not None:
        routes.append(Route("/metrics", metrics_page, methods=["GET"]))
        middleware.insert(0, Middleware(_RequestMetrics, metrics=metrics))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware,
                    exception_handlers={ApiError: _api_error, HTTPException: _http_error,
                                        StoreUnavailable: _unavailable, Exception: _bug})
    app.state.service = service
    app.state.max_request_bytes = max_request_bytes
    app.state.authenticator = authenticator
    return app


async def metrics_page(request: Request) -> Response:
    """`GET /metrics`: the service's metrics in Prometheus's text format."""
    return Response(await request.app.state.service.scrape(), media_type=CONTENT_TYPE_LATEST,
                    headers={"cache-control": "no-store"})


def error_page(error: ApiError, status: int | None = None) -> Response:
    """An error in AWS's JSON shape, sent as `application/json`, which a browser shows (SDKs read either type)."""
    return Response(dumps(error_body(error)), status_code=status or error.status, media_type="application/json")


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_page(error)


async def _http_error(request: Request, error: Exception) -> Response:
    """An unknown address (404) or method (405)."""
    assert isinstance(error, HTTPException)
    response = error_page(UnknownOperationException(f"{request.method} {request.url.path}: {error.detail}"),
                          error.status_code)
    response.headers.update(error.headers or {})  # Allow, on a 405
    return response


async def _unavailable(request: Request, error: Exception) -> Response:
    return error_page(ServiceUnavailable(SERVICE_UNAVAILABLE_MESSAGE))  # the store said why in the log, once


async def _bug(request: Request, error: Exception) -> Response:
    return error_page(InternalFailure(INTERNAL_FAILURE_MESSAGE))  # uvicorn logs the traceback


# -- Host and Origin -----------------------------------------------------------------------------------------

def host_name(authority: str) -> str:
    """The name in a Host header, without its port: 'LocalHost:8083' -> 'localhost', '[::1]:8083' -> '::1'."""
    name = authority.strip().lower()
    if "]" in name:  # '[::1]:8083', and botocore's 'sync-[::1]:8083'
        name = name[:name.index("]")].replace("[", "", 1)
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name.rstrip(".")


def server_names(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a server bound to `bind` answers to: loopback, `bind`, and when bound to every address
    the machine's names (its addresses are recognised per connection); plus `extra`."""
    names = {*LOOPBACK_HOSTS, bind, *extra}
    if host_name(bind) in ("", "0.0.0.0", "::"):
        names |= {socket.gethostname(), socket.getfqdn()}
    return frozenset(host_name(name) for name in names if name)


class _HostAndOriginCheck:
    """Refuses what a page of another site could make a browser send here (SDKs and the AWS CLI send no Origin).

    A Host that is not a name of this server means a DNS-rebound name; it is refused. A foreign Origin is
    refused on every request (unless it is one of `allowed_origins`, configured for CORS); a state-changing
    request without Origin is refused when its Referer is foreign. The `sync-` host prefix botocore adds for
    StartSyncExecution and TestState is accepted on any allowed name.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str], allowed_origins: Collection[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = frozenset(host_name(name) for name in allowed_hosts)
        self.allowed_origins = frozenset(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await error_page(AccessDeniedException(refusal))(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.allows(host_name(host), scope.get("server")):
            return (f"Host '{host}' is not an address of this server; allow it with stepline serve "
                    "--allowed-hosts (or STEPLINE_ALLOWED_HOSTS)")
        origin = headers.get("origin")
        if origin is None and scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("referer")
        if origin is not None and _authority(origin) != host.lower() and origin_of(origin) not in self.allowed_origins:
            return (f"Cross-origin requests are refused: '{origin}' is not {scope.get('scheme', 'http')}://{host}; "
                    "allow an origin with stepline serve --cors-origin")
        return None

    def allows(self, name: str, server: tuple[str, int | None] | None) -> bool:
        names = {name, name.removeprefix("sync-")}
        if server is not None:  # the address the client connected to is an address of this server
            local_address = server[0].removeprefix("::ffff:")  # IPv4 on a dual-stack socket
            if local_address in names:
                return True
        return "*" in self.allowed_hosts or not names.isdisjoint(self.allowed_hosts)


class _RequestMetrics:
    """Counts and times every request by action: the X-Amz-Target action for the API, the route for the rest
    ("GET /executions/{arn:path}"), "unknown" for an unknown action or address (a refused request's too)."""

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self.requests = metrics.requests
        self.seconds = metrics.request_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # unless a response starts

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            action = _action(scope)
            self.requests.labels(action, str(status)).inc()
            self.seconds.labels(action).observe(time.perf_counter() - began)


_STATIC_METHODS = ("GET", "HEAD")  # what a Mount (the console's static files) answers


def _action(scope: Scope) -> str:
    """A request's action, as the metrics name it (a bounded set: never a path or a header as sent)."""
    route = scope.get("route")
    if not isinstance(route, (Route, Mount)) or \
            scope["method"] not in ((route.methods if isinstance(route, Route) else None) or _STATIC_METHODS):
        return "unknown"
    if isinstance(route, Route) and route.endpoint is dispatch:
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                action = find_action(value.decode("latin-1"))
                return action.name if action is not None else "unknown"
        return "unknown"
    return f"{scope['method']} {route.path}"


def _authority(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:  # 'http://[::1' and the like
        return ""


# -- connections ---------------------------------------------------------------------------------------------

class _Connection(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 connection, with the limits uvicorn lacks.

    A client has `request_timeout` seconds to send a whole request, from connecting or from the previous
    response; a request line and headers over MAX_HEADER_BYTES are refused. Past `max_connections` open
    connections, the one that has waited longest for a request is closed to make room (when every connection
    is being answered, the new one is closed instead), so idle clients never lock out a new one.
    """

    max_connections: ClassVar[int]
    request_timeout: ClassVar[float]
    waiting: ClassVar[dict[_Connection, None]]  # connections waiting for a request, longest-waiting first
    request_timer: asyncio.TimerHandle | None = None
    reading_headers = False
    header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._close_longest_waiting():
            transport.close()
            return
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.reading_headers and not self.transport.is_closing():
            self.header_bytes += len(data)  # whole chunks that left the headers unfinished
            if self.header_bytes > MAX_HEADER_BYTES:
                self._refuse(RequestEntityTooLarge(f"The request line and headers exceed {MAX_HEADER_BYTES} bytes."))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_headers, self.header_bytes = True, 0

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._wait_for_request()

    def send_400_response(self, msg: str) -> None:
        self._refuse(SerializationException(msg))

    def _refuse(self, error: ApiError) -> None:
        body = dumps(error_body(error))
        status = HTTPStatus(error.status)
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, status.phrase.encode(), len(body), body))
        self.transport.close()

    def _wait_for_request(self) -> None:
        self._stop_waiting()
        self.waiting[self] = None
        self.request_timer = self.loop.call_later(self.request_timeout, self._request_overdue)

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self.request_timer is not None:
            self.request_timer.cancel()
            self.request_timer = None

    def _answering(self) -> bool:
        """A whole request has arrived and its response is not complete."""
        return self.cycle is not None and not self.cycle.more_body and not self.cycle.response_complete

    def _request_overdue(self) -> None:
        self.request_timer = None
        if not self._answering():
            self.transport.close()

    def _close_longest_waiting(self) -> bool:
        while self.waiting:
            connection = next(iter(self.waiting))
            connection._stop_waiting()  # one being answered is waiting again after its response
            if not connection._answering():
                connection.transport.close()
                return True
        return False


def _connection_class(max_connections: int, request_timeout: float) -> type[_Connection]:
    return type("Connection", (_Connection,), {"max_connections": max_connections,
                                               "request_timeout": request_timeout, "waiting": {}})


def _open_files_limit() -> int:
    """Raise the soft limit on open files to the hard limit (where the system allows it); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # macOS refuses RLIM_INFINITY
            pass
    return soft if soft != resource.RLIM_INFINITY else DEFAULT_MAX_CONNECTIONS + _RESERVED_FILES


# -- serving -------------------------------------------------------------------------------------------------

async def _start(service: Any) -> None:
    start = getattr(service, "start", None)
    if start is not None:
        await start()


async def _close(service: Any) -> None:
    close = getattr(service, "close", None)
    if close is not None:
        await close()


class CannotStart(Exception):
    """The service could not start (its store cannot be opened, a workflow to register is refused...)."""


class _Server(uvicorn.Server):
    """uvicorn's server: starts the service before it listens (saying in one line why it cannot, where the app's
    lifespan would print a traceback), closes it after, and tells `on_ready` the address it listens on."""

    def __init__(self, config: uvicorn.Config, service: Any, on_ready: Callable[[str, int], None]) -> None:
        super().__init__(config)
        self.service = service
        self.on_ready = on_ready
        self.cannot_start: CannotStart | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await _start(self.service)
        except (ApiError, StoreError) as error:
            self.cannot_start = CannotStart(str(error))
            self.should_exit = True
            return
        await super().startup(sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_ready(host, port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            await _close(self.service)


_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """A log record as one JSON object: time (UTC, ISO 8601), level, logger, message, the record's fields
    (`extra=`), and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _announce(out: TextIO, scheme: str, authenticator: Authenticator | None) -> Callable[[str, int], None]:
    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(f"stepline: Step Functions API on {scheme}://{shown}:{port}", file=out, flush=True)
        if authenticator is None:
            return
        # for the first user who could sign in with the form: a key bound to a session token cannot
        first_user = next((user.name for user in authenticator.users.values() if user.session_token is None), None)
        if first_user is not None:
            token = authenticator.sessions.login_link(first_user)
            print(f"stepline: console sign-in link for {first_user} (works once): "
                  f"{scheme}://{shown}:{port}{LOGIN_PATH}?token={token}", file=out, flush=True)
    return ready


def serve(service: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          console_routes: Sequence[BaseRoute] = (), log_level: str = "warning", log_format: str = "text",
          on_ready: Callable[[str, int], None] | None = None, out: TextIO | None = None,
          allowed_hosts: Iterable[str] = (), max_connections: int = DEFAULT_MAX_CONNECTIONS,
          request_timeout: float = DEFAULT_REQUEST_TIMEOUT, authenticator: Authenticator | None = None,
          tls_cert: str | None = None, tls_key: str | None = None, cors_origins: Collection[str] = ()) -> None:
    """Serve until SIGTERM or Ctrl-C, then shut down gracefully (the service's `close()` runs) and return;
    CannotStart when the service cannot start.

    Prints one line with the address once listening (port 0 picks a free port). Logs are quiet: warnings
    only; with `log_level="debug"` one line per request; `log_format="json"`: one JSON object per line
    (JsonLines). `allowed_hosts` adds Host names to the default ones (`*`: any). `max_connections` is capped
    by the open-files limit, which is first raised to its maximum.
    With an `authenticator`, a one-time console sign-in link is printed too (for the first user whose key is not
    bound to a session token). `tls_cert` and `tls_key` (PEM
    files) serve HTTPS. The pages of `cors_origins` may call the API from their origin.
    """
    app = create_app(service, console_routes=console_routes, allowed_hosts=server_names(host, allowed_hosts),
                     lifespan_of_service=False, authenticator=authenticator, cors_origins=cors_origins)
    open_files = _open_files_limit()
    connection = _connection_class(min(max_connections, max(open_files // 2, open_files - _RESERVED_FILES)),
                                   request_timeout)
    level = logging.getLevelNamesMapping().get(log_level.upper(), logging.WARNING)
    stepline_logger = logging.getLogger("stepline")
    stepline_logger.setLevel(level)
    if not stepline_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines() if log_format == "json" else
                             logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        stepline_logger.addHandler(handler)
        if log_format == "json":  # uvicorn's own lines too, instead of its text configuration
            logging.getLogger("uvicorn").addHandler(handler)
    # a pending GetActivityTask long poll (60 s) must not hold a shutdown: requests still open after the
    # grace period are cancelled
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False, log_level=level,
                            server_header=False, loop="auto", http=connection,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS, ssl_certfile=tls_cert,
                            ssl_keyfile=tls_key,
                            log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG)
    scheme = "https" if tls_cert else "http"
    server = _Server(config, service, on_ready or _announce(out or sys.stdout, scheme, authenticator))
    # uvicorn re-raises the signal that stopped it once it has shut down; these handlers make that a return.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if in_main_thread else {}
    try:
        server.run()
    finally:
        for sig, restored in previous.items():
            signal.signal(sig, restored)
    if server.cannot_start is not None:
        raise server.cannot_start
