"""Signing in to the console and out of it, when the server has credentials configured (security/gate.py).

    GET  /console/login[?next=/path]      the sign-in form: an access key id and its secret access key
    POST /console/login                   form fields access_key_id, secret_access_key, next
    GET  /console/login?token=T           a one-time sign-in link printed by `stepline serve`
    POST /console/logout                  ends the session (the pages send it with their CSRF header)

A sign-in sets the session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and goes on to `next`, a path of
this server. The pages are plain HTML forms: no script runs before anyone is signed in. Without credentials
configured the console is open, and these addresses lead to it.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from stepline.security.gate import console_session
from stepline.console.bodies import request_body
from stepline.service.errors import UnrecognizedClientException, ValidationException

MAX_FORM_BYTES = 8192

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>Sign in · stepline console</title>
<link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/theme.js"></script>
</head>
<body>
<header class="topbar"><span class="brand">stepline</span></header>
<main id="main" class="sign-in">
<h1>Sign in</h1>
{body}
</main>
</body>
</html>
"""

_FORM = """<p class="muted">Use an access key of this server's credentials file, as for the AWS CLI.</p>
{error}<form method="post" action="/console/login" class="sign-in-form">
<label for="access-key-id">Access key ID</label>
<input id="access-key-id" name="access_key_id" value="{key}" autocomplete="username" required autofocus>
<label for="secret-access-key">Secret access key</label>
<input id="secret-access-key" name="secret_access_key" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit" class="primary">Sign in</button>
</form>
"""


def _authenticator(request: Request) -> Any:
    return getattr(request.app.state, "authenticator", None)


def _page(body: str, status: int = 200, refresh: str = "") -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body, refresh=refresh), status_code=status,
                        headers={"cache-control": "no-store"})


def _form(next_path: str, error: str = "", status: int = 200, key: str = "") -> HTMLResponse:
    shown = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    return _page(_FORM.format(error=shown, next=escape(_local(next_path)), key=escape(key)), status)


def _local(path: str) -> str:
    """`path` if it is a path of this server ("/executions/..."), else "/": never another site."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


async def login_page(request: Request) -> Response:
    """The sign-in form, or a one-time link's sign-in."""
    authenticator = _authenticator(request)
    if authenticator is None:
        return RedirectResponse("/", status_code=303)
    token = request.query_params.get("token")
    if token is None:
        return _form(request.query_params.get("next", "/"))
    session = authenticator.sessions.redeem(token)
    if session is None:
        return _form("/", "This sign-in link has been used already, has expired, or is not one of this server's.",
                     403)
    # a page that moves on by itself rather than a redirect: the SameSite=Strict cookie is then sent even when
    # the link was opened from another site's page
    response = _page('<p>Signed in. <a href="/">Open the console</a>.</p>',
                     refresh='<meta http-equiv="refresh" content="0; url=/">\n')
    authenticator.session_cookie(response, session)
    return response


async def login(request: Request) -> Response:
    """Check the key and secret of the form; on success set the session cookie and go on to `next`."""
    authenticator = _authenticator(request)
    if authenticator is None:
        return RedirectResponse("/", status_code=303)
    form = await _form_fields(request)
    try:
        session = authenticator.sign_in(form.get("access_key_id", ""), form.get("secret_access_key", ""))
    except UnrecognizedClientException as error:
        return _form(form.get("next", "/"), error.message, 403, key=form.get("access_key_id", ""))
    response = RedirectResponse(_local(form.get("next", "/")), status_code=303)
    authenticator.session_cookie(response, session)
    return response


async def logout(request: Request) -> Response:
    """End the request's console session and clear its cookie."""
    authenticator = _authenticator(request)
    response = Response(status_code=204)
    session = console_session(request)
    if authenticator is not None and session is not None:
        authenticator.sessions.close(session.token)
        authenticator.session_cookie(response, None)
    return response


async def _form_fields(request: Request) -> dict[str, str]:
    body = await request_body(request, media_type="application/x-www-form-urlencoded", max_bytes=MAX_FORM_BYTES,
                              sender="The sign-in form")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise ValidationException("The sign-in form is not valid form data") from None
    return {key: values[0] for key, values in fields.items()}
