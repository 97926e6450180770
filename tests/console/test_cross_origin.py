"""`stepline serve --cors-origin ORIGIN`, in Debian's chromium: a page of the configured origin may call the API
and read the answer; a page of any other origin (another port of the same host too) may not, and neither may use
the console's session. Without the option no CORS header is ever sent (tests/console/test_console_defense.py)."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secured import ALICE, write_credentials
from serving import StepLine
from web_site import html_site

CALLER = """<!doctype html>
<title>partner</title>
<script>
  window.answer = fetch("{target}/", {{method: "POST", body: "{{}}", headers: {{
      "content-type": "application/x-amz-json-1.0", "x-amz-target": "AWSStepFunctions.ListActivities"}}}})
    .then(response => response.json().then(body => [response.status, body]), error => String(error));
</script>
"""


@dataclass
class Sites:
    """Two web sites on 127.0.0.1 (attacker.test in the test browser), each serving CALLER for `target`."""

    partner: str = ""
    stranger: str = ""
    target: str = ""


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    running = Sites()

    def page() -> str:
        return CALLER.format(target=running.target)

    with html_site(page) as partner, html_site(page) as stranger:
        running.partner, running.stranger = f"http://attacker.test:{partner}", f"http://attacker.test:{stranger}"
        yield running


def start(folder: Path, sites: Sites, *options: str) -> StepLine:
    server = StepLine.start(folder / "stepline.db", options=["--cors-origin", sites.partner, *options])
    sites.target = server.url
    return server


def test_only_a_page_of_the_configured_origin_may_call_the_api(sites: Sites, page: Any, tmp_path: Path) -> None:
    server = start(tmp_path, sites)
    try:
        page.goto(f"{sites.partner}/")
        assert page.evaluate("window.answer") == [200, {"activities": []}]
        page.goto(f"{sites.stranger}/")
        assert page.evaluate("window.answer") == "TypeError: Failed to fetch"
    finally:
        server.stop()


def test_with_credentials_the_configured_origin_gets_preflights_but_no_session(sites: Sites, page: Any,
                                                                              tmp_path: Path) -> None:
    server = start(tmp_path, sites, "--credentials", str(write_credentials(tmp_path / "users")))
    try:
        page.goto(f"{server.url}/")
        page.fill("#access-key-id", ALICE[0])
        page.fill("#secret-access-key", ALICE[1])
        page.click("button[type=submit]")
        page.wait_for_selector("text=State machines")
        page.goto(f"{sites.partner}/")  # the browser holds a session, which the partner's page cannot use
        status, body = page.evaluate("window.answer")
        assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("OPTIONS", "/", headers={
            "Origin": sites.partner, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-amz-date,x-amz-target"})
        preflight = connection.getresponse()
        preflight.read()
        assert preflight.status == 204
        assert preflight.getheader("access-control-allow-origin") == sites.partner
        assert preflight.getheader("access-control-allow-headers") == "authorization,content-type,x-amz-date,x-amz-target"
        assert preflight.getheader("access-control-allow-credentials") is None
        connection.request("OPTIONS", "/", headers={"Origin": sites.stranger, "Access-Control-Request-Method": "POST"})
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 403 and refused.getheader("access-control-allow-origin") is None
        connection.close()
    finally:
        server.stop()


@pytest.mark.parametrize("origin", ["https://ops.example.com/console", "ops.example.com", "ftp://ops.example.com"])
def test_a_cors_origin_must_be_an_origin(tmp_path: Path, origin: str) -> None:
    result = subprocess.run([sys.executable, "-m", "stepline.cli.main", "serve", "--port", "0", "--db",
                             str(tmp_path / "s.db"), "--cors-origin", origin], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert result.stderr == (f"stepline: --cors-origin {origin}: an origin is a scheme, a host and an optional port, "
                             "such as https://ops.example.com or http://localhost:3000\n")
