"""`stepline deploy`: a template's resources created or updated on a running stepline through its API, by the
same application-layer code that `stepline serve --template` runs in process (service/templates.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepline.cfn import read_stacks
from stepline.service import errors
from stepline.service.errors import ApiError
from stepline.service.templates import apply_stack


class ApiActions:
    """The Step Functions actions of a remote API as the async methods apply_stack calls; AWS's errors as
    ApiErrors with their code, an unreachable endpoint as ServiceUnavailable."""

    def __init__(self, client: Any, endpoint: str) -> None:
        self.client, self.endpoint = client, endpoint

    def __getattr__(self, action: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, action)

        async def call(**members: Any) -> dict:
            try:
                return await asyncio.to_thread(method, **members)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "ServiceException")
                kind = type(code, (ApiError,), {"code": code})
                raise kind(error.response.get("Error", {}).get("Message", str(error))) from None
            except BotoCoreError as error:
                raise errors.ServiceUnavailable(f"cannot call {self.endpoint}: {error}") from None
        return call


def deploy(endpoint: str, paths: Sequence[Path], *, region: str, account: str, overrides: dict[str, str],
           stack_name: str | None) -> list[str]:
    """What was done, a line per resource; TemplateError or ApiError (one line) when refused."""
    import botocore.session
    from botocore.config import Config

    stacks = read_stacks(paths, region=region, account=account, overrides=overrides, stack_name=stack_name)
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    client = session.create_client(
        "stepfunctions", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=None if credentials else "stepline", aws_secret_access_key=None if credentials else "x",
        config=Config(retries={"total_max_attempts": 2}, connect_timeout=10, read_timeout=60))
    actions = ApiActions(client, endpoint)

    async def apply() -> list[str]:
        done: list[str] = []
        for stack in stacks:
            done += await apply_stack(actions, stack)
            # the Step Functions API has no schedules: the server keeps them (serve --template)
            done += [f"not created schedule {schedule.arn}: schedules run where the template is served "
                     "(stepline serve --template)" for schedule in stack.schedules]
        return done

    return asyncio.run(apply())
