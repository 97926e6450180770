"""EventBridge's schedule expressions: `rate(5 minutes)`, `cron(0/15 8-17 ? * MON-FRI *)` and
`at(2030-01-01T09:00:00)`, parsed once into a ScheduleExpression that gives the due time following a moment.

Cron has EventBridge's six fields (minutes, hours, day of month, month, day of week, year), the day of week
numbered 1 (SUN) to 7 (SAT), one of the two day fields `?`, and the wildcards `, - * / ? L W #`: `L` the last day
of the month (or, in the day of week, Saturday; `6L` the month's last Friday), `15W` the weekday nearest the
15th (within the month), `LW` the month's last weekday, `2#1` the month's first Monday. Cron and at() are read in
the schedule's time zone; a local time that does not exist (a daylight saving gap) is taken an hour later, one
that occurs twice only the first time.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
LAST_YEAR = 2199
_RATE = re.compile(r"rate\((\d+) +([a-z]+)\)")
_CRON = re.compile(r"cron\(([^)]*)\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


class ExpressionError(ValueError):
    """A schedule expression EventBridge would refuse; the message says why."""


def time_zone(name: str) -> ZoneInfo:
    """An IANA time zone by name (`ScheduleExpressionTimezone`)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExpressionError(f"{name!r} is not a time zone (an IANA name such as America/New_York)") from None


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int

    def following(self, after: datetime, anchor: datetime) -> datetime:
        """The first of anchor, anchor + rate, ... after `after`."""
        if after < anchor:
            return anchor
        periods = int((after - anchor).total_seconds() // self.seconds) + 1
        return anchor + timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True, slots=True)
