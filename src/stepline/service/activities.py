"""Activities, task tokens (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat) and tags: a part of the
application layer (StepFunctionsService, app.py, mixes it in)."""

from __future__ import annotations

from typing import Any

from stepline.jsonvalue import dumps, loads, too_deep
from stepline.runtime.clock import Clock
from stepline.runtime.signals import Signal
from stepline.runtime.store.base import Store
from stepline.runtime.worker import Runtime
from stepline.runtime.store.records import ACTIVITIES, STATE_MACHINES, ActivityRecord
from stepline.service import errors, shapes
from stepline.service.arns import activity_arn, check_name, parse_activity_arn
from stepline.service.paging import paginate
from stepline.service.settings import Settings
from stepline.service.shapes import ENCRYPTION_DEFAULT, TOO_DEEP, json_problem


MAX_TAGS = 50  # Step Functions quotas: tags per resource


def check_tag_count(tags: list) -> None:
    """AWS's TooManyTags for more than 50 distinct tag keys on one resource."""
    if len({tag["key"] for tag in tags}) > MAX_TAGS:
        raise errors.TooManyTags("You've exceeded the number of tags allowed for a resource. See the Limits Topic "
                                 "in the AWS Step Functions Developer Guide.")


class ActivityActions:
    """The actions on activities, task tokens and tags."""

    store: Store
    settings: Settings
    clock: Clock
    runtime: Runtime

    # ------------------------------------------------------------------ tags

    async def tag_resource(self, *, resourceArn: str, tags: list) -> dict:
        await self._tagged(resourceArn)
        existing = await self.store.get_tags(resourceArn)
        check_tag_count([*({"key": key} for key in existing), *tags])
        await self.store.set_tags(resourceArn, {t["key"]: t["value"] for t in tags})
        return {}

    async def untag_resource(self, *, resourceArn: str, tagKeys: list) -> dict:
        await self._tagged(resourceArn)
        await self.store.remove_tags(resourceArn, tagKeys)
        return {}

    async def list_tags_for_resource(self, *, resourceArn: str) -> dict:
        await self._tagged(resourceArn)
        tags = await self.store.get_tags(resourceArn)
        return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}

    async def _tagged(self, arn: str) -> None:
        found = await self.store.get_resource(ACTIVITIES, arn) if ":activity:" in arn else \
            await self.store.get_resource(STATE_MACHINES, arn)
        if found is None:
            raise errors.ResourceNotFound(f"Resource not found: '{arn}'")

    # ------------------------------------------------------------------ activities and task tokens

    async def create_activity(self, *, name: str, tags: list | None = None,
                              encryptionConfiguration: dict | None = None) -> dict:
        check_name(name)
        shapes.check_encryption(encryptionConfiguration)
        check_tag_count(tags or [])
        arn = activity_arn(self.settings.region, self.settings.account, name)
        now = self.clock.now()
        record = ActivityRecord(arn=arn, name=name, creation_date=now,
                                encryption_configuration=encryptionConfiguration or ENCRYPTION_DEFAULT)
        if not await self.store.create_resource(ACTIVITIES, record):
            # AWS: idempotent on the name; different tags are ignored, and not applied, but the encryption
            # configuration may not change (the API reference's ActivityAlreadyExists)
            existing = await self._activity(arn)
            if existing.encryption_configuration != record.encryption_configuration:
                raise errors.ActivityAlreadyExists("Activity already exists. EncryptionConfiguration may not be "
                                                   "updated.")
            record = existing
        elif tags:
            await self.tag_resource(resourceArn=arn, tags=tags)
        return {"activityArn": arn, "creationDate": record.creation_date}

    async def describe_activity(self, *, activityArn: str) -> dict:
        parse_activity_arn(activityArn)
        return shapes.activity(await self._activity(activityArn))

    async def _activity(self, arn: str) -> ActivityRecord:
        record = await self.store.get_resource(ACTIVITIES, arn)
        if not isinstance(record, ActivityRecord):
            raise errors.ActivityDoesNotExist(f"Activity Does Not Exist: '{arn}'")
        return record

    async def delete_activity(self, *, activityArn: str) -> dict:
        parse_activity_arn(activityArn)
        await self.store.delete_resource(ACTIVITIES, activityArn)
        return {}

    async def list_activities(self, *, maxResults: int = 0, nextToken: str | None = None) -> dict:
        page, token = paginate(await self.store.list_resources(ACTIVITIES), key=lambda a: a.arn,
                               max_results=maxResults, next_token=nextToken, scope="ListActivities")
        return {"activities": [{"activityArn": a.arn, "name": a.name, "creationDate": a.creation_date} for a in page],
                **({"nextToken": token} if token else {})}

    async def get_activity_task(self, *, activityArn: str, workerName: str | None = None) -> dict:
        await self.describe_activity(activityArn=activityArn)
        task = await self.runtime.next_activity_task(activityArn, workerName or "",
                                                     timeout=self.settings.activity_wait_seconds)
        if task is None:
            return {}
        return {"taskToken": task.task_token, "input": dumps(task.effect.parameters)}

    async def _task(self, token: str) -> Any:
        task = await self.store.find_task(token)
        if task is None:
            if "#" not in token:
                raise errors.InvalidToken("Invalid Token: 'Invalid token'")
            if await self.store.get_execution(token.split("#", 1)[0]) is not None:  # answered, timed out or ended
                raise errors.TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
            raise errors.TaskDoesNotExist(f"Task Does Not Exist: '{token}'")
        return task

    async def send_task_success(self, *, taskToken: str, output: str) -> dict:
        task = await self._task(taskToken)
        try:
            value = loads(output)
        except ValueError:
            raise errors.InvalidOutput(f"Invalid Output: '{json_problem(output)}'") from None
        if too_deep(value):
            raise errors.InvalidOutput(f"Invalid Output: '{TOO_DEEP}'")
        await self.runtime.post(Signal("task_ok", task.execution_arn, task.thread, task.token, value))
        return {}

    async def send_task_failure(self, *, taskToken: str, error: str | None = None, cause: str | None = None) -> dict:
        task = await self._task(taskToken)
        await self.runtime.post(Signal("task_failed", task.execution_arn, task.thread, task.token, (error, cause)))
        return {}

    async def send_task_heartbeat(self, *, taskToken: str) -> dict:
        task = await self._task(taskToken)
        heartbeat = task.effect.heartbeat_seconds
        if heartbeat:
            await self.runtime.post(Signal("heartbeat", task.execution_arn, task.thread, task.token, heartbeat))
        return {}
