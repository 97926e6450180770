"""The web console: one page shell for every address, its static files, and the few JSON and event-stream
routes the pages need beside the Step Functions API (which the pages call at `POST /` like any client).

    GET  /                                   state machines
    GET  /state-machines/<stateMachineArn>   a state machine: graph, versions, aliases, executions
    GET  /executions/<executionArn>          an execution: live graph, state details, events, timeline
    GET  /map-runs/<mapRunArn>               a Map Run: status, live counts, settings, child executions
    GET  /design[/<stateMachineArn>]         the visual editor
    GET  /console/static/<file>              JS and CSS, shipped in the package
    POST /console/api/unserved               warnings for the Tasks no integration of this server serves
    POST /console/api/graph                  {"definition"} -> {"svg", "layout"} (graph/: the CLI's drawing)
    GET  /console/api/execution?executionArn=   {"execution", "machine"}, Express executions included
    GET  /console/api/events?executionArn=&after=   text/event-stream of new history events
    GET  /console/api/executions?stateMachineArn=&name=&statusFilter=&nextToken=   executions by name
    POST /console/api/fire-timer             {"executionArn", "thread"?} -> {"fired"}
    GET|POST /console/login, POST /console/logout   signing in and out (login.py), with credentials configured
    GET  /console/api/metrics                the home's figures: executions started, finished, running, ...
    GET  /console/api/schedules?stateMachineArn=   the schedules that start the state machine (service/schedules.py)
    POST /console/api/schedule-state         {"scheduleArn", "state": "ENABLED"|"DISABLED"} -> the schedule

ARNs in page addresses may be written as they are or URL-encoded. The routes call the service (the
application layer) and graph/; they decide nothing about executions themselves. Malformed input raises the
ApiError AWS would name (the app answers it in AWS's JSON shape). A POST must be sent as
`Content-Type: application/json`, which a page of another site cannot send here without a CORS preflight,
and the server approves those only for the origins of `stepline serve --cors-origin` (security/cors.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from stepline.console.bodies import request_body
from stepline.console.login import login, login_page, logout
from stepline.graph.layout import layout_definition
from stepline.graph.svg import render_svg
from stepline.security.gate import console_session
from stepline.service.errors import SerializationException, ValidationException

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
POLL_SECONDS = 0.25  # how often a live event stream looks for new events
STREAM_SECONDS = 20.0  # a stream ends after this long; the browser reconnects with Last-Event-ID
MAX_BODY_BYTES = 1_048_576  # a definition may be up to 1 MB
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_NUMBER = re.compile(r"[0-9]{1,18}")  # fits SQLite's 64-bit INTEGER

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/theme.js"></script>
{session}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="/">stepline</a>
  <nav aria-label="Main"><a href="/">State machines</a><a href="/design">New state machine</a></nav>
  <button type="button" id="theme-toggle" class="ghost" aria-label="Switch between light and dark theme">Theme</button>
{sign_out}</header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<div id="toasts" role="status" aria-live="polite"></div>
<script type="module" src="/console/static/app.js"></script>
</body>
</html>
"""


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value, default=_encode, option=orjson.OPT_PASSTHROUGH_DATETIME), status_code=status,
                    media_type="application/json", headers=headers)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return round((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp(), 3)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def _json_object(request: Request) -> dict[str, Any]:
    """The JSON object a console POST sends, as `Content-Type: application/json`."""
    body = await request_body(request, media_type="application/json", max_bytes=MAX_BODY_BYTES,
                              sender="Console requests")
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise SerializationException("The body is not JSON") from None
    if not isinstance(document, dict):
        raise SerializationException("The body is not a JSON object")
    return document


def _number(text: str, name: str, maximum: int = 10**18 - 1) -> int:
    """A whole number sent as text (a query parameter, Last-Event-ID)."""
    if not _NUMBER.fullmatch(text) or int(text) > maximum:
        raise ValidationException(f"'{name}' must be a whole number from 0 to {maximum}")
    return int(text)


def _text(document: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """A string member of a request document."""
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationException(f"'{key}' must be a string")
    return value


async def page(request: Request) -> HTMLResponse:
    """The page shell; app.js reads the address and draws the page."""
    session = console_session(request)
    return HTMLResponse(_SHELL.format(
        title=escape("stepline console"),
        # the token the pages send back with every state-changing call (security/gate.py)
        session=f'<meta name="stepline-csrf" content="{escape(session.csrf)}">\n' if session else "",
        sign_out=f'  <span class="muted">{escape(session.user)}</span>\n'
                 '  <button type="button" id="sign-out" class="ghost">Sign out</button>\n' if session else ""),
        headers={"cache-control": "no-store"})


async def graph(request: Request) -> Response:
    """The layout and SVG of a definition (JSON text or object); a broken definition draws what it can."""
    document = await _json_object(request)
    definition = document.get("definition")
    if not isinstance(definition, (str, dict, type(None))):
        raise ValidationException("'definition' must be JSON text or an object")
    return _json(await asyncio.to_thread(_drawing, definition if definition is not None else {}))


def _drawing(definition: str | dict) -> dict:
    """A definition's layout and SVG: seconds for the largest (1 MB), so off the event loop."""
    layout = layout_definition(definition)
    return {"svg": render_svg(layout, standalone=False), "layout": layout.to_json()}


async def unserved(request: Request) -> Response:
    """Warnings for the Tasks of a definition that no integration of this server serves (the design view)."""
    document = await _json_object(request)
    definition = document.get("definition")
    if not isinstance(definition, (str, dict)):
        raise ValidationException("'definition' must be JSON text or an object")
    warnings = await asyncio.to_thread(request.app.state.service.unserved_tasks, definition)
    return _json({"diagnostics": [d.to_json() for d in warnings]})


async def execution(request: Request) -> Response:
    """An execution and its state machine (DescribeExecution's and DescribeStateMachineForExecution's answers),
    Express executions included, which those actions refuse as AWS's do."""
    service = request.app.state.service
    arn = request.query_params.get("executionArn", "")
    return _json({"execution": await service.execution(arn), "machine": await service.machine_of_execution(arn)})


async def events(request: Request) -> Response:
    """Server-sent events: `events` (a list of history events), `status` (status and timers), then `end`."""
    service = request.app.state.service
    arn = request.query_params.get("executionArn", "")
    after = _number(request.headers.get("last-event-id") or request.query_params.get("after") or "0", "after")
    first = await service.execution_updates(executionArn=arn, after=after)

    async def stream() -> Any:
        nonlocal after
        update = first
        started = asyncio.get_running_loop().time()
        shown: Any = None
        yield b"retry: 1000\n\n"
        while True:
            if update["events"]:
                after = update["events"][-1]["id"]
                yield _message("events", update["events"], after)
            state = {"status": update["status"], "timers": update["timers"]}
            if state != shown:
                shown = state
                yield _message("status", state)
            if update["status"] != "RUNNING" and not update["more"]:
                yield _message("end", {"status": update["status"]})
                return
            if not update["more"]:
                if asyncio.get_running_loop().time() - started > STREAM_SECONDS:
                    return  # the browser reconnects, sending Last-Event-ID
                await asyncio.sleep(POLL_SECONDS)
            update = await service.execution_updates(executionArn=arn, after=after)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _message(kind: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data, default=_encode, option=orjson.OPT_PASSTHROUGH_DATETIME) + b"\n\n"


async def find_executions(request: Request) -> Response:
    """Executions of a state machine whose names contain `name`, paged like ListExecutions."""
    query = request.query_params
    status = query.get("statusFilter") or None
    if status is not None and status not in EXECUTION_STATUSES:
        raise ValidationException(f"statusFilter must be one of {', '.join(EXECUTION_STATUSES)}")
    found = await request.app.state.service.find_executions(
        stateMachineArn=query.get("stateMachineArn", ""), name=query.get("name", ""), statusFilter=status,
        nextToken=query.get("nextToken") or None, maxResults=_number(query.get("maxResults") or "50", "maxResults",
                                                                     maximum=1000))
    return _json(found)


async def fire_timer(request: Request) -> Response:
    """End the Wait or Retry interval an execution waits on, now."""
    document = await _json_object(request)
    fired = await request.app.state.service.fire_timer_now(executionArn=_text(document, "executionArn"),
                                                           thread=_text(document, "thread", required=False))
    return _json(fired)


async def schedules(request: Request) -> Response:
    """The schedules of a state machine, with their next due time."""
    arn = request.query_params.get("stateMachineArn")
    if not arn:
        raise ValidationException("'stateMachineArn' is required")
    return _json({"schedules": await request.app.state.service.schedules.list(arn)})


async def schedule_state(request: Request) -> Response:
    """Pause (DISABLED) or resume (ENABLED) a schedule."""
    document = await _json_object(request)
    arn, state = _text(document, "scheduleArn"), _text(document, "state")
    if state not in ("ENABLED", "DISABLED"):
        raise ValidationException("'state' must be ENABLED or DISABLED")
    service = request.app.state.service.schedules
    return _json(await (service.resume if state == "ENABLED" else service.pause)(arn))


async def metrics(request: Request) -> Response:
    """The figures the home shows: the service's metrics (GET /metrics) summed up (Metrics.figures)."""
    return _json(await request.app.state.service.figures(), headers={"cache-control": "no-store"})


routes: list[BaseRoute] = [
    Route("/", page, methods=["GET", "HEAD"]),
    Route("/state-machines/{arn:path}", page, methods=["GET", "HEAD"]),
    Route("/executions/{arn:path}", page, methods=["GET", "HEAD"]),
    Route("/map-runs/{arn:path}", page, methods=["GET", "HEAD"]),
    Route("/design", page, methods=["GET", "HEAD"]),
    Route("/design/{arn:path}", page, methods=["GET", "HEAD"]),
    Route("/console/api/graph", graph, methods=["POST"]),
    Route("/console/api/unserved", unserved, methods=["POST"]),
    Route("/console/api/execution", execution, methods=["GET"]),
    Route("/console/api/events", events, methods=["GET"]),
    Route("/console/api/executions", find_executions, methods=["GET"]),
    Route("/console/api/fire-timer", fire_timer, methods=["POST"]),
    Route("/console/login", login_page, methods=["GET", "HEAD"]),
    Route("/console/login", login, methods=["POST"]),
    Route("/console/logout", logout, methods=["POST"]),
    Route("/console/api/metrics", metrics, methods=["GET"]),
    Route("/console/api/schedules", schedules, methods=["GET"]),
    Route("/console/api/schedule-state", schedule_state, methods=["POST"]),
    Mount("/console/static", app=StaticFiles(directory=STATIC), name="console-static"),
]
