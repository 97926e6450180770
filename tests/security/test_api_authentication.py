"""`stepline serve --credentials FILE`: the API lets in only requests signed (SigV4, service `states`) with a key
of the file, as AWS does, checked with real clients (boto3, the AWS CLI, botocore's presigner) against a real
server; what a request without a valid signature gets is AWS's error and status."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from unittest import mock

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from secured import ALICE, BOB, write_credentials
from serving import AWS_CLI, REGION, ROLE, StepLine, finished

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
AMZ_JSON = "application/x-amz-json-1.0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepLine]:
    folder = tmp_path_factory.mktemp("secured")
    running = StepLine.start(folder / "stepline.db", options=["--credentials", str(write_credentials(folder / "users"))])
    yield running
    running.stop()


def client(server: StepLine, key: str, secret: str, token: str | None = None, **config: Any) -> Any:
    return boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False, **config))


def refusal(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def send(server: StepLine, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    """One raw request to the server's socket; `target` is the path and query."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def signed(url: str, action: str, body: bytes, key: tuple[str, ...], signer: type[SigV4Auth] = SigV4Auth,
           **options: Any) -> AWSRequest:
    """A request signed by botocore, as boto3 would send it."""
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": AMZ_JSON, "X-Amz-Target": f"AWSStepFunctions.{action}"})
    signer(Credentials(*key), "states", REGION, **options).add_auth(request)
    return request


