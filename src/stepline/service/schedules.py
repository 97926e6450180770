"""Schedules that start executions (a template's SAM Schedule/ScheduleV2 events, AWS::Scheduler::Schedule and
AWS::Events::Rule resources: cfn/schedules.py), kept in the store and fired by the runtime's clock.

A schedule is a resource of the store (SCHEDULES, under its state machine) and its next due time a timer row
(kind "schedule", its token the nominal due time in epoch seconds, its due time that plus the flexible window's
offset). The runtime claims a due timer for one worker (runtime/timers.py) and hands it to `fire`, which starts
the execution and moves the timer to the following due time:

- exactly once per due time: the execution's name is derived from the schedule and the due time, so a second
  start of it (after a crash between the start and the move, or by another worker whose claim came after an
  expired one) finds it started. An Express execution leaves no record to find: its due time is moved first,
  so a crash between the two loses that start rather than repeating it;
- no backfill, as EventBridge Scheduler: when stepline comes back after several due times passed, only the
  latest is started (late), the earlier ones are skipped; a due time later than the schedule's
  RetryPolicy.MaximumEventAgeInSeconds (default 24 hours) is skipped too;
- paused (DISABLED) schedules have no timer; resumed, they go on from the next due time after now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from stepline.cfn import ScheduleSpec
from stepline.cfn.schedule_expressions import Rate, parse_expression, time_zone
from stepline.runtime.store.base import Store, Timer
from stepline.runtime.store.records import SCHEDULES, ScheduleRecord
from stepline.service import errors
from stepline.service.errors import ApiError

log = logging.getLogger(__name__)


class Schedules:
    """The schedules of a store; `actions` is the service (describe_state_machine, start_execution)."""

    def __init__(self, store: Store, *, clock: Any, actions: Any, region: str, account: str,
                 arm: Any = None) -> None:
        self.store, self.clock, self.actions = store, clock, actions
        self.region, self.account = region, account
        self.arm = arm  # the runtime's Timers.arm: a new due time wakes the timer loop

    # ------------------------------------------------------------------ from templates

    async def apply(self, template: Path, specs: tuple[ScheduleSpec, ...]) -> list[str]:
        """Create or update a template's schedules and delete those it no longer declares. A schedule the
        template did not change keeps its state (a pause outlives a restart) and its next due time."""
        done = []
        wanted = {spec.arn for spec in specs}
        template_path = str(template.resolve())
        for record in await self.store.list_resources(SCHEDULES):
            if record.template_path == template_path and record.arn not in wanted:
                await self.store.delete_resource(SCHEDULES, record.arn)
                await self.store.clear_schedule_due(record.arn)
                done.append(f"deleted schedule {record.arn}")
        for spec in specs:
            done.append(await self._apply(template_path, spec))
        return done

    async def _apply(self, template_path: str, spec: ScheduleSpec) -> str:
        said = json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(spec).items()
                           if k != "logical_id"}, sort_keys=True)
        existing = await self.store.get_resource(SCHEDULES, spec.arn)
        if existing is not None and existing.declared == said:
            return f"unchanged schedule {spec.arn}"
        record = ScheduleRecord(
            arn=spec.arn, name=spec.name, template_path=template_path, state_machine_arn=spec.state_machine_arn,
            expression=spec.expression, rule=spec.rule, timezone=spec.timezone,
            state="ENABLED" if spec.enabled else "DISABLED",
            creation_date=existing.creation_date if existing else self.clock.now().replace(microsecond=0),
            declared=said, input=spec.input,
            start_date=spec.start_date.isoformat() if spec.start_date else None,
            end_date=spec.end_date.isoformat() if spec.end_date else None,
            flexible_window_minutes=spec.flexible_window_minutes, maximum_event_age=spec.maximum_event_age,
            description=spec.description)
        await self.store.put_resource(SCHEDULES, record, parent=_base(spec.state_machine_arn))
        await self._restart(record)
        return f"{'updated' if existing else 'created'} schedule {spec.arn}"

    # ------------------------------------------------------------------ listing, pausing, resuming

    async def list(self, state_machine_arn: str | None = None) -> list[dict]:
        """The schedules (of one state machine), with their next due time (None when paused or ended)."""
        records = await self.store.list_resources(SCHEDULES, parent=_base(state_machine_arn)
                                                  if state_machine_arn else None)
        due = await self.store.schedule_due_times()
        return [{"name": r.name, "scheduleArn": r.arn, "state": r.state, "expression": r.expression,
                 "timezone": r.timezone, "target": r.state_machine_arn, "description": r.description,
                 "nextDue": due[r.arn][1] if r.arn in due else None} for r in records]

    async def pause(self, reference: str) -> dict:
        record = await self._find(reference)
        await self.store.put_resource(SCHEDULES, record.but(state="DISABLED"), parent=_base(record.state_machine_arn))
        await self.store.clear_schedule_due(record.arn)
        return await self._listed(record.arn)

    async def resume(self, reference: str) -> dict:
        """Enable the schedule again: it goes on from its next due time after now (none missed is started)."""
        record = (await self._find(reference)).but(state="ENABLED")
        await self.store.put_resource(SCHEDULES, record, parent=_base(record.state_machine_arn))
        await self._restart(record)
        return await self._listed(record.arn)

    async def _listed(self, arn: str) -> dict:
        return next(item for item in await self.list() if item["scheduleArn"] == arn)

    async def _find(self, reference: str) -> ScheduleRecord:
        records = [r for r in await self.store.list_resources(SCHEDULES) if reference in (r.arn, r.name)]
        if not records:
            raise errors.ResourceNotFound(f"Schedule {reference} does not exist")
        if len(records) > 1:
            raise errors.ValidationException(f"Several schedules are named {reference}: give the ARN of one: "
                                             + ", ".join(r.arn for r in records))
        return records[0]

    async def _restart(self, record: ScheduleRecord) -> None:
        """Set the schedule's next due time after now (none when disabled or ended)."""
        following = following_due(record, self.clock.now()) if record.state == "ENABLED" else None
        if following is None:
            await self.store.clear_schedule_due(record.arn)
            return
        await self.store.set_schedule_due(record.arn, *following)
        if self.arm is not None:
            self.arm(following[1])

    # ------------------------------------------------------------------ firing

    async def fire(self, timer: Timer) -> None:
        """A due time of a schedule has come (the runtime claimed its timer for this worker): start it."""
        arn, token = timer.execution_arn, timer.token
        record = await self.store.get_resource(SCHEDULES, arn)
        if record is None or record.state != "ENABLED":
            await self.store.clear_schedule_due(arn)
            return
        now = self.clock.now()
        nominal = datetime.fromtimestamp(token, timezone.utc)
        following = following_due(record, nominal)
        if following is not None and following[1] <= now:  # several due times passed: start only the latest
            latest = _latest(record, nominal, now)
            if await self.store.advance_schedule(arn, token, latest or following_due(record, now)):
                log.warning("schedule %s: due times from %s were missed (stepline was not running); only the "
                            "latest is started", record.name, nominal.isoformat(),
                            extra={"schedule": arn, "missed_from": nominal.isoformat()})
            return
        if (now - timer.due).total_seconds() > record.maximum_event_age:
            log.warning("schedule %s: the due time %s is older than its maximum event age; skipped", record.name,
                        nominal.isoformat(), extra={"schedule": arn, "due": nominal.isoformat()})
            await self.store.advance_schedule(arn, token, following)
            return
        described = await self._target(record)
        if described is None:
            await self.store.advance_schedule(arn, token, following)
            return
        if described["type"] == "EXPRESS":  # no record would tell a second start: move on first
            if await self.store.advance_schedule(arn, token, following):
                await self._start(record, nominal)
        else:
            await self._start(record, nominal)
            await self.store.advance_schedule(arn, token, following)

    async def _target(self, record: ScheduleRecord) -> dict | None:
        try:
            # the state machine's own ARN: a version or an alias has its type (and describes an alias without it)
            described: dict = await self.actions.describe_state_machine(stateMachineArn=_base(record.state_machine_arn))
            return described
        except ApiError as error:
            log.warning("schedule %s cannot start %s: %s", record.name, record.state_machine_arn, error.message,
                        extra={"schedule": record.arn, "error": error.code})
            return None

    async def _start(self, record: ScheduleRecord, nominal: datetime) -> None:
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.arn}@{int(nominal.timestamp())}"))
        text = record.input if record.input is not None else \
            json.dumps(self._scheduled_event(record, nominal)) if record.rule else "{}"
        try:
            await self.actions.start_execution(stateMachineArn=record.state_machine_arn, name=name, input=text)
        except errors.ExecutionAlreadyExists:
            pass  # this due time was started before a crash, or by another worker
        except ApiError as error:  # AWS would count a failed invocation; the schedule goes on
            log.warning("schedule %s could not start %s: %s", record.name, record.state_machine_arn, error.message,
                        extra={"schedule": record.arn, "error": error.code})

    def _scheduled_event(self, record: ScheduleRecord, nominal: datetime) -> dict:
        """The event an EventBridge rule sends its target when the target has no Input."""
        return {"version": "0", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.arn}#{nominal.isoformat()}")),
                "detail-type": "Scheduled Event", "source": "aws.events", "account": self.account,
                "time": nominal.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self.region, "resources": [record.arn],
                "detail": {}}


