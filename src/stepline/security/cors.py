"""Cross-origin access for the pages of configured origins only (`stepline serve --cors-origin URL`): CORS.

    app = CrossOriginAccess(app, origins={"https://ops.example.com"})

A page of a configured origin may call the API (a preflight is answered for it, and its responses carry
Access-Control-Allow-Origin), with SigV4-signed requests when credentials are configured. Credentials mode is
never allowed, so the console's session cookie is of no use to another origin. Every other origin is refused
before it gets here (server.py's Origin check), and without configured origins no CORS header is ever sent.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFLIGHT_SECONDS = "600"
EXPOSED_HEADERS = "x-amzn-RequestId"


def origin_of(url: str) -> str | None:
    """The origin of a URL ('https://ops.example.com:8443/page' -> 'https://ops.example.com:8443'), lower case;
    None if it has none."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- a malformed port raises here
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CrossOriginAccess:
    """ASGI middleware: answers the CORS preflights of the configured origins and marks their responses."""

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        origin = headers.get("origin", "").lower() if headers is not None else ""
        if headers is None or origin not in self.origins:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await Response(status_code=204, headers={
                "access-control-allow-origin": origin, "access-control-allow-methods": "GET, POST",
                "access-control-allow-headers": headers.get("access-control-request-headers", ""),
                "access-control-max-age": PREFLIGHT_SECONDS, "vary": "Origin"})(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                marked = MutableHeaders(scope=message)
                marked["access-control-allow-origin"] = origin
                marked["access-control-expose-headers"] = EXPOSED_HEADERS
                marked.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_marked)
