"""The body of a console POST (the pages' JSON routes, the sign-in form): its media type checked and its size
bounded while it is read. The API's own requests are read by api/protocol.py."""

from __future__ import annotations

from starlette.requests import Request

from stepline.service.errors import RequestEntityTooLarge, ValidationException


async def request_body(request: Request, *, media_type: str, max_bytes: int, sender: str) -> bytes:
    """The body of a request that `sender` ("Console requests") must send as `media_type`: ValidationException
    for another Content-Type, RequestEntityTooLarge past `max_bytes` (reading stops there)."""
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != media_type:
        raise ValidationException(f"{sender} must be sent as Content-Type: {media_type}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestEntityTooLarge(f"Request size exceeds the maximum of {max_bytes} bytes.")
    return bytes(body)
