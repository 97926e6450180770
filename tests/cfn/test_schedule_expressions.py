"""Schedule expressions against the examples of EventBridge's documentation ("Schedule types on EventBridge
Scheduler", "Creating a rule that runs on a schedule"), and what EventBridge refuses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepline.cfn.schedule_expressions import At, Cron, ExpressionError, Rate, parse_expression, time_zone

UTC = timezone.utc


def dues(expression: str, after: str, count: int, zone: str = "UTC") -> list[str]:
    parsed = parse_expression(expression)
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    found = []
    for _ in range(count):
        assert not isinstance(parsed, Rate)
        following = parsed.following(moment, time_zone(zone))
        assert following is not None
        found.append(following.astimezone(time_zone(zone)).strftime("%Y-%m-%d %a %H:%M"))
        moment = following
    return found


@pytest.mark.parametrize("expression, after, expected", [
    pytest.param("cron(0 10 * * ? *)", "2024-03-01T10:00:00", ["2024-03-02 Sat 10:00", "2024-03-03 Sun 10:00"],
                 id="10am-every-day"),
    pytest.param("cron(15 12 * * ? *)", "2024-03-01T00:00:00", ["2024-03-01 Fri 12:15", "2024-03-02 Sat 12:15"],
                 id="12-15-every-day"),
    pytest.param("cron(0 18 ? * MON-FRI *)", "2024-03-01T19:00:00", ["2024-03-04 Mon 18:00", "2024-03-05 Tue 18:00"],
                 id="6pm-monday-to-friday"),
    pytest.param("cron(0 8 1 * ? *)", "2024-01-15T00:00:00", ["2024-02-01 Thu 08:00", "2024-03-01 Fri 08:00"],
                 id="8am-first-day-of-month"),
    pytest.param("cron(0/15 * * * ? *)", "2024-03-01T10:07:00", ["2024-03-01 Fri 10:15", "2024-03-01 Fri 10:30"],
                 id="every-15-minutes"),
    pytest.param("cron(0/10 * ? * MON-FRI *)", "2024-03-01T23:55:00", ["2024-03-04 Mon 00:00", "2024-03-04 Mon 00:10"],
                 id="every-10-minutes-weekdays"),
    pytest.param("cron(0/5 8-17 ? * MON-FRI *)", "2024-03-01T17:55:00", ["2024-03-04 Mon 08:00", "2024-03-04 Mon 08:05"],
                 id="every-5-minutes-office-hours"),
    pytest.param("cron(0 9 ? * 2#1 *)", "2024-03-01T00:00:00", ["2024-03-04 Mon 09:00", "2024-04-01 Mon 09:00"],
                 id="first-monday"),
    pytest.param("cron(0 12 L * ? *)", "2024-02-01T00:00:00", ["2024-02-29 Thu 12:00", "2024-03-31 Sun 12:00"],
                 id="last-day-of-month"),
    pytest.param("cron(0 12 ? * 6L *)", "2024-03-01T00:00:00", ["2024-03-29 Fri 12:00", "2024-04-26 Fri 12:00"],
                 id="last-friday"),
    pytest.param("cron(0 12 ? * L *)", "2024-03-01T00:00:00", ["2024-03-02 Sat 12:00", "2024-03-09 Sat 12:00"],
                 id="last-day-of-week-saturday"),
    pytest.param("cron(0 12 15W * ? *)", "2024-06-01T00:00:00", ["2024-06-14 Fri 12:00", "2024-07-15 Mon 12:00"],
                 id="weekday-nearest-15th"),
    pytest.param("cron(0 12 1W * ? *)", "2024-06-01T00:00:00", ["2024-06-03 Mon 12:00", "2024-07-01 Mon 12:00"],
                 id="nearest-weekday-stays-in-month"),
    pytest.param("cron(0 12 LW * ? *)", "2024-08-01T00:00:00", ["2024-08-30 Fri 12:00", "2024-09-30 Mon 12:00"],
                 id="last-weekday"),
    pytest.param("cron(30 6 ? JAN,JUL SUN 2025-2026)", "2024-01-01T00:00:00",
                 ["2025-01-05 Sun 06:30", "2025-01-12 Sun 06:30"], id="months-years-names"),
    pytest.param("cron(0 0 29 2 ? *)", "2024-03-01T00:00:00", ["2028-02-29 Tue 00:00", "2032-02-29 Sun 00:00"],
                 id="leap-day"),
])
def test_cron_documented_examples(expression: str, after: str, expected: list[str]) -> None:
    assert dues(expression, after, len(expected)) == expected


def test_cron_in_a_time_zone_across_daylight_saving() -> None:
    # 02:30 does not exist in New York on 2024-03-10: it runs an hour later on the clock
    assert dues("cron(30 2 * * ? *)", "2024-03-09T12:00:00", 3, "America/New_York") == [
        "2024-03-10 Sun 03:30", "2024-03-11 Mon 02:30", "2024-03-12 Tue 02:30"]
    # 01:30 occurs twice on 2024-11-03: once
    found = dues("cron(30 1 * * ? *)", "2024-11-02T12:00:00", 2, "America/New_York")
    assert found == ["2024-11-03 Sun 01:30", "2024-11-04 Mon 01:30"]


def test_cron_ends_with_its_years() -> None:
    parsed = parse_expression("cron(0 0 1 1 ? 2025)")
    assert isinstance(parsed, Cron)
    first = parsed.following(datetime(2024, 6, 1, tzinfo=UTC), time_zone("UTC"))
    assert first == datetime(2025, 1, 1, tzinfo=UTC)
    assert parsed.following(first, time_zone("UTC")) is None


def test_rate_and_at() -> None:
    assert parse_expression("rate(1 minute)") == Rate(60)
    assert parse_expression("rate(5 minutes)") == Rate(300)
    assert parse_expression("rate(2 hours)") == Rate(7200)
    assert parse_expression("rate(1 day)") == Rate(86400)
    anchor = datetime(2024, 1, 1, tzinfo=UTC)
    assert Rate(3600).following(anchor - timedelta(days=1), anchor) == anchor
    assert Rate(3600).following(anchor, anchor) == anchor + timedelta(hours=1)
    assert Rate(3600).following(anchor + timedelta(minutes=59), anchor) == anchor + timedelta(hours=1)
    at = parse_expression("at(2030-01-01T09:00:00)")
    assert at == At(datetime(2030, 1, 1, 9))
    tokyo = time_zone("Asia/Tokyo")
    assert at.following(datetime(2029, 1, 1, tzinfo=UTC), tokyo) == datetime(2030, 1, 1, 0, tzinfo=UTC)  # type: ignore[union-attr]
    assert at.following(datetime(2031, 1, 1, tzinfo=UTC), tokyo) is None  # type: ignore[union-attr]


@pytest.mark.parametrize("expression, message", [
    pytest.param("rate(1 minutes)", "write rate(1 minute)", id="rate-plural-one"),
    pytest.param("rate(5 minute)", "rate(N minutes)", id="rate-singular-many"),
    pytest.param("rate(0 hours)", "positive", id="rate-zero"),
    pytest.param("rate(5 weeks)", "unit", id="rate-unit"),
    pytest.param("cron(0 10 * * *)", "six fields", id="cron-five-fields"),
    pytest.param("cron(0 10 * * * *)", "one of day-of-month and day-of-week must be ?", id="cron-no-question"),
    pytest.param("cron(0 10 ? * ? *)", "one of day-of-month", id="cron-two-questions"),
    pytest.param("cron(60 10 * * ? *)", "out of the minutes field's range 0-59", id="cron-minute-range"),
    pytest.param("cron(0 10 ? * 8 *)", "range 1-7", id="cron-weekday-range"),
    pytest.param("cron(0 10 ? * MON#6 *)", "range 1-5", id="cron-nth-range"),
    pytest.param("cron(0 10 ? FOO * *)", "'FOO' is not a value of the month field", id="cron-month-name"),
    pytest.param("cron(0 17-9 * * ? *)", "goes backwards", id="cron-backwards"),
    pytest.param("at(2030-02-30T00:00:00)", "not a date", id="at-bad-date"),
    pytest.param("every hour", "is not a schedule expression", id="nonsense"),
])
def test_refused(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_expression(expression)


def test_at_is_not_a_rule_expression() -> None:
    with pytest.raises(ExpressionError, match="rate\\(\\) and cron\\(\\)"):
        parse_expression("at(2030-01-01T00:00:00)", at_allowed=False)


def test_unknown_time_zone() -> None:
    with pytest.raises(ExpressionError, match="not a time zone"):
        time_zone("Mars/Olympus")


@st.composite
def crons(draw: st.DrawFn) -> tuple[str, dict]:
    """A cron expression of plain value lists, and the values it stands for."""
    def values(low: int, high: int) -> list[int]:
        return sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=3)))
    fields = {"minutes": values(0, 59), "hours": values(0, 23), "months": draw(st.none() | st.just(values(1, 12)))}
    by_weekday = draw(st.booleans())
    fields["days"] = None if by_weekday else values(1, 31)
    fields["weekdays"] = values(1, 7) if by_weekday else None
    text = lambda v: ",".join(map(str, v)) if v else "*"  # noqa: E731
    expression = (f"cron({text(fields['minutes'])} {text(fields['hours'])} "
                  f"{text(fields['days']) if fields['days'] else '?'} {text(fields['months'])} "
                  f"{text(fields['weekdays']) if fields['weekdays'] else '?'} *)")
    return expression, fields


def matches(moment: datetime, fields: dict) -> bool:
    """The plain reading of a cron expression, written independently of the module."""
    weekday = moment.isoweekday() % 7 + 1  # 1 SUN ... 7 SAT
    return (moment.minute in fields["minutes"] and moment.hour in fields["hours"]
            and (fields["months"] is None or moment.month in fields["months"])
            and (moment.day in fields["days"] if fields["days"] else weekday in fields["weekdays"]))


@settings(max_examples=60, deadline=None)
@given(crons(), st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)))
def test_cron_gives_the_first_matching_minute_after_a_moment(cron: tuple[str, dict], after: datetime) -> None:
    expression, fields = cron
    after = after.replace(tzinfo=UTC)
    due = parse_expression(expression).following(after, time_zone("UTC"))  # type: ignore[union-attr]
    assert due is not None and due > after and matches(due, fields), (expression, after, due)
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < due:  # no matching minute between `after` and `due`
        if (fields["months"] is None or day.month in fields["months"]) and matches(
                day.replace(hour=fields["hours"][0], minute=fields["minutes"][0]), fields | {
                    "minutes": [fields["minutes"][0]], "hours": [fields["hours"][0]]}):
            for hour in fields["hours"]:
                for minute in fields["minutes"]:
                    moment = day.replace(hour=hour, minute=minute)
                    assert not after < moment < due, (expression, after, due, moment)
        day += timedelta(days=1)
