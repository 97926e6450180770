"""The TestState cases of the corpus (recorded on AWS), answered in process by the service's test_state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conformance.corpus import case_params, harness

from stepline.service.app import StepFunctionsService
from stepline.service.errors import ApiError
from stepline.service.settings import Settings


@pytest.mark.parametrize("case", case_params(("test_state",)))
def test_case(case: dict, tmp_path: Path) -> None:
    variables = harness.CaseVariables(harness.DEFAULT_ROLE_ARN, "us-east-1", lambda: "123456789012")
    request = variables.expand(case["request"])
    if isinstance(request.get("definition"), (dict, list)):
        request["definition"] = json.dumps(request["definition"])

    async def call() -> object:
        service = StepFunctionsService(Settings(db=str(tmp_path / "s.db")))
        await service.start()
        try:
            return await service.test_state(**request)
        except ApiError as error:
            return (error.code, error.message)
        finally:
            await service.close()

    diffs = harness.compare_test_state(case, asyncio.run(call()))
    assert not diffs, diffs
