"""Who may talk to the server: every request is authenticated before any route sees it, unless its path is public.

    authenticator = Authenticator(load_credentials("credentials.ini"), secure_cookies=tls)
    app = RequireAuthentication(app, authenticator, max_body_bytes=1_048_576)   # server.py installs it

A request is let in when it carries a valid Signature Version 4 of a known key (sigv4.py: boto3, the AWS CLI,
SAM, presigned URLs), or the cookie of a console session; a console session's state-changing requests (any
method but GET and HEAD) must also carry the session's token in the `X-Stepline-CSRF` header, which a page
of another site cannot read nor send. Anything else is refused in AWS's shape (MissingAuthenticationToken...);
a browser asking for a page without a session is sent to the sign-in page instead.

`GET /metrics` also takes HTTP Basic authentication with a user's access key id and secret access key (what
Prometheus's `basic_auth` sends: it cannot sign SigV4); the secret then travels in clear, so serve it over TLS.

Routes added later are protected without doing anything: only PUBLIC_PATHS are open. A route reads who was let
in with `authenticated_user(request)`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from urllib.parse import quote

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stepline.errors import ApiError
from stepline.security.credentials import User
from stepline.security.sessions import SESSION_SECONDS, Session, Sessions
from stepline.security.sigv4 import SignedRequest, is_signed, verify
from stepline.service.errors import (
    AccessDeniedException,
    IncompleteSignatureException,
    MissingAuthenticationTokenException,
    RequestEntityTooLarge,
    UnrecognizedClientException,
    error_body,
)

logger = logging.getLogger(__name__)

SESSION_COOKIE = "stepline-session"
# over TLS the cookie's name has the __Host- prefix: the browser then takes it only from this very origin, Secure
# and for path /, so a sibling (sub)domain cannot plant a session cookie of its own
SECURE_SESSION_COOKIE = "__Host-stepline-session"
CSRF_HEADER = "x-stepline-csrf"
LOGIN_PATH = "/console/login"
PUBLIC_PATHS = (LOGIN_PATH,)  # and everything under PUBLIC_PREFIXES
PUBLIC_PREFIXES = ("/console/static/",)  # the console's scripts and styles: code, no data
BASIC_AUTH_PATHS = ("/metrics",)  # GET only: scrapers that cannot sign SigV4
_SAFE_METHODS = ("GET", "HEAD")
_DRAIN_FACTOR = 16  # a too-large body is read (and dropped) up to 16 times the limit, so the client sees the 413


class Authenticator:
    """The users of a server and its console sessions; decides whether a request is authenticated."""

    def __init__(self, users: Mapping[str, User], *, secure_cookies: bool = False) -> None:
        self.users = dict(users)
        self.sessions = Sessions()
        self.secure_cookies = secure_cookies
        self.cookie_name = SECURE_SESSION_COOKIE if secure_cookies else SESSION_COOKIE

    def authenticate(self, request: SignedRequest, *, now: datetime | None = None) -> tuple[str, Session | None]:
        """(the user's name, the console session if that is how it came in); the ApiError to answer otherwise."""
        if _is_basic(request):
            return self._basic_user(request).name, None
        if is_signed(request):
            return verify(request, self.users, now=now or datetime.now(UTC)).name, None
        session = self.session_of(request.header("cookie"))
        if session is None:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
                (request.header(CSRF_HEADER) or "").encode(), session.csrf.encode()):
            raise AccessDeniedException("The console session's request lacks its X-Stepline-CSRF token: it was not "
                                        "sent by a page of this console. Reload the page.")
        return session.user, session

    def session_of(self, cookie_header: str | None) -> Session | None:
        token = _cookie(cookie_header, self.cookie_name)
        return self.sessions.find(token) if token else None

    def sign_in(self, access_key_id: str, secret_access_key: str) -> Session:
        """A new session when the key and secret are a user's; UnrecognizedClientException otherwise, and for a key
        accepted only with its session token (the sign-in form cannot carry one, as Basic cannot)."""
        user = self._user_with_secret(access_key_id.strip(), secret_access_key.strip())
        if user is None:
            raise UnrecognizedClientException("The access key ID or the secret access key is not right.")
        if user.session_token is not None:
            raise UnrecognizedClientException(f"The access key {user.access_key_id} is accepted only with its "
                                              "session token, which the sign-in form cannot carry: use another key.")
        return self.sessions.open(user.name)

    def _user_with_secret(self, access_key_id: str, secret_access_key: str) -> User | None:
        """The user of this key when the secret is its; compared in constant time (an unknown key too)."""
        user = self.users.get(access_key_id)
        expected = user.secret_access_key if user is not None else "\0" * 40
        if not hmac.compare_digest(secret_access_key.encode(), expected.encode()) or user is None:
            return None
        return user

    def _basic_user(self, request: SignedRequest) -> User:
        """The user of an `Authorization: Basic` header (access key id and secret access key), on the paths that
        take one; the ApiError to answer otherwise."""
        if request.method != "GET" or request.path not in BASIC_AUTH_PATHS:
            raise IncompleteSignatureException(
                f"HTTP Basic authentication is accepted for GET {', '.join(BASIC_AUTH_PATHS)} only; sign this request "
                "with Signature Version 4.")
        _, _, encoded = (request.header("authorization") or "").strip().partition(" ")
        try:
            access_key_id, colon, secret_access_key = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            colon = ""
        if not colon:
            raise IncompleteSignatureException(
                "The Basic authorization must be base64 of access-key-id:secret-access-key.")
        user = self._user_with_secret(access_key_id, secret_access_key)
        if user is None:
            raise UnrecognizedClientException("The access key id or the secret access key of the Basic authorization "
                                              "is not valid.")
        if user.session_token is not None:
            raise UnrecognizedClientException(f"The access key {access_key_id} is accepted only with its session "
                                              "token, which Basic authentication cannot carry: use another key.")
        return user

    def session_cookie(self, response: Response, session: Session | None) -> None:
        """Set (or, with None, clear) the session cookie: HttpOnly, SameSite=Strict, Secure over TLS."""
        response.set_cookie(self.cookie_name, session.token if session else "",
                            max_age=SESSION_SECONDS if session else 0, path="/", httponly=True,
                            samesite="strict", secure=self.secure_cookies)


