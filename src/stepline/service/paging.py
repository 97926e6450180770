"""Pagination as AWS's list actions do it: `maxResults` (0 means the default) and opaque `nextToken`s.

    page, token = paginate(rows, key=lambda row: row.arn, max_results=max_results, next_token=next_token,
                           scope=f"ListExecutions/{state_machine_arn}/{status_filter}", now=now)

A token names the key of the last item returned, not an offset, so items added or removed between two calls
never shift a page. It is bound to the query that issued it (`scope`): a token from another query, a token
that was edited, or one older than 24 hours (AWS's expiry) is answered with InvalidToken.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import orjson

from stepline.service.errors import InvalidToken

DEFAULT_PAGE_SIZE = 100          # AWS: "The default is 100 and the maximum allowed page size is 1000"
MAX_PAGE_SIZE = 1000
TOKEN_LIFETIME = timedelta(hours=24)   # AWS: "Each pagination token expires after 24 hours"
_VERSION = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: after the item whose key is `after` (None: from the first item)."""

    after: str | None
    limit: int


def page_size(max_results: int | None, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The number of items a page holds: `maxResults`, or the default when it is absent or 0."""
    if not max_results:
        return default
    return max(1, min(max_results, MAX_PAGE_SIZE))


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def encode_token(after: str, *, scope: str = "", now: datetime | None = None) -> str:
    """An opaque token that resumes after the item keyed `after`, for the query named by `scope`."""
    issued = int((now or datetime.now(UTC)).timestamp())
    payload = orjson.dumps([_VERSION, _scope_digest(scope), issued, after])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_token(token: str, *, scope: str = "", now: datetime | None = None) -> str:
    """The key a token resumes after; InvalidToken when it is malformed, foreign to `scope`, or expired."""
    try:
        padded = token + "=" * (-len(token) % 4)
        version, digest, issued, after = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidToken("Invalid Token: 'Invalid token'") from None
    if version != _VERSION or digest != _scope_digest(scope) or not isinstance(after, str) \
            or not isinstance(issued, int):
        raise InvalidToken("Invalid Token: 'Invalid token'")
    moment = now or datetime.now(UTC)
    try:
        expired = moment - datetime.fromtimestamp(issued, UTC) > TOKEN_LIFETIME
    except (ValueError, OverflowError, OSError):  # a time no token was issued at
        expired = True
    if expired:
        raise InvalidToken("Invalid Token: 'Invalid token'")
    return after


def cursor(max_results: int | None, next_token: str | None, *, scope: str = "", now: datetime | None = None,
           default: int = DEFAULT_PAGE_SIZE) -> Cursor:
    """Parse a list request's `maxResults` and `nextToken` into a Cursor (for store queries that seek by key)."""
    after = decode_token(next_token, scope=scope, now=now) if next_token else None
    return Cursor(after=after, limit=page_size(max_results, default))


def paginate(items: Sequence[T], *, key: Callable[[T], str], max_results: int | None, next_token: str | None,
             scope: str = "", now: datetime | None = None,
             default: int = DEFAULT_PAGE_SIZE) -> tuple[list[T], str | None]:
    """One page of `items` (already in the listing's order) and the token for the next page, or None.

    `key` must be unique and sort along the listing (ascending or descending), e.g. f"{start:%s%f}/{arn}" for
    executions newest first. Then the token still works when the item it names has since been deleted: the
    page starts at the first item that comes after where that key was.
    """
    start = cursor(max_results, next_token, scope=scope, now=now, default=default)
    index = 0
    if start.after is not None:
        keys = [key(item) for item in items]
        index = keys.index(start.after) + 1 if start.after in keys else _resume_index(start.after, keys)
    page = list(items[index:index + start.limit])
    more = index + start.limit < len(items)
    token = encode_token(key(page[-1]), scope=scope, now=now) if more and page else None
    return page, token


def _resume_index(after: str, keys: list[str]) -> int:
    """Where a deleted key was, assuming keys sort in the listing's order (ascending or descending)."""
    if len(keys) >= 2 and keys[0] > keys[-1]:
        return next((i for i, k in enumerate(keys) if k < after), len(keys))
    return next((i for i, k in enumerate(keys) if k > after), len(keys))