def test_boto3_with_a_key_of_the_file_runs_workflows(server: StepLine) -> None:
    sfn = client(server, *ALICE)
    arn = sfn.create_state_machine(name="signed", definition=json.dumps(PASS), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    assert finished(sfn, execution)["output"] == '{"ok":true}'
    assert client(server, *BOB).list_state_machines()["stateMachines"][0]["name"] == "signed"


@pytest.mark.parametrize("key, secret, token, code", [
    pytest.param(ALICE[0], "not-alice-secret", None, "InvalidSignatureException", id="wrong-secret"),
    pytest.param("AKIAUNKNOWNKEY000000", ALICE[1], None, "UnrecognizedClientException", id="unknown-key"),
    pytest.param(BOB[0], BOB[1], None, "UnrecognizedClientException", id="session-token-missing"),
    pytest.param(BOB[0], BOB[1], "another-token", "UnrecognizedClientException", id="wrong-session-token"),
    pytest.param(ALICE[0], ALICE[1], "a-token-alice-has-not", "UnrecognizedClientException", id="token-not-expected"),
])
def test_boto3_with_a_bad_key_secret_or_token_is_refused_as_aws_refuses_it(
        server: StepLine, key: str, secret: str, token: str | None, code: str) -> None:
    message = {"InvalidSignatureException": BAD_SIGNATURE,
               "UnrecognizedClientException": "The security token included in the request is invalid."}[code]
    assert refusal(client(server, key, secret, token).list_state_machines) == (code, message, 400)


def test_a_request_without_a_signature_is_missing_its_authentication_token(server: StepLine) -> None:
    assert refusal(client(server, *ALICE, signature_version=botocore.UNSIGNED).list_state_machines) == \
        ("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    status, body = send(server, "GET", "/console/api/executions?stateMachineArn=x", {}, b"")  # the console's too
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")


@pytest.mark.parametrize("skew, accepted", [
    pytest.param(timedelta(minutes=-4), True, id="4-minutes-slow"),
    pytest.param(timedelta(minutes=4), True, id="4-minutes-fast"),
    pytest.param(timedelta(minutes=-6), False, id="6-minutes-slow"),
    pytest.param(timedelta(minutes=6), False, id="6-minutes-fast"),
])
def test_a_signature_made_more_than_5_minutes_away_from_now_has_expired(
        server: StepLine, skew: timedelta, accepted: bool) -> None:
    sfn = client(server, *ALICE)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: datetime.now(UTC) + skew):
        if accepted:
            sfn.list_state_machines()
            return
        code, message, status = refusal(sfn.list_state_machines)
    signed_at = (datetime.now(UTC) + skew).strftime("%Y%m%dT")
    assert (code, status) == ("InvalidSignatureException", 400)
    if skew < timedelta(0):  # "Signature expired: 20240501T115400Z is now earlier than 20240501T115500Z (... - 5 min.)"
        assert message.startswith(f"Signature expired: {signed_at}") and message.endswith(" - 5 min.)"), message
        assert " is now earlier than " in message
    else:
        assert message.startswith(f"Signature not yet current: {signed_at}") and message.endswith(" + 5 min.)")


def test_the_aws_cli_works_with_a_key_of_the_file_and_not_without(server: StepLine, tmp_path: Path) -> None:
    def aws(key: str, secret: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION,
               "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1", "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        env.pop("AWS_SESSION_TOKEN", None)
        return subprocess.run([str(AWS_CLI), "stepfunctions", "list-activities", "--endpoint-url", server.url,
                               "--output", "json"], capture_output=True, text=True, env=env, timeout=60)

    good = aws(*ALICE)
    assert good.returncode == 0, good.stderr
    assert "activities" in json.loads(good.stdout)
    bad = aws(ALICE[0], "wrong")
    assert bad.returncode != 0 and "(InvalidSignatureException) when calling the ListActivities operation" in bad.stderr


@pytest.mark.parametrize("key", [pytest.param(ALICE, id="key"), pytest.param(BOB, id="with-session-token")])
def test_a_presigned_request_is_let_in_until_it_expires(server: StepLine, key: tuple[str, ...]) -> None:
    """botocore's presigner signs the body's hash too (empty: it moves parameters to the query string)."""
    request = signed(f"{server.url}/", "ListStateMachines", b"", key, SigV4QueryAuth, expires=60)
    target = request.url.removeprefix(server.url)
    assert "X-Amz-Signature=" in target and "Authorization" not in request.headers
    headers = {name: value for name, value in request.headers.items()}
    status, body = send(server, "POST", target, headers, b"")
    assert status == 200 and "stateMachines" in body
    tampered = target[:-1] + ("0" if target[-1] != "0" else "1")
    assert send(server, "POST", tampered, headers, b"") == \
        (400, {"__type": "InvalidSignatureException", "message": BAD_SIGNATURE})
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: datetime.now(UTC) - timedelta(minutes=2)):
        stale = signed(f"{server.url}/", "ListStateMachines", b"", key, SigV4QueryAuth, expires=60)
    status, body = send(server, "POST", stale.url.removeprefix(server.url), headers, b"")
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    assert body["message"].startswith("Signature expired: ") and body["message"].endswith(" - 60 sec.)")


def test_the_sync_host_prefix_is_part_of_what_was_signed(server: StepLine) -> None:
    """botocore sends StartSyncExecution and TestState to `sync-<host>`; the Host header it signed is checked."""
    request = signed(f"http://sync-localhost:{server.port}/", "ListStateMachines", b"{}", ALICE)
    headers = {name: value for name, value in request.headers.items()}
    assert send(server, "POST", "/", {**headers, "Host": f"sync-localhost:{server.port}"}, b"{}")[0] == 200
    assert send(server, "POST", "/", {**headers, "Host": f"localhost:{server.port}"}, b"{}") == \
        (400, {"__type": "InvalidSignatureException", "message": BAD_SIGNATURE})


def test_a_signed_request_whose_body_or_target_was_changed_is_refused(server: StepLine) -> None:
    body = json.dumps({"name": "honest"}).encode()
    request = signed(f"http://127.0.0.1:{server.port}/", "CreateActivity", body, ALICE)
    headers = {name: value for name, value in request.headers.items()}
    refused = (400, {"__type": "InvalidSignatureException", "message": BAD_SIGNATURE})
    assert send(server, "POST", "/", headers, json.dumps({"name": "forged"}).encode()) == refused
    assert send(server, "POST", "/", {**headers, "X-Amz-Target": "AWSStepFunctions.DeleteActivity"}, body) == refused
    assert send(server, "POST", "/", headers, body)[0] == 200


@pytest.mark.parametrize("authorization, code, message", [
    pytest.param("AWS4-HMAC-SHA256 Credential=AKIAALICEEXAMPLE0001/20240501/us-east-1/states/aws4_request",
                 "IncompleteSignatureException",
                 "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                 "parameter.", id="no-signature"),
    pytest.param("AWS AKIAALICEEXAMPLE0001:c2lnbmF0dXJl", "IncompleteSignatureException",
                 "Authorization header requires the 'AWS4-HMAC-SHA256' algorithm (Signature Version 4).",
                 id="signature-version-2"),
    pytest.param("AWS4-HMAC-SHA256 Credential=AKIAALICEEXAMPLE0001/{date}/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host;x-amz-date, Signature=00", "InvalidSignatureException",
                 "Credential should be scoped to correct service: 'states'.", id="another-service"),
    pytest.param("AWS4-HMAC-SHA256 Credential=AKIAALICEEXAMPLE0001/us-east-1/states/aws4_request, "
                 "SignedHeaders=host, Signature=00", "IncompleteSignatureException",
                 "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got "
                 "'AKIAALICEEXAMPLE0001/us-east-1/states/aws4_request'", id="short-credential"),
])
def test_a_malformed_authorization_header_is_named(server: StepLine, authorization: str, code: str,
                                                  message: str) -> None:
    now = datetime.now(UTC)
    headers = {"Authorization": authorization.format(date=now.strftime("%Y%m%d")), "Content-Type": AMZ_JSON,
               "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"), "X-Amz-Target": "AWSStepFunctions.ListStateMachines"}
    assert send(server, "POST", "/", headers, b"") == (400, {"__type": code, "message": message})


def test_every_response_carries_the_security_headers(server: StepLine) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for path in ("/", "/console/login", "/console/static/app.js"):
        connection.request("GET", path, headers={"Accept": "text/html"})
        response = connection.getresponse()
        response.read()
        assert response.getheader("x-content-type-options") == "nosniff", path
        assert response.getheader("x-frame-options") == "DENY", path
        policy = response.getheader("content-security-policy", "")
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy, path
    connection.close()


@pytest.mark.parametrize("next_path, location", [
    pytest.param("/executions/arn:aws:states:us-east-1:123456789012:execution:a:b",
                 "/executions/arn:aws:states:us-east-1:123456789012:execution:a:b", id="a-console-page"),
    pytest.param("//evil.test/", "/", id="another-site-without-scheme"),
    pytest.param("https://evil.test/", "/", id="another-site"),
    pytest.param("/\\evil.test", "/", id="backslash"),
])
def test_signing_in_goes_on_to_a_page_of_this_server_only(server: StepLine, next_path: str, location: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    form = urlencode({"access_key_id": ALICE[0], "secret_access_key": ALICE[1], "next": next_path})
    connection.request("POST", "/console/login", body=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    assert (response.status, response.getheader("location")) == (303, location)
    connection.close()


def test_a_sign_in_sent_as_json_is_refused(server: StepLine) -> None:
    body = json.dumps({"access_key_id": ALICE[0], "secret_access_key": ALICE[1]}).encode()
    assert send(server, "POST", "/console/login", {"Content-Type": "application/json"}, body) == \
        (400, {"__type": "ValidationException",
               "message": "The sign-in form must be sent as Content-Type: application/x-www-form-urlencoded"})


def test_a_sign_in_form_over_8_kib_is_refused(server: StepLine) -> None:
    body = f"access_key_id={ALICE[0]}&secret_access_key={'x' * 8192}".encode()
    assert send(server, "POST", "/console/login", {"Content-Type": "application/x-www-form-urlencoded"}, body) == \
        (413, {"__type": "RequestEntityTooLargeException", "message": "Request size exceeds the maximum of 8192 bytes."})


def test_stepline_deploy_of_a_sam_template_signs_with_the_callers_credentials(server: StepLine) -> None:
    """`stepline deploy` is a SAM-style client: botocore's credential chain (here the environment) signs its calls."""
    template = Path(__file__).resolve().parents[2] / "examples" / "sam-app" / "template.yaml"

    def deploy(secret: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ALICE[0], "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        return subprocess.run([sys.executable, "-m", "stepline.cli.main", "deploy", str(template), "--endpoint",
                               server.url, "--stack-name", "orders"], capture_output=True, text=True, env=env,
                              timeout=60)

    refused = deploy("wrong")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and BAD_SIGNATURE in refused.stderr
    deployed = deploy(ALICE[1])
    assert deployed.returncode == 0, deployed.stderr
    assert "created state machine" in deployed.stdout


def test_a_body_over_1_mib_is_refused_before_its_signature_is_checked(server: StepLine) -> None:
    request = signed(f"http://127.0.0.1:{server.port}/", "ListActivities", b" " * 1_100_000, ALICE)
    headers = {name: value for name, value in request.headers.items()}
    assert send(server, "POST", "/", headers, b" " * 1_100_000) == (413, {
        "__type": "RequestEntityTooLargeException", "message": "Request size exceeds the maximum of 1048576 bytes."})


def test_a_console_session_reads_a_live_event_stream(server: StepLine) -> None:
    sfn = client(server, *ALICE)
    nap = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    arn = sfn.create_state_machine(name="napper", definition=json.dumps(nap), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/console/login", body=urlencode({"access_key_id": ALICE[0],
                                                                  "secret_access_key": ALICE[1]}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    signed_in = connection.getresponse()
    signed_in.read()
    cookie = (signed_in.getheader("set-cookie") or "").partition(";")[0]
    connection.request("GET", f"/console/api/events?executionArn={execution}", headers={"Cookie": cookie})
    stream = connection.getresponse()
    assert stream.status == 200 and stream.getheader("content-type", "").startswith("text/event-stream")
    assert stream.readline() == b"retry: 1000\n"
    assert stream.readline() == b"\n"
    assert stream.readline() == b"event: events\n"  # the history so far, while the execution waits
    connection.close()
    sfn.stop_execution(executionArn=execution)


def test_the_metrics_route_is_protected_like_the_api(server: StepLine) -> None:
    """Every route but the console's sign-in page and static files is behind the same gate."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/metrics")
    refused = connection.getresponse()
    assert (refused.status, json.loads(refused.read())["__type"]) == (403, "MissingAuthenticationTokenException")
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:{server.port}/metrics")
    SigV4Auth(Credentials(*ALICE), "states", REGION).add_auth(request)
    connection.request("GET", "/metrics", headers=dict(request.headers.items()))
    scraped = connection.getresponse()
    assert scraped.status == 200 and b"stepline_executions_started_total" in scraped.read()
    connection.close()


def basic_scrape(server: StepLine, key: str, secret: str, method: str = "GET", path: str = "/metrics",
                 authorization: str | None = None) -> tuple[int, bytes]:
    """A request as Prometheus's `basic_auth` sends it: the Authorization header up front, no challenge awaited."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    request = urllib.request.Request(f"{server.url}{path}", method=method,
                                     headers={"Authorization": authorization or f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_prometheus_scrapes_the_metrics_with_basic_authentication(server: StepLine) -> None:
    """A scraper that cannot sign SigV4 sends a user's access key id and secret as HTTP Basic credentials."""
    status, body = basic_scrape(server, *ALICE)
    assert status == 200 and b"stepline_executions_started_total" in body
    assert basic_scrape(server, *ALICE, path="/metrics?name[]=x")[0] == 200


@pytest.mark.parametrize(("key", "secret", "authorization", "expected"), [
    pytest.param(ALICE[0], ALICE[1] + "x", None, "UnrecognizedClientException", id="wrong-secret"),
    pytest.param(ALICE[0], ALICE[1][:-1], None, "UnrecognizedClientException", id="secret-prefix"),
    pytest.param(ALICE[0], "", None, "UnrecognizedClientException", id="empty-secret"),
    pytest.param("AKIANOBODYEXAMPLE000", ALICE[1], None, "UnrecognizedClientException", id="unknown-key"),
    pytest.param(BOB[0], BOB[1], None, "UnrecognizedClientException", id="key-with-a-session-token"),
    pytest.param("", "", "Basic not-base64!", "IncompleteSignatureException", id="not-base64"),
    pytest.param("", "", "Basic " + base64.b64encode(b"no-colon").decode(), "IncompleteSignatureException",
                 id="no-colon"),
])
def test_wrong_basic_credentials_are_refused_in_aws_shape(server: StepLine, key: str, secret: str,
                                                          authorization: str | None, expected: str) -> None:
    status, body = basic_scrape(server, key, secret, authorization=authorization)
    assert (status, json.loads(body)["__type"]) == (400, expected)


@pytest.mark.parametrize(("method", "path"), [
    pytest.param("GET", "/", id="console-home"),
    pytest.param("GET", "/console/api/metrics", id="console-api"),
    pytest.param("POST", "/", id="api"),
    pytest.param("POST", "/metrics", id="metrics-not-get"),
])
def test_basic_authentication_opens_nothing_but_the_metrics(server: StepLine, method: str, path: str) -> None:
    status, body = basic_scrape(server, *ALICE, method=method, path=path)
    refusal = json.loads(body)
    assert (status, refusal["__type"]) == (400, "IncompleteSignatureException")
    assert "Basic authentication is accepted for GET /metrics only" in refusal["message"]
