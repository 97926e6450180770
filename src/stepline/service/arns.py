"""ARNs and names in AWS's formats, and AWS's InvalidArn and InvalidName errors.

    state machine   arn:aws:states:us-east-1:123456789012:stateMachine:orders
    version         arn:aws:states:us-east-1:123456789012:stateMachine:orders:3
    alias           arn:aws:states:us-east-1:123456789012:stateMachine:orders:live
    execution       arn:aws:states:us-east-1:123456789012:execution:orders:run-1
    express         arn:aws:states:us-east-1:123456789012:express:orders:run-1:4c7f0a9e-...
    map run         arn:aws:states:us-east-1:123456789012:mapRun:orders/ProcessItems:0b3e7c0e-...
    map run child   arn:aws:states:us-east-1:123456789012:execution:orders/ProcessItems:0b3e7c0e-...
    activity        arn:aws:states:us-east-1:123456789012:activity:approve

Messages recorded from AWS: "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'" (api_behaviour corpus),
"Invalid Arn: 'Resource type not valid in this context: execution'" (an execution ARN given to
StartExecution; "...: express" for an Express execution given to DescribeExecution, StopExecution or
GetExecutionHistory), "Invalid Name: 'activity:name'". AWS checks the prefix, then the resource type, then the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stepline.service.errors import ApiError, InvalidArn, InvalidName

PARTITION = "aws"
SERVICE = "states"

# AWS: names are 1-80 characters with no whitespace, no < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : / and no
# control characters (U+0000-U+001F, U+007F-U+009F). Non-ASCII letters are allowed.
_FORBIDDEN_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
NAME_MAX_LENGTH = 80
_ROLE_ARN = re.compile(r"arn:[a-z-]+:iam::\d+:role/\S+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Arn:
    """A Step Functions ARN split into its parts; `resource` is everything after the resource type."""

    partition: str
    region: str
    account: str
    resource_type: str           # "stateMachine", "execution", "express", "mapRun", "activity"
    resource: tuple[str, ...]    # the ':'-separated parts after the type

    def __str__(self) -> str:
        return ":".join(("arn", self.partition, SERVICE, self.region, self.account, self.resource_type,
                         *self.resource))


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMachineRef:
    """A state machine ARN, possibly qualified by a version number or an alias name."""

    region: str
    account: str
    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def unqualified_arn(self) -> str:
        return state_machine_arn(self.region, self.account, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRef:
    """An execution ARN: standard, express (with its run id), or a child of a Map Run (`map_label`)."""

    region: str
    account: str
    state_machine: str
    name: str
    express_id: str | None = None
    map_label: str | None = None

    @property
    def state_machine_arn(self) -> str:
        return state_machine_arn(self.region, self.account, self.state_machine)


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRunRef:
    """A Map Run ARN: the state machine, the Map state's label, and the run's id."""

    region: str
    account: str
    state_machine: str
    label: str
    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRef:
    region: str
    account: str
    name: str


# -- building ------------------------------------------------------------------------------------------------

def _arn(region: str, account: str, *resource: str) -> str:
    return ":".join(("arn", PARTITION, SERVICE, region, account, *resource))


def state_machine_arn(region: str, account: str, name: str, qualifier: int | str | None = None) -> str:
    """A state machine's ARN; with a version number or alias name as `qualifier`, that version's or alias's."""
    if qualifier is None:
        return _arn(region, account, "stateMachine", name)
    return _arn(region, account, "stateMachine", name, str(qualifier))


def execution_arn(region: str, account: str, state_machine: str, name: str) -> str:
    """A standard execution's ARN (also for executions of a version or alias: the ARN names the machine)."""
    return _arn(region, account, "execution", state_machine, name)


def express_execution_arn(region: str, account: str, state_machine: str, name: str, run_id: str) -> str:
    """An express execution's ARN; its run id keeps executions that share a name apart."""
    return _arn(region, account, "express", state_machine, name, run_id)


def map_run_arn(region: str, account: str, state_machine: str, label: str, run_id: str) -> str:
    """A Distributed Map run's ARN: `mapRun:MACHINE/LABEL:ID`."""
    return _arn(region, account, "mapRun", f"{state_machine}/{label}", run_id)


def map_run_execution_arn(map_run: str, name: str, *, express_id: str | None = None) -> str:
    """The ARN of a child execution started by a Map Run (`execution:MACHINE/LABEL:NAME`)."""
    ref = parse_map_run_arn(map_run)
    if express_id is not None:
        return _arn(ref.region, ref.account, "express", f"{ref.state_machine}/{ref.label}", name, express_id)
    return _arn(ref.region, ref.account, "execution", f"{ref.state_machine}/{ref.label}", name)


