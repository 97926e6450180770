"""`InputType: JSON`: the items of a JSON array in an S3 object (the whole file, or the array that
`ItemsPointer`, a JSON Pointer, names inside an object), read as a stream: only the item being parsed is held.

The cursor is `{"offset": n, "etag": ...}`: the byte at which the next item (or the array's `]`) starts; a
resumed read opens the object there, checked against the ETag it started with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import orjson

from stepline.errors import StatesError
from stepline.jsonvalue import JSON
from stepline.runtime.items.s3 import READER_FAILED, S3

CHUNK = 1 << 18
NOT_ARRAY = "Attempting to map over non-iterable node."
_NON_SPACE = re.compile(rb"[^ \t\r\n]")
_STRING_STOP = re.compile(rb'["\\]')
_SCALAR_END = re.compile(rb"[,\]}: \t\r\n]")
_STRUCTURE = re.compile(rb'["\[\]{}]')


def read_json(s3: S3, bucket: str, key: str, cursor: JSON, *, pointer: str | None, item_limit: int,
              version: str | None = None) -> Iterator[tuple[JSON, JSON]]:
    offset = cursor.get("offset") if isinstance(cursor, dict) else None
    etag = cursor.get("etag") if isinstance(cursor, dict) else None
    stream, etag = s3.open(bucket, key, offset or 0, etag=etag, version=version)
    try:
        window = _Window(stream, offset or 0)
        if offset is None:
            position = _find_array(window, _pointer_tokens(pointer))
        else:
            position = offset
        for item, after in _elements(window, position, item_limit):
            yield item, {"offset": after, "etag": etag}
    finally:
        stream.close()


def _pointer_tokens(pointer: str | None) -> list[str]:
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise StatesError(READER_FAILED, f"The ItemsPointer '{pointer}' is not a JSON Pointer")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


class _Window:
    """The bytes of a stream from absolute position `base` on, read a chunk at a time; positions are absolute."""

    def __init__(self, stream: BinaryIO, base: int) -> None:
        self.stream, self.base, self.data, self.ended = stream, base, bytearray(), False

    def more(self, keep: int) -> bool:
        """Read another chunk, forgetting the bytes before `keep`. False at the end of the stream."""
        if self.ended:
            return False
        if keep > self.base:
            del self.data[:keep - self.base]
            self.base = keep
        chunk = self.stream.read(CHUNK)
        if not chunk:
            self.ended = True
            return False
        self.data += chunk
        return True

    def find(self, pattern: re.Pattern[bytes], position: int, keep: int | None = None) -> int | None:
        """The position of the next byte at or after `position` that matches; None at the end."""
        while True:
            found = pattern.search(self.data, max(position - self.base, 0))
            if found:
                return self.base + found.start()
            if not self.more(position if keep is None else keep):
                return None

    def byte(self, position: int) -> int:
        return self.data[position - self.base]

    def next_byte(self, position: int, keep: int | None = None) -> tuple[int, int] | None:
        """The next non-space byte at or after `position`, and its position."""
        found = self.find(_NON_SPACE, position, keep)
        return None if found is None else (self.byte(found), found)

    def slice(self, start: int, end: int) -> bytes:
        return bytes(self.data[start - self.base:end - self.base])


def _malformed(position: int) -> StatesError:
    return StatesError(READER_FAILED, f"The JSON file is not valid JSON (at byte {position})")


def _value_end(window: _Window, start: int, keep: int | None, limit: int | None) -> int:
    """The position just after the JSON value that starts at `start`."""
    first = window.byte(start)
    if first == ord('"'):
        return _string_end(window, start, keep)
    if first not in b"[{":
        end = window.find(_SCALAR_END, start + 1, keep)
        return end if end is not None else window.base + len(window.data)
    depth, position = 0, start
    while True:
        if limit is not None and position - start > limit:
            raise _too_big(limit)
        found = window.find(_STRUCTURE, position, keep)
        if found is None:
            raise _malformed(position)
        mark = window.byte(found)
        if mark == ord('"'):
            position = _string_end(window, found, keep)
            continue
        depth += 1 if mark in b"[{" else -1
        position = found + 1
        if depth == 0:
            return position


def _string_end(window: _Window, start: int, keep: int | None) -> int:
    position = start + 1
    while True:
        found = window.find(_STRING_STOP, position, keep)
        if found is None:
            raise _malformed(start)
        if window.byte(found) == ord('"'):
            return found + 1
        position = found + 2  # an escape: skip the escaped byte


def _too_big(limit: int) -> StatesError:
    return StatesError(READER_FAILED, f"An item in the JSON file is larger than the limit of {limit} bytes")


def _find_array(window: _Window, tokens: list[str]) -> int:
    """The position just after the `[` of the array the pointer names (the document itself without one)."""
    found = window.next_byte(0)
    if found is None:
        raise _malformed(0)
    for token in tokens:
        mark, position = found
        found = _member(window, position, token) if mark in b"[{" else None
        if found is None:
            raise StatesError(READER_FAILED, "The ItemsPointer '/" + "/".join(
                t.replace("~", "~0").replace("/", "~1") for t in tokens) + "' matches no value in the JSON file")
    mark, position = found
    if mark != ord("["):
        raise StatesError(READER_FAILED, NOT_ARRAY)
    return position + 1


def _member(window: _Window, start: int, token: str) -> tuple[int, int] | None:
    """The first byte (and its position) of the member `token` of the object or array at `start`."""
    is_object = window.byte(start) == ord("{")
    index = 0
    found = window.next_byte(start + 1)
    if found is None or found[0] in b"]}":
        return None
    while True:
        mark, position = found
        if is_object:
            if mark != ord('"'):
                raise _malformed(position)
            key_end = _string_end(window, position, position)
            name = orjson.loads(window.slice(position, key_end))
            colon = window.next_byte(key_end)
            if colon is None or colon[0] != ord(":"):
                raise _malformed(key_end)
            found = window.next_byte(colon[1] + 1)
            if found is None:
                raise _malformed(colon[1])
            if name == token:
                return found
        elif token == str(index):
            return found
        index += 1
        after = window.next_byte(_value_end(window, found[1], None, None))
        if after is None or after[0] not in b",]}":
            raise _malformed(found[1])
        if after[0] != ord(","):
            return None
        found = window.next_byte(after[1] + 1)
        if found is None:
            raise _malformed(after[1])


def _elements(window: _Window, position: int, limit: int) -> Iterator[tuple[JSON, int]]:
    """The array's elements from `position` (the start of an element, or of space before one or the `]`), each
    with the position where the next begins."""
    while True:
        found = window.next_byte(position)
        if found is None:
            raise _malformed(position)
        mark, start = found
        if mark == ord("]"):
            return
        end = _value_end(window, start, start, limit)
        if end - start > limit:
            raise _too_big(limit)
        try:
            item = orjson.loads(window.slice(start, end))
        except orjson.JSONDecodeError:
            raise _malformed(start) from None
        after = window.next_byte(end, end)
        if after is None or after[0] not in b",]":
            raise _malformed(end)
        position = after[1] + 1 if after[0] == ord(",") else after[1]
        yield item, position
