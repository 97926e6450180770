"""Timestamps as Step Functions reads and writes them. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

# ISO-8601 extended offset date-time: a date, 'T', a time with seconds, optional fraction, and an offset
_OFFSET_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})\Z"
)


def parse_timestamp(text: object) -> datetime | None:
    """The instant an ISO-8601 offset date-time names, or None when the text is not one."""
    if not isinstance(text, str):
        return None
    match = _OFFSET_DATE_TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                         tzinfo=timezone.utc)
    except ValueError:
        return None
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 18 or minutes > 59:
            return None
        value -= sign * timedelta(hours=hours, minutes=minutes)
    return value


def format_timestamp(value: datetime) -> str:
    """'2024-01-31T12:00:00.123Z', the form of $$.Execution.StartTime and $$.State.EnteredTime."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
