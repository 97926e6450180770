"""What the store keeps of executions and resources, as typed records from the store up through the service layer.

Each record is stored as JSON text with AWS's member names (what the store wrote before these types existed, so no
migration is needed): `to_json` and `from_json` are the one place a record meets that shape. The service turns
records into AWS's responses (service/shapes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from stepline.jsonvalue import JSON

Record = TypeVar("Record", bound="_Stored")


class _Stored:
    """A record stored as JSON: each field under its AWS member name (`KEYS`, where it differs from camelCase of the
    field's name); a field left at None is not written."""

    __slots__ = ()
    KEYS: ClassVar[dict[str, str]] = {}
    arn: str

    def to_json(self) -> dict[str, Any]:
        return {key: value for name, key in _members(type(self)) if (value := getattr(self, name)) is not None}

    @classmethod
    def from_json(cls: type[Record], document: dict[str, Any]) -> Record:
        return cls(**{name: document[key] for name, key in _members(cls) if key in document})

    def but(self: Record, **changes: Any) -> Record:
        """A copy with these fields changed."""
        return replace(self, **changes)  # type: ignore[type-var]


def _members(record: type[_Stored]) -> tuple[tuple[str, str], ...]:
    """(field name, JSON member name) of each field of a record type."""
    members = _MEMBERS.get(record)
    if members is None:
        members = _MEMBERS[record] = tuple((spec.name, record.KEYS.get(spec.name) or _camel(spec.name))
                                           for spec in fields(record))  # type: ignore[arg-type]
    return members


_MEMBERS: dict[type[_Stored], tuple[tuple[str, str], ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord(_Stored):
    """A Standard execution as the store keeps it (an Express one as the service remembers it)."""

    KEYS: ClassVar[dict[str, str]] = {"arn": "executionArn", "version_arn": "stateMachineVersionArn",
                                      "alias_arn": "stateMachineAliasArn"}

    arn: str
    state_machine_arn: str  # the unqualified state machine's
    name: str
    status: str
    start_date: datetime
    input: str
    role_arn: str = ""
    definition_digest: str = ""
    type: str = "STANDARD"
    redrive_count: int = 0
    version_arn: str | None = None  # started through this version (or through an alias routing to it)
    alias_arn: str | None = None
    map_run_arn: str | None = None
    trace_header: str | None = None
    test_case: str | None = None  # a MockConfigFile test case (StartExecution on `arn#TestCase`)
    stop_date: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_date: datetime | None = None

    @property
    def state_machine_name(self) -> str:
        return self.state_machine_arn.split(":")[6]


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMachineRecord(_Stored):
    """A state machine, or one of its published versions (`version_number` set, its ARN the version's)."""

    KEYS: ClassVar[dict[str, str]] = {"arn": "stateMachineArn"}

    arn: str
    name: str
    definition: str
    definition_digest: str
    role_arn: str
    type: str
    creation_date: datetime
    logging_configuration: JSON
    tracing_configuration: JSON
    encryption_configuration: JSON
    status: str = "ACTIVE"
    revision_id: str | None = None
    update_date: datetime | None = None
    versions: int = 0  # versions published so far (the next one's number follows)
    version_number: int | None = None
    description: str | None = None  # a version's


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasRecord(_Stored):
    KEYS: ClassVar[dict[str, str]] = {"arn": "stateMachineAliasArn"}

    arn: str
    name: str
    routing_configuration: list[dict[str, Any]]  # [{"stateMachineVersionArn": ..., "weight": ...}] as AWS takes it
    creation_date: datetime
    update_date: datetime
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRecord(_Stored):
    KEYS: ClassVar[dict[str, str]] = {"arn": "activityArn"}

    arn: str
    name: str
    creation_date: datetime
    encryption_configuration: JSON = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRunLimits(_Stored):
    """What UpdateMapRun changed of a Map Run's limits (DescribeMapRun reports them)."""

    KEYS: ClassVar[dict[str, str]] = {"arn": "mapRunArn"}

    arn: str
    max_concurrency: int | None = None
    tolerated_failure_percentage: float | None = None
    tolerated_failure_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRunRecord(_Stored):
    """A Map Run as its driver keeps it (runtime/map_runs.py): what it ran with, and how far it got. Its children
    are executions of their own (`ExecutionRecord.map_run_arn`): their rows, not this record, say how each ended."""

    KEYS: ClassVar[dict[str, str]] = {"arn": "mapRunArn"}

    arn: str
    execution_arn: str  # the parent's
    start_date: datetime
    status: str = "RUNNING"
    execution_type: str = "STANDARD"
    max_concurrency: int = 0
    tolerated_failure_percentage: float | None = None
    tolerated_failure_count: int | None = None
    started: int = 0  # children started, in item order (the next one's index)
    items: int = 0  # items read into the children started
    read_all: bool = False  # the ItemReader has no more items: `items` is the total
    total: int | None = None  # the items, once known (at the start for the state input's, else once all are read)
    redrive_count: int = 0
    redrive_date: datetime | None = None
    cursor: JSON = None  # the ItemReader's position after the last child started
    stop_date: datetime | None = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRecord(_Stored):
    """A schedule that starts executions of a state machine (service/schedules.py); its next due time is a
    timer row of kind "schedule" (Store.set_schedule_due)."""

    KEYS: ClassVar[dict[str, str]] = {"arn": "scheduleArn", "state_machine_arn": "target"}

    arn: str
    name: str
    template_path: str  # the template that declares it (resolved)
    state_machine_arn: str  # the target: a state machine, version or alias ARN
    expression: str
    rule: bool  # an EventBridge rule: AWS's scheduled event is the input when none is given
    timezone: str
    state: str  # ENABLED or DISABLED
    creation_date: datetime  # a rate's first due time is a rate after this (or the start date)
    declared: str  # what the template said of it, to tell a change of the template from a pause
    input: str | None = None
    start_date: str | None = None  # ISO 8601
    end_date: str | None = None
    flexible_window_minutes: int = 0
    maximum_event_age: int = 86400
    description: str | None = None


Stored = TypeVar("Stored", bound=_Stored)


@dataclass(frozen=True, slots=True)
class Kind(Generic[Stored]):
    """A kind of resource the store keeps: its name in the store, and its record's type."""

    name: str
    record: type[Stored]


STATE_MACHINES = Kind("state_machine", StateMachineRecord)
VERSIONS = Kind("version", StateMachineRecord)
ALIASES = Kind("alias", AliasRecord)
ACTIVITIES = Kind("activity", ActivityRecord)
MAP_RUNS = Kind("map_run", MapRunLimits)
MAP_RUN_PROGRESS = Kind("map_run_progress", MapRunRecord)
MAP_RUN_EXPRESS_CHILDREN = Kind("map_run_child", ExecutionRecord)  # how each EXPRESS child ended, under the parent
SCHEDULES = Kind("schedule", ScheduleRecord)