def _is_basic(request: SignedRequest) -> bool:
    scheme, _, _ = (request.header("authorization") or "").strip().partition(" ")
    return scheme.lower() == "basic"


def authenticated_user(request: Request) -> str | None:
    """The name of the user the request was let in as; None when the server has no credentials configured."""
    user = request.scope.get("stepline.user")
    return user if isinstance(user, str) else None


def console_session(request: Request) -> Session | None:
    """The console session the request came in with, if any."""
    session = request.scope.get("stepline.session")
    return session if isinstance(session, Session) else None


class RequireAuthentication:
    """ASGI middleware: lets in only authenticated requests (the body is read first, for the signature, and
    handed on unchanged), and any request to a public path."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, max_body_bytes: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        body, too_large = await _read_body(receive, self.max_body_bytes)
        headers = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]]
        request = SignedRequest(method=scope["method"], path=scope.get("raw_path", path.encode()).decode("latin-1"),
                                query=scope.get("query_string", b"").decode("latin-1"), headers=headers, body=body,
                                scheme=scope.get("scheme", "http"))
        try:
            if too_large:
                raise RequestEntityTooLarge(f"Request size exceeds the maximum of {self.max_body_bytes} bytes.")
            user, session = self.authenticator.authenticate(request)
        except ApiError as error:
            logger.info("Refused %s %s: %s", scope["method"], path, error.code,
                        extra={"error": error.code, "client": (scope.get("client") or ("",))[0], "path": path})
            await _refusal(scope, error)(scope, receive, send)
            return
        scope["stepline.user"], scope["stepline.session"] = user, session
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > limit * _DRAIN_FACTOR:
            return b"".join(chunks), size > limit


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body once, then what the client sends next (its disconnection)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replay


def _refusal(scope: Scope, error: ApiError) -> Response:
    """AWS's error, or for a browser asking for a console page without a session, the sign-in page."""
    headers = Headers(scope=scope)
    if (isinstance(error, MissingAuthenticationTokenException) and scope["method"] in _SAFE_METHODS
            and "text/html" in headers.get("accept", "") and not scope["path"].startswith("/console/api/")):
        target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303,
                                headers={"cache-control": "no-store"})
    return Response(orjson.dumps(error_body(error)), status_code=error.status, media_type="application/json")


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # a malformed Cookie header: no session
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None and morsel.value else None