class At:
    when: datetime  # naive, in the schedule's time zone

    def following(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        due = _aware(self.when, zone)
        return due if due > after else None


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    days: str  # the day-of-month field, "?" when the day of week decides
    weekdays: str  # the day-of-week field, "?" when the day of month decides

    def following(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first matching minute after `after`, or None when none comes before 2200."""
        local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        day = local.date()
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                later = [year for year in self.years if year > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if day.month not in self.months:
                day = _first_of_next_month(day)
                continue
            if self._matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        due = _aware(datetime(day.year, day.month, day.day, hour, minute), zone)
                        if due > after:
                            return due
            day += timedelta(days=1)
        return None

    def _matches(self, day: date) -> bool:
        if self.days != "?":
            return _day_matches(self.days, day)
        return _weekday_matches(self.weekdays, day)


ScheduleExpression = Rate | At | Cron


def parse_expression(text: str, *, at_allowed: bool = True) -> ScheduleExpression:
    """A schedule expression, or an ExpressionError saying what is wrong with it."""
    text = text.strip()
    if rate := _RATE.fullmatch(text):
        value, unit = int(rate[1]), rate[2]
        if unit not in UNITS:
            raise ExpressionError(f"{text}: the unit of a rate is minute(s), hour(s) or day(s)")
        if value < 1:
            raise ExpressionError(f"{text}: a rate's value is a positive whole number")
        if (value == 1) != (not unit.endswith("s")):
            raise ExpressionError(f"{text}: write rate(1 {unit.rstrip('s')}) for one, rate(N {unit.rstrip('s')}s)"
                                  " for more")
        return Rate(value * UNITS[unit])
    if at := _AT.fullmatch(text):
        if not at_allowed:
            raise ExpressionError(f"{text}: EventBridge rules take rate() and cron() expressions only")
        try:
            return At(datetime.fromisoformat(at[1]))
        except ValueError:
            raise ExpressionError(f"{text}: not a date and time (yyyy-mm-ddThh:mm:ss)") from None
    if cron := _CRON.fullmatch(text):
        return _cron(text, cron[1].split())
    raise ExpressionError(f"{text!r} is not a schedule expression: rate(value unit), cron(fields) or "
                          "at(yyyy-mm-ddThh:mm:ss)")


def _cron(text: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ExpressionError(f"{text}: a cron expression has six fields (minutes hours day-of-month month "
                              "day-of-week year)")
    minutes, hours, days, months, weekdays, years = fields
    if (days == "?") == (weekdays == "?"):
        raise ExpressionError(f"{text}: one of day-of-month and day-of-week must be ?, and only one")
    if days != "?":
        for part in days.split(","):
            _check_day(text, part)
    if weekdays != "?":
        for part in weekdays.split(","):
            _check_weekday(text, part)
    return Cron(_values(text, "minutes", minutes, 0, 59), _values(text, "hours", hours, 0, 23),
                _values(text, "month", months, 1, 12, MONTHS), _values(text, "year", years, 1970, LAST_YEAR),
                days, weekdays)


def _values(text: str, name: str, field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values of a field of plain numbers, ranges, steps and lists."""
    values: set[int] = set()
    for part in field.split(","):
        values.update(_range(text, name, part, low, high, names))
    return frozenset(values)


def _range(text: str, name: str, part: str, low: int, high: int, names: dict[str, int] | None) -> range:
    span, _, step = part.partition("/")
    if span == "*":
        first, last = low, high
    else:
        start, dash, end = span.partition("-")
        first = _number(text, name, start, low, high, names)
        last = _number(text, name, end, low, high, names) if dash else (high if step else first)
        if last < first:
            raise ExpressionError(f"{text}: the range {span} of the {name} field goes backwards")
    increment = _number(text, name, step, 1, high - low + 1 if high > low else 1, None) if step else 1
    return range(first, last + 1, increment)


def _number(text: str, name: str, value: str, low: int, high: int, names: dict[str, int] | None) -> int:
    number = names.get(value.upper()) if names else None
    if number is None:
        if not value.isdigit():
            raise ExpressionError(f"{text}: {value!r} is not a value of the {name} field")
        number = int(value)
    if not low <= number <= high:
        raise ExpressionError(f"{text}: {value} is out of the {name} field's range {low}-{high}")
    return number


def _check_day(text: str, part: str) -> None:
    if part in ("L", "LW"):
        return
    if part.endswith("W"):
        _number(text, "day-of-month", part[:-1], 1, 31, None)
        return
    _range(text, "day-of-month", part, 1, 31, None)


def _check_weekday(text: str, part: str) -> None:
    if part == "L":
        return
    if part.endswith("L"):
        _number(text, "day-of-week", part[:-1], 1, 7, DAYS)
        return
    if "#" in part:
        day, _, nth = part.partition("#")
        _number(text, "day-of-week", day, 1, 7, DAYS)
        _number(text, "day-of-week", nth, 1, 5, None)
        return
    _range(text, "day-of-week", part, 1, 7, DAYS)


def _day_matches(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L":
            if day.day == last:
                return True
        elif part == "LW":
            if day == _nearest_weekday(date(day.year, day.month, last)):
                return True
        elif part.endswith("W"):
            wanted = int(part[:-1])
            if wanted <= last and day == _nearest_weekday(date(day.year, day.month, wanted)):
                return True
        elif day.day in _range("", "day-of-month", part, 1, 31, None):
            return True
    return False


def _weekday_matches(field: str, day: date) -> bool:
    weekday = (day.weekday() + 1) % 7 + 1  # 1 SUN ... 7 SAT
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L":
            if weekday == 7:
                return True
        elif part.endswith("L"):
            if weekday == _number("", "day-of-week", part[:-1], 1, 7, DAYS) and day.day + 7 > last:
                return True
        elif "#" in part:
            wanted, _, nth = part.partition("#")
            if weekday == _number("", "day-of-week", wanted, 1, 7, DAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif weekday in _range("", "day-of-week", part, 1, 7, DAYS):
            return True
    return False


def _nearest_weekday(day: date) -> date:
    """The weekday nearest `day` within its month (Saturday the 1st: Monday the 3rd)."""
    if day.weekday() == 5:
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if day.weekday() == 6:
        last = calendar.monthrange(day.year, day.month)[1]
        return day + timedelta(days=1) if day.day < last else day - timedelta(days=2)
    return day


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _aware(local: datetime, zone: ZoneInfo) -> datetime:
    """A local time of the zone in UTC (zoneinfo reads a time in a daylight saving gap with the offset before
    it: an hour later on the clock; a time that occurs twice, as its first occurrence)."""
    return local.replace(tzinfo=zone).astimezone(timezone.utc)
