"""A minimal in-process ASGI client for the API (starlette's TestClient needs httpx, which is not installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from stepline.server import create_app


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class AsgiClient:
    """Sends one HTTP request at a time straight into the app; runs its lifespan around the client's life."""

    app: Any
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def post(self, body: bytes | str, *, target: str | None = None, headers: dict[str, str] | None = None,
             chunk_size: int = 65536, method: str = "POST", path: str = "/") -> Reply:
        if isinstance(body, str):
            body = body.encode()
        all_headers = {"content-type": "application/x-amz-json-1.0", "host": "127.0.0.1:8083",
                       "content-length": str(len(body))}
        if target is not None:
            all_headers["x-amz-target"] = target
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8083), "app": self.app}
        chunks = [body[i:i + chunk_size] for i in range(0, len(body), chunk_size)] or [b""]
        messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                    for i, chunk in enumerate(chunks)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.run(self.app(scope, receive, send))
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers_out = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(start["status"], headers_out, content)

    def call(self, action: str, params: Any = None) -> Reply:
        body = orjson.dumps({} if params is None else params)
        return self.post(body, target=f"AWSStepFunctions.{action}")


@pytest.fixture
def asgi() -> Callable[[Any], AsgiClient]:
    """Make a client for an app built around the given service (lifespan not run: the unit tests need none)."""
    clients: list[AsgiClient] = []

    def make(service: Any, **options: Any) -> AsgiClient:
        client = AsgiClient(create_app(service, **options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.loop.close()
