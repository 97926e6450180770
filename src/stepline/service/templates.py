"""Applying a template's stack (cfn.read_stack) to a Step Functions API: the one way `stepline serve --template`
and `stepline deploy` create or update what a template declares.

`actions` is anything with the Step Functions actions as async methods taking AWS's request members: the
service itself (serve), or the API of a running stepline through botocore (deploy, cli/deploy.py). Each
resource is created when missing and updated when it differs (an update makes a new revision, as
UpdateStateMachine does; an unchanged template changes nothing); versions are published when the state
machine changed since its last version; aliases point where the template says.
"""

from __future__ import annotations

from typing import Any

from stepline.cfn import AliasSpec, Stack, StateMachineSpec
from stepline.service import errors
from stepline.service.errors import ApiError
from stepline.service.shapes import LOGGING_DEFAULT, TRACING_DEFAULT


async def apply_stack(actions: Any, stack: Stack) -> list[str]:
    """Create or update the stack's resources; one line per resource saying what was done. A refusal is a
    ValidationException naming the template and the resource."""
    done: list[str] = []
    versions: dict[str, str] = {}
    current = ""
    try:
        for activity in stack.activities:
            current = activity.logical_id
            created = await actions.create_activity(name=activity.name, tags=_tags(activity.tags),
                                                    **_given(encryptionConfiguration=activity.encryption))
            done.append(f"activity {created['activityArn']}")
        for machine in stack.state_machines:
            current = f"{machine.logical_id}/Properties/{machine.source}"
            done.append(await _state_machine(actions, machine))
            if machine.auto_publish_alias:
                current = f"{machine.logical_id}/Properties/AutoPublishAlias"
                version = await actions.publish_state_machine_version(stateMachineArn=machine.arn)
                alias = AliasSpec(machine.logical_id, machine.auto_publish_alias, machine.arn, ())
                done.append(await _alias(actions, alias, [{"stateMachineVersionArn": version["stateMachineVersionArn"],
                                                           "weight": 100}]))
        for version in stack.versions:
            current = version.logical_id
            published = await actions.publish_state_machine_version(
                stateMachineArn=version.state_machine_arn, **_given(description=version.description))
            versions[version.logical_id] = published["stateMachineVersionArn"]
            done.append(f"version {published['stateMachineVersionArn']}")
        for alias in stack.aliases:
            current = alias.logical_id
            routing = [{"stateMachineVersionArn": versions[logical_id], "weight": weight}
                       for logical_id, weight in alias.routing]
            done.append(await _alias(actions, alias, routing))
    except ApiError as error:
        raise errors.ValidationException(f"{stack.path}: Resources/{current}: {error.code}: {error.message}") \
            from None
    return done


async def _state_machine(actions: Any, machine: StateMachineSpec) -> str:
    try:
        described = await actions.describe_state_machine(stateMachineArn=machine.arn)
    except ApiError as error:
        if error.code != "StateMachineDoesNotExist":
            raise
        await actions.create_state_machine(name=machine.name, definition=machine.definition, roleArn=machine.role_arn,
                                           type=machine.type, tags=_tags(machine.tags),
                                           **_given(loggingConfiguration=machine.logging,
                                                    tracingConfiguration=machine.tracing,
                                                    encryptionConfiguration=machine.encryption))
        return f"created state machine {machine.arn}"
    if described["type"] != machine.type:
        raise errors.ValidationException(f"the state machine {machine.arn} is {described['type']}: a state machine's "
                                         "type cannot change (CloudFormation replaces it): delete it first")
    wanted = {"definition": machine.definition, "roleArn": machine.role_arn,
              "loggingConfiguration": machine.logging or LOGGING_DEFAULT,
              "tracingConfiguration": machine.tracing or TRACING_DEFAULT}
    if machine.encryption is not None:
        wanted["encryptionConfiguration"] = machine.encryption
    if machine.tags:
        await actions.tag_resource(resourceArn=machine.arn, tags=_tags(machine.tags))
    if all(described.get(key) == value for key, value in wanted.items()):
        return f"unchanged state machine {machine.arn}"
    await actions.update_state_machine(stateMachineArn=machine.arn, **wanted)
    return f"updated state machine {machine.arn}"


async def _alias(actions: Any, alias: AliasSpec, routing: list[dict]) -> str:
    arn = f"{alias.state_machine_arn}:{alias.name}"
    try:
        await actions.describe_state_machine_alias(stateMachineAliasArn=arn)
    except ApiError as error:
        if error.code != "ResourceNotFound":
            raise
        await actions.create_state_machine_alias(name=alias.name, routingConfiguration=routing,
                                                 **_given(description=alias.description))
        return f"created alias {arn}"
    await actions.update_state_machine_alias(stateMachineAliasArn=arn, routingConfiguration=routing,
                                             **_given(description=alias.description))
    return f"alias {arn}"


def _tags(tags: tuple[tuple[str, str], ...]) -> list[dict]:
    return [{"key": key, "value": value} for key, value in tags]


def _given(**members: Any) -> dict:
    return {key: value for key, value in members.items() if value is not None}