def following_due(record: ScheduleRecord, after: datetime) -> tuple[int, datetime] | None:
    """The schedule's first due time after `after`, as (nominal time in epoch seconds, due time within the flexible
    window); None when it has no more (an at() passed, the end date reached)."""
    expression = parse_expression(record.expression)
    start = datetime.fromisoformat(record.start_date).replace(microsecond=0) if record.start_date else None
    end = datetime.fromisoformat(record.end_date) if record.end_date else None
    if start is not None and after < start:
        after = start - timedelta(seconds=1)
    if isinstance(expression, Rate):
        anchor = start or record.creation_date.replace(microsecond=0) + timedelta(seconds=expression.seconds)
        nominal: datetime | None = expression.following(after, anchor)
    else:
        nominal = expression.following(after, time_zone(record.timezone))
    if nominal is None or (end is not None and nominal >= end):
        return None
    token = int(nominal.timestamp())
    window = record.flexible_window_minutes * 60
    offset = int.from_bytes(hashlib.sha256(f"{record.arn}@{token}".encode()).digest()[:4], "big") % window \
        if window else 0
    return token, nominal + timedelta(seconds=offset)


def _latest(record: ScheduleRecord, nominal: datetime, now: datetime) -> tuple[int, datetime] | None:
    """The latest due time that has come, among those within the schedule's maximum event age."""
    floor = max(nominal, now - timedelta(seconds=record.maximum_event_age))
    latest, cursor = None, following_due(record, floor - timedelta(seconds=1))
    while cursor is not None and cursor[1] <= now:
        latest, cursor = cursor, following_due(record, datetime.fromtimestamp(cursor[0], timezone.utc))
    return latest


def _base(state_machine_arn: str) -> str:
    """A state machine's ARN without a version or alias."""
    return ":".join(state_machine_arn.split(":")[:7])