def activity_arn(region: str, account: str, name: str) -> str:
    return _arn(region, account, "activity", name)


# -- parsing -------------------------------------------------------------------------------------------------

def invalid_arn(detail: str) -> ApiError:
    """AWS's InvalidArn, whose message wraps a detail: "Invalid Arn: 'Invalid ARN prefix: x'"."""
    return InvalidArn(f"Invalid Arn: '{detail}'")


def not_in_context(resource_type: str) -> ApiError:
    """AWS's InvalidArn for an ARN of a type the action does not take: "...not valid in this context: express"."""
    return invalid_arn(f"Resource type not valid in this context: {resource_type}")


def check_role_arn(role_arn: str) -> None:
    """AWS's InvalidArn for a roleArn that does not name an IAM role."""
    if not _ROLE_ARN.fullmatch(role_arn):
        raise InvalidArn(f"Invalid Role Arn: '{role_arn}'")


def parse_arn(text: str, *allowed_types: str) -> Arn:
    """Split a Step Functions ARN; InvalidArn if it is malformed or (given `allowed_types`) of another type."""
    if not text.startswith("arn:"):
        raise invalid_arn(f"Invalid ARN prefix: {text}")
    parts = text.split(":")
    if len(parts) >= 6 and allowed_types and parts[5] not in allowed_types:
        raise not_in_context(parts[5])
    if len(parts) < 7 or not parts[1] or parts[2] != SERVICE or not all(parts[3:7]):
        raise invalid_arn(f"Invalid ARN: {text}")
    return Arn(partition=parts[1], region=parts[3], account=parts[4], resource_type=parts[5],
               resource=tuple(parts[6:]))


def parse_state_machine_arn(text: str, *, qualified: bool = True) -> StateMachineRef:
    """A state machine ARN, with a version or alias qualifier when `qualified` allows one."""
    arn = parse_arn(text, "stateMachine")
    if len(arn.resource) > (2 if qualified else 1) or not all(arn.resource):
        raise invalid_arn(f"Invalid ARN: {text}")
    name, *qualifier = arn.resource
    version = alias = None
    if qualifier:
        if qualifier[0].isdecimal() and qualifier[0].isascii():
            version = int(qualifier[0])
        else:
            alias = qualifier[0]
    return StateMachineRef(region=arn.region, account=arn.account, name=name, version=version, alias=alias)


def parse_execution_arn(text: str, *, express: bool = True) -> ExecutionRef:
    """An execution ARN (standard, and express when `express` allows it), including Map Run children."""
    arn = parse_arn(text, *(("execution", "express") if express else ("execution",)))
    expected = 3 if arn.resource_type == "express" else 2
    if len(arn.resource) != expected or not all(arn.resource):
        raise invalid_arn(f"Invalid ARN: {text}")
    machine, _, label = arn.resource[0].partition("/")
    if not machine or (_ and not label):
        raise invalid_arn(f"Invalid ARN: {text}")
    return ExecutionRef(region=arn.region, account=arn.account, state_machine=machine, name=arn.resource[1],
                        express_id=arn.resource[2] if expected == 3 else None, map_label=label or None)


def parse_map_run_arn(text: str) -> MapRunRef:
    arn = parse_arn(text, "mapRun")
    machine, slash, label = arn.resource[0].partition("/")
    if len(arn.resource) != 2 or not machine or not slash or not label or not arn.resource[1]:
        raise invalid_arn(f"Invalid ARN: {text}")
    return MapRunRef(region=arn.region, account=arn.account, state_machine=machine, label=label,
                     run_id=arn.resource[1])


def parse_activity_arn(text: str) -> ActivityRef:
    arn = parse_arn(text, "activity")
    if len(arn.resource) != 1:
        raise invalid_arn(f"Invalid ARN: {text}")
    return ActivityRef(region=arn.region, account=arn.account, name=arn.resource[0])


# -- names ---------------------------------------------------------------------------------------------------

def is_valid_name(name: str) -> bool:
    """AWS's rule for state machine, execution and activity names."""
    return 0 < len(name) <= NAME_MAX_LENGTH and _FORBIDDEN_NAME.search(name) is None


def check_name(name: str) -> str:
    """The name itself, or AWS's InvalidName: "Invalid Name: 'a b'"."""
    if not is_valid_name(name):
        raise InvalidName(f"Invalid Name: '{name}'")
    return name
