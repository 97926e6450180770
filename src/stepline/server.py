"""The one place the web app is assembled: the API route, the console's routes, and the service's lifetime.

    app = create_app(service, console_routes=console.routes)   # an ASGI app for any server or test client
    serve(service, port=8083)                                   # uvicorn on 127.0.0.1:8083 until SIGTERM/Ctrl-C
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from stepline.api.protocol import MAX_REQUEST_BYTES, dispatch

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
SHUTDOWN_GRACE_SECONDS = 5


def create_app(service: Any, *, console_routes: Sequence[BaseRoute] = (),
               max_request_bytes: int = MAX_REQUEST_BYTES) -> Starlette:
    """The Step Functions API at `POST /` plus the given routes; starts and closes the service with the app.

    The service's optional `async start()` runs at startup and `async close()` at shutdown.
    """
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        start = getattr(service, "start", None)
        if start is not None:
            await start()
        try:
            yield
        finally:
            close = getattr(service, "close", None)
            if close is not None:
                await close()

    app = Starlette(routes=[Route("/", dispatch, methods=["POST"]), *console_routes], lifespan=lifespan)
    app.state.service = service
    app.state.max_request_bytes = max_request_bytes
    return app


class _Server(uvicorn.Server):
    """uvicorn's server, telling `on_ready` the address it listens on once it does."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str, int], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_ready(host, port)


def _announce(out: TextIO) -> Callable[[str, int], None]:
    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(f"stepline: Step Functions API on http://{shown}:{port}", file=out, flush=True)
    return ready


def serve(service: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          console_routes: Sequence[BaseRoute] = (), log_level: str = "warning",
          on_ready: Callable[[str, int], None] | None = None, out: TextIO | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C, then shut down gracefully (the service's `close()` runs) and return.

    Prints one line with the address once listening (port 0 picks a free port). Logs are quiet: warnings
    only; with `log_level="debug"` one line per request.
    """
    app = create_app(service, console_routes=console_routes)
    level = logging.getLevelNamesMapping().get(log_level.upper(), logging.WARNING)
    stepline_logger = logging.getLogger("stepline")
    stepline_logger.setLevel(level)
    if not stepline_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        stepline_logger.addHandler(handler)
    # a pending GetActivityTask long poll (60 s) must not hold a shutdown: requests still open after the
    # grace period are cancelled
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False, log_level=level,
                            server_header=False, loop="auto", http="auto",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
    server = _Server(config, on_ready or _announce(out or sys.stdout))
    # uvicorn re-raises the signal that stopped it once it has shut down; these handlers make that a return.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if in_main_thread else {}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
