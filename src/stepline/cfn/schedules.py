"""The schedules of a template that start state machines: SAM's `Schedule` and `ScheduleV2` events of a state
machine, `AWS::Scheduler::Schedule` and `AWS::Events::Rule` resources with a ScheduleExpression whose target is a
state machine. Each is read into a ScheduleSpec; what stepline cannot honour is refused, naming where it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from stepline.cfn.intrinsics import ResolveError, suffix
from stepline.cfn.schedule_expressions import ExpressionError, parse_expression, time_zone

DEFAULT_EVENT_AGE = 86400  # RetryPolicy.MaximumEventAgeInSeconds when not given: Scheduler retries for 24 hours
SCHEDULER = "AWS::Scheduler::Schedule"
RULE = "AWS::Events::Rule"
# SAM's event properties that stepline honours, by event type (Name, Description, RoleArn and the like are kept)
SAM_EVENTS = {
    "Schedule": {"Schedule", "Input", "Enabled", "State", "Name", "Description", "RetryPolicy", "RoleArn", "Target"},
    "ScheduleV2": {"ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate", "State",
                   "FlexibleTimeWindow", "Input", "Name", "GroupName", "Description", "RetryPolicy", "RoleArn",
                   "PermissionsBoundary", "OmitName"},
}
SCHEDULER_PROPERTIES = {"ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate", "State",
                        "FlexibleTimeWindow", "Target", "Name", "GroupName", "Description", "KmsKeyArn"}
SCHEDULER_TARGET = {"Arn", "RoleArn", "Input", "RetryPolicy"}
RULE_PROPERTIES = {"ScheduleExpression", "State", "Targets", "Name", "Description", "EventBusName", "RoleArn"}
RULE_TARGET = {"Arn", "Id", "Input", "RoleArn", "RetryPolicy"}


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A schedule that starts executions of a state machine."""

    logical_id: str
    name: str
    arn: str
    state_machine_arn: str
    expression: str
    rule: bool  # an EventBridge rule (UTC, and AWS's scheduled event as the input when none is given)
    input: str | None = None  # the execution's input; None: the default (see above)
    timezone: str = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    enabled: bool = True
    flexible_window_minutes: int = 0
    maximum_event_age: int = DEFAULT_EVENT_AGE
    description: str | None = None


