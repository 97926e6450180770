"""How the store writes records and events as JSON text (record dates as epoch seconds, event timestamps as
RFC 3339 text; both read back as aware datetimes), and turns rows into records: one function per kind.

Histories are stored in pages: the events one commit adds to one execution, as one JSON array per row (split
every HISTORY_PAGE events). A row per event would cost the database as much as the rest of a transition's work.
Event ids are gap-free, so the pages holding events a..b are those with first_id <= b and last_id >= a."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from stepline.engine.effects import InvokeTask
from stepline.engine.resources import Resource, describe_resource
from stepline.jsonvalue import dumps, loads
from stepline.runtime.store.base import InboxSignal, PendingTask, Timer
from stepline.runtime.store.records import ExecutionRecord, Kind, Stored

HISTORY_PAGE = 500  # events per stored row at most: what reading one event may have to decode
DATE_KEYS = frozenset({"creationDate", "updateDate", "startDate", "stopDate", "redriveDate"})


def epoch(value: datetime) -> float:
    return value.timestamp()


def date(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def moment(value: datetime | float) -> datetime:
    """A date column as an aware datetime in UTC: SQLite keeps epoch seconds, PostgreSQL timestamptz."""
    return value.astimezone(timezone.utc) if isinstance(value, datetime) else date(value)


def encode_record(record: dict[str, Any]) -> str:
    """A resource or execution record as JSON text; its dates as epoch seconds."""
    return dumps({k: epoch(v) if k in DATE_KEYS and isinstance(v, datetime) else v for k, v in record.items()})


def decode_record(text: str | bytes) -> dict[str, Any]:
    record: dict[str, Any] = loads(text)
    for key in DATE_KEYS & record.keys():
        if isinstance(record[key], (int, float)):
            record[key] = date(record[key])
    return record


def history_pages(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """A commit's events of one execution as the pages the stores write (a row each, read back whole)."""
    return [events[i:i + HISTORY_PAGE] for i in range(0, len(events), HISTORY_PAGE)]


def follow_one_another(events: list[dict[str, Any]]) -> bool:
    """Whether a commit's events have ids without gap or repeat (the interpreter numbers them in order)."""
    return bool(events[-1]["id"] - events[0]["id"] == len(events) - 1)


def event_window(after: int, limit: int, reverse: bool) -> tuple[int, int]:
    """The first and last ids get_events returns: `limit` events after `after`, or before it when reverse."""
    return (max(1, after - limit), after - 1) if reverse else (after + 1, after + limit)


def events_between(pages: list[str], first: int, last: int, reverse: bool) -> list[dict[str, Any]]:
    """Events first..last of the pages that hold them (in order), newest first when reverse."""
    events = [_with_datetime(event) for page in pages for event in loads(page) if first <= event["id"] <= last]
    return events[::-1] if reverse else events


def encode_events(events: list[dict[str, Any]]) -> str:
    """Several history events as one JSON array (orjson writes timestamps as RFC 3339 text)."""
    return dumps(events)


def timer_from_row(row: tuple[Any, ...]) -> Timer:
    arn, thread, kind, token, due = row
    return Timer(arn, thread, kind, token, moment(due))


def encode_task(task: PendingTask) -> str:
    """A pending task's invocation as JSON text."""
    # orjson writes dataclasses (the effect and its resource) as objects of their fields, without copying them
    return dumps({"effect": task.effect, "submitted": task.submitted, "handle": task.handle})


def task_from_row(row: tuple[Any, ...]) -> PendingTask:
    arn, thread, token, document, task_token, activity_arn, worker = row
    fields = loads(document)
    submitted = fields.pop("submitted", False)
    handle = fields.pop("handle", None)
    fields = fields.get("effect", fields)  # a store written before stored the effect's fields beside "submitted"
    resource = fields["resource"]
    # ... and the resource's ARN only
    fields["resource"] = Resource(**resource) if isinstance(resource, dict) else \
        describe_resource(resource, arn.split(":")[3])
    return PendingTask(arn, thread, token, InvokeTask(**fields), task_token, activity_arn, worker, submitted,
                       handle)


def execution_from_text(text: str | bytes) -> ExecutionRecord:
    return ExecutionRecord.from_json(decode_record(text))


def resource_from_text(kind: Kind[Stored], text: str | bytes) -> Stored:
    return kind.record.from_json(decode_record(text))


def signal_from_row(row: tuple[Any, ...]) -> InboxSignal:
    id, arn, kind, payload = row
    return InboxSignal(id, arn, kind, loads(payload))


def worker_from_row(row: tuple[Any, ...]) -> dict[str, Any]:
    name, record, heartbeat = row
    return {**loads(record), "name": name, "heartbeat": moment(heartbeat)}


def _with_datetime(event: dict[str, Any]) -> dict[str, Any]:
    stamp = datetime.fromisoformat(event["timestamp"])
    event["timestamp"] = stamp if event["timestamp"].endswith("+00:00") else stamp.astimezone(timezone.utc)
    return event
