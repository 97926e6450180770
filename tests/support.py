"""Helpers shared by the tests: building small definitions, checking histories, PostgreSQL schemas of their own."""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from stepline.service.workflow import Result, Workflow


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def lambda_task(function: str, **fields: Any) -> dict[str, Any]:
    """A Task state that invokes a Lambda function by its ARN."""
    return {"Type": "Task", "Resource": lambda_arn(function), **fields}


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    """A definition whose StartAt is the first state unless named."""
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def run(definition: dict[str, Any], input: Any = None, *, functions: dict | None = None, **options: Any) -> Result:
    """Run under the virtual clock and check that the history is well formed."""
    options.setdefault("time_scale", 0)
    result = Workflow(definition, functions=functions).run(input, **options)
    check_history(result.history)
    return result


def check_history(history: list[dict]) -> None:
    """Ids contiguous from 1, each previousEventId earlier, time never going back, at most one end, last."""
    assert history, "empty history"
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "ExecutionStarted" and history[0]["previousEventId"] == 0
    for event in history[1:]:
        if event["id"] == 2 and event["type"].endswith("StateEntered"):
            assert event["previousEventId"] == 0, event  # as AWS records it: the first state follows event 0
        else:
            assert 0 < event["previousEventId"] < event["id"], event
    for before, after in zip(history, history[1:]):
        assert before["timestamp"] <= after["timestamp"], (before, after)
    ends = [event for event in history if event["type"].startswith("Execution") and event["type"] != "ExecutionStarted"]
    assert len(ends) <= 1 and (not ends or ends[0] is history[-1]), [event["type"] for event in ends]


def elapsed(history: list[dict], first: dict, second: dict) -> timedelta:
    return second["timestamp"] - first["timestamp"]


def events_of(history: list[dict], kind: str) -> list[dict]:
    return [event for event in history if event["type"] == kind]


def details(event: dict) -> dict:
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


@contextmanager
def fresh_schema(url: str, prefix: str = "test") -> Iterator[tuple[str, str]]:
    """(the URL of a new schema, its name); the schema is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{url}{'&' if '?' in url else '?'}schema={schema}", schema
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the tests' local servers: it logs nothing."""

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def local_server(handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A real HTTP(S) server on a free port of 127.0.0.1, serving `handler` in a thread while the block runs; its
    URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