class ScheduleReader:
    """Reads schedules with the template's resolver: `value(where, raw)` resolves a raw value found at `where`."""

    def __init__(self, value: Callable[[str, Any], Any], *, partition: str, region: str, account: str,
                 stack_name: str) -> None:
        self.value = value
        self.partition, self.region, self.account, self.stack_name = partition, region, account, stack_name

    def sam_events(self, logical_id: str, events: Any, machine_arn: str) -> list[ScheduleSpec]:
        """A SAM state machine's Events: Schedule and ScheduleV2 become schedules; any other type is refused."""
        where = f"Resources/{logical_id}/Properties/Events"
        if not isinstance(events, dict):
            raise ResolveError(f"{where}: must be an object of events")
        specs = []
        for event_id, event in events.items():
            at = f"{where}/{event_id}"
            kind = event.get("Type") if isinstance(event, dict) else None
            if kind not in SAM_EVENTS:
                raise ResolveError(f"{at}/Type: stepline starts executions on Schedule and ScheduleV2 events only, "
                                   f"not {kind} events (Api, EventBridgeRule and CloudWatchEvent are not served)")
            properties = event.get("Properties") or {}
            self._known(f"{at}/Properties", properties, SAM_EVENTS[kind])
            get = lambda name: self.value(f"{at}/Properties/{name}", properties.get(name))  # noqa: E731
            resource_id = f"{logical_id}{event_id}"
            if kind == "Schedule":
                state = get("State")
                enabled = get("Enabled")
                if state is not None and enabled is not None:
                    raise ResolveError(f"{at}/Properties: give Enabled or State, not both")
                name = get("Name") or self._generated(resource_id, 64)
                specs.append(self._spec(
                    at + "/Properties", resource_id, name, self._rule_arn(name), machine_arn, get("Schedule"),
                    rule=True, input=get("Input"), state=state if state is not None else
                    ("DISABLED" if enabled is False or str(enabled).lower() == "false" else "ENABLED"),
                    retry=get("RetryPolicy"), description=get("Description")))
            else:
                omit = str(get("OmitName")).lower() == "true"
                name = get("Name") or (self._generated(resource_id, 64) if omit else resource_id)
                group = get("GroupName") or "default"
                specs.append(self._spec(
                    at + "/Properties", resource_id, name, self._schedule_arn(group, name), machine_arn,
                    get("ScheduleExpression"), rule=False, input=get("Input"), state=get("State"),
                    timezone=get("ScheduleExpressionTimezone"), start=get("StartDate"), end=get("EndDate"),
                    window=get("FlexibleTimeWindow"), retry=get("RetryPolicy"), description=get("Description")))
        return specs

    def scheduler(self, logical_id: str, properties: dict, name: str) -> ScheduleSpec | None:
        """An AWS::Scheduler::Schedule whose target is a state machine; None for any other target."""
        where = f"Resources/{logical_id}/Properties"
        get = lambda key: self.value(f"{where}/{key}", properties.get(key))  # noqa: E731
        target = get("Target")
        if not isinstance(target, dict) or not _is_state_machine(target.get("Arn")):
            return None
        self._known(where, properties, SCHEDULER_PROPERTIES)
        self._known(f"{where}/Target", target, SCHEDULER_TARGET)
        group = get("GroupName") or "default"
        return self._spec(where, logical_id, name, self._schedule_arn(group, name), target["Arn"],
                          get("ScheduleExpression"), rule=False, input=target.get("Input"), state=get("State"),
                          timezone=get("ScheduleExpressionTimezone"), start=get("StartDate"), end=get("EndDate"),
                          window=get("FlexibleTimeWindow"), retry=target.get("RetryPolicy"),
                          description=get("Description"), window_required=True)

    def rule(self, logical_id: str, properties: dict, name: str) -> ScheduleSpec | None:
        """An AWS::Events::Rule with a ScheduleExpression whose target is a state machine; None for other targets.
        An event pattern that targets a state machine is refused."""
        where = f"Resources/{logical_id}/Properties"
        get = lambda key: self.value(f"{where}/{key}", properties.get(key))  # noqa: E731
        targets = get("Targets") or []
        if not isinstance(targets, list):
            raise ResolveError(f"{where}/Targets: must be a list of targets")
        machines = [(i, t) for i, t in enumerate(targets) if isinstance(t, dict) and _is_state_machine(t.get("Arn"))]
        if not machines:
            return None
        if "EventPattern" in properties:
            raise ResolveError(f"{where}/EventPattern: stepline starts state machines on schedules only, not on "
                               "event patterns")
        self._known(where, properties, RULE_PROPERTIES)
        if len(machines) > 1:
            raise ResolveError(f"{where}/Targets/{machines[1][0]}: stepline starts one state machine per rule: "
                               "give each state machine a rule of its own")
        i, target = machines[0]
        self._known(f"{where}/Targets/{i}", target, RULE_TARGET)
        return self._spec(where, logical_id, name, self._rule_arn(name), target["Arn"], get("ScheduleExpression"),
                          rule=True, input=target.get("Input"), state=get("State"), retry=target.get("RetryPolicy"),
                          description=get("Description"))

    # -- the parts ---------------------------------------------------------------------------------------------

    def _spec(self, where: str, logical_id: str, name: str, arn: str, machine_arn: Any, expression: Any, *,
              rule: bool, input: Any, state: Any, timezone: Any = None, start: Any = None, end: Any = None,
              window: Any = None, retry: Any = None, description: Any = None,
              window_required: bool = False) -> ScheduleSpec:
        expression_key = "Schedule" if rule and where.count("/Events/") else "ScheduleExpression"
        if not isinstance(expression, str):
            raise ResolveError(f"{where}/{expression_key}: required: rate(...), cron(...)" +
                               ("" if rule else " or at(...)"))
        try:
            parse_expression(expression, at_allowed=not rule)
            zone = time_zone(timezone).key if timezone is not None else "UTC"
        except ExpressionError as error:
            key = "ScheduleExpressionTimezone" if timezone is not None and "time zone" in str(error) else \
                expression_key
            raise ResolveError(f"{where}/{key}: {error}") from None
        if state not in (None, "ENABLED", "DISABLED"):
            raise ResolveError(f"{where}/State: ENABLED or DISABLED, not {state!r}")
        if input is not None:
            if not isinstance(input, str):
                input = json.dumps(input)
            try:
                json.loads(input)
            except ValueError:
                raise ResolveError(f"{where}/Input: must be JSON text (a state machine's input)") from None
        return ScheduleSpec(logical_id, name, arn, str(machine_arn), expression, rule, input, zone,
                            _date(f"{where}/StartDate", start), _date(f"{where}/EndDate", end), state != "DISABLED",
                            _window(f"{where}/FlexibleTimeWindow", window, window_required),
                            _event_age(f"{where}/RetryPolicy", retry),
                            description if isinstance(description, str) else None)

    def _known(self, where: str, properties: Any, known: set[str]) -> None:
        if not isinstance(properties, dict):
            raise ResolveError(f"{where}: must be an object")
        unknown = sorted(set(properties) - known)
        if unknown:
            raise ResolveError(f"{where}/{unknown[0]}: stepline does not support this property of a schedule")

    def _generated(self, logical_id: str, limit: int) -> str:
        random = suffix(self.stack_name, logical_id)
        prefix = f"{self.stack_name}-{logical_id}"[:limit - len(random) - 1].rstrip("-")
        return f"{prefix}-{random}"

    def _rule_arn(self, name: str) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{name}"

    def _schedule_arn(self, group: str, name: str) -> str:
        return f"arn:{self.partition}:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"


