"""Signature Version 4, checked as AWS checks it for service `states`: in the Authorization header or in the
query string (a presigned request), with session tokens, on any Host the client signed (the `sync-` prefix too).

    user = verify(SignedRequest(method="POST", path="/", query="", headers=[...], body=b"...", scheme="http"),
                  users, now=datetime.now(UTC))        # the User; raises the ApiError AWS would answer

The canonical request and the signature are computed by botocore's own SigV4 signer (the code that signs
boto3's and the AWS CLI's requests), given exactly the headers the client says it signed; the signatures are
compared in constant time. A request signed more than 5 minutes before or after now (AWS's clock-skew limit)
is refused, as is a presigned request past its X-Amz-Expires.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from stepline.security.credentials import User
from stepline.service.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

SERVICE = "states"
ALGORITHM = "AWS4-HMAC-SHA256"
CLOCK_SKEW = timedelta(minutes=5)
MAX_EXPIRES_SECONDS = 604_800  # a presigned request lasts at most 7 days, as AWS allows
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
BAD_SIGNATURE_MESSAGE = ("The request signature we calculated does not match the signature you provided. Check your "
                         "AWS Secret Access Key and signing method. Consult the service documentation for details.")
BAD_TOKEN_MESSAGE = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    """An HTTP request as it arrived: the path and query as sent (still percent-encoded)."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]  # (lower-case name, value), repeated names kept
    body: bytes
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


@dataclass(frozen=True, slots=True)
class _Signature:
    """What a request says about its signature, from the Authorization header or the query string."""

    credential: str
    signed_headers: tuple[str, ...]
    signature: str
    date: str
    token: str | None
    expires: int | None  # presigned requests only
    query: str  # the query string that was signed (a presigned request's without X-Amz-Signature)


def is_signed(request: SignedRequest) -> bool:
    """The request carries a signature (well formed or not), in its header or query string."""
    return request.header("authorization") is not None or any(
        key.lower() in ("x-amz-algorithm", "x-amz-signature", "x-amz-credential")
        for key, _ in parse_qsl(request.query, keep_blank_values=True))


def verify(request: SignedRequest, users: Mapping[str, User], *, now: datetime) -> User:
    """The user whose key signed the request; the ApiError AWS answers otherwise."""
    signature = _from_header(request) if request.header("authorization") is not None else _from_query(request)
    key_id, scope_date, region, service, terminator = _scope(signature.credential)
    if service != SERVICE:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if terminator != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
    if scope_date != signature.date[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{signature.date[:8]}', from '{signature.date}'.")
    user = users.get(key_id)
    if user is None or not _same(signature.token or "", user.session_token or ""):
        raise UnrecognizedClientException(BAD_TOKEN_MESSAGE)
    _check_time(signature, now)
    if "host" not in signature.signed_headers:
        raise IncompleteSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    body_hash = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")  # the body is always signed: no UNSIGNED-PAYLOAD
    if declared is not None and declared != body_hash:
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    if not _same(_signature_of(request, signature, user, region, body_hash), signature.signature.lower()):
        raise InvalidSignatureException(BAD_SIGNATURE_MESSAGE)
    return user


def _from_header(request: SignedRequest) -> _Signature:
    authorization = request.header("authorization") or ""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Authorization header requires the '{ALGORITHM}' algorithm (Signature Version 4).")
    parts = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        parts[name] = value.strip()
    date = request.header("x-amz-date")
    problems = [f"Authorization header requires '{name}' parameter."
                for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if not date:
        problems.append("Authorization header requires existence of an 'X-Amz-Date' header.")
    if problems:
        raise IncompleteSignatureException(" ".join(problems))
    return _Signature(credential=parts["Credential"], signed_headers=tuple(parts["SignedHeaders"].split(";")),
                      signature=parts["Signature"], date=date or "", token=request.header("x-amz-security-token"),
                      expires=None, query=request.query)


def _from_query(request: SignedRequest) -> _Signature:
    pairs = parse_qsl(request.query, keep_blank_values=True)
    if not pairs or not is_signed(request):
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    values = {key: value for key, value in pairs}
    names = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
             "X-Amz-Signature")
    missing = [name for name in names if not values.get(name)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"AWS query-string parameters must include '{name}'." for name in missing))
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignatureException(f"X-Amz-Algorithm must be '{ALGORITHM}' (Signature Version 4).")
    expires = values["X-Amz-Expires"]
    if not expires.isdecimal() or not 1 <= int(expires) <= MAX_EXPIRES_SECONDS:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_EXPIRES_SECONDS}, not '{expires}'.")
    signed_query = "&".join(pair for pair in request.query.split("&")
                            if pair.partition("=")[0] != "X-Amz-Signature")
    return _Signature(credential=values["X-Amz-Credential"],
                      signed_headers=tuple(values["X-Amz-SignedHeaders"].split(";")),
                      signature=values["X-Amz-Signature"], date=values["X-Amz-Date"],
                      token=values.get("X-Amz-Security-Token"), expires=int(expires), query=signed_query)


def _scope(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _check_time(signature: _Signature, now: datetime) -> None:
    try:
        signed = datetime.strptime(signature.date, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{signature.date}'.") from None
    stamp = now.astimezone(UTC).strftime
    if signature.expires is not None:  # a presigned request: valid from its date for X-Amz-Expires seconds
        if signed + timedelta(seconds=signature.expires) < now:
            earliest = (now - timedelta(seconds=signature.expires)).strftime(_TIME_FORMAT)
            raise InvalidSignatureException(f"Signature expired: {signature.date} is now earlier than {earliest} "
                                            f"({stamp(_TIME_FORMAT)} - {signature.expires} sec.)")
    elif signed < now - CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {signature.date} is now earlier than {(now - CLOCK_SKEW).strftime(_TIME_FORMAT)} "
            f"({stamp(_TIME_FORMAT)} - 5 min.)")
    if signed > now + CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {signature.date} is still later than "
            f"{(now + CLOCK_SKEW).strftime(_TIME_FORMAT)} ({stamp(_TIME_FORMAT)} + 5 min.)")


class _Signer(SigV4Auth):
    """botocore's SigV4 signer, over exactly the headers the client signed and the payload hash given."""

    def __init__(self, user: User, region: str, signed_headers: HTTPHeaders, payload_hash: str) -> None:
        super().__init__(Credentials(user.access_key_id, user.secret_access_key), SERVICE, region)
        self._signed_headers = signed_headers
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        return self._signed_headers

    def payload(self, request: Any) -> str:
        return self._payload_hash


def _signature_of(request: SignedRequest, signature: _Signature, user: User, region: str, payload: str) -> str:
    signed = HTTPHeaders()
    for name, value in request.headers:
        if name in signature.signed_headers:
            signed[name] = value  # appends: a repeated header's values are joined with commas
    host = request.header("host") or ""
    url = f"{request.scheme}://{host}{request.path}" + (f"?{signature.query}" if signature.query else "")
    aws_request = AWSRequest(method=request.method, url=url)
    aws_request.context["timestamp"] = signature.date
    signer = _Signer(user, region, signed, payload)
    canonical = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))


def _same(first: str, second: str) -> bool:
    """Constant-time equality, so that the time taken says nothing about how much of a secret matched."""
    return hmac.compare_digest(first.encode(), second.encode())
