"""Another web site for the console's browser tests: a page of another origin that calls the server under test."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def html_site(render: Callable[[], str]) -> Iterator[int]:
    """The port of a web server on 127.0.0.1 that answers every GET with the page `render()` returns then."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = render().encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