def _is_state_machine(arn: Any) -> bool:
    return isinstance(arn, str) and ":states:" in arn and ":stateMachine:" in arn


def _date(where: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ResolveError(f"{where}: not a date and time (ISO 8601, such as 2030-01-01T00:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _window(where: str, window: Any, required: bool) -> int:
    if window is None:
        if required:
            raise ResolveError(f"{where}: required: {{Mode: OFF}} or {{Mode: FLEXIBLE, MaximumWindowInMinutes: N}}")
        return 0
    if not isinstance(window, dict) or set(window) - {"Mode", "MaximumWindowInMinutes"}:
        raise ResolveError(f"{where}: {{Mode: OFF}} or {{Mode: FLEXIBLE, MaximumWindowInMinutes: N}}")
    mode, minutes = window.get("Mode"), window.get("MaximumWindowInMinutes")
    if mode == "OFF":
        if minutes is not None:
            raise ResolveError(f"{where}/MaximumWindowInMinutes: only with Mode FLEXIBLE")
        return 0
    if mode != "FLEXIBLE":
        raise ResolveError(f"{where}/Mode: OFF or FLEXIBLE, not {mode!r}")
    try:
        minutes = int(str(minutes))
    except ValueError:
        raise ResolveError(f"{where}/MaximumWindowInMinutes: required with Mode FLEXIBLE: 1 to 1440") from None
    if not 1 <= minutes <= 1440:
        raise ResolveError(f"{where}/MaximumWindowInMinutes: 1 to 1440, not {minutes}")
    return minutes


def _event_age(where: str, retry: Any) -> int:
    if retry is None:
        return DEFAULT_EVENT_AGE
    if not isinstance(retry, dict) or set(retry) - {"MaximumEventAgeInSeconds", "MaximumRetryAttempts"}:
        raise ResolveError(f"{where}: {{MaximumEventAgeInSeconds, MaximumRetryAttempts}}")
    try:
        age = int(retry.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
    except (TypeError, ValueError):
        raise ResolveError(f"{where}/MaximumEventAgeInSeconds: a number of seconds, 60 to 86400") from None
    if not 60 <= age <= 86400:
        raise ResolveError(f"{where}/MaximumEventAgeInSeconds: 60 to 86400, not {age}")
    return age
