"""maxResults and opaque nextTokens, with AWS's InvalidToken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stepline.service import paging
from stepline.service.errors import InvalidToken

NOW = datetime(2025, 1, 1, tzinfo=UTC)
ITEMS = [f"item-{i:03d}" for i in range(250)]


def _all_pages(items: list[str], max_results: int | None, scope: str = "q") -> list[list[str]]:
    pages, token = [], None
    while True:
        page, token = paging.paginate(items, key=str, max_results=max_results, next_token=token, scope=scope, now=NOW)
        pages.append(page)
        if token is None:
            return pages


@pytest.mark.parametrize(("max_results", "size"), [(None, 100), (0, 100), (1, 1), (7, 7), (1000, 1000)])
def test_page_size(max_results: int | None, size: int) -> None:
    assert paging.page_size(max_results) == size


def test_pages_cover_everything_once() -> None:
    pages = _all_pages(ITEMS, 0)
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [item for page in pages for item in page] == ITEMS
    assert _all_pages(ITEMS, 250) == [ITEMS]
    assert _all_pages([], None) == [[]]


def test_no_token_when_the_last_page_is_exactly_full() -> None:
    page, token = paging.paginate(ITEMS[:10], key=str, max_results=10, next_token=None, now=NOW)
    assert len(page) == 10 and token is None


def test_a_token_survives_deletion_of_the_item_it_names() -> None:
    page, token = paging.paginate(ITEMS, key=str, max_results=10, next_token=None, now=NOW)
    remaining = [item for item in ITEMS if item != page[-1]]
    after, _ = paging.paginate(remaining, key=str, max_results=10, next_token=token, now=NOW)
    assert after == ITEMS[10:20]
    descending = sorted(ITEMS, reverse=True)
    page, token = paging.paginate(descending, key=str, max_results=10, next_token=None, now=NOW)
    remaining = [item for item in descending if item != page[-1]]
    after, _ = paging.paginate(remaining, key=str, max_results=10, next_token=token, now=NOW)
    assert after == descending[10:20]


def test_tokens_are_opaque_and_short() -> None:
    token = paging.encode_token("arn:aws:states:us-east-1:123456789012:execution:" + "m" * 80 + ":" + "e" * 80,
                                scope="ListExecutions", now=NOW)
    assert "arn" not in token and len(token) <= 1024
    assert paging.decode_token(token, scope="ListExecutions", now=NOW).endswith("e" * 80)


@pytest.mark.parametrize("token", ["InvalidToken", "x", "!!!", "e30", paging.encode_token("k", scope="other", now=NOW)])
def test_bad_tokens(token: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        paging.paginate(ITEMS, key=str, max_results=None, next_token=token, scope="q", now=NOW)
    assert caught.value.message == "Invalid Token: 'Invalid token'"     # recorded from AWS


def test_tokens_expire_after_24_hours() -> None:
    token = paging.encode_token("item-010", scope="q", now=NOW)
    assert paging.decode_token(token, scope="q", now=NOW + timedelta(hours=23)) == "item-010"
    with pytest.raises(InvalidToken):
        paging.decode_token(token, scope="q", now=NOW + timedelta(hours=25))


def test_cursor_for_store_queries() -> None:
    assert paging.cursor(None, None) == paging.Cursor(after=None, limit=100)
    token = paging.encode_token("k", now=NOW)
    assert paging.cursor(5, token, now=NOW) == paging.Cursor(after="k", limit=5)
