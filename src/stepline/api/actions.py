"""The Step Functions actions the API serves, each mapped to the one service method that implements it.

    action = ACTIONS["CreateStateMachine"]          # Action(name=..., method="create_state_machine", ...)
    response = await action.call(service, params)   # service.create_state_machine(**params)

The names are those of botocore's service model (`stepfunctions` 2016-11-23); a meta-test checks that every
operation there has an entry here. No logic of the service lives in this layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TARGET_PREFIX = "AWSStepFunctions."


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One AWS action: its wire name and the snake_case service method that answers it."""

    name: str                    # "StartSyncExecution", as in X-Amz-Target
    method: str                  # "start_sync_execution"
    host_prefix: str = ""        # "sync-" for StartSyncExecution and TestState; the server just tolerates it

    async def call(self, service: Any, params: Mapping[str, Any]) -> Any:
        """Call the service method with the request's top-level members as keyword arguments."""
        return await getattr(service, self.method)(**params)


def _action(name: str, method: str, host_prefix: str = "") -> tuple[str, Action]:
    return name, Action(name=name, method=method, host_prefix=host_prefix)


ACTIONS: Mapping[str, Action] = dict([
    _action("CreateActivity", "create_activity"),
    _action("CreateStateMachine", "create_state_machine"),
    _action("CreateStateMachineAlias", "create_state_machine_alias"),
    _action("DeleteActivity", "delete_activity"),
    _action("DeleteStateMachine", "delete_state_machine"),
    _action("DeleteStateMachineAlias", "delete_state_machine_alias"),
    _action("DeleteStateMachineVersion", "delete_state_machine_version"),
    _action("DescribeActivity", "describe_activity"),
    _action("DescribeExecution", "describe_execution"),
    _action("DescribeMapRun", "describe_map_run"),
    _action("DescribeStateMachine", "describe_state_machine"),
    _action("DescribeStateMachineAlias", "describe_state_machine_alias"),
    _action("DescribeStateMachineForExecution", "describe_state_machine_for_execution"),
    _action("GetActivityTask", "get_activity_task"),
    _action("GetExecutionHistory", "get_execution_history"),
    _action("ListActivities", "list_activities"),
    _action("ListExecutions", "list_executions"),
    _action("ListMapRuns", "list_map_runs"),
    _action("ListStateMachineAliases", "list_state_machine_aliases"),
    _action("ListStateMachineVersions", "list_state_machine_versions"),
    _action("ListStateMachines", "list_state_machines"),
    _action("ListTagsForResource", "list_tags_for_resource"),
    _action("PublishStateMachineVersion", "publish_state_machine_version"),
    _action("RedriveExecution", "redrive_execution"),
    _action("SendTaskFailure", "send_task_failure"),
    _action("SendTaskHeartbeat", "send_task_heartbeat"),
    _action("SendTaskSuccess", "send_task_success"),
    _action("StartExecution", "start_execution"),
    _action("StartSyncExecution", "start_sync_execution", host_prefix="sync-"),
    _action("StopExecution", "stop_execution"),
    _action("TagResource", "tag_resource"),
    _action("TestState", "test_state", host_prefix="sync-"),
    _action("UntagResource", "untag_resource"),
    _action("UpdateMapRun", "update_map_run"),
    _action("UpdateStateMachine", "update_state_machine"),
    _action("UpdateStateMachineAlias", "update_state_machine_alias"),
    _action("ValidateStateMachineDefinition", "validate_state_machine_definition"),
])


def find_action(target: str) -> Action | None:
    """The action an X-Amz-Target header names ("AWSStepFunctions.ListActivities"), or None."""
    prefix, dot, name = target.partition(".")
    if not dot or prefix != TARGET_PREFIX[:-1]:
        return None
    return ACTIONS.get(name)
