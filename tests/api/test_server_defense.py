"""The server defends itself, over real sockets against `stepline serve`.

Slow and greedy clients: a client that sends nothing, half a request or half a body is closed after
--request-timeout, while a request being answered (a long poll) is not; past --max-connections the
longest-waiting idle connection is closed so that a new client gets in, and when every connection is being
answered the new one is refused instead. Oversized headers and broken HTTP are answered in AWS's error shape.

Foreign pages: only this server's own Host names are answered (DNS rebinding), with --allowed-hosts and
STEPLINE_ALLOWED_HOSTS adding names, and a request from another origin is refused.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from serving import ROLE, StepLine

REQUEST_TIMEOUT = 1.0
CAP = 20
LIST = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}


@pytest.fixture(scope="module")
def slow_clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    """A server that gives clients one second to send a request."""
    server = StepLine.start(tmp_path_factory.mktemp("timeouts") / "stepline.db",
                            options=["--request-timeout", str(REQUEST_TIMEOUT)])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    """A server that keeps at most CAP connections open (and the default request timeout, 30 s)."""
    server = StepLine.start(tmp_path_factory.mktemp("cap") / "stepline.db", options=["--max-connections", str(CAP)])
    yield server
    server.stop()


def connect(server: StepLine, address: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((address, server.port), timeout=10)


def seconds_until_closed(connection: socket.socket, limit: float = 10) -> tuple[float, bytes]:
    """How long until the server closes the connection, and what it sent before."""
    started = time.monotonic()
    received = b""
    connection.settimeout(limit)
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def is_open(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    finally:
        connection.setblocking(True)


def request(server: StepLine, host: str | None = None, *, method: str = "POST", path: str = "/",
            headers: dict[str, str] | None = None, body: bytes = b"{}", address: str = "127.0.0.1") -> tuple[int, dict]:
    """One request with the given Host header (None: none at all); the status and the JSON answer."""
    connection = http.client.HTTPConnection(address, server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**({"Host": host} if host is not None else {}), **LIST, **(headers or {}),
                            "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        return response.status, json.loads(answer) if "json" in response.getheader("content-type", "") else {}
    finally:
        connection.close()


# -- slow clients ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [
    pytest.param(b"", id="nothing"),
    pytest.param(b"POST / HT", id="half-a-request-line"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSStep", id="half-the-headers"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{", id="half-the-body"),
])
def test_a_client_that_sends_half_a_request_is_closed_after_the_request_timeout(slow_clients: StepLine,
                                                                               sent: bytes) -> None:
    with connect(slow_clients) as connection:
        connection.sendall(sent)
        elapsed, received = seconds_until_closed(connection)
    assert received == b""
    assert REQUEST_TIMEOUT * 0.9 <= elapsed < REQUEST_TIMEOUT + 5


def test_a_kept_alive_connection_has_the_request_timeout_for_its_next_request(slow_clients: StepLine) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", slow_clients.port, timeout=10)
    connection.request("POST", "/", body=b"{}", headers=LIST)
    response = connection.getresponse()
    assert response.status == 200 and b"stateMachines" in response.read()
    assert connection.sock is not None
    connection.sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    elapsed, received = seconds_until_closed(connection.sock)
    assert received == b"" and elapsed < REQUEST_TIMEOUT + 5


def test_a_long_poll_outlasts_the_request_timeout(slow_clients: StepLine) -> None:
    """GetActivityTask holds its request until a task comes; only the time to send a request is limited."""
    client = slow_clients.client()
    activity = client.create_activity(name="slow-work")["activityArn"]
    machine = client.create_state_machine(name="uses-activity", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}}))
    polled: list[dict] = []
    poller = threading.Thread(target=lambda: polled.append(client.get_activity_task(activityArn=activity)))
    poller.start()
    time.sleep(REQUEST_TIMEOUT * 2)
    client.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')
    poller.join(timeout=30)
    assert polled and json.loads(polled[0]["input"]) == {"n": 1}


def test_oversized_headers_and_broken_http_are_answered_in_aws_shape(slow_clients: StepLine) -> None:
    with connect(slow_clients) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 300_000)
        _, received = seconds_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
    with connect(slow_clients) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        _, received = seconds_until_closed(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body)["__type"] == "SerializationException"


# -- many connections ------------------------------------------------------------------------------------------

def test_idle_connections_past_the_cap_make_room_for_a_new_client(capped: StepLine) -> None:
    idle = [connect(capped) for _ in range(CAP * 3)]
    try:
        status, answer = request(capped, f"127.0.0.1:{capped.port}")
        assert status == 200 and "stateMachines" in answer
        still_open = [is_open(connection) for connection in idle]
        assert sum(still_open) < CAP  # the cap (the client above took one)
        assert not any(still_open[:CAP * 2])  # the longest-waiting went first
    finally:
        for connection in idle:
            connection.close()


def test_when_every_connection_is_answering_a_new_one_is_refused(capped: StepLine) -> None:
    """Event streams are being answered, so none is closed to make room; the new connection is closed."""
    client = capped.client()
    machine = client.create_state_machine(name="napper", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}}}))
    arn = client.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    streams = []
    try:
        for _ in range(CAP):
            stream = connect(capped)
            stream.sendall(f"GET /console/api/events?executionArn={quote(arn)} HTTP/1.1\r\n"
                           f"Host: 127.0.0.1\r\n\r\n".encode())
            assert stream.recv(15) == b"HTTP/1.1 200 OK"
            streams.append(stream)
        with connect(capped) as refused:
            refused.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
            _, received = seconds_until_closed(refused)
        assert received == b""
        assert all(is_open(stream) for stream in streams)
    finally:
        for stream in streams:
            stream.close()
    deadline = time.monotonic() + 10  # once the streams are gone, clients get in again
    while request(capped, "127.0.0.1")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- Host and Origin -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost", "localhost.", "[::1]:{port}",
                                  "127.0.0.1:1", "sync-127.0.0.1:{port}", "sync-localhost:{port}",
                                  "sync-[::1]:{port}"])
def test_loopback_names_and_their_sync_forms_are_answered(slow_clients: StepLine, host: str) -> None:
    assert request(slow_clients, host.format(port=slow_clients.port))[0] == 200


@pytest.mark.parametrize("host", ["evil.test", "evil.test:{port}", "127.0.0.1.evil.test", "localhost.evil.test",
                                  "sync-evil.test", "127.0.0.2", "", None, socket.gethostname()])
@pytest.mark.parametrize("method, path", [("POST", "/"), ("GET", "/"), ("GET", "/console/static/app.js")])
def test_a_foreign_host_is_refused(slow_clients: StepLine, host: str | None, method: str, path: str) -> None:
    if host == "localhost":
        pytest.skip("this machine is called localhost")
    status, answer = request(slow_clients, host and host.format(port=slow_clients.port), method=method, path=path)
    assert status == 403 and answer["__type"] == "AccessDeniedException"
    assert "--allowed-hosts" in answer["message"]


@pytest.mark.parametrize("options, environment, answered, refused", [
    pytest.param(["--allowed-hosts", "stepline.test", "--allowed-hosts", "Other.Test:80,third.test"],
                 {"STEPLINE_ALLOWED_HOSTS": "env.test"},
                 ["stepline.test", "other.test:9", "third.test", "sync-stepline.test", "localhost"],
                 ["env.test", "evil.test"], id="option"),
    pytest.param([], {"STEPLINE_ALLOWED_HOSTS": "env.test, two.test"}, ["env.test", "two.test:8083"],
                 ["evil.test"], id="environment"),
    pytest.param(["--allowed-hosts", "*"], {}, ["evil.test", "anything.example:1"], [], id="any"),
])
def test_allowed_hosts_adds_names(tmp_path: Path, options: list[str], environment: dict[str, str],
                                  answered: list[str], refused: list[str]) -> None:
    server = StepLine.start(tmp_path / "stepline.db", options=options, environment=environment)
    try:
        assert {host: request(server, host)[0] for host in answered + refused} == \
            {**{host: 200 for host in answered}, **{host: 403 for host in refused}}
    finally:
        server.stop()


def test_bound_to_every_address_the_machines_names_and_addresses_are_answered(tmp_path: Path) -> None:
    server = StepLine.start(tmp_path / "stepline.db", options=["--host", "0.0.0.0", "--allow-unauthenticated"])
    try:
        assert request(server, socket.gethostname())[0] == 200
        assert request(server, socket.getfqdn())[0] == 200
        assert request(server, "127.0.0.2", address="127.0.0.2")[0] == 200  # the address connected to
        assert request(server, "127.0.0.3", address="127.0.0.2")[0] == 403
        assert request(server, "evil.test")[0] == 403
    finally:
        server.stop()


@pytest.mark.parametrize("headers, status", [
    pytest.param({}, 200, id="no-origin-as-sdks-send"),
    pytest.param({"Origin": "http://127.0.0.1:{port}"}, 200, id="own-origin"),
    pytest.param({"Referer": "http://127.0.0.1:{port}/state-machines"}, 200, id="own-referer"),
    pytest.param({"Origin": "http://evil.test"}, 403, id="foreign-origin"),
    pytest.param({"Origin": "http://127.0.0.1:1"}, 403, id="other-port"),
    pytest.param({"Origin": "null"}, 403, id="opaque-origin"),
    pytest.param({"Origin": "http://[::1"}, 403, id="broken-origin"),
    pytest.param({"Referer": "http://evil.test/page"}, 403, id="foreign-referer"),
])
def test_the_api_refuses_requests_from_another_origin(slow_clients: StepLine, headers: dict[str, str],
                                                      status: int) -> None:
    headers = {name: value.format(port=slow_clients.port) for name, value in headers.items()}
    answered, answer = request(slow_clients, f"127.0.0.1:{slow_clients.port}", headers=headers)
    assert answered == status
    assert "stateMachines" in answer if status == 200 else answer["__type"] == "AccessDeniedException"


def test_a_foreign_referer_on_a_link_to_a_page_is_fine(slow_clients: StepLine) -> None:
    """Following a link from another site to the console sends its Referer; reading is not refused."""
    status, _ = request(slow_clients, f"127.0.0.1:{slow_clients.port}", method="GET", path="/",
                        headers={"Referer": "http://wiki.example/runbook"})
    assert status == 200



def test_boto3_through_a_name_not_allowed_is_told_the_remedy(slow_clients: StepLine) -> None:
    client = slow_clients.client()
    client.meta.events.register("before-send.stepfunctions.*",
                                lambda request, **_: request.headers.__setitem__("Host", "stepline.docker"))
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.list_activities()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "'stepline.docker'" in caught.value.response["Error"]["Message"]
    assert "--allowed-hosts" in caught.value.response["Error"]["Message"]
