"""How both stores write records and events as JSON text: record dates as epoch seconds, event timestamps as
RFC 3339 text; both read back as aware datetimes."""

from __future__ import annotations

from datetime import datetime, timezone

from stepline.jsonvalue import dumps, loads

DATE_KEYS = frozenset({"creationDate", "updateDate", "startDate", "stopDate", "redriveDate"})


def epoch(value: datetime) -> float:
    return value.timestamp()


def date(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def encode_record(record: dict) -> str:
    """A resource or execution record as JSON text; its dates as epoch seconds."""
    return dumps({k: epoch(v) if k in DATE_KEYS and isinstance(v, datetime) else v for k, v in record.items()})


def decode_record(text: str | bytes) -> dict:
    record = loads(text)
    for key in DATE_KEYS & record.keys():
        if isinstance(record[key], (int, float)):
            record[key] = date(record[key])
    return record


def encode_event(event: dict) -> str:
    """A history event as JSON text (orjson writes the timestamp as RFC 3339 text)."""
    return dumps(event)


def decode_event(text: str | bytes) -> dict:
    event = loads(text)
    stamp = datetime.fromisoformat(event["timestamp"])
    event["timestamp"] = stamp if event["timestamp"].endswith("+00:00") else stamp.astimezone(timezone.utc)
    return event
