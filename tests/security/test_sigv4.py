"""security/sigv4.py on requests signed by botocore and then changed: what is checked, and the error AWS names."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from secured import ALICE, BOB
from stepline.security.credentials import User
from stepline.security.sigv4 import SignedRequest, verify

USERS = {ALICE[0]: User(name="alice", access_key_id=ALICE[0], secret_access_key=ALICE[1]),
         BOB[0]: User(name="bob", access_key_id=BOB[0], secret_access_key=BOB[1], session_token=BOB[2])}
URL = "http://127.0.0.1:8083/"
BODY = b'{"name": "a"}'


def arrived(request: AWSRequest, body: bytes = BODY, **changes: Any) -> SignedRequest:
    """The request as the server receives it from botocore's signed AWSRequest."""
    path, _, query = request.url.removeprefix("http://127.0.0.1:8083").partition("?")
    headers = [(name.lower(), value) for name, value in request.headers.items()] + [("host", "127.0.0.1:8083")]
    return SignedRequest(**{"method": "POST", "path": path, "query": query, "headers": headers, "body": body,
                            **changes})


def header_signed(key: tuple[str, ...] = ALICE, body: bytes = BODY, **headers: str) -> AWSRequest:
    request = AWSRequest(method="POST", url=URL, data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.CreateActivity", **headers})
    SigV4Auth(Credentials(*key), "states", "eu-west-3").add_auth(request)
    return request


def code(request: SignedRequest, now: datetime | None = None) -> str:
    with pytest.raises(Exception) as raised:
        verify(request, USERS, now=now or datetime.now(UTC))
    return f"{raised.value.code}: {raised.value.message}"


def test_a_request_signed_by_botocore_in_any_region_is_its_users() -> None:
    assert verify(arrived(header_signed()), USERS, now=datetime.now(UTC)).name == "alice"
    assert verify(arrived(header_signed(BOB)), USERS, now=datetime.now(UTC)).name == "bob"


def test_a_repeated_signed_header_is_signed_with_all_its_values() -> None:
    request = arrived(header_signed(**{"X-Custom": "one, two"}))
    assert verify(request, USERS, now=datetime.now(UTC)).name == "alice"


@pytest.mark.parametrize("change, expected", [
    pytest.param({"method": "PUT"}, "InvalidSignatureException: The request signature we calculated", id="method"),
    pytest.param({"path": "/other"}, "InvalidSignatureException: The request signature we calculated", id="path"),
    pytest.param({"query": "x=1"}, "InvalidSignatureException: The request signature we calculated", id="query"),
    pytest.param({"body": b"{}"}, "InvalidSignatureException: The request signature we calculated", id="body"),
])
def test_whatever_part_of_a_signed_request_changes_the_signature_no_longer_matches(change: dict,
                                                                                   expected: str) -> None:
    assert code(arrived(header_signed(), **change)).startswith(expected)


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    forged = arrived(header_signed(**{"X-Amz-Content-SHA256": hashlib.sha256(b"{}").hexdigest()}))
    assert code(forged) == ("InvalidSignatureException: The provided 'x-amz-content-sha256' header does not match "
                            "what was computed.")
    unsigned = arrived(header_signed(**{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}))
    assert code(unsigned).startswith("InvalidSignatureException: The provided 'x-amz-content-sha256'")


def test_the_date_of_the_signature_is_checked_against_the_servers_clock() -> None:
    request = arrived(header_signed())
    signed_at = datetime.strptime(request.header("x-amz-date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    now = signed_at + timedelta(minutes=5, seconds=1)
    assert code(request, now) == (
        f"InvalidSignatureException: Signature expired: {signed_at:%Y%m%dT%H%M%SZ} is now earlier than "
        f"{signed_at + timedelta(seconds=1):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 5 min.)")
    assert verify(request, USERS, now=signed_at + timedelta(minutes=5)).name == "alice"


def test_a_presigned_request_is_checked_until_it_expires() -> None:
    request = AWSRequest(method="POST", url=URL, headers={"X-Amz-Target": "AWSStepFunctions.ListActivities"})
    SigV4QueryAuth(Credentials(*BOB), "states", "us-east-1", expires=30).add_auth(request)
    presigned = arrived(request, body=b"")
    signed_at = datetime.strptime(dict(p.split("=") for p in presigned.query.split("&"))["X-Amz-Date"],
                                  "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert verify(presigned, USERS, now=signed_at + timedelta(seconds=30)).name == "bob"
    assert code(presigned, signed_at + timedelta(seconds=31)).startswith(
        "InvalidSignatureException: Signature expired: ")
    assert code(arrived(request, body=b"{}")).startswith("InvalidSignatureException: The request signature")
    without_token = presigned.query.replace("X-Amz-Security-Token=", "X-Amz-Other=")
    assert code(arrived(request, body=b"", query=without_token)) == \
        "UnrecognizedClientException: The security token included in the request is invalid."


@pytest.mark.parametrize("query, expected", [
    pytest.param("X-Amz-Signature=00", "IncompleteSignatureException: AWS query-string parameters must include "
                 "'X-Amz-Algorithm'.", id="only-a-signature"),
    pytest.param("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=k/20240501/us-east-1/states/aws4_request"
                 "&X-Amz-Date=20240501T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                 "IncompleteSignatureException: X-Amz-Expires must be a whole number of seconds from 1 to 604800, "
                 "not '604801'.", id="expires-past-7-days"),
    pytest.param("Action=ListActivities", "MissingAuthenticationTokenException: Missing Authentication Token",
                 id="no-signature"),
])
def test_a_malformed_presigned_query_is_named(query: str, expected: str) -> None:
    request = SignedRequest(method="POST", path="/", query=query, headers=[("host", "127.0.0.1:8083")], body=b"")
    assert code(request).startswith(expected)


def test_a_signature_made_with_a_past_clock_on_the_client_has_expired() -> None:
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: datetime.now(UTC) - timedelta(hours=1)):
        request = arrived(header_signed())
    assert code(request).startswith("InvalidSignatureException: Signature expired: ")
